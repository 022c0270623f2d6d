//! The `directory` section: the users, their groups and attributes, and the groups' object ids
//! (`groups`, for Entra's groups claim).

use std::collections::BTreeMap;

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
    let mut names = Vec::new();
    for item in list.iter().filter_map(Node::as_mapping) {
        if let Some(id) = item.get_scalar("id") {
            declared.user_ids.push(id.as_str().to_owned());
        }
        for key in ["id", "login", "email"] {
            if let Some(v) = item.get_scalar(key) {
                names.push(v.as_str().to_owned());
            }
        }
    }
    declared.users = Some(names);
    let mut users = Vec::new();
    let mut ids = Vec::new();
    let mut logins = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let path = index("directory.users", i);
        if let Some((u, id, login)) = user(sink, item, &path) {
            users.push(u);
            ids.push(id);
            logins.push(login);
        }
    }
    declared.user_attributes = Some(
        users
            .iter()
            .flat_map(|u: &User| u.attributes.keys().cloned())
            .collect(),
    );
    reader::report_duplicates(sink, &ids, "user id");
    reader::report_duplicates(sink, &logins, "user login");
    Some(Directory::new(users, groups))
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
