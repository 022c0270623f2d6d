//! The `directory` section: the users, their groups and attributes, and the groups' object ids
//! (`groups`, for Entra's groups claim).

use std::collections::{BTreeMap, HashMap};

use super::super::tree::Node;

use super::super::model::{Directory, Group, User};
use super::super::reader::{self, At, Map, Pos, Sink, index, join};
use super::Declared;

pub(super) fn directory(
    sink: &mut Sink,
    node: &Node,
    declared: &mut Declared,
) -> Option<Directory> {
    let m = Map::new(sink, node, "directory", &["users", "groups"])?;
    let groups = match m.get("groups") {
        Some(n) => groups(sink, n),
        None => Vec::new(),
    };
    if m.get("users").is_none() {
        // A directory without users is valid; scenarios cannot name anyone in it.
        declared.users = Some(Vec::new());
        declared.user_attributes = Some(Default::default());
        return Some(Directory::new(Vec::new(), groups));
    }
    let list = m.seq(sink, "users")?;
    let items = list.iter().as_slice();
    let halves = if items.len() >= PARALLEL_FROM { 2 } else { 1 };
    let mut read = read_list(sink, items, halves);
    // Only the users that could not be read: scenarios find the others in the directory.
    declared.users = Some(std::mem::take(&mut read.failed_names));
    declared.user_ids = std::mem::take(&mut read.ids);
    declared.user_attributes = Some(
        read.users
            .iter()
            .flat_map(|u: &User| u.attributes.keys().cloned())
            .collect(),
    );
    report_repeated_users(sink, items, &read);
    Some(Directory::new(read.users, groups))
}

/// From this many users on, the list is read by two threads (benches/scale.sh: 100,000 users).
const PARALLEL_FROM: usize = 10_000;

/// Reads `directory.users` in `halves` parts at once (1 or 2), each into a sink of its own;
/// the users and findings are merged in file order.
fn read_list(sink: &mut Sink, items: &[Node], halves: usize) -> ReadUsers {
    let mid = items.len().div_ceil(halves.max(1));
    let (first, second) = items.split_at(mid);
    let file = sink.file.clone();
    let (mut read, rest) = std::thread::scope(|s| {
        let other = (!second.is_empty()).then(|| {
            s.spawn(move || {
                let mut own = Sink::new(file);
                let read = read_users(&mut own, second, mid);
                (read, own.found)
            })
        });
        let read = read_users(sink, first, 0);
        let rest = other.map(|t| t.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        (read, rest)
    });
    if let Some((more, mut found)) = rest {
        sink.found.append(&mut found);
        read.users.extend(more.users);
        read.places.extend(more.places);
        read.failed_names.extend(more.failed_names);
        read.ids.extend(more.ids);
    }
    read
}

/// The users read from part of `directory.users`.
struct ReadUsers {
    users: Vec<User>,
    /// Each user's index in `directory.users`.
    places: Vec<usize>,
    /// The ids, logins and emails written in items that could not be read as a user.
    failed_names: Vec<String>,
    /// The ids written, in file order (for messages).
    ids: Vec<String>,
}

/// Reads `items`, the part of `directory.users` from index `offset` on.
fn read_users(sink: &mut Sink, items: &[Node], offset: usize) -> ReadUsers {
    let mut read = ReadUsers {
        users: Vec::with_capacity(items.len()),
        places: Vec::with_capacity(items.len()),
        failed_names: Vec::new(),
        ids: Vec::with_capacity(items.len()),
    };
    for (i, item) in items.iter().enumerate() {
        let place = offset + i;
        let fields = item.as_mapping();
        if let Some(id) = fields.and_then(|f| f.get_scalar("id")) {
            read.ids.push(id.as_str().to_owned());
        }
        let user = plain_user(item)
            .or_else(|| user(sink, item, &index("directory.users", place)).map(|(u, ..)| u));
        match user {
            Some(u) => {
                read.users.push(u);
                read.places.push(place);
            }
            None => {
                for key in ["id", "login", "email"] {
                    if let Some(v) = fields.and_then(|f| f.get_scalar(key)) {
                        read.failed_names.push(v.as_str().to_owned());
                    }
                }
            }
        }
    }
    read
}

/// A user written the usual way, read without key paths: a mapping of known keys only whose
/// id, email (with an `@`), login and name are non-empty strings, groups a list of distinct
/// non-empty strings and attributes a mapping of non-empty strings. `None` for anything else,
/// which [`user`] then reads, saying what is wrong and where (the same user when nothing is).
fn plain_user(node: &Node) -> Option<User> {
    let map = node.as_mapping()?;
    if !map.keys().all(|k| USER_KEYS.contains(&k.as_str())) {
        return None;
    }
    let text = |key: &str| -> Option<Option<String>> {
        match map.get_node(key) {
            None => Some(None),
            Some(n) => {
                let s = n.as_scalar()?.as_str();
                (!s.is_empty()).then(|| Some(s.to_owned()))
            }
        }
    };
    let id = text("id")??;
    let email = text("email")??;
    if !email.contains('@') {
        return None;
    }
    let name = text("name")?;
    let login = text("login")?.unwrap_or_else(|| email.clone());
    let groups = match map.get_node("groups") {
        None => Vec::new(),
        Some(n) => {
            let list = n.as_sequence()?;
            let mut names = Vec::with_capacity(list.len());
            for item in list.iter() {
                let s = item.as_scalar()?.as_str();
                if s.is_empty() {
                    return None;
                }
                names.push(s.to_owned());
            }
            let mut sorted: Vec<&str> = names.iter().map(String::as_str).collect();
            sorted.sort_unstable();
            if sorted.windows(2).any(|w| w[0] == w[1]) {
                return None;
            }
            names
        }
    };
    let mut attributes = BTreeMap::new();
    if let Some(n) = map.get_node("attributes") {
        for (k, v) in n.as_mapping()?.iter() {
            let s = v.as_scalar()?.as_str();
            if s.is_empty() {
                return None;
            }
            attributes.insert(k.as_str().to_owned(), s.to_owned());
        }
    }
    Some(User {
        id,
        login,
        email,
        name,
        groups,
        attributes,
    })
}

/// The keys a user may have.
const USER_KEYS: &[&str] = &["id", "login", "email", "name", "groups", "attributes"];

/// Reports the users whose id, or login, an earlier user has.
fn report_repeated_users(sink: &mut Sink, items: &[Node], read: &ReadUsers) {
    let (users, places) = (&read.users, &read.places);
    report_repeats(sink, items, users, places, "user id", |u| &u.id, |_| "id");
    report_repeats(
        sink,
        items,
        users,
        places,
        "user login",
        |u| &u.login,
        // Without a login, the login is the email, and a repeat is reported there.
        |item| match item.as_mapping().and_then(|m| m.get_node("login")) {
            Some(_) => "login",
            None => "email",
        },
    );
}

/// Reports the second and later users with the same `value` (as [`reader::report_duplicates`]
/// words it), at the key `key_of` names in the later user's item, without a key path for any
/// user that is not repeated.
fn report_repeats(
    sink: &mut Sink,
    items: &[Node],
    users: &[User],
    places: &[usize],
    what: &str,
    value: impl Fn(&User) -> &str,
    key_of: impl Fn(&Node) -> &'static str,
) {
    let pos_of = |place: usize| {
        let item = &items[place];
        let key = key_of(item);
        let node = item.as_mapping().and_then(|m| m.get_node(key));
        (
            key,
            node.map_or(Pos::of(item.span()), |n| Pos::of(n.span())),
        )
    };
    let mut first: HashMap<&str, usize> = HashMap::with_capacity(users.len());
    for (u, &place) in users.iter().zip(places) {
        let v = value(u);
        match first.get(v) {
            None => {
                first.insert(v, place);
            }
            Some(&earlier) => {
                let (key, pos) = pos_of(place);
                let line = pos_of(earlier).1.line;
                let path = join(&index("directory.users", place), key);
                sink.error(
                    pos,
                    &path,
                    format!("duplicate {what} `{v}` (first at line {line})"),
                );
            }
        }
    }
}

/// `directory.groups`: `{ name, id }` for each group whose object id the file gives (Entra
/// sends groups by object id; a role mapping may name a group by either).
fn groups(sink: &mut Sink, node: &Node) -> Vec<Group> {
    let Some(list) = reader::seq(sink, node, "directory.groups") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut names = Vec::new();
    let mut ids = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let path = index("directory.groups", i);
        let Some(m) = Map::new(sink, item, &path, &["name", "id"]) else {
            continue;
        };
        let name = m.req_string(sink, "name", "the group's name, as users' `groups` list it");
        let id = m.string(sink, "id");
        if let Some(name) = name {
            names.push(name.clone());
            if let Some(id) = &id {
                ids.push(id.clone());
            }
            out.push(Group {
                name: name.value,
                id: id.map(|i| i.value),
            });
        }
    }
    reader::report_duplicates(sink, &names, "group name");
    reader::report_duplicates(sink, &ids, "group id");
    out
}

/// A user's groups, as [`reader::strings`] reads a list and [`reader::report_duplicates`]
/// reports a repeated name, without a key path per group unless a finding needs one: a large
/// directory has hundreds of thousands of groups lists (benches/scale.sh).
fn user_groups(sink: &mut Sink, node: &Node, path: &str) -> Option<Vec<String>> {
    let list = reader::seq(sink, node, path)?;
    let mut names = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        match item.as_scalar().map(|s| s.as_str()) {
            Some(name) if !name.is_empty() => names.push(name.to_owned()),
            // Reported by the shared reader, in its words.
            _ => _ = reader::string(sink, item, &index(path, i)),
        }
    }
    let mut sorted: Vec<&str> = names.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    if sorted.windows(2).any(|w| w[0] == w[1]) {
        let written: Vec<At<String>> = list
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                let s = item.as_scalar().filter(|s| !s.as_str().is_empty())?;
                Some(At {
                    value: s.as_str().to_owned(),
                    pos: Pos::of(item.span()),
                    path: index(path, i),
                })
            })
            .collect();
        reader::report_duplicates(sink, &written, "group");
    }
    Some(names)
}

fn user(sink: &mut Sink, node: &Node, path: &str) -> Option<(User, At<String>, At<String>)> {
    let m = Map::new(
        sink,
        node,
        path,
        &["id", "login", "email", "name", "groups", "attributes"],
    )?;
    let id = m.req_string(sink, "id", "the Okta user id, e.g. 00u1alice");
    let email = m.req_string(sink, "email", "the user's email address");
    if let Some(e) = &email {
        if !e.value.contains('@') {
            sink.error(
                e.pos,
                &e.path,
                format!("`{}` is not an email address", e.value),
            );
        }
    }
    let name = m.string(sink, "name").map(|s| s.value);
    let login = m.string(sink, "login");
    let groups = m
        .get("groups")
        .and_then(|n| user_groups(sink, n, &m.key_path("groups")))
        .unwrap_or_default();
    let mut attributes = BTreeMap::new();
    if let Some(attrs) = m.get("attributes") {
        let apath = join(path, "attributes");
        if let Some(map) = attrs.as_mapping() {
            for (k, v) in map.iter() {
                if let Some(s) = reader::string(sink, v, &join(&apath, k.as_str())) {
                    attributes.insert(k.as_str().to_owned(), s.value);
                }
            }
        } else {
            sink.error(
                Pos::of(attrs.span()),
                &apath,
                format!(
                    "expected a mapping of attribute name to value, found {}",
                    reader::kind(attrs)
                ),
            );
        }
    }
    let (id, email) = (id?, email?);
    let login = login.unwrap_or_else(|| At {
        value: email.value.clone(),
        pos: email.pos,
        path: email.path.clone(),
    });
    Some((
        User {
            id: id.value.clone(),
            login: login.value.clone(),
            email: email.value,
            name,
            groups,
            attributes,
        },
        id,
        login,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tree;

    /// Users of every kind: plain ones, and items each reader must refuse or report.
    fn list() -> String {
        let mut yaml = String::from("users:\n");
        for i in 0..40 {
            let item = match i {
                3 => "{ id: 00u3, emial: x@y.test, name: X }".to_owned(),
                7 => "{ id: 00u1, email: again@acme.test }".to_owned(),
                11 => "{ id: 00uL, email: l@acme.test, login: u2@acme.test }".to_owned(),
                13 => "{ id: 00uG, email: g@acme.test, groups: [A, B, A] }".to_owned(),
                17 => "{ id: 00uE, email: '', name: '' }".to_owned(),
                19 => "{ id: 00uN, email: n@acme.test, attributes: { dept: '', site: Paris } }"
                    .to_owned(),
                23 => "{ id: 00uA, email: noat }".to_owned(),
                29 => "[not, a, user]".to_owned(),
                31 => "{ id: 00uM, email: u5@ACME.test, groups: {} }".to_owned(),
                37 => "{ id: 00u36, email: u36@acme.test, login: u4@acme.test }".to_owned(),
                _ => format!(
                    "{{ id: 00u{i}, email: u{i}@acme.test, name: User {i}, groups: [G{}, H], attributes: {{ dept: D{i} }} }}",
                    i % 3
                ),
            };
            yaml.push_str(&format!("  - {item}\n"));
        }
        yaml
    }

    fn read(halves: usize) -> (Vec<User>, Vec<usize>, Vec<String>, Vec<String>) {
        let root = tree::parse(&list(), true).unwrap();
        let items = root
            .as_mapping()
            .and_then(|m| m.get_node("users"))
            .and_then(Node::as_sequence)
            .unwrap()
            .iter()
            .as_slice();
        let mut sink = Sink::new("f.yaml");
        let read = read_list(&mut sink, items, halves);
        report_repeated_users(&mut sink, items, &read);
        let found = sink
            .found
            .iter()
            .map(|d| format!("{}:{} {}: {}", d.line, d.column, d.path, d.message))
            .collect();
        (read.users, read.places, read.failed_names, found)
    }

    #[test]
    fn two_halves_read_what_one_pass_reads() {
        let one = read(1);
        assert_eq!(read(2), one);
        let (users, _, failed, found) = one;
        assert_eq!(users.len(), 37, "{found:#?}");
        // An empty value is a name written too.
        assert_eq!(failed, ["00u3", "00uE", ""]);
        let text = found.join("\n");
        for expected in [
            "directory.users[3].emial: unknown key `emial`",
            "directory.users[13].groups[2]: duplicate group `A`",
            "directory.users[17].email: expected a string, found an empty value",
            "directory.users[19].attributes.dept: expected a string, found an empty value",
            "directory.users[23].email: `noat` is not an email address",
            "directory.users[29]: expected a mapping",
            "directory.users[31].groups: expected a list",
            "directory.users[7].id: duplicate user id `00u1` (first at line 3)",
            "directory.users[11].login: duplicate user login `u2@acme.test` (first at line 4)",
            "directory.users[37].login: duplicate user login `u4@acme.test` (first at line 6)",
        ] {
            assert!(text.contains(expected), "{expected} not in\n{text}");
        }
    }

    #[test]
    fn the_plain_reading_gives_the_reported_reading_s_user() {
        let root = tree::parse(&list(), true).unwrap();
        let items = root
            .as_mapping()
            .and_then(|m| m.get_node("users"))
            .and_then(Node::as_sequence)
            .unwrap();
        let mut plain = 0;
        for (i, item) in items.iter().enumerate() {
            let mut sink = Sink::new("f.yaml");
            let reported = user(&mut sink, item, &index("directory.users", i)).map(|r| r.0);
            match plain_user(item) {
                Some(u) => {
                    plain += 1;
                    assert_eq!(Some(u), reported, "item {i}");
                    assert!(sink.found.is_empty(), "item {i}: {:?}", sink.found);
                }
                // Only an item with something to say is left to the reported reading.
                None => assert!(!sink.found.is_empty(), "item {i} is plain"),
            }
        }
        assert_eq!(plain, 33);
    }
}
