//! The parsed YAML of a connection file: scalars, lists and mappings, each with where it was
//! written, built straight from yaml-rust2's parser events.
//!
//! Why not a general YAML tree: a 100,000-user file is millions of values, and a tree of
//! general-purpose nodes (a hash map per mapping, a cloned key per entry, four machine words per
//! position, the loader's state moved on every event) cost twice the parse itself
//! (benches/scale.sh). Here a mapping is its entries in file order, a position two `u32`s, and
//! the builder keeps one stack of open collections; a large mapping checks its keys for
//! duplicates through a hash set only while it is built.
//!
//! What a connection file may not use is refused as it is met, never expanded: anchors and
//! aliases (no alias bomb can be written), tags, keys that are not plain scalars, and a second
//! occurrence of a key. The parser reads the first document only (`config/yaml.rs` reports a
//! second one) and limits flow nesting; block nesting is checked before parsing
//! (`yaml::too_deep`), since the drop of a tree recurses per level.

use std::collections::HashSet;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker as YamlMarker, ScanError};

/// Where something starts or ends: line and column, both counted from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Marker {
    line: u32,
    column: u32,
}

impl Marker {
    fn of(m: YamlMarker) -> Marker {
        // The file is at most 32 MiB (`load::MAX_FILE_BYTES`): its lines and columns fit.
        let narrow = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Marker {
            line: narrow(m.line()),
            column: narrow(m.col() + 1),
        }
    }

    pub fn line(&self) -> usize {
        self.line as usize
    }

    pub fn column(&self) -> usize {
        self.column as usize
    }
}

impl std::fmt::Display for Marker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// Where a node is written: its start (a scalar has no end recorded).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Span {
    start: Option<Marker>,
}

impl Span {
    fn at(m: Marker) -> Span {
        Span { start: Some(m) }
    }

    pub fn start(&self) -> Option<&Marker> {
        self.start.as_ref()
    }

    pub fn set_start(&mut self, start: Option<Marker>) {
        self.start = start;
    }
}

/// A scalar as written (no type is inferred: `true` and `7000` are text here too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scalar {
    span: Span,
    value: String,
}

impl Scalar {
    pub fn as_str(&self) -> &str {
        &self.value
    }

    pub fn span(&self) -> &Span {
        &self.span
    }
}

/// A list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequence {
    span: Span,
    items: Vec<Node>,
}

impl Sequence {
    pub fn iter(&self) -> std::slice::Iter<'_, Node> {
        self.items.iter()
    }

    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, Node> {
        self.items.iter_mut()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// A mapping: its entries in the order written, each key once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    span: Span,
    entries: Vec<(Scalar, Node)>,
}

impl Mapping {
    /// An empty mapping at `span`.
    pub fn new_empty(span: Span) -> Mapping {
        Mapping {
            span,
            entries: Vec::new(),
        }
    }

    /// The value of `key`. Mappings of a connection file are read by their known keys, a few
    /// each, so a scan is what a lookup costs least as.
    pub fn get_node(&self, key: &str) -> Option<&Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.value == key)
            .map(|(_, v)| v)
    }

    pub fn get_scalar(&self, key: &str) -> Option<&Scalar> {
        self.get_node(key).and_then(Node::as_scalar)
    }

    pub fn keys(&self) -> impl Iterator<Item = &Scalar> {
        self.entries.iter().map(|(k, _)| k)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Scalar, &Node)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&Scalar, &mut Node)> {
        self.entries.iter_mut().map(|(k, v)| (&*k, v))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn span(&self) -> &Span {
        &self.span
    }

    pub fn span_mut(&mut self) -> &mut Span {
        &mut self.span
    }
}

/// A node of the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Scalar(Scalar),
    Sequence(Sequence),
    Mapping(Mapping),
}

impl Node {
    pub fn as_scalar(&self) -> Option<&Scalar> {
        match self {
            Node::Scalar(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_sequence(&self) -> Option<&Sequence> {
        match self {
            Node::Sequence(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_mapping(&self) -> Option<&Mapping> {
        match self {
            Node::Mapping(m) => Some(m),
            _ => None,
        }
    }

    pub fn span(&self) -> &Span {
        match self {
            Node::Scalar(s) => &s.span,
            Node::Sequence(s) => &s.span,
            Node::Mapping(m) => &m.span,
        }
    }

    pub fn span_mut(&mut self) -> &mut Span {
        match self {
            Node::Scalar(s) => &mut s.span,
            Node::Sequence(s) => &mut s.span,
            Node::Mapping(m) => &mut m.span,
        }
    }
}

/// Why a text is not a connection file's YAML, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    #[error("{0}: the top level must be a mapping")]
    TopLevelMustBeMapping(Marker),
    #[error("{0}: an anchor")]
    UnexpectedAnchor(Marker),
    #[error("{0}: a mapping key that is not a scalar")]
    MappingKeyMustBeScalar(Marker),
    #[error("{0}: a tag")]
    UnexpectedTag(Marker),
    #[error("{at}: {}", .error.info())]
    Scan { at: Marker, error: ScanError },
    #[error("duplicate key `{}` at {}", .key.value, .key.span.start.map(|m| m.to_string()).unwrap_or_default())]
    DuplicateKey { key: Scalar, prev_key: Scalar },
}

/// Parses the first document of `text`. `duplicates`: whether a key written twice in one
/// mapping is an error (else the later entry is kept beside the first, which only the
/// position-finding of an earlier error's message reads).
pub fn parse(text: &str, duplicates_are_errors: bool) -> Result<Node, LoadError> {
    let mut builder = Builder {
        open: Vec::new(),
        done: None,
        error: None,
        duplicates_are_errors,
    };
    let mut parser = Parser::new_from_str(text);
    parser
        .load(&mut builder, false)
        .map_err(|error| LoadError::Scan {
            at: Marker::of(*error.marker()),
            error,
        })?;
    match (builder.error, builder.done) {
        (Some(e), _) => Err(e),
        (None, Some(root)) => Ok(root),
        // The parser ends every stream with StreamEnd; this is for an event it never sends.
        (None, None) => Ok(Node::Mapping(Mapping::new_empty(Span::at(Marker {
            line: 1,
            column: 1,
        })))),
    }
}

/// Mappings from this many entries on check a new key against a set of the keys so far, not
/// against each of them.
const SET_FROM: usize = 16;

/// A collection being built.
#[derive(Debug)]
enum Open {
    Sequence(Sequence),
    Mapping {
        map: Mapping,
        /// The key whose value comes next.
        key: Option<Scalar>,
        /// The keys so far, once the mapping has [`SET_FROM`] entries.
        seen: Option<HashSet<String>>,
    },
}

#[derive(Debug)]
struct Builder {
    open: Vec<Open>,
    done: Option<Node>,
    /// The first problem; later events are ignored, but a scan error still wins (the text is
    /// not YAML at all), as the parser reports it when it stops.
    error: Option<LoadError>,
    duplicates_are_errors: bool,
}

impl Builder {
    /// Places a finished node in its parent (or makes it the document).
    fn add(&mut self, node: Node) -> Result<(), LoadError> {
        match self.open.last_mut() {
            None => {
                self.done = Some(node);
                Ok(())
            }
            Some(Open::Sequence(s)) => {
                s.items.push(node);
                Ok(())
            }
            Some(Open::Mapping { map, key, seen }) => {
                let Some(k) = key.take() else {
                    // A key: only a scalar can be one.
                    return match node {
                        Node::Scalar(s) => {
                            *key = Some(s);
                            Ok(())
                        }
                        other => Err(LoadError::MappingKeyMustBeScalar(
                            other.span().start.unwrap_or(Marker { line: 1, column: 1 }),
                        )),
                    };
                };
                if self.duplicates_are_errors {
                    let prev = match seen {
                        Some(set) if set.contains(&k.value) => {
                            map.entries.iter().find(|e| e.0.value == k.value)
                        }
                        Some(_) => None,
                        None => map.entries.iter().find(|e| e.0.value == k.value),
                    };
                    if let Some((prev_key, _)) = prev {
                        return Err(LoadError::DuplicateKey {
                            key: k,
                            prev_key: prev_key.clone(),
                        });
                    }
                    match seen {
                        Some(set) => {
                            set.insert(k.value.clone());
                        }
                        None if map.entries.len() + 1 >= SET_FROM => {
                            let mut set: HashSet<String> =
                                map.entries.iter().map(|e| e.0.value.clone()).collect();
                            set.insert(k.value.clone());
                            *seen = Some(set);
                        }
                        None => {}
                    }
                }
                map.entries.push((k, node));
                Ok(())
            }
        }
    }

    fn event(&mut self, ev: Event, at: Marker) -> Result<(), LoadError> {
        match ev {
            Event::Nothing | Event::StreamStart | Event::DocumentStart | Event::DocumentEnd => {
                Ok(())
            }
            // A stream without a document: an empty mapping where the stream ends.
            Event::StreamEnd => {
                if self.done.is_none() && self.open.is_empty() {
                    self.done = Some(Node::Mapping(Mapping::new_empty(Span::at(at))));
                }
                Ok(())
            }
            // An alias needs an anchor before it, and an anchor is refused where it is written.
            Event::Alias(_) => Err(LoadError::UnexpectedAnchor(at)),
            Event::Scalar(_, _, anchor, _)
            | Event::SequenceStart(anchor, _)
            | Event::MappingStart(anchor, _)
                if anchor != 0 =>
            {
                Err(LoadError::UnexpectedAnchor(at))
            }
            Event::Scalar(_, _, _, Some(_))
            | Event::SequenceStart(_, Some(_))
            | Event::MappingStart(_, Some(_)) => Err(LoadError::UnexpectedTag(at)),
            Event::Scalar(value, ..) => {
                if self.open.is_empty() {
                    return Err(LoadError::TopLevelMustBeMapping(at));
                }
                self.add(Node::Scalar(Scalar {
                    span: Span::at(at),
                    value,
                }))
            }
            Event::SequenceStart(..) => {
                if self.open.is_empty() {
                    return Err(LoadError::TopLevelMustBeMapping(at));
                }
                self.key_may_not_be_a_collection(at)?;
                self.open.push(Open::Sequence(Sequence {
                    span: Span::at(at),
                    items: Vec::new(),
                }));
                Ok(())
            }
            Event::MappingStart(..) => {
                self.key_may_not_be_a_collection(at)?;
                self.open.push(Open::Mapping {
                    map: Mapping::new_empty(Span::at(at)),
                    key: None,
                    seen: None,
                });
                Ok(())
            }
            Event::SequenceEnd | Event::MappingEnd => match self.open.pop() {
                Some(Open::Sequence(s)) => self.add(Node::Sequence(s)),
                Some(Open::Mapping { map, .. }) => self.add(Node::Mapping(map)),
                None => Ok(()),
            },
        }
    }

    /// A collection where a mapping expects a key.
    fn key_may_not_be_a_collection(&self, at: Marker) -> Result<(), LoadError> {
        match self.open.last() {
            Some(Open::Mapping { key: None, .. }) => Err(LoadError::MappingKeyMustBeScalar(at)),
            _ => Ok(()),
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: YamlMarker) {
        if self.error.is_some() {
            return;
        }
        if let Err(e) = self.event(ev, Marker::of(mark)) {
            self.error = Some(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(m: &Marker) -> (usize, usize) {
        (m.line(), m.column())
    }

    #[test]
    fn a_document_is_read_with_positions_in_order() {
        let root = parse("a: 1\nb:\n  - x\n  - { c: y }\n", true).unwrap();
        let map = root.as_mapping().unwrap();
        let keys: Vec<&str> = map.keys().map(Scalar::as_str).collect();
        assert_eq!(keys, ["a", "b"]);
        let b = map.get_node("b").unwrap().as_sequence().unwrap();
        assert_eq!(b.len(), 2);
        let c = b
            .iter()
            .nth(1)
            .unwrap()
            .as_mapping()
            .unwrap()
            .get_scalar("c")
            .unwrap();
        assert_eq!((c.as_str(), pos(c.span().start().unwrap())), ("y", (4, 10)));
        assert_eq!(
            pos(map.get_node("a").unwrap().span().start().unwrap()),
            (1, 4)
        );
    }

    #[test]
    fn an_empty_text_is_an_empty_mapping() {
        for text in ["", "# nothing\n"] {
            let root = parse(text, true).unwrap();
            assert!(root.as_mapping().is_some_and(Mapping::is_empty), "{text:?}");
        }
    }

    #[test]
    fn what_a_connection_file_may_not_use_is_refused_where_written() {
        let at = |text: &str| match parse(text, true).unwrap_err() {
            LoadError::TopLevelMustBeMapping(m)
            | LoadError::UnexpectedAnchor(m)
            | LoadError::MappingKeyMustBeScalar(m)
            | LoadError::UnexpectedTag(m) => (m.line(), m.column()),
            other => panic!("{other}"),
        };
        assert!(matches!(
            parse("- a\n", true),
            Err(LoadError::TopLevelMustBeMapping(_))
        ));
        assert!(matches!(
            parse("a\n", true),
            Err(LoadError::TopLevelMustBeMapping(_))
        ));
        assert!(matches!(
            parse("a: &x 1\nb: *x\n", true),
            Err(LoadError::UnexpectedAnchor(_))
        ));
        assert!(matches!(
            parse("a: !env X\n", true),
            Err(LoadError::UnexpectedTag(_))
        ));
        assert!(matches!(
            parse("? [a]\n: 1\n", true),
            Err(LoadError::MappingKeyMustBeScalar(_))
        ));
        assert_eq!(at("a: 1\nb: &x 1\n"), (2, 7));
    }

    #[test]
    fn a_key_written_twice_is_an_error_in_small_and_large_mappings() {
        let small = parse("a: 1\nb: 2\na: 3\n", true).unwrap_err();
        let LoadError::DuplicateKey { key, prev_key } = small else {
            panic!("{small}")
        };
        assert_eq!((key.as_str(), key.span().start().unwrap().line()), ("a", 3));
        assert_eq!(prev_key.span().start().unwrap().line(), 1);
        let mut large: String = (0..40).map(|i| format!("k{i}: {i}\n")).collect();
        large.push_str("k7: again\n");
        let e = parse(&large, true).unwrap_err();
        assert!(
            matches!(&e, LoadError::DuplicateKey { key, prev_key }
                if key.as_str() == "k7" && prev_key.span().start().unwrap().line() == 8),
            "{e}"
        );
        // Allowed, both entries are kept.
        let root = parse("a: 1\na: 2\n", false).unwrap();
        assert_eq!(root.as_mapping().unwrap().len(), 2);
    }

    #[test]
    fn a_scan_error_wins_over_an_earlier_refusal() {
        assert!(matches!(
            parse("a: &x 1\nb: [\n", true),
            Err(LoadError::Scan { .. })
        ));
    }

    /// Each node as (key path, kind, line, column, text), in document order.
    fn flat(root: &Node) -> Vec<(String, char, usize, usize, String)> {
        let mut out = Vec::new();
        let mut stack = vec![(String::new(), root)];
        while let Some((path, node)) = stack.pop() {
            let (line, column) = node.span().start().map_or((0, 0), pos);
            match node {
                Node::Scalar(s) => out.push((path, 's', line, column, s.as_str().to_owned())),
                Node::Sequence(seq) => {
                    out.push((path.clone(), 'l', line, column, String::new()));
                    for (i, item) in seq.iter().enumerate().rev() {
                        stack.push((format!("{path}[{i}]"), item));
                    }
                }
                Node::Mapping(map) => {
                    out.push((path.clone(), 'm', line, column, String::new()));
                    for (k, v) in map.entries.iter().rev() {
                        let (kl, kc) = k.span().start().map_or((0, 0), pos);
                        out.push((format!("{path}.{}", k.as_str()), 'k', kl, kc, String::new()));
                        stack.push((format!("{path}.{}", k.as_str()), v));
                    }
                }
            }
        }
        out
    }

    fn flat_marked(root: &marked_yaml::Node) -> Vec<(String, char, usize, usize, String)> {
        let p = |s: &marked_yaml::Span| s.start().map_or((0, 0), |m| (m.line(), m.column()));
        let mut out = Vec::new();
        let mut stack = vec![(String::new(), root)];
        while let Some((path, node)) = stack.pop() {
            let (line, column) = p(node.span());
            match node {
                marked_yaml::Node::Scalar(s) => {
                    out.push((path, 's', line, column, s.as_str().to_owned()))
                }
                marked_yaml::Node::Sequence(seq) => {
                    out.push((path.clone(), 'l', line, column, String::new()));
                    for (i, item) in seq.iter().enumerate().rev() {
                        stack.push((format!("{path}[{i}]"), item));
                    }
                }
                marked_yaml::Node::Mapping(map) => {
                    out.push((path.clone(), 'm', line, column, String::new()));
                    let entries: Vec<_> = map.iter().collect();
                    for (k, v) in entries.into_iter().rev() {
                        let (kl, kc) = p(k.span());
                        out.push((format!("{path}.{}", k.as_str()), 'k', kl, kc, String::new()));
                        stack.push((format!("{path}.{}", k.as_str()), v));
                    }
                }
            }
        }
        out
    }

    /// The error as (kind, line, column, key) for both parsers.
    fn error_of(e: &LoadError) -> (&'static str, usize, usize, String) {
        match e {
            LoadError::TopLevelMustBeMapping(m) => ("top", m.line(), m.column(), String::new()),
            LoadError::UnexpectedAnchor(m) => ("anchor", m.line(), m.column(), String::new()),
            LoadError::MappingKeyMustBeScalar(m) => ("key", m.line(), m.column(), String::new()),
            LoadError::UnexpectedTag(m) => ("tag", m.line(), m.column(), String::new()),
            LoadError::Scan { at, error } => {
                ("scan", at.line(), at.column(), error.info().to_owned())
            }
            LoadError::DuplicateKey { key, prev_key } => {
                let (l, c) = pos(key.span().start().unwrap());
                let first = prev_key.span().start().unwrap().line();
                ("duplicate", l, c, format!("{} {first}", key.as_str()))
            }
        }
    }

    fn error_of_marked(e: &marked_yaml::LoadError) -> (&'static str, usize, usize, String) {
        use marked_yaml::LoadError as E;
        match e {
            E::TopLevelMustBeMapping(m) => ("top", m.line(), m.column(), String::new()),
            E::UnexpectedAnchor(m) => ("anchor", m.line(), m.column(), String::new()),
            E::MappingKeyMustBeScalar(m) => ("key", m.line(), m.column(), String::new()),
            E::UnexpectedTag(m) => ("tag", m.line(), m.column(), String::new()),
            E::ScanError(m, error) => ("scan", m.line(), m.column(), error.info().to_owned()),
            E::DuplicateKey(inner) => {
                let m = inner.key.span().start().unwrap();
                let first = inner.prev_key.span().start().unwrap().line();
                (
                    "duplicate",
                    m.line(),
                    m.column(),
                    format!("{} {first}", inner.key.as_str()),
                )
            }
            E::TopLevelMustBeSequence(m) => ("sequence", m.line(), m.column(), String::new()),
        }
    }

    /// The connection files of the repository and texts that break each rule: this tree and
    /// marked_yaml's (the loader's tree before; `tests/config_invalid.rs` holds its messages)
    /// agree on every node, position and error.
    #[test]
    fn the_tree_and_its_errors_are_those_of_marked_yaml() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut texts: Vec<(String, String)> = Vec::new();
        for dir in ["scenarios", "tests/valid", "tests/invalid"] {
            let mut names: Vec<_> = std::fs::read_dir(root.join(dir))
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
                .collect();
            names.sort();
            for p in names {
                if let Ok(text) = std::fs::read_to_string(&p) {
                    texts.push((p.display().to_string(), text));
                }
            }
        }
        assert!(texts.len() > 50, "{}", texts.len());
        for snippet in [
            "",
            "# only a comment\n",
            "---\n",
            "--- {}\n",
            "- a\n",
            "plain\n",
            "a: 1\nb: &x 1\n",
            "a: &x { b: 1 }\n",
            "a: &x [1]\n",
            "a: *x\n",
            "a: !env X\n",
            "a: !!str [1]\n",
            "a: !t { b: 1 }\n",
            "? [a]\n: 1\n",
            "? { a: 1 }\n: 1\n",
            "a: 1\nb: 2\na: 3\n",
            "a: { b: 1, b: 2 }\na: 3\n",
            "a: [1, 2\nb: 3\n",
            "a:\n\tb: 1\n",
            "a: 'x\n",
            "a: &x 1\nb: [\n",
            "a: 1\nb:\n  - x\n  - { c: y, d: [1, { e: f }] }\n  -\n  - ''\nc: |\n  text\n  more\n",
            "a: null\nb: ~\nc:\nd: \"\\u00e9\\0\"\n",
        ] {
            texts.push((format!("{snippet:?}"), snippet.to_owned()));
        }
        let mut large: String = (0..40).map(|i| format!("k{i}: {i}\n")).collect();
        large.push_str("k7: again\n");
        texts.push(("40 keys, one twice".to_owned(), large));
        for (name, text) in &texts {
            // With duplicates allowed, marked_yaml keeps the first key with the last value, this
            // tree both entries: compared where no key is written twice.
            let twice = matches!(parse(text, true), Err(LoadError::DuplicateKey { .. }));
            for duplicates in [true, false].into_iter().filter(|d| *d || !twice) {
                let ours = parse(text, duplicates);
                let options =
                    marked_yaml::LoaderOptions::default().error_on_duplicate_keys(duplicates);
                let theirs = marked_yaml::parse_yaml_with_options(0, text, options);
                match (ours, theirs) {
                    (Ok(a), Ok(b)) => assert_eq!(flat(&a), flat_marked(&b), "{name}"),
                    (Err(a), Err(b)) => assert_eq!(error_of(&a), error_of_marked(&b), "{name}"),
                    (a, b) => panic!("{name}: {a:?} against {b:?}"),
                }
            }
        }
    }
}
