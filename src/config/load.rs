//! Connection file loading: YAML text -> marked nodes -> validated [`Connection`], collecting
//! every error and lint finding of the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use marked_yaml::loader::LoadError;
use marked_yaml::{LoaderOptions, Node};
use url::Url;

use super::diag::Diagnostics;
use super::model::*;
use super::reader::{self, At, Map, Pos, Sink, index, join};

/// Largest connection file accepted.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;

/// Loads and validates a connection file. On success the diagnostics hold only warnings.
pub fn load_file(path: &Path) -> Result<(Connection, Diagnostics), Diagnostics> {
    let name = path.display().to_string();
    let text = match std::fs::read(path) {
        Ok(bytes) if bytes.len() > MAX_FILE_BYTES => {
            return Err(single(
                &name,
                format!(
                    "file is {} bytes; connection files are limited to {MAX_FILE_BYTES} bytes",
                    bytes.len()
                ),
            ));
        }
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => return Err(not_utf8(&name, e.as_bytes(), e.utf8_error())),
        },
        Err(e) => return Err(single(&name, format!("cannot read file: {e}"))),
    };
    let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    load_str(&text, &name, &base_dir)
}

/// The first byte that is not UTF-8, at its line and column (counted in characters).
fn not_utf8(file: &str, bytes: &[u8], e: std::str::Utf8Error) -> Diagnostics {
    let good = &bytes[..e.valid_up_to()];
    let line_start = good.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let column = String::from_utf8_lossy(&good[line_start..]).chars().count() + 1;
    let pos = Pos {
        line: good.iter().filter(|b| **b == b'\n').count() + 1,
        column,
    };
    let byte = bytes.get(e.valid_up_to()).copied().unwrap_or_default();
    let mut sink = Sink::new(file);
    sink.error(
        pos,
        "",
        format!("the file is not UTF-8: byte 0x{byte:02X} here is not valid UTF-8; save the file as UTF-8"),
    );
    Diagnostics(sink.found)
}

fn single(file: &str, message: String) -> Diagnostics {
    let mut sink = Sink::new(file);
    sink.error(Pos::default(), "", message);
    Diagnostics(sink.found)
}

/// Loads a connection from text; `name` is used in messages, `base_dir` resolves relative paths.
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
    let options = LoaderOptions::default().error_on_duplicate_keys(true);
    let mut root = match marked_yaml::parse_yaml_with_options(0, text, options) {
        Ok(root) => root,
        Err(e) => {
            let (pos, path, message) = describe_load_error(&e, text);
            sink.error(pos, &path, message);
            return Err(Diagnostics(sink.found));
        }
    };
    reader::normalize_spans(&mut root);
    let conn = connection(&mut sink, &root, name, base_dir);
    let mut diags = Diagnostics(sink.found);
    diags.sort();
    match conn {
        Some(c) if !diags.has_errors() => Ok((c, diags)),
        _ => Err(diags),
    }
}

fn marker_pos(m: &marked_yaml::Marker) -> Pos {
    Pos {
        line: m.line(),
        column: m.column(),
    }
}

/// The first tab at or after `from` that is in the indentation of its line, or else the first
/// tab at all: YAML forbids tabs in indentation, and the scanner reports where it noticed.
fn find_tab(text: &str, from: Pos) -> Option<Pos> {
    let lines = || text.lines().enumerate().skip(from.line.saturating_sub(1));
    let indent_tab = lines().find_map(|(i, l)| {
        let indent = l.len() - l.trim_start_matches([' ', '\t']).len();
        l[..indent].find('\t').map(|c| (i, l, c))
    });
    let (i, line, byte) =
        indent_tab.or_else(|| lines().find_map(|(i, l)| l.find('\t').map(|c| (i, l, c))))?;
    Some(Pos {
        line: i + 1,
        column: line[..byte].chars().count() + 1,
    })
}

/// The word starting with `sigil` (a tag `!env`, an anchor `&url`) that is the last one to start
/// before `at` on its line, and its position: the parser reports the value after it.
fn find_sigil(text: &str, at: Pos, sigil: char) -> Option<(Pos, String)> {
    let line = text.lines().nth(at.line.checked_sub(1)?)?;
    let before: String = line.chars().take(at.column.saturating_sub(1)).collect();
    let start = before.rfind(sigil)?;
    let word: String = line[start..]
        .chars()
        .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | '[' | ']' | '{' | '}'))
        .collect();
    let column = line[..start].chars().count() + 1;
    Some((
        Pos {
            line: at.line,
            column,
        },
        word,
    ))
}

/// The innermost flow collection (`{` or `[`) still open at `until`, when it was opened on an
/// earlier line: an unclosed bracket makes the parser fail lines later, at a place that looks
/// fine. Quoted strings and comments are skipped; a bracket counts only where a value starts.
fn unclosed_flow(text: &str, until: Pos) -> Option<(Pos, char)> {
    let mut open: Vec<(Pos, char)> = Vec::new();
    for (i, line) in text.lines().enumerate().take(until.line) {
        let mut quote: Option<char> = None;
        let mut prev = ' ';
        let mut value_start = true;
        for (j, c) in line.chars().enumerate() {
            if i + 1 == until.line && j + 1 >= until.column {
                break;
            }
            match quote {
                Some('"') if c == '\\' && prev != '\\' => {}
                Some(q) if c == q && !(q == '"' && prev == '\\') => quote = None,
                Some(_) => {}
                None => match c {
                    '#' if prev.is_whitespace() => break,
                    '"' | '\'' if value_start => quote = Some(c),
                    '{' | '[' if value_start => open.push((
                        Pos {
                            line: i + 1,
                            column: j + 1,
                        },
                        c,
                    )),
                    '}' | ']' if !open.is_empty() => {
                        open.pop();
                    }
                    _ => {}
                },
            }
            if !c.is_whitespace() {
                value_start = matches!(c, ':' | '-' | '[' | '{' | ',');
            }
            prev = c;
        }
    }
    open.pop().filter(|(p, _)| p.line < until.line)
}

/// The key path of the mapping key written at `at`, if any.
fn path_of_key(node: &Node, at: Pos, path: &str) -> Option<String> {
    match node {
        Node::Scalar(_) => None,
        Node::Sequence(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, n)| path_of_key(n, at, &index(path, i))),
        Node::Mapping(map) => map.iter().find_map(|(k, v)| {
            let p = join(path, k.as_str());
            if Pos::of(k.span()) == at {
                Some(p)
            } else {
                path_of_key(v, at, &p)
            }
        }),
    }
}

/// Where and what a YAML-level error is: (position, key path, message).
fn describe_load_error(e: &LoadError, text: &str) -> (Pos, String, String) {
    let (pos, message) = match e {
        LoadError::TopLevelMustBeMapping(m) => (
            marker_pos(m),
            "expected a mapping at the top level (keys idp, directory, apps, ...)".to_owned(),
        ),
        LoadError::TopLevelMustBeSequence(m) => {
            (marker_pos(m), "expected a list at the top level".to_owned())
        }
        LoadError::UnexpectedAnchor(m) => match find_sigil(text, marker_pos(m), '&') {
            Some((pos, anchor)) => (
                pos,
                format!(
                    "YAML anchors and aliases are not supported in connection files; remove `{anchor}` and write the value out wherever it is used"
                ),
            ),
            None => (
                marker_pos(m),
                "YAML anchors and aliases are not supported in connection files; write the value out"
                    .to_owned(),
            ),
        },
        LoadError::MappingKeyMustBeScalar(m) => (
            marker_pos(m),
            "mapping keys must be plain strings".to_owned(),
        ),
        LoadError::UnexpectedTag(m) => match find_sigil(text, marker_pos(m), '!') {
            Some((pos, tag)) => (
                pos,
                format!(
                    "YAML tags are not supported in connection files; remove `{tag}` and write the value itself"
                ),
            ),
            None => (
                marker_pos(m),
                "YAML tags (`!name`) are not supported in connection files".to_owned(),
            ),
        },
        LoadError::ScanError(m, err) => {
            // `info` is the scanner's reason without its own (0-based) position text.
            let reason = err.info();
            let at = marker_pos(m);
            if reason.contains("tab") {
                if let Some(pos) = find_tab(text, at) {
                    return (
                        pos,
                        String::new(),
                        "invalid YAML: a tab character; YAML indentation must use spaces"
                            .to_owned(),
                    );
                }
            }
            if reason.contains("unknown anchor") {
                return (
                    at,
                    String::new(),
                    "invalid YAML: an alias (`*name`) to an unknown anchor; anchors and aliases are not supported in connection files, write the value out".to_owned(),
                );
            }
            match unclosed_flow(text, at) {
                Some((open, c)) => (
                    open,
                    format!(
                        "invalid YAML: this `{c}` is never closed (the parser stopped at line {}, column {}: {reason})",
                        at.line, at.column
                    ),
                ),
                None => (at, format!("invalid YAML: {reason}")),
            }
        }
        LoadError::DuplicateKey(inner) => {
            let at = Pos::of(inner.key.span());
            let first = Pos::of(inner.prev_key.span());
            // Find the key path in the document read again with duplicates allowed.
            let path = marked_yaml::parse_yaml_with_options(0, text, LoaderOptions::default())
                .ok()
                .and_then(|root| {
                    path_of_key(&root, at, "").or_else(|| path_of_key(&root, first, ""))
                })
                .unwrap_or_default();
            return (
                at,
                path,
                format!(
                    "duplicate key `{}` (first at line {}); each key may appear once in a mapping",
                    inner.key.as_str(),
                    first.line
                ),
            );
        }
    };
    (pos, String::new(), message)
}

const TOP_KEYS: &[&str] = &[
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
struct Declared {
    /// Ids, logins and emails of every user written in the file; `None` when the directory
    /// could not be read at all (then names of users cannot be checked).
    users: Option<Vec<String>>,
    /// User ids, for messages.
    user_ids: Vec<String>,
    /// Ids of every app written in the file; `None` when `apps` could not be read.
    apps: Option<Vec<String>>,
    /// Apps whose `groups` statement is present but invalid (no lint about their groups).
    apps_with_bad_groups: Vec<String>,
}

impl Declared {
    fn app_list(&self) -> String {
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
        .and_then(|n| idp(sink, n));
    let directory = top
        .required(sink, "directory", "the users (`users: [...]`)")
        .and_then(|n| directory(sink, n, &mut declared))
        .unwrap_or_default();
    let apps = match top.required(sink, "apps", "a list of apps") {
        Some(n) => apps(sink, n, &mut declared),
        None => Vec::new(),
    };
    let has_target = top.get("target").is_some();
    let target = top.get("target").and_then(|n| target(sink, n, &declared));
    let expectations = top.get("expectations").and_then(|n| expectations(sink, n));
    let scenarios = match top.get("scenarios") {
        Some(n) => scenarios(sink, n, &directory, &declared, has_target),
        None => Vec::new(),
    };
    if let (Some((_, at)), Some(t)) = (&expectations, &target) {
        lint_mappings(sink, at, &apps, &declared, t);
    }
    if expectations.is_some() && !has_target {
        sink.warning(
            top.key_pos("expectations"),
            "expectations",
            "expectations without a `target`: no SP to check them against",
        );
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

/// The reason a regex does not compile, without the regex crate's multi-line drawing.
fn regex_error(source: &str, e: &regex::Error) -> String {
    let detail = e.to_string();
    let last = detail.lines().last().unwrap_or("").trim();
    let reason = last.strip_prefix("error: ").unwrap_or(last);
    format!("invalid regex `{source}`: {reason}")
}

/// An absolute http(s) URL.
fn url(sink: &mut Sink, s: At<String>) -> Option<Url> {
    match Url::parse(&s.value) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {
            if u.host_str().is_none_or(str::is_empty) {
                sink.error(s.pos, &s.path, format!("URL `{}` has no host", s.value));
                return None;
            }
            Some(u)
        }
        Ok(u) => {
            sink.error(
                s.pos,
                &s.path,
                format!(
                    "expected an http or https URL, found scheme `{}`",
                    u.scheme()
                ),
            );
            None
        }
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            sink.error(
                s.pos,
                &s.path,
                format!(
                    "`{}` is a relative URL; expected an absolute URL such as http://127.0.0.1:7100/acs",
                    s.value
                ),
            );
            None
        }
        Err(e) => {
            sink.error(s.pos, &s.path, format!("invalid URL `{}`: {e}", s.value));
            None
        }
    }
}

fn idp(sink: &mut Sink, node: &Node) -> Option<Idp> {
    let m = Map::new(sink, node, "idp", &["base_url"])?;
    let base = m.req_string(
        sink,
        "base_url",
        "the URL where the IdP is reached, e.g. http://127.0.0.1:7000",
    )?;
    let base_url = url(sink, base.clone())?;
    if base_url.query().is_some() || base_url.fragment().is_some() {
        sink.error(
            base.pos,
            &base.path,
            "the base URL must not have a query or fragment",
        );
        return None;
    }
    if base_url.port_or_known_default().is_none() {
        sink.error(base.pos, &base.path, "the base URL needs a port");
        return None;
    }
    Some(Idp { base_url })
}

fn directory(sink: &mut Sink, node: &Node, declared: &mut Declared) -> Option<Directory> {
    let m = Map::new(sink, node, "directory", &["users"])?;
    if m.get("users").is_none() {
        // A directory without users is valid; scenarios cannot name anyone in it.
        declared.users = Some(Vec::new());
        return Some(Directory::default());
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
    reader::report_duplicates(sink, &ids, "user id");
    reader::report_duplicates(sink, &logins, "user login");
    Some(Directory { users })
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
    let groups = m.strings(sink, "groups").unwrap_or_default();
    reader::report_duplicates(sink, &groups, "group");
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
            groups: groups.into_iter().map(|g| g.value).collect(),
            attributes,
        },
        id,
        login,
    ))
}

const COMMON_APP_KEYS: &[&str] = &[
    "id",
    "name",
    "protocol",
    "groups",
    "global_token_revocation",
];

const SAML_APP_KEYS: &[&str] = &[
    "issuer",
    "audience",
    "acs_url",
    "sp_certificate",
    "sp_private_key",
    "sign",
    "name_id",
    "attributes",
    "allow_idp_initiated",
    "default_relay_state",
    "assertion_lifetime_secs",
    "logout",
];

const OIDC_APP_KEYS: &[&str] = &[
    "client_id",
    "client_secret",
    "redirect_uris",
    "post_logout_redirect_uris",
    "backchannel_logout_uri",
    "token_endpoint_auth_method",
    "signing_alg",
    "claims",
    "authorization_server",
    "require_pkce",
    "access_token_lifetime_secs",
    "id_token_lifetime_secs",
];

/// The keys an app may have given what its `protocol` says, the keys of the other protocol,
/// and the protocol's name.
fn app_keys(node: &Node) -> (Vec<&'static str>, &'static [&'static str], &'static str) {
    let protocol = node
        .as_mapping()
        .and_then(|m| m.get_scalar("protocol"))
        .map(|p| p.as_str().to_owned());
    let mut keys = COMMON_APP_KEYS.to_vec();
    match protocol.as_deref() {
        Some("saml") => {
            keys.extend(SAML_APP_KEYS);
            (keys, OIDC_APP_KEYS, "saml")
        }
        Some("oidc") => {
            keys.extend(OIDC_APP_KEYS);
            (keys, SAML_APP_KEYS, "oidc")
        }
        _ => {
            keys.extend(SAML_APP_KEYS);
            keys.extend(OIDC_APP_KEYS);
            (keys, &[], "")
        }
    }
}

fn apps(sink: &mut Sink, node: &Node, declared: &mut Declared) -> Vec<App> {
    let Some(list) = reader::seq(sink, node, "apps") else {
        return Vec::new();
    };
    declared.apps = Some(
        list.iter()
            .filter_map(|a| a.as_mapping()?.get_scalar("id"))
            .map(|id| id.as_str().to_owned())
            .collect(),
    );
    let mut apps = Vec::new();
    let mut ids = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let path = index("apps", i);
        if let Some((app, id)) = app(sink, item, &path, declared) {
            apps.push(app);
            ids.push(id);
        }
    }
    if list.is_empty() {
        sink.error(Pos::of(node.span()), "apps", "expected at least one app");
    }
    reader::report_duplicates(sink, &ids, "app id");
    // Client ids must be unique across OIDC apps; report each repeat at its `client_id`.
    let client_ids: Vec<At<String>> = list
        .iter()
        .enumerate()
        .filter_map(|(i, item)| {
            let map = item.as_mapping()?;
            if map.get_scalar("protocol").map(|p| p.as_str()) != Some("oidc") {
                return None;
            }
            let node = map.get_node("client_id")?;
            let s = node.as_scalar()?;
            Some(At {
                value: s.as_str().to_owned(),
                pos: Pos::of(node.span()),
                path: format!("apps[{i}].client_id"),
            })
        })
        .collect();
    reader::report_duplicates(sink, &client_ids, "client id");
    apps
}

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn slug(sink: &mut Sink, s: Option<At<String>>) -> Option<At<String>> {
    let s = s?;
    if is_slug(&s.value) {
        Some(s)
    } else {
        sink.error(
            s.pos,
            &s.path,
            format!(
                "`{}` cannot appear in a URL path; expected letters, digits, `_` or `-`",
                s.value
            ),
        );
        None
    }
}

fn app(
    sink: &mut Sink,
    node: &Node,
    path: &str,
    declared: &mut Declared,
) -> Option<(App, At<String>)> {
    let (keys, foreign, protocol_name) = app_keys(node);
    // Keys of the other protocol get their own message rather than "unknown key".
    let mut accepted = keys.clone();
    accepted.extend(foreign.iter().copied());
    let m = Map::new(sink, node, path, &accepted)?;
    for key in m.node.keys() {
        if foreign.contains(&key.as_str()) {
            let other = if protocol_name == "oidc" {
                "SAML"
            } else {
                "OIDC"
            };
            sink.error(
                Pos::of(key.span()),
                &join(path, key.as_str()),
                format!(
                    "`{}` is a key of {other} apps, and this app says `protocol: {protocol_name}`",
                    key.as_str()
                ),
            );
        }
    }
    let id = m.req_string(sink, "id", "the app instance id, e.g. 0oa1qovery");
    let id = slug(sink, id);
    let name = m.string(sink, "name");
    let name = slug(sink, name);
    let protocol = m.req_string(sink, "protocol", "`saml` or `oidc`");
    let groups = m
        .get("groups")
        .and_then(|n| groups(sink, n, &m.key_path("groups")));
    if let (None, Some(_), Some(id)) = (&groups, m.get("groups"), &id) {
        declared.apps_with_bad_groups.push(id.value.clone());
    }
    let logout = m
        .get("logout")
        .and_then(|n| logout(sink, n, &m.key_path("logout")));
    let app_id = id.as_ref().map(|i| i.value.as_str());
    let gtr = m
        .get("global_token_revocation")
        .and_then(|n| revocation(sink, n, &m.key_path("global_token_revocation")));
    let protocol = match protocol {
        Some(p) if p.value == "saml" => saml_app(sink, &m, app_id),
        Some(p) if p.value == "oidc" => oidc_app(sink, &m),
        Some(p) => {
            sink.error(
                p.pos,
                &p.path,
                format!("unknown protocol `{}`; expected `saml` or `oidc`", p.value),
            );
            None
        }
        None => None,
    };
    let id = id?;
    Some((
        App {
            name: name.map(|n| n.value).unwrap_or_else(|| id.value.clone()),
            id: id.value.clone(),
            protocol: protocol?,
            groups,
            logout,
            global_token_revocation: gtr,
            pos: m.pos,
        },
        id,
    ))
}

fn saml_app(sink: &mut Sink, m: &Map<'_>, id: Option<&str>) -> Option<Protocol> {
    let issuer = m.string(sink, "issuer");
    let audience = m.req_string(sink, "audience", "the SP entity id (the SAML Audience)");
    let acs = m
        .req_string(sink, "acs_url", "the SP's Assertion Consumer Service URL")
        .and_then(|s| url(sink, s));
    let sp_certificate = m
        .string(sink, "sp_certificate")
        .map(|s| PathBuf::from(s.value));
    let sp_private_key = m.string(sink, "sp_private_key");
    if let (Some(k), None) = (&sp_private_key, &sp_certificate) {
        sink.error(
            k.pos,
            &k.path,
            "an SP private key without `sp_certificate`: the IdP would not know to check its signatures",
        );
    }
    let sp_private_key = sp_private_key.map(|s| PathBuf::from(s.value));
    let sign = m
        .choice(
            sink,
            "sign",
            &[
                ("both", SignWhat::Both),
                ("response", SignWhat::Response),
                ("assertion", SignWhat::Assertion),
            ],
        )
        .map(|s| s.value)
        .unwrap_or(SignWhat::Both);
    let name_id = match m.get("name_id") {
        Some(n) => name_id(sink, n, &m.key_path("name_id")),
        None => Some(NameIdSpec {
            format: NameIdFormat::Unspecified,
            value: UserField::Email,
        }),
    };
    let attributes = match m.get("attributes") {
        Some(n) => attribute_statements(sink, n, &m.key_path("attributes")),
        None => Vec::new(),
    };
    let allow_idp_initiated = m.bool(sink, "allow_idp_initiated").unwrap_or(true);
    let default_relay_state = m.string(sink, "default_relay_state").map(|s| s.value);
    let lifetime = seconds(sink, m, "assertion_lifetime_secs", 300, 86_400);
    let issuer = issuer
        .map(|s| s.value)
        .unwrap_or_else(|| format!("http://www.okta.com/{}", id.unwrap_or("app")));
    Some(Protocol::Saml(SamlApp {
        issuer,
        audience: audience?.value,
        acs_url: acs?,
        sp_certificate,
        sp_private_key,
        sign,
        name_id: name_id?,
        attributes,
        allow_idp_initiated,
        default_relay_state,
        assertion_lifetime_secs: lifetime?,
    }))
}

/// A number of seconds in `1..=max`, or `default` when absent.
fn seconds(sink: &mut Sink, m: &Map<'_>, key: &str, default: i64, max: i64) -> Option<i64> {
    match m.string(sink, key) {
        Some(s) => match s.value.parse::<i64>() {
            Ok(v) if (1..=max).contains(&v) => Some(v),
            _ => {
                sink.error(
                    s.pos,
                    &s.path,
                    format!(
                        "expected a number of seconds from 1 to {max}, found `{}`",
                        s.value
                    ),
                );
                None
            }
        },
        None => Some(default),
    }
}

/// An HTTP status code (100-599).
fn http_status(sink: &mut Sink, s: At<String>) -> Option<u16> {
    match s.value.parse::<u16>() {
        Ok(v) if (100..=599).contains(&v) => Some(v),
        _ => {
            sink.error(
                s.pos,
                &s.path,
                format!(
                    "expected an HTTP status code (100-599), found `{}`",
                    s.value
                ),
            );
            None
        }
    }
}

/// A list of absolute URLs; bad items are reported.
fn urls(sink: &mut Sink, m: &Map<'_>, key: &str) -> Option<Vec<Url>> {
    let items = m.strings(sink, key)?;
    let before = sink.found.len();
    let out: Vec<Url> = items.into_iter().filter_map(|s| url(sink, s)).collect();
    (sink.found.len() == before).then_some(out)
}

fn oidc_app(sink: &mut Sink, m: &Map<'_>) -> Option<Protocol> {
    let client_id = m.req_string(sink, "client_id", "the OAuth client id, e.g. 0oa1clientid");
    let secret = m.string(sink, "client_secret");
    let redirect_uris = match m.get("redirect_uris") {
        Some(_) => urls(sink, m, "redirect_uris"),
        None => {
            sink.error(
                m.pos,
                &m.path,
                "missing key `redirect_uris`: expected the list of the app's sign-in redirect URIs",
            );
            None
        }
    };
    if let Some(list) = &redirect_uris {
        if list.is_empty() {
            sink.error(
                m.pos,
                &m.key_path("redirect_uris"),
                "expected at least one sign-in redirect URI",
            );
        }
    }
    let post_logout = match m.get("post_logout_redirect_uris") {
        Some(_) => urls(sink, m, "post_logout_redirect_uris"),
        None => Some(Vec::new()),
    };
    let backchannel = match m.string(sink, "backchannel_logout_uri") {
        Some(s) => Some(url(sink, s)?),
        None => None,
    };
    let auth = m.choice(
        sink,
        "token_endpoint_auth_method",
        &[
            ("client_secret_basic", TokenAuth::ClientSecretBasic),
            ("client_secret_post", TokenAuth::ClientSecretPost),
            ("none", TokenAuth::None),
        ],
    );
    let token_auth = match (&auth, &secret) {
        (Some(a), _) => a.value,
        (None, Some(_)) => TokenAuth::ClientSecretBasic,
        (None, None) => TokenAuth::None,
    };
    match (token_auth, &secret, &auth) {
        (TokenAuth::None, Some(s), _) => sink.error(
            s.pos,
            &s.path,
            "a public client (`token_endpoint_auth_method: none`) has no client secret; remove it or choose client_secret_basic / client_secret_post",
        ),
        (TokenAuth::ClientSecretBasic | TokenAuth::ClientSecretPost, None, Some(a)) => sink.error(
            a.pos,
            &a.path,
            "this method needs a `client_secret`",
        ),
        _ => {}
    }
    let signing_alg = m
        .choice(
            sink,
            "signing_alg",
            &[("RS256", SigningAlg::RS256), ("ES256", SigningAlg::ES256)],
        )
        .map(|a| a.value)
        .unwrap_or(SigningAlg::RS256);
    let claims = match m.get("claims") {
        Some(n) => attribute_statements(sink, n, &m.key_path("claims")),
        None => vec![
            ("email".to_owned(), UserField::Email),
            ("name".to_owned(), UserField::Name),
            ("preferred_username".to_owned(), UserField::Login),
        ],
    };
    if let Some(map) = m.get("claims").and_then(Node::as_mapping) {
        for key in map.keys() {
            if RESERVED_CLAIMS.contains(&key.as_str()) {
                sink.error(
                    Pos::of(key.span()),
                    &join(&m.key_path("claims"), key.as_str()),
                    format!(
                        "`{}` is set by the IdP itself and cannot be a claim statement",
                        key.as_str()
                    ),
                );
            }
        }
    }
    let server = match m.string(sink, "authorization_server") {
        Some(s) if s.value == "org" => AuthServer::Org,
        Some(s) => match slug(sink, Some(s)) {
            Some(id) => AuthServer::Custom(id.value),
            None => return None,
        },
        None => AuthServer::Org,
    };
    let require_pkce =
        m.bool(sink, "require_pkce").unwrap_or(false) || token_auth == TokenAuth::None;
    let access = seconds(sink, m, "access_token_lifetime_secs", 3600, 86_400);
    let id_life = seconds(sink, m, "id_token_lifetime_secs", 3600, 86_400);
    Some(Protocol::Oidc(OidcApp {
        client_id: client_id?.value,
        client_secret: secret.map(|s| Secret::new(s.value)),
        redirect_uris: redirect_uris?,
        post_logout_redirect_uris: post_logout?,
        backchannel_logout_uri: backchannel,
        token_auth,
        signing_alg,
        claims,
        server,
        require_pkce,
        access_token_lifetime_secs: access?,
        id_token_lifetime_secs: id_life?,
    }))
}

/// Claims the IdP sets itself; a claim statement may not override them.
const RESERVED_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "sid",
    "jti",
    "amr",
    "idp",
    "ver",
    "nbf",
    "azp",
];

fn user_field(sink: &mut Sink, s: At<String>) -> Option<UserField> {
    match UserField::parse(&s.value) {
        Some(f) => Some(f),
        None => {
            sink.error(
                s.pos,
                &s.path,
                format!(
                    "`{}` is not a user field; expected user.id, user.login, user.email, user.name or user.<attribute>",
                    s.value
                ),
            );
            None
        }
    }
}

fn name_id(sink: &mut Sink, node: &Node, path: &str) -> Option<NameIdSpec> {
    let m = Map::new(sink, node, path, &["format", "value"])?;
    let format = m
        .choice(
            sink,
            "format",
            &[
                ("unspecified", NameIdFormat::Unspecified),
                ("email_address", NameIdFormat::EmailAddress),
                ("persistent", NameIdFormat::Persistent),
            ],
        )
        .map(|f| f.value)
        .unwrap_or(NameIdFormat::Unspecified);
    let value = match m.string(sink, "value") {
        Some(s) => user_field(sink, s)?,
        None => UserField::Email,
    };
    Some(NameIdSpec { format, value })
}

fn attribute_statements(sink: &mut Sink, node: &Node, path: &str) -> Vec<(String, UserField)> {
    let Some(map) = node.as_mapping() else {
        sink.error(
            Pos::of(node.span()),
            path,
            format!(
                "expected a mapping of attribute name to user field (`email: user.email`), found {}",
                reader::kind(node)
            ),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (k, v) in map.iter() {
        let p = join(path, k.as_str());
        if let Some(field) = reader::string(sink, v, &p).and_then(|s| user_field(sink, s)) {
            out.push((k.as_str().to_owned(), field));
        }
    }
    out
}

fn groups(sink: &mut Sink, node: &Node, path: &str) -> Option<GroupStatement> {
    let m = Map::new(sink, node, path, &["attribute", "filter", "when_none"])?;
    let attribute = m
        .string(sink, "attribute")
        .map(|s| s.value)
        .unwrap_or_else(|| "groups".to_owned());
    let when_none = m
        .choice(
            sink,
            "when_none",
            &[("absent", WhenNone::Absent), ("empty", WhenNone::Empty)],
        )
        .map(|w| w.value)
        .unwrap_or(WhenNone::Absent);
    let filter = match m.get("filter") {
        Some(n) => group_filter(sink, n, &m.key_path("filter"))?,
        None => GroupFilter::regex(".*").ok()?,
    };
    Some(GroupStatement {
        attribute,
        filter,
        when_none,
    })
}

/// A mapping with exactly one of `kinds` as its key (`{ regex: ... }`): the kind and its value.
fn one_of(
    sink: &mut Sink,
    node: &Node,
    path: &str,
    kinds: &[&'static str],
) -> Option<(&'static str, At<String>)> {
    let m = Map::new(sink, node, path, kinds)?;
    let present: Vec<&'static str> = kinds
        .iter()
        .copied()
        .filter(|k| m.get(k).is_some())
        .collect();
    if present.len() != 1 {
        sink.error(
            m.pos,
            path,
            format!(
                "expected exactly one of {}; found {}",
                kinds.join(", "),
                if present.is_empty() {
                    "none".to_owned()
                } else {
                    present.join(", ")
                }
            ),
        );
        return None;
    }
    let s = m.string(sink, present[0])?;
    Some((present[0], s))
}

fn group_filter(sink: &mut Sink, node: &Node, path: &str) -> Option<GroupFilter> {
    let (kind, s) = one_of(
        sink,
        node,
        path,
        &["regex", "starts_with", "equals", "contains"],
    )?;
    Some(match kind {
        "regex" => match GroupFilter::regex(&s.value) {
            Ok(f) => f,
            Err(e) => {
                sink.error(s.pos, &s.path, regex_error(&s.value, &e));
                return None;
            }
        },
        "starts_with" => GroupFilter::StartsWith(s.value),
        "equals" => GroupFilter::Equals(s.value),
        _ => GroupFilter::Contains(s.value),
    })
}

fn logout(sink: &mut Sink, node: &Node, path: &str) -> Option<Logout> {
    let m = Map::new(sink, node, path, &["slo_url"])?;
    let slo = m.req_string(sink, "slo_url", "the SP's Single Logout URL")?;
    Some(Logout {
        slo_url: url(sink, slo)?,
    })
}

fn revocation(sink: &mut Sink, node: &Node, path: &str) -> Option<GlobalTokenRevocation> {
    let m = Map::new(sink, node, path, &["endpoint", "subject_format"])?;
    let endpoint = m
        .req_string(
            sink,
            "endpoint",
            "the SP's Global Token Revocation endpoint URL",
        )
        .and_then(|s| url(sink, s));
    let subject_format = m
        .choice(
            sink,
            "subject_format",
            &[
                ("iss_sub", SubjectFormat::IssSub),
                ("email", SubjectFormat::Email),
            ],
        )
        .map(|f| f.value)
        .unwrap_or(SubjectFormat::IssSub);
    Some(GlobalTokenRevocation {
        endpoint: endpoint?,
        subject_format,
    })
}

fn target(sink: &mut Sink, node: &Node, declared: &Declared) -> Option<Target> {
    let m = Map::new(
        sink,
        node,
        "target",
        &[
            "app",
            "login_url",
            "logout_url",
            "session",
            "attacks",
            "start",
        ],
    )?;
    let attacks = m.bool(sink, "attacks").unwrap_or(false);
    let start = m.string(sink, "start").and_then(|s| {
        if s.value.trim().is_empty() {
            sink.error(
                s.pos,
                &s.path,
                "expected a shell command, found only spaces",
            );
            None
        } else {
            Some(s.value)
        }
    });
    let app = m.req_string(sink, "app", "the id of the app under test");
    if let (Some(a), Some(ids)) = (&app, &declared.apps) {
        if !ids.is_empty() && !ids.contains(&a.value) {
            sink.error(
                a.pos,
                &a.path,
                format!("no app with id `{}`; {}", a.value, declared.app_list()),
            );
        }
    }
    let login_url = m
        .req_string(sink, "login_url", "the SP URL where a login starts")
        .and_then(|s| url(sink, s));
    let logout_url = m.string(sink, "logout_url").and_then(|s| url(sink, s));
    let session = m
        .required(
            sink,
            "session",
            "how to read the SP session (`probe`, `read`)",
        )
        .and_then(|n| session(sink, n));
    Some(Target {
        attacks,
        start,
        app: app?.value,
        login_url: login_url?,
        logout_url,
        session: session?,
    })
}

fn session(sink: &mut Sink, node: &Node) -> Option<SessionProbe> {
    let m = Map::new(
        sink,
        node,
        "target.session",
        &["probe", "logged_in_when", "read"],
    )?;
    let probe = m
        .req_string(
            sink,
            "probe",
            "a URL of the SP that shows the session, e.g. /api/me",
        )
        .and_then(|s| url(sink, s));
    let mut status = Some(200);
    if let Some(n) = m.get("logged_in_when") {
        let w = Map::new(sink, n, "target.session.logged_in_when", &["status"]);
        status = w
            .and_then(|w| w.req_string(sink, "status", "an HTTP status code"))
            .and_then(|s| http_status(sink, s));
    }
    let mut read = BTreeMap::new();
    if let Some(n) = m.get("read") {
        let rpath = "target.session.read";
        match n.as_mapping() {
            Some(map) => {
                for (k, v) in map.iter() {
                    let p = join(rpath, k.as_str());
                    if let Some(r) = session_reader(sink, v, &p) {
                        read.insert(k.as_str().to_owned(), r);
                    }
                }
            }
            None => sink.error(
                Pos::of(n.span()),
                rpath,
                format!(
                    "expected a mapping of value name to reader, found {}",
                    reader::kind(n)
                ),
            ),
        }
    }
    Some(SessionProbe {
        probe: probe?,
        logged_in_status: status?,
        read,
    })
}

fn session_reader(sink: &mut Sink, node: &Node, path: &str) -> Option<Reader> {
    let (kind, s) = one_of(sink, node, path, &["json", "css", "regex", "header"])?;
    Some(match kind {
        "json" => {
            if !s.value.starts_with('/') {
                sink.error(
                    s.pos,
                    &s.path,
                    format!(
                        "`{}` is not a JSON pointer; expected one starting with `/`, e.g. /role",
                        s.value
                    ),
                );
                return None;
            }
            Reader::Json(s.value)
        }
        "css" => Reader::Css(s.value),
        "regex" => match regex::Regex::new(&s.value) {
            Ok(r) => Reader::Regex(r),
            Err(e) => {
                sink.error(s.pos, &s.path, regex_error(&s.value, &e));
                return None;
            }
        },
        _ => Reader::Header(s.value),
    })
}

/// Where a group mapping is written, for lint findings about it.
#[derive(Debug)]
struct MappingAt {
    role: At<String>,
    groups: Vec<At<String>>,
}

fn expectations(sink: &mut Sink, node: &Node) -> Option<(Expectations, Vec<MappingAt>)> {
    let m = Map::new(
        sink,
        node,
        "expectations",
        &[
            "default_role",
            "enforce_group_sync",
            "group_mappings",
            "role_precedence",
            "require_name",
        ],
    )?;
    let default_role = m.req_string(
        sink,
        "default_role",
        "the role a user gets when no mapping applies",
    );
    let enforce_group_sync = m.bool(sink, "enforce_group_sync").unwrap_or(false);
    let require_name = m.bool(sink, "require_name").unwrap_or(true);
    let mut group_mappings = Vec::new();
    let mut mapping_roles: Vec<At<String>> = Vec::new();
    let mut mapping_at = Vec::new();
    if let Some(n) = m.get("group_mappings") {
        let mpath = "expectations.group_mappings";
        match n.as_mapping() {
            Some(map) => {
                for (role, groups) in map.iter() {
                    let p = join(mpath, role.as_str());
                    let role_at = At {
                        value: role.as_str().to_owned(),
                        pos: Pos::of(role.span()),
                        path: p.clone(),
                    };
                    mapping_roles.push(role_at.clone());
                    if let Some(g) = reader::strings(sink, groups, &p) {
                        if g.is_empty() {
                            sink.warning(
                                Pos::of(groups.span()),
                                &p,
                                format!("role `{}` maps no group", role.as_str()),
                            );
                        }
                        group_mappings.push((
                            role.as_str().to_owned(),
                            g.iter().map(|a| a.value.clone()).collect(),
                        ));
                        mapping_at.push(MappingAt {
                            role: role_at,
                            groups: g,
                        });
                    }
                }
            }
            None => sink.error(
                Pos::of(n.span()),
                mpath,
                format!(
                    "expected a mapping of role to a list of IdP groups, found {}",
                    reader::kind(n)
                ),
            ),
        }
    }
    let precedence = m.strings(sink, "role_precedence");
    if let Some(p) = &precedence {
        reader::report_duplicates(sink, p, "role");
        for role in &mapping_roles {
            if !p.iter().any(|r| r.value == role.value) {
                sink.warning(
                    role.pos,
                    &role.path,
                    format!(
                        "role `{}` is mapped but missing from `role_precedence`; a user in several mapped groups has no defined role",
                        role.value
                    ),
                );
            }
        }
    } else if mapping_roles.len() > 1 {
        sink.warning(
            m.key_pos("group_mappings"),
            "expectations.group_mappings",
            "several roles are mapped but `role_precedence` is not set; users matching several mappings cannot be checked",
        );
    }
    let exp = Expectations {
        default_role: default_role?.value,
        enforce_group_sync,
        group_mappings,
        role_precedence: precedence
            .unwrap_or_default()
            .into_iter()
            .map(|r| r.value)
            .collect(),
        require_name,
    };
    Some((exp, mapping_at))
}

/// A mapped group that the target app's group filter never emits makes its role unreachable.
/// Findings are placed at the role (no group is sent at all) or at the group that is never sent.
/// An app whose group statement is itself in error is left alone: that error says it all.
fn lint_mappings(
    sink: &mut Sink,
    at: &[MappingAt],
    apps: &[App],
    declared: &Declared,
    target: &Target,
) {
    let Some(app) = apps.iter().find(|a| a.id == target.app) else {
        return;
    };
    if declared.apps_with_bad_groups.contains(&app.id) {
        return;
    }
    for m in at {
        let role = &m.role.value;
        match &app.groups {
            None => sink.warning(
                m.role.pos,
                &m.role.path,
                format!(
                    "app `{}` has no `groups` statement, so it never sends groups: role `{role}` can never be given by this mapping",
                    app.id
                ),
            ),
            Some(gs) => {
                for g in m.groups.iter().filter(|g| !gs.filter.passes(&g.value)) {
                    sink.warning(
                        g.pos,
                        &g.path,
                        format!(
                            "app `{}` never sends group `{}`: its group filter ({}) drops it, so this mapping to role `{role}` can never apply",
                            app.id, g.value, gs.filter
                        ),
                    );
                }
            }
        }
    }
}

fn scenarios(
    sink: &mut Sink,
    node: &Node,
    directory: &Directory,
    declared: &Declared,
    has_target: bool,
) -> Vec<Scenario> {
    let Some(list) = reader::seq(sink, node, "scenarios") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut names = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let path = index("scenarios", i);
        if let Some((s, name)) = scenario(sink, item, &path, directory, declared, has_target) {
            out.push(s);
            names.push(name);
        }
    }
    reader::report_duplicates(sink, &names, "scenario name");
    out
}

fn scenario(
    sink: &mut Sink,
    node: &Node,
    path: &str,
    directory: &Directory,
    declared: &Declared,
    has_target: bool,
) -> Option<(Scenario, At<String>)> {
    let m = Map::new(sink, node, path, &["name", "user", "app", "emit", "steps"])?;
    let name = m.req_string(sink, "name", "a name for the scenario");
    if let Some(n) = &name {
        if !n
            .value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            sink.error(
                n.pos,
                &n.path,
                format!("scenario names become test names; expected letters, digits and `_`, found `{}`", n.value),
            );
        }
    }
    let user = m.req_string(sink, "user", "the id of a user of the directory");
    if let (Some(u), Some(names)) = (&user, &declared.users) {
        if directory.find(&u.value).is_none() && !names.contains(&u.value) {
            let users = if declared.user_ids.is_empty() {
                "the directory has no users".to_owned()
            } else {
                format!("users are: {}", declared.user_ids.join(", "))
            };
            sink.error(
                u.pos,
                &u.path,
                format!("no user `{}` in the directory; {users}", u.value),
            );
        }
    }
    let app = m.string(sink, "app");
    if let Some(a) = &app {
        if declared
            .apps
            .as_ref()
            .is_some_and(|ids| !ids.contains(&a.value))
        {
            sink.error(
                a.pos,
                &a.path,
                format!("no app with id `{}`; {}", a.value, declared.app_list()),
            );
        }
    } else if !has_target {
        sink.error(
            m.pos,
            path,
            "the scenario names no `app` and the file has no `target`: which app does it use?",
        );
    }
    let emit = match m.get("emit") {
        Some(n) => emit(sink, n, &m.key_path("emit")),
        None => Some(Emit::default()),
    };
    let steps_path = m.key_path("steps");
    let steps = m.seq(sink, "steps").map(|list| {
        list.iter()
            .enumerate()
            .filter_map(|(i, s)| step(sink, s, &index(&steps_path, i)))
            .collect::<Vec<_>>()
    });
    if m.get("steps").is_none() {
        sink.error(
            m.pos,
            path,
            "missing key `steps`: expected a list of steps (login, expect, ...)",
        );
    }
    let name = name?;
    Some((
        Scenario {
            name: name.value.clone(),
            user: user?.value,
            app: app.map(|a| a.value),
            emit: emit?,
            steps: steps?,
            pos: m.pos,
        },
        name,
    ))
}

fn emit(sink: &mut Sink, node: &Node, path: &str) -> Option<Emit> {
    let m = Map::new(sink, node, path, &["omit_attributes"])?;
    let omit = m.strings(sink, "omit_attributes").unwrap_or_default();
    Some(Emit {
        omit_attributes: omit.into_iter().map(|a| a.value).collect(),
    })
}

const STEP_NAMES: &str = "login, logout, revoke, replay, set_groups, expect";

fn step(sink: &mut Sink, node: &Node, path: &str) -> Option<Step> {
    if let Some(s) = node.as_scalar() {
        return match s.as_str() {
            "login" => Some(Step::Login {
                expect: LoginOutcome::Accepted,
                from: LoginFrom::Sp,
                browser: "main".into(),
                user: None,
            }),
            "logout" => Some(Step::Logout {
                from: LoginFrom::Sp,
                fault: None,
                binding: SloBinding::Redirect,
            }),
            "replay" => Some(Step::Replay),
            "revoke" => Some(Step::Revoke {
                expect_status: None,
                fault: None,
                format: None,
            }),
            other => {
                sink.error(
                    Pos::of(node.span()),
                    path,
                    format!("unknown step `{other}`; expected one of: {STEP_NAMES}"),
                );
                None
            }
        };
    }
    let Some(map) = node.as_mapping() else {
        sink.error(
            Pos::of(node.span()),
            path,
            format!(
                "expected a step (a word or a one-key mapping), found {}",
                reader::kind(node)
            ),
        );
        return None;
    };
    if map.len() != 1 {
        sink.error(
            Pos::of(node.span()),
            path,
            format!(
                "a step is a mapping with exactly one key ({STEP_NAMES}); found {} keys ({}): write each step as its own list item",
                map.len(),
                map.keys().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
            ),
        );
        return None;
    }
    let (key, value) = map.iter().next()?;
    let p = join(path, key.as_str());
    match key.as_str() {
        "login" => {
            let m = Map::new(sink, value, &p, &["expect", "from", "browser", "as"])?;
            let browser = m
                .string(sink, "browser")
                .map(|b| b.value)
                .unwrap_or_else(|| "main".into());
            let user = m.string(sink, "as").map(|u| u.value);
            let from = m
                .choice(
                    sink,
                    "from",
                    &[("sp", LoginFrom::Sp), ("idp", LoginFrom::Idp)],
                )
                .map(|c| c.value)
                .unwrap_or(LoginFrom::Sp);
            let expect = m
                .choice(
                    sink,
                    "expect",
                    &[
                        ("accepted", LoginOutcome::Accepted),
                        ("rejected", LoginOutcome::Rejected),
                        ("either", LoginOutcome::Either),
                    ],
                )
                .map(|c| c.value)
                .unwrap_or(LoginOutcome::Accepted);
            Some(Step::Login {
                expect,
                from,
                browser,
                user,
            })
        }
        "logout" => {
            let m = Map::new(sink, value, &p, &["from", "fault", "binding"])?;
            let from = m
                .choice(
                    sink,
                    "from",
                    &[("sp", LoginFrom::Sp), ("idp", LoginFrom::Idp)],
                )
                .map(|c| c.value)
                .unwrap_or(LoginFrom::Sp);
            let fault = m.string(sink, "fault").and_then(|f| {
                let found = LogoutFault::ALL
                    .iter()
                    .find(|(n, _)| *n == f.value)
                    .map(|(_, x)| *x);
                if found.is_none() {
                    let names: Vec<&str> = LogoutFault::ALL.iter().map(|(n, _)| *n).collect();
                    sink.error(
                        f.pos,
                        &f.path,
                        format!(
                            "unknown logout fault `{}`; expected one of: {}",
                            f.value,
                            names.join(", ")
                        ),
                    );
                }
                found
            });
            if fault.is_some() && from == LoginFrom::Sp {
                sink.error(
                    m.pos,
                    &p,
                    "a logout fault is sent by the IdP: add `from: idp`",
                );
            }
            let binding = m.choice(
                sink,
                "binding",
                &[
                    ("redirect", SloBinding::Redirect),
                    ("post", SloBinding::Post),
                ],
            );
            if let (Some(b), LoginFrom::Sp) = (&binding, from) {
                sink.error(
                    b.pos,
                    &b.path,
                    "the binding is that of the IdP's LogoutRequest: add `from: idp`",
                );
            }
            Some(Step::Logout {
                from,
                fault,
                binding: binding.map(|b| b.value).unwrap_or_default(),
            })
        }
        "revoke" => {
            let m = Map::new(sink, value, &p, &["expect_status", "fault", "format"])?;
            let fault = match m.string(sink, "fault") {
                Some(f) => match crate::revocation::Fault::parse(&f.value) {
                    Some(x) => Some(x),
                    None => {
                        let names: Vec<&str> = crate::revocation::Fault::ALL
                            .iter()
                            .map(|f| f.name())
                            .collect();
                        sink.error(
                            f.pos,
                            &f.path,
                            format!(
                                "unknown fault `{}`; expected one of: {}",
                                f.value,
                                names.join(", ")
                            ),
                        );
                        None
                    }
                },
                None => None,
            };
            let format = m
                .choice(
                    sink,
                    "format",
                    &[
                        ("iss_sub", SubjectFormat::IssSub),
                        ("email", SubjectFormat::Email),
                    ],
                )
                .map(|c| c.value);
            let status = m
                .string(sink, "expect_status")
                .and_then(|s| http_status(sink, s));
            Some(Step::Revoke {
                expect_status: status,
                fault,
                format,
            })
        }
        "set_groups" => {
            let groups = reader::strings(sink, value, &p)?;
            Some(Step::SetGroups {
                groups: groups.into_iter().map(|g| g.value).collect(),
            })
        }
        "expect" => {
            let Some(map) = value.as_mapping() else {
                sink.error(
                    Pos::of(value.span()),
                    &p,
                    format!(
                        "expected a mapping (`session: ended`, `role: admin`, ...), found {}",
                        reader::kind(value)
                    ),
                );
                return None;
            };
            let mut exp = SessionExpectation::default();
            for (k, v) in map.iter() {
                let kp = join(&p, k.as_str());
                if k.as_str() == "session" || k.as_str() == "idp_session" {
                    let s = reader::string(sink, v, &kp)?;
                    let state = reader::choice(
                        sink,
                        s,
                        &[
                            ("active", SessionState::Active),
                            ("ended", SessionState::Ended),
                        ],
                    )
                    .map(|c| c.value);
                    if k.as_str() == "session" {
                        exp.session = state;
                    } else {
                        exp.idp_session = state;
                    }
                } else if k.as_str() == "browser" {
                    exp.browser = reader::string(sink, v, &kp).map(|b| b.value);
                } else if let Some(list) = v.as_sequence() {
                    let items = list
                        .iter()
                        .enumerate()
                        .filter_map(|(i, x)| reader::scalar(sink, x, &index(&kp, i)))
                        .map(|x| x.as_str().to_owned())
                        .collect();
                    exp.values
                        .insert(k.as_str().to_owned(), ExpectedValue::List(items));
                } else if let Some(s) = reader::scalar(sink, v, &kp) {
                    exp.values.insert(
                        k.as_str().to_owned(),
                        ExpectedValue::One(s.as_str().to_owned()),
                    );
                }
            }
            Some(Step::Expect(exp))
        }
        other => {
            sink.error(
                Pos::of(key.span()),
                &p,
                format!("unknown step `{other}`; expected one of: {STEP_NAMES}"),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idp_logout_step_takes_a_binding_redirect_by_default() {
        let yaml = format!(
            "{}  - name: g2_both_bindings\n    user: 00u1alice\n    steps: [login, {{ logout: {{ from: idp, binding: post }} }}, {{ logout: {{ from: idp }} }}, logout]\n",
            crate::cli::EMBEDDED_EXAMPLE
        );
        let (conn, _) = load_str(&yaml, "g2.yaml", Path::new(".")).unwrap();
        let s = conn
            .scenarios
            .iter()
            .find(|s| s.name == "g2_both_bindings")
            .unwrap();
        let bindings: Vec<(LoginFrom, SloBinding)> = s
            .steps
            .iter()
            .filter_map(|st| match st {
                Step::Logout { from, binding, .. } => Some((*from, *binding)),
                _ => None,
            })
            .collect();
        assert_eq!(
            bindings,
            vec![
                (LoginFrom::Idp, SloBinding::Post),
                (LoginFrom::Idp, SloBinding::Redirect),
                (LoginFrom::Sp, SloBinding::Redirect),
            ]
        );
    }
}
