//! The live directory: users as the IdP sees them now (scenarios may change a user's groups
//! between logins), and what an app's group statement emits for a user.

use std::collections::HashMap;
use std::sync::RwLock;

use crate::config::{GroupStatement, User, WhenNone};

/// The users of a connection file, with groups that can change while the IdP runs. Looked up
/// through indexes, so a login costs the same in a 5-user file and a 100,000-user one.
#[derive(Debug)]
pub struct Directory {
    users: RwLock<Vec<User>>,
    /// Position in `users` by id, by login and by ASCII-lowercased email; the first user with a
    /// value wins, as a scan in file order would.
    by_id: HashMap<String, usize>,
    by_login: HashMap<String, usize>,
    by_email: HashMap<String, usize>,
}

impl Directory {
    /// The directory of these users (a connection's `directory.users`, taken rather than
    /// copied).
    pub fn from_users(users: Vec<User>) -> Self {
        let mut by_id = HashMap::with_capacity(users.len());
        let mut by_login = HashMap::with_capacity(users.len());
        let mut by_email = HashMap::with_capacity(users.len());
        for (i, u) in users.iter().enumerate() {
            by_id.entry(u.id.clone()).or_insert(i);
            by_login.entry(u.login.clone()).or_insert(i);
            by_email.entry(u.email.to_ascii_lowercase()).or_insert(i);
        }
        Directory {
            users: RwLock::new(users),
            by_id,
            by_login,
            by_email,
        }
    }

    /// Where a user is, by id, then login, then email (any case); the login page accepts any
    /// of them, in that order of precedence.
    fn position(&self, key: &str) -> Option<usize> {
        self.by_id
            .get(key)
            .or_else(|| self.by_login.get(key))
            .or_else(|| self.by_email.get(&key.to_ascii_lowercase()))
            .copied()
    }

    /// A snapshot of a user by id, login or email.
    pub fn find(&self, key: &str) -> Option<User> {
        let i = self.position(key)?;
        let users = self.users.read().unwrap_or_else(|e| e.into_inner());
        users.get(i).cloned()
    }

    /// How many users there are.
    pub fn len(&self) -> usize {
        self.users.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether the directory has no user.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first `n` users, in file order (a page lists no more than a person can read).
    pub fn first(&self, n: usize) -> Vec<User> {
        let users = self.users.read().unwrap_or_else(|e| e.into_inner());
        users.iter().take(n).cloned().collect()
    }

    /// Replaces a user's groups; false when there is no such user.
    pub fn set_groups(&self, user_id: &str, groups: Vec<String>) -> bool {
        let Some(&i) = self.by_id.get(user_id) else {
            return false;
        };
        let mut users = self.users.write().unwrap_or_else(|e| e.into_inner());
        match users.get_mut(i) {
            Some(u) => {
                u.groups = groups;
                true
            }
            None => false,
        }
    }
}

/// The groups an app's group statement emits for a user: `None` when the attribute is left out
/// (no statement, or no passing group with `when_none: absent`), `Some(vec![])` for an empty one.
pub fn emitted_groups(user: &User, statement: Option<&GroupStatement>) -> Option<Vec<String>> {
    let statement = statement?;
    let passing: Vec<String> = statement
        .filter
        .apply(&user.groups)
        .into_iter()
        .map(str::to_owned)
        .collect();
    if passing.is_empty() && statement.when_none == WhenNone::Absent {
        None
    } else {
        Some(passing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GroupFilter;

    fn user(groups: &[&str]) -> User {
        User {
            id: "00u1".into(),
            login: "a@x.test".into(),
            email: "a@x.test".into(),
            name: None,
            groups: groups.iter().map(|g| g.to_string()).collect(),
            attributes: Default::default(),
        }
    }

    fn statement(filter: GroupFilter, when_none: WhenNone) -> GroupStatement {
        GroupStatement {
            full_path: true,
            attribute: "groups".into(),
            filter,
            when_none,
        }
    }

    #[test]
    fn regex_filter_matches_whole_names_like_okta() {
        let s = statement(GroupFilter::regex("Qovery").unwrap(), WhenNone::Absent);
        let u = user(&["Qovery-Admins", "Qovery", "Eng"]);
        assert_eq!(
            emitted_groups(&u, Some(&s)),
            Some(vec!["Qovery".to_owned()])
        );
        let s = statement(GroupFilter::regex(".*Qovery.*").unwrap(), WhenNone::Absent);
        assert_eq!(
            emitted_groups(&u, Some(&s)),
            Some(vec!["Qovery-Admins".to_owned(), "Qovery".to_owned()])
        );
    }

    #[test]
    fn other_filter_kinds() {
        let u = user(&["Qovery-Admins", "Eng", "x-Qovery"]);
        let s = statement(GroupFilter::StartsWith("Qovery".into()), WhenNone::Absent);
        assert_eq!(
            emitted_groups(&u, Some(&s)),
            Some(vec!["Qovery-Admins".to_owned()])
        );
        let s = statement(GroupFilter::Equals("Eng".into()), WhenNone::Absent);
        assert_eq!(emitted_groups(&u, Some(&s)), Some(vec!["Eng".to_owned()]));
        let s = statement(GroupFilter::Contains("Qovery".into()), WhenNone::Absent);
        assert_eq!(emitted_groups(&u, Some(&s)).map(|g| g.len()), Some(2));
    }

    #[test]
    fn no_passing_group_is_absent_or_empty_as_configured() {
        let u = user(&["Eng"]);
        let absent = statement(GroupFilter::regex(".*Qovery.*").unwrap(), WhenNone::Absent);
        let empty = statement(GroupFilter::regex(".*Qovery.*").unwrap(), WhenNone::Empty);
        assert_eq!(emitted_groups(&u, Some(&absent)), None);
        assert_eq!(emitted_groups(&u, Some(&empty)), Some(vec![]));
        assert_eq!(emitted_groups(&u, None), None);
    }

    #[test]
    fn set_groups_changes_the_next_snapshot() {
        let d = Directory::from_users(vec![user(&["A"])]);
        assert!(d.set_groups("00u1", vec!["B".into()]));
        assert_eq!(d.find("00u1").unwrap().groups, vec!["B".to_owned()]);
        assert!(!d.set_groups("nobody", vec![]));
    }

    #[test]
    fn find_looks_up_id_then_login_then_email_in_any_case() {
        let mut a = user(&["A"]);
        a.login = "alice".into();
        a.email = "Alice@X.test".into();
        let mut b = user(&["B"]);
        b.id = "00u2".into();
        // b's login is a's id: the id wins, as on the login page.
        b.login = "00u1".into();
        b.email = "b@x.test".into();
        let d = Directory::from_users(vec![a, b]);
        assert_eq!(d.find("00u1").unwrap().groups, vec!["A".to_owned()]);
        assert_eq!(d.find("alice").unwrap().id, "00u1");
        assert_eq!(d.find("alice@x.TEST").unwrap().id, "00u1");
        assert_eq!(d.find("00u2").unwrap().id, "00u2");
        assert!(d.find("nobody").is_none());
        assert_eq!(d.len(), 2);
        assert_eq!(d.first(1).len(), 1);
    }
}
