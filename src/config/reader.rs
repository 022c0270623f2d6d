//! A small typed reader over the parsed nodes (`config/tree.rs`) that records every problem it
//! meets instead of stopping at the first, so `fakta check` can report all errors of a file at
//! once, each with its line, column and key path. (serde stops at the first error, which is why the model is not
//! deserialized with it; see ARCHITECTURE.md.)

use std::collections::BTreeSet;

use super::tree::{Mapping as MarkedMappingNode, Node, Scalar as MarkedScalarNode};
use super::tree::{Sequence as MarkedSequenceNode, Span};

use super::diag::{Diagnostic, Severity};

/// A position in the file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    pub fn of(span: &Span) -> Pos {
        span.start()
            .map(|m| Pos {
                line: m.line(),
                column: m.column(),
            })
            .unwrap_or_default()
    }
}

/// A value together with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct At<T> {
    pub value: T,
    pub pos: Pos,
    pub path: String,
}

/// Collects diagnostics for one file.
#[derive(Debug)]
pub struct Sink {
    pub file: String,
    pub found: Vec<Diagnostic>,
}

impl Sink {
    pub fn new(file: impl Into<String>) -> Self {
        Sink {
            file: file.into(),
            found: Vec::new(),
        }
    }

    pub fn error(&mut self, pos: Pos, path: &str, message: impl Into<String>) {
        self.push(Severity::Error, pos, path, message.into());
    }

    pub fn warning(&mut self, pos: Pos, path: &str, message: impl Into<String>) {
        self.push(Severity::Warning, pos, path, message.into());
    }

    fn push(&mut self, severity: Severity, pos: Pos, path: &str, message: String) {
        self.found.push(Diagnostic {
            severity,
            file: self.file.clone(),
            line: pos.line,
            column: pos.column,
            path: path.to_owned(),
            message,
        });
    }
}

pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

pub fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// What a node is, for "expected X, found Y" messages: a scalar is shown as written.
pub fn kind(node: &Node) -> String {
    match node {
        Node::Scalar(s) if s.as_str().is_empty() => "an empty value".to_owned(),
        Node::Scalar(s) => format!("`{}`", shorten(s.as_str())),
        Node::Mapping(_) => "a mapping".to_owned(),
        Node::Sequence(_) => "a list".to_owned(),
    }
}

/// A value cut to a length that fits in a message.
fn shorten(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut}...")
    }
}

/// Moves the start of nodes whose parser position is misleading to where a reader looks:
/// - an empty value (`idp:` followed by nothing) gets the position of its key; the parser puts
///   it at the next token, often the next section;
/// - a block mapping starts at its first key, not at that key's `:`.
pub fn normalize_spans(node: &mut Node) {
    match node {
        Node::Scalar(_) => {}
        Node::Sequence(seq) => seq.iter_mut().for_each(normalize_spans),
        Node::Mapping(map) => {
            let first_key = map.keys().next().and_then(|k| k.span().start().copied());
            if let Some(first) = first_key {
                let start = map.span().start().copied();
                if start.is_none_or(|s| (s.line(), s.column()) > (first.line(), first.column())) {
                    map.span_mut().set_start(Some(first));
                }
            }
            for (key, value) in map.iter_mut() {
                if value.as_scalar().is_some_and(|s| s.as_str().is_empty()) {
                    let at = key.span().start().copied();
                    value.span_mut().set_start(at);
                }
                normalize_spans(value);
            }
        }
    }
}

/// Replaces the empty value of each top-level key in `keys` (`idp:` and nothing more) with an
/// empty mapping at the same place, so the reader reports the keys missing from it.
pub fn empty_sections_as_mappings(root: &mut Node, keys: &[&str]) {
    let Node::Mapping(map) = root else {
        return;
    };
    for (key, value) in map.iter_mut() {
        let empty = value.as_scalar().is_some_and(|s| s.as_str().is_empty());
        if empty && keys.contains(&key.as_str()) {
            *value = Node::Mapping(MarkedMappingNode::new_empty(*value.span()));
        }
    }
}

/// The known key closest to an unknown one, when it is close enough to be a typo.
pub fn closest<'k>(unknown: &str, known: &[&'k str]) -> Option<&'k str> {
    let limit = match unknown.chars().count() {
        0..=3 => 1,
        4..=8 => 2,
        _ => 3,
    };
    known
        .iter()
        .map(|k| (edit_distance(unknown, k), *k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance, case-insensitive.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// A mapping whose keys are checked against the known ones as they are read.
#[derive(Debug)]
pub struct Map<'n> {
    pub node: &'n MarkedMappingNode,
    pub path: String,
    pub pos: Pos,
    /// Known keys that an unknown key was reported as a typo of, with the index of that report
    /// in the sink: a required one's absence is added to that report rather than reported again.
    pub suggested: Vec<(String, usize)>,
}

impl<'n> Map<'n> {
    /// Reads `node` as a mapping whose only keys may be `known`. Unknown keys are errors that
    /// list what was expected.
    pub fn new(sink: &mut Sink, node: &'n Node, path: &str, known: &[&str]) -> Option<Map<'n>> {
        Map::with_foreign(sink, node, path, known, &[])
    }

    /// Like [`Map::new`], but keys in `foreign` (keys of another kind of item, which the caller
    /// reports in its own words) are let through, and neither listed nor suggested.
    pub fn with_foreign(
        sink: &mut Sink,
        node: &'n Node,
        path: &str,
        known: &[&str],
        foreign: &[&str],
    ) -> Option<Map<'n>> {
        let Some(map) = node.as_mapping() else {
            let keys = if known.is_empty() {
                "an empty mapping `{}`".to_owned()
            } else {
                format!("a mapping with keys among: {}", known.join(", "))
            };
            sink.error(
                Pos::of(node.span()),
                path,
                format!("expected {keys}; found {}", kind(node)),
            );
            return None;
        };
        let mut suggested = Vec::new();
        for key in map.keys() {
            let k = key.as_str();
            if known.contains(&k) || foreign.contains(&k) {
                continue;
            }
            let message = if known.is_empty() {
                format!("unknown key `{k}`; this mapping takes no keys")
            } else if let Some(near) = closest(k, known).filter(|n| map.get_node(n).is_none()) {
                suggested.push((near.to_owned(), sink.found.len()));
                format!(
                    "unknown key `{k}`; did you mean `{near}`? Expected one of: {}",
                    known.join(", ")
                )
            } else {
                format!("unknown key `{k}`; expected one of: {}", known.join(", "))
            };
            sink.error(Pos::of(key.span()), &join(path, k), message);
        }
        Some(Map {
            node: map,
            path: path.to_owned(),
            pos: Pos::of(node.span()),
            suggested,
        })
    }

    pub fn get(&self, key: &str) -> Option<&'n Node> {
        self.node.get_node(key)
    }

    pub fn key_path(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// Where `key` is written; the mapping's position when it is absent.
    pub fn key_pos(&self, key: &str) -> Pos {
        self.node
            .keys()
            .find(|k| k.as_str() == key)
            .map_or(self.pos, |k| Pos::of(k.span()))
    }

    /// The node for a key that must be present. A missing key already reported as the likely
    /// meaning of a misspelt one is said to be missing in that report, not in a second one.
    pub fn required(&self, sink: &mut Sink, key: &str, what: &str) -> Option<&'n Node> {
        let node = self.get(key);
        if node.is_some() {
            return node;
        }
        let typo = self.suggested.iter().find(|(s, _)| s == key);
        match typo.and_then(|(_, i)| sink.found.get_mut(*i)) {
            Some(report) => report
                .message
                .push_str(&format!("; `{key}` is required and missing")),
            None => sink.error(
                self.pos,
                &self.path,
                format!("missing key `{key}`: expected {what}"),
            ),
        }
        node
    }

    pub fn string(&self, sink: &mut Sink, key: &str) -> Option<At<String>> {
        let node = self.get(key)?;
        string(sink, node, &self.key_path(key))
    }

    pub fn req_string(&self, sink: &mut Sink, key: &str, what: &str) -> Option<At<String>> {
        let node = self.required(sink, key, what)?;
        string(sink, node, &self.key_path(key))
    }

    pub fn bool(&self, sink: &mut Sink, key: &str) -> Option<bool> {
        let node = self.get(key)?;
        boolean(sink, node, &self.key_path(key))
    }

    pub fn strings(&self, sink: &mut Sink, key: &str) -> Option<Vec<At<String>>> {
        let node = self.get(key)?;
        strings(sink, node, &self.key_path(key))
    }

    /// A list under `key`; absent is `None`, not an error.
    pub fn seq(&self, sink: &mut Sink, key: &str) -> Option<&'n MarkedSequenceNode> {
        let node = self.get(key)?;
        seq(sink, node, &self.key_path(key))
    }

    /// One of a fixed set of words.
    pub fn choice<T: Copy>(
        &self,
        sink: &mut Sink,
        key: &str,
        choices: &[(&str, T)],
    ) -> Option<At<T>> {
        let s = self.string(sink, key)?;
        choice(sink, s, choices)
    }
}

pub fn choice<T: Copy>(sink: &mut Sink, s: At<String>, choices: &[(&str, T)]) -> Option<At<T>> {
    match choices.iter().find(|(name, _)| *name == s.value) {
        Some((_, v)) => Some(At {
            value: *v,
            pos: s.pos,
            path: s.path,
        }),
        None => {
            let names: Vec<String> = choices.iter().map(|(n, _)| format!("`{n}`")).collect();
            sink.error(
                s.pos,
                &s.path,
                format!(
                    "unknown value `{}`; expected one of {}",
                    s.value,
                    names.join(", ")
                ),
            );
            None
        }
    }
}

pub fn scalar<'n>(sink: &mut Sink, node: &'n Node, path: &str) -> Option<&'n MarkedScalarNode> {
    match node.as_scalar() {
        Some(s) => Some(s),
        None => {
            sink.error(
                Pos::of(node.span()),
                path,
                format!("expected a string, found {}", kind(node)),
            );
            None
        }
    }
}

pub fn string(sink: &mut Sink, node: &Node, path: &str) -> Option<At<String>> {
    let s = scalar(sink, node, path)?;
    if s.as_str().is_empty() {
        sink.error(
            Pos::of(node.span()),
            path,
            "expected a string, found an empty value",
        );
        return None;
    }
    Some(At {
        value: s.as_str().to_owned(),
        pos: Pos::of(node.span()),
        path: path.to_owned(),
    })
}

pub fn boolean(sink: &mut Sink, node: &Node, path: &str) -> Option<bool> {
    let s = scalar(sink, node, path)?;
    match s.as_str() {
        "true" => Some(true),
        "false" => Some(false),
        other => {
            sink.error(
                Pos::of(node.span()),
                path,
                format!("expected `true` or `false`, found `{other}`"),
            );
            None
        }
    }
}

pub fn seq<'n>(sink: &mut Sink, node: &'n Node, path: &str) -> Option<&'n MarkedSequenceNode> {
    match node.as_sequence() {
        Some(s) => Some(s),
        None => {
            let hint = match node {
                Node::Scalar(s) if !s.as_str().is_empty() => {
                    format!("; write `[{}]` for a list of one", shorten(s.as_str()))
                }
                Node::Mapping(_) => "; start each item with `- `".to_owned(),
                _ => String::new(),
            };
            sink.error(
                Pos::of(node.span()),
                path,
                format!("expected a list, found {}{hint}", kind(node)),
            );
            None
        }
    }
}

/// A list of strings; a bad item is reported and skipped.
pub fn strings(sink: &mut Sink, node: &Node, path: &str) -> Option<Vec<At<String>>> {
    let list = seq(sink, node, path)?;
    Some(
        list.iter()
            .enumerate()
            .filter_map(|(i, item)| string(sink, item, &index(path, i)))
            .collect(),
    )
}

/// Reports the second and later occurrences of the same value.
pub fn report_duplicates<'a>(
    sink: &mut Sink,
    items: impl IntoIterator<Item = &'a At<String>>,
    what: &str,
) {
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut first: Vec<&At<String>> = Vec::new();
    for item in items {
        if !seen.insert(item.value.as_str()) {
            let earlier = first
                .iter()
                .find(|f| f.value == item.value)
                .map(|f| format!(" (first at line {})", f.pos.line))
                .unwrap_or_default();
            sink.error(
                item.pos,
                &item.path,
                format!("duplicate {what} `{}`{earlier}", item.value),
            );
        } else {
            first.push(item);
        }
    }
}
