//! The live directory: users as the IdP sees them now (scenarios may change a user's groups
//! between logins), and what an app's group statement emits for a user.

use std::sync::RwLock;

use crate::config::{GroupStatement, User, WhenNone};

/// The users of a connection file, with groups that can change while the IdP runs. Looked up
/// through indexes, so a login costs the same in a 5-user file and a 100,000-user one.
#[derive(Debug)]
pub struct Directory {
    users: RwLock<Vec<User>>,
    /// Position in `users` by id, by login and by email (any ASCII case); the first user with a
    /// value wins, as a scan in file order would.
    by_id: Index,
    by_login: Index,
    by_email: Index,
}

/// From this many users on, the three indexes are built at once.
const THREADS_FROM: usize = 10_000;

/// Positions of users by the hash of one of their keys, sorted by hash then position. A lookup
/// is a binary search for the hash, then the key compared with the users' own: no key is
/// copied (three hash maps holding a copy of every id, login and email were a tenth of
/// `fakta serve`'s start with 100,000 users; benches/scale.sh).
#[derive(Debug)]
struct Index(Vec<(u64, u32)>);

/// The hash of a key (of its ASCII-lowercased form for `fold`): eight bytes at a time,
/// multiplied and rotated (as rustc's FxHash), then mixed. Not keyed: the keys indexed come
/// from the connection file, not from the network, and a lookup's key only picks where to look.
fn key_hash(key: &str, fold: bool) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = key.len() as u64;
    for chunk in key.as_bytes().chunks(8) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        if fold {
            word.make_ascii_lowercase();
        }
        h = (h.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(K);
    }
    // The high bits of the last product mix into the low ones.
    h ^ (h >> 29)
}

impl Index {
    fn build(users: &[User], key: impl Fn(&User) -> &str, fold: bool) -> Index {
        let mut entries: Vec<(u64, u32)> = users
            .iter()
            .enumerate()
            // A directory is read from a file of at most 32 MiB: its positions fit in a u32.
            .map(|(i, u)| (key_hash(key(u), fold), u32::try_from(i).unwrap_or(u32::MAX)))
            .collect();
        // By hash, then by position: among equal keys the first user comes first.
        entries.sort_unstable();
        Index(entries)
    }

    /// The first position whose user has `key`, as `same` compares it.
    fn find(&self, hash: u64, same: impl Fn(usize) -> bool) -> Option<usize> {
        let from = self.0.partition_point(|e| e.0 < hash);
        self.0[from..]
            .iter()
            .take_while(|e| e.0 == hash)
            .map(|e| e.1 as usize)
            .find(|&i| same(i))
    }
}

impl Directory {
    /// The directory of these users (a connection's `directory.users`, taken rather than
    /// copied).
    pub fn from_users(users: Vec<User>) -> Self {
        if users.len() < THREADS_FROM {
            return Directory {
                by_id: Index::build(&users, |u| &u.id, false),
                by_login: Index::build(&users, |u| &u.login, false),
                by_email: Index::build(&users, |u| &u.email, true),
                users: RwLock::new(users),
            };
        }
        // Three sorts of 100,000 entries: on the cores there are.
        let (by_id, by_login, by_email) = std::thread::scope(|s| {
            let id = s.spawn(|| Index::build(&users, |u| &u.id, false));
            let login = s.spawn(|| Index::build(&users, |u| &u.login, false));
            let email = Index::build(&users, |u| &u.email, true);
            let join = |t: std::thread::ScopedJoinHandle<'_, Index>| {
                t.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
            };
            (join(id), join(login), email)
        });
        Directory {
            users: RwLock::new(users),
            by_id,
            by_login,
            by_email,
        }
    }

    /// Where a user is in `users`, by id, then login, then email (any case); the login page
    /// accepts any of them, in that order of precedence.
    fn position(&self, users: &[User], key: &str) -> Option<usize> {
        let exact = key_hash(key, false);
        let at = |i: usize| users.get(i);
        self.by_id
            .find(exact, |i| at(i).is_some_and(|u| u.id == key))
            .or_else(|| {
                self.by_login
                    .find(exact, |i| at(i).is_some_and(|u| u.login == key))
            })
            .or_else(|| {
                self.by_email.find(key_hash(key, true), |i| {
                    at(i).is_some_and(|u| u.email.eq_ignore_ascii_case(key))
                })
            })
    }

    /// A snapshot of a user by id, login or email.
    pub fn find(&self, key: &str) -> Option<User> {
        let users = self.users.read().unwrap_or_else(|e| e.into_inner());
        let i = self.position(&users, key)?;
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
        let mut users = self.users.write().unwrap_or_else(|e| e.into_inner());
        let found = self.by_id.find(key_hash(user_id, false), |i| {
            users.get(i).is_some_and(|u| u.id == user_id)
        });
        match found.and_then(|i| users.get_mut(i)) {
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

    #[test]
    fn the_first_user_with_a_key_wins_and_long_emails_fold() {
        let long = format!("{}@X.test", "A".repeat(150));
        let mut users = Vec::new();
        for (i, email) in [long.as_str(), "dup@x.test", "DUP@x.test"]
            .iter()
            .enumerate()
        {
            let mut u = user(&[]);
            u.id = format!("00u{i}");
            u.login = format!("login{i}");
            u.email = (*email).to_owned();
            users.push(u);
        }
        // A later user whose login is an earlier one's: the earlier one is found by it.
        let mut again = user(&[]);
        again.id = "00u9".into();
        again.login = "login1".into();
        again.email = "other@x.test".into();
        users.push(again);
        let d = Directory::from_users(users);
        assert_eq!(d.find(&long.to_ascii_lowercase()).unwrap().id, "00u0");
        assert_eq!(d.find("Dup@X.TEST").unwrap().id, "00u1");
        assert_eq!(d.find("login1").unwrap().id, "00u1");
        assert_eq!(d.find("00u9").unwrap().id, "00u9");
        assert!(d.set_groups("00u2", vec!["G".into()]));
        assert_eq!(d.find("00u2").unwrap().groups, vec!["G".to_owned()]);
        assert!(d.find("dup@x.tes").is_none());
    }

    #[test]
    fn a_large_directory_finds_every_user() {
        let users: Vec<User> = (0..THREADS_FROM + 7)
            .map(|i| {
                let mut u = user(&[]);
                u.id = format!("00u{i}");
                u.login = format!("login{i}");
                u.email = format!("User{i}@X.test");
                u
            })
            .collect();
        let d = Directory::from_users(users);
        for i in (0..THREADS_FROM + 7).step_by(997) {
            assert_eq!(d.find(&format!("00u{i}")).unwrap().id, format!("00u{i}"));
            assert_eq!(d.find(&format!("login{i}")).unwrap().id, format!("00u{i}"));
            assert_eq!(
                d.find(&format!("user{i}@x.TEST")).unwrap().id,
                format!("00u{i}")
            );
        }
        assert!(d.find("00u").is_none());
    }
}
