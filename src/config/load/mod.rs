//! Connection file loading: YAML text -> marked nodes -> validated [`Connection`], collecting
//! every error and lint finding of the file. Each section is read by its own module; the YAML
//! layer is `config/yaml.rs`, cross-checks between sections `config/lint.rs`.

mod app;
mod directory;
mod expectations;
mod idp;
mod oidc;
mod saml;
mod scenario;
mod sp_metadata;
mod target;
mod values;

use std::path::Path;

use super::diag::Diagnostics;
use super::files::{self, FileError};
use super::model::*;
use super::reader::{self, Map, Pos, Sink};
use super::tree::{self, Node};
use super::{chars, lint, yaml};

pub(crate) use expectations::MappingAt;
pub use sp_metadata::read_sp_metadata;
/// The key lists the JSON Schema (config/schema.rs) is checked against.
#[cfg(test)]
pub(crate) use {
    app::{COMMON_APP_KEYS, OIDC_APP_KEYS, SAML_APP_KEYS},
    oidc::RESERVED_CLAIMS,
};

/// Largest connection file accepted: room for an enterprise directory (100,000 users in 10,000
/// groups with 100 apps is 13 MiB; benches/scale.sh), bounded so a wrong path (a disk image, a
/// log) is refused before it is parsed. The file is the user's own, never the network's.
pub const MAX_FILE_BYTES: usize = 32 * 1024 * 1024;

/// Loads and validates a connection file. On success the diagnostics hold only warnings.
pub fn load_file(path: &Path) -> Result<(Connection, Diagnostics), Diagnostics> {
    let name = path.display().to_string();
    let bytes = match files::read_capped(path, MAX_FILE_BYTES as u64) {
        Ok(bytes) => bytes,
        Err(FileError::TooLarge { limit, .. }) => {
            return Err(single(
                &name,
                format!("the file is larger than {limit} bytes, the limit for a connection file"),
            ));
        }
        Err(FileError::NotRegularFile { .. }) => {
            return Err(single(&name, "not a regular file".to_owned()));
        }
        Err(FileError::Read { source, .. }) => {
            return Err(single(&name, format!("cannot read file: {source}")));
        }
        Err(e) => return Err(single(&name, e.to_string())),
    };
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => return Err(yaml::not_utf8(&name, e.as_bytes(), e.utf8_error())),
    };
    let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    load_str(&text, &name, &base_dir)
}

fn single(file: &str, message: String) -> Diagnostics {
    let mut sink = Sink::new(file);
    sink.error(Pos::default(), "", message);
    Diagnostics(sink.found)
}

/// Loads a connection from text; `name` is used in messages, `base_dir` resolves relative paths
/// (an SP certificate is read from there, to check it).
pub fn load_str(
    text: &str,
    name: &str,
    base_dir: &Path,
) -> Result<(Connection, Diagnostics), Diagnostics> {
    let mut sink = Sink::new(name);
    if text.len() > MAX_FILE_BYTES {
        sink.error(
            Pos::default(),
            "",
            format!("file is larger than {MAX_FILE_BYTES} bytes"),
        );
        return Err(Diagnostics(sink.found));
    }
    // YAML allows a byte order mark before the stream; the parser would read it as part of the
    // first key. It is invisible in editors, so columns are counted without it.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Before the parser builds a tree: the walks over it (and its drop) recurse per level.
    if let Some((pos, message)) = yaml::too_deep(text) {
        sink.error(pos, "", message);
        return Err(Diagnostics(sink.found));
    }
    // The parser reads the first document only; a second one would be silently ignored.
    if let Some((pos, message)) = yaml::second_document(text) {
        sink.error(pos, "", message);
    }
    let mut root = match tree::parse_large(text, true) {
        Ok(root) => root,
        Err(e) => {
            let (pos, path, message) = yaml::describe_load_error(&e, text);
            sink.error(pos, &path, message);
            let mut diags = Diagnostics(sink.found);
            diags.sort();
            return Err(diags);
        }
    };
    reader::normalize_spans(&mut root);
    reader::empty_sections_as_mappings(&mut root, EMPTY_IS_EMPTY_MAPPING);
    let large = text.len() >= LARGE_FILE_BYTES;
    let conn = read_tree(&mut sink, root, name, base_dir, large);
    let mut diags = Diagnostics(sink.found);
    diags.sort();
    match conn {
        Some(c) if !diags.has_errors() => Ok((c, diags)),
        _ => Err(diags),
    }
}

/// The checks of a parsed file: its characters, then its sections. `beside`: the character
/// check on a thread of its own, the tree freed aside (a large file).
fn read_tree(
    sink: &mut Sink,
    root: Node,
    name: &str,
    base_dir: &Path,
    beside: bool,
) -> Option<Connection> {
    if !beside {
        chars::check_tree(sink, &root);
        connection(sink, &root, name, base_dir)
    } else {
        // Both walks only read the tree: the character check runs on a second core while the
        // sections are read, each into a sink of its own. Its findings go first, as they would
        // in one pass; the sections' findings point into their own sink by index, and the
        // merge comes after the last of those.
        let mut sections = Sink::new(name);
        let (found, conn) = std::thread::scope(|s| {
            let walk = s.spawn(|| {
                let mut own = Sink::new(name);
                chars::check_tree(&mut own, &root);
                own.found
            });
            let conn = connection(&mut sections, &root, name, base_dir);
            let found = walk
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (found, conn)
        });
        sink.found.extend(found);
        sink.found.append(&mut sections.found);
        drop_aside(root);
        conn
    }
}

/// Files from this size on are loaded with a second thread: the character check runs beside
/// the reading of the sections, and the parsed tree is freed aside (freeing the tree of a
/// 13 MiB file, 100,000 users, is a quarter of parsing it; benches/scale.sh). A small file is
/// loaded on the caller's thread, quicker than starting one.
const LARGE_FILE_BYTES: usize = 1024 * 1024;

/// Frees `value` on a thread of its own, so the caller goes on meanwhile.
pub(crate) fn drop_aside<T: Send + 'static>(value: T) {
    // When no thread can be made, the closure (and the value) is dropped here.
    let _ = std::thread::Builder::new()
        .name("fakta-free".into())
        .spawn(move || drop(value));
}

/// Top-level sections that, written with nothing after them (`idp:`), are read as empty
/// mappings: then what is missing in them is named (`missing key `base_url``), which says more
/// than "expected a mapping, found an empty value".
const EMPTY_IS_EMPTY_MAPPING: &[&str] = &["idp", "directory", "target", "expectations"];

pub(crate) const TOP_KEYS: &[&str] = &[
    "idp",
    "directory",
    "apps",
    "target",
    "expectations",
    "scenarios",
];

/// What the file declares, including the parts that failed validation: cross-references (a
/// scenario's user, the target's app) are checked against these, so one mistake is not reported
/// again at every place that names the broken item.
#[derive(Debug, Default)]
pub(crate) struct Declared {
    /// Ids, logins and emails of every user written in the file; `None` when the directory
    /// could not be read at all (then names of users cannot be checked).
    pub(crate) users: Option<Vec<String>>,
    /// User ids, for messages.
    pub(crate) user_ids: Vec<String>,
    /// Ids of every app written in the file; `None` when `apps` could not be read.
    pub(crate) apps: Option<Vec<String>>,
    /// Apps whose `groups` statement is present but invalid (no lint about their groups).
    pub(crate) apps_with_bad_groups: Vec<String>,
    /// The extra attribute names any user has (`user.<name>` in a NameID template); `None`
    /// when the directory could not be read.
    pub(crate) user_attributes: Option<std::collections::BTreeSet<String>>,
    /// The vendor the file plays, with its tenant: apps' defaults follow it (`crate::flavor`).
    pub(crate) idp: Option<Idp>,
    /// `directory.groups`: a role mapping may name a group by its object id.
    pub(crate) groups: Vec<Group>,
}

impl Declared {
    /// The vendor the file plays (Okta when the `idp` section could not be read).
    pub(crate) fn vendor(&self) -> &'static dyn crate::flavor::Vendor {
        self.idp
            .as_ref()
            .map_or(crate::flavor::Flavor::Okta, |i| i.flavor)
            .vendor()
    }

    pub(crate) fn app_list(&self) -> String {
        match self.apps.as_deref() {
            Some([]) | None => "there are no apps".to_owned(),
            Some(ids) => format!("apps are: {}", ids.join(", ")),
        }
    }
}

fn connection(sink: &mut Sink, root: &Node, name: &str, base_dir: &Path) -> Option<Connection> {
    if root.as_mapping().is_some_and(|m| m.is_empty()) {
        sink.error(
            Pos { line: 1, column: 1 },
            "",
            "the file has no settings; a connection file is a mapping with the keys idp, directory and apps (and optionally target, expectations, scenarios)",
        );
        return None;
    }
    let top = Map::new(sink, root, "", TOP_KEYS)?;
    let mut declared = Declared::default();
    let idp = top
        .required(sink, "idp", "the IdP settings (`base_url`)")
        .and_then(|n| idp::idp(sink, n));
    declared.idp = idp.clone();
    let directory = top
        .required(sink, "directory", "the users (`users: [...]`)")
        .and_then(|n| directory::directory(sink, n, &mut declared))
        .unwrap_or_default();
    declared.groups = directory.groups.clone();
    let apps = match top.required(sink, "apps", "a list of apps") {
        Some(n) => app::apps(sink, n, &mut declared, base_dir),
        None => Vec::new(),
    };
    let has_target = top.get("target").is_some();
    let target = top
        .get("target")
        .and_then(|n| target::target(sink, n, &declared));
    let expectations = top
        .get("expectations")
        .and_then(|n| expectations::expectations(sink, n));
    let scenarios = match top.get("scenarios") {
        Some(n) => scenario::scenarios(sink, n, &directory, &declared, has_target),
        None => Vec::new(),
    };
    if let (Some((_, at)), Some(t)) = (&expectations, &target) {
        lint::lint_mappings(sink, at, &apps, &declared, t);
    }
    if expectations.is_some() && !has_target {
        lint::expectations_without_target(sink, &top);
    }
    if let (Some(t), Some(node)) = (&target, top.get("target")) {
        lint::signed_assertions(sink, node, &apps, t);
        lint::response_type(sink, node, &apps, t);
    }
    let expectations = expectations.map(|(e, _)| e);
    Some(Connection {
        source: name.to_owned(),
        base_dir: base_dir.to_path_buf(),
        idp: idp?,
        directory,
        apps,
        target,
        expectations,
        scenarios,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Findings of both walks, some on one line: control characters, an invisible character, a
    /// repeated group and user id, and a misspelt required key (whose report the directory
    /// reader amends later by its index in the sink).
    const FINDINGS: &str = "idp:\n  base_url: http://127.0.0.1:7000\ndirectory:\n  users:\n    - { id: \"00u1\\0\", email: a@x.test, groups: [A, A, \"\\u200bB\"] }\n    - { idd: 00u2, email: \"b\\t@x.test\" }\n    - { id: \"00u1\\0\", email: c@x.test, groups: [[]] }\napps: []\n";

    fn found(beside: bool) -> Vec<String> {
        let mut root = tree::parse(FINDINGS, true).unwrap();
        reader::normalize_spans(&mut root);
        let mut sink = Sink::new("f.yaml");
        read_tree(&mut sink, root, "f.yaml", Path::new("."), beside);
        let mut diags = Diagnostics(sink.found);
        diags.sort();
        diags.0.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_large_files_findings_are_those_of_one_pass() {
        let one = found(false);
        assert!(one.len() >= 6, "{one:#?}");
        assert!(
            one.iter().any(|d| d.contains("is required and missing")),
            "{one:#?}"
        );
        assert!(
            one.iter().any(|d| d.contains("duplicate group `A`")),
            "{one:#?}"
        );
        assert_eq!(found(true), one);
    }
}
