//! The live directory: users as the IdP sees them now (scenarios may change a user's groups
//! between logins), and what an app's group statement emits for a user.

use std::sync::RwLock;

use crate::config::{Directory as DirectoryConfig, GroupStatement, User, WhenNone};

/// The users of a connection file, with groups that can change while the IdP runs.
#[derive(Debug)]
pub struct Directory {
    users: RwLock<Vec<User>>,
}

impl Directory {
    pub fn new(config: &DirectoryConfig) -> Self {
        Directory {
            users: RwLock::new(config.users.clone()),
        }
    }

    /// A snapshot of a user by id, login or email.
    pub fn find(&self, key: &str) -> Option<User> {
        let users = self.users.read().unwrap_or_else(|e| e.into_inner());
        DirectoryConfig {
            users: users.clone(),
        }
        .find(key)
        .cloned()
    }

    pub fn all(&self) -> Vec<User> {
        self.users.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces a user's groups; false when there is no such user.
    pub fn set_groups(&self, user_id: &str, groups: Vec<String>) -> bool {
        let mut users = self.users.write().unwrap_or_else(|e| e.into_inner());
        match users.iter_mut().find(|u| u.id == user_id) {
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
        let d = Directory::new(&DirectoryConfig {
            users: vec![user(&["A"])],
        });
        assert!(d.set_groups("00u1", vec!["B".into()]));
        assert_eq!(d.find("00u1").unwrap().groups, vec!["B".to_owned()]);
        assert!(!d.set_groups("nobody", vec![]));
    }
}
