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
    parse_with(text, duplicates_are_errors, false)
}

/// [`parse`]; `list`: the document is a list (the second part of [`parse_large`]), not a
/// mapping.
fn parse_with(text: &str, duplicates_are_errors: bool, list: bool) -> Result<Node, LoadError> {
    let mut builder = Builder {
        open: Vec::new(),
        done: None,
        error: None,
        duplicates_are_errors,
        list,
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

/// Parses `text` as [`parse`] does; a long `directory.users` list is parsed in parts at once
/// (a 100,000-user file spends most of its loading in the parser; benches/scale.sh).
///
/// The text is cut at two lines: one that starts an item of the list (the list's indentation,
/// then `- `) near its middle, and the first line after the list. Each part is parsed on its
/// own, with the lines before it blank so that every position is the file's: the head (up to
/// the cut), the list's second half (a list), and the tail (with a `directory:` line written
/// before it when it goes on inside `directory`). A line that starts an item at the list's own
/// indentation is inside an earlier item only if a quoted scalar or a flow collection is still
/// open there, and then the head ends with it open, which does not parse. Any error in a part,
/// a key of the tail also in the head, or parts not as the lines said, and the whole text is
/// parsed in one go: the result and every error are exactly those of [`parse`].
pub fn parse_large(text: &str, duplicates_are_errors: bool) -> Result<Node, LoadError> {
    parse_in_parts(text, duplicates_are_errors, SPLIT_FROM)
        .map_or_else(|| parse(text, duplicates_are_errors), Ok)
}

/// The smallest list (in bytes) that is parsed in parts.
const SPLIT_FROM: usize = 512 * 1024;

fn parse_in_parts(text: &str, duplicates_are_errors: bool, split_from: usize) -> Option<Node> {
    let cut = users_cut(text, split_from)?;
    let (split_line, end_line) = (cut.split_line, cut.end_line);
    // Blank lines up to `line`, then `part`: positions in it are the file's.
    let placed = |line: usize, lead: &str, part: &str| {
        let blank = line - 1 - lead.lines().count();
        let mut t = String::with_capacity(blank + lead.len() + part.len());
        t.extend(std::iter::repeat_n('\n', blank));
        t.push_str(lead);
        t.push_str(part);
        t
    };
    // The tail goes on inside `directory` (a key at the users key's indentation) or at the top.
    let tail = &text[cut.end..];
    let inside = match tail.lines().find(|l| !idle(l)) {
        None => false,
        Some(l) if starts_with_text(l, cut.users_indent) => true,
        Some(l) if starts_with_text(l, 0) => false,
        Some(_) => return None,
    };
    let (head, second, rest) = std::thread::scope(|s| {
        let second = s.spawn(|| {
            let part = placed(split_line, "", &text[cut.split..cut.end]);
            parse_with(&part, duplicates_are_errors, true).ok()
        });
        let rest = (!tail.trim().is_empty()).then(|| {
            s.spawn(move || {
                let lead = if inside { "directory:\n" } else { "" };
                parse_with(&placed(end_line, lead, tail), duplicates_are_errors, false).ok()
            })
        });
        let head = parse_with(&text[..cut.split], duplicates_are_errors, false).ok();
        let rest = rest.map(|r| r.join().ok().flatten());
        (head, second.join().ok().flatten(), rest)
    });
    let (Node::Mapping(mut root), Node::Sequence(second)) = (head?, second?) else {
        return None;
    };
    let item_column = cut.indent + 1;
    if second.span.start != Some(marker(split_line, item_column)) {
        return None;
    }
    let directory = match root.entries.iter_mut().find(|e| e.0.value == "directory") {
        Some((_, Node::Mapping(d))) => d,
        _ => return None,
    };
    match directory.entries.last_mut() {
        // The list the lines name is the head's last node: it starts on the first item's line
        // (at its dash, or at its content when the list is not indented under its key).
        Some((k, Node::Sequence(users)))
            if k.value == "users"
                && users.span.start.is_some_and(|m| m.line() == cut.first_line) =>
        {
            users.items.extend(second.items);
        }
        _ => return None,
    }
    let Some(rest) = rest else {
        return Some(Node::Mapping(root));
    };
    let Some(Node::Mapping(mut rest)) = rest else {
        return None;
    };
    if inside {
        let (k, more) = rest.entries.first_mut()?;
        let Node::Mapping(more) = more else {
            return None;
        };
        if k.value != "directory"
            || !append(
                directory,
                std::mem::take(&mut more.entries),
                duplicates_are_errors,
            )
        {
            return None;
        }
        rest.entries.remove(0);
    }
    append(&mut root, rest.entries, duplicates_are_errors).then_some(Node::Mapping(root))
}

/// Appends a later part's entries to a mapping; false when a key is written in both and that
/// is an error (the whole text then says where, as one parse does).
fn append(map: &mut Mapping, entries: Vec<(Scalar, Node)>, duplicates_are_errors: bool) -> bool {
    if duplicates_are_errors
        && entries
            .iter()
            .any(|(k, _)| map.entries.iter().any(|(m, _)| m.value == k.value))
    {
        return false;
    }
    map.entries.extend(entries);
    true
}

fn marker(line: usize, column: usize) -> Marker {
    let narrow = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    Marker {
        line: narrow(line),
        column: narrow(column),
    }
}

/// A line with nothing to parse: blank, or a comment.
fn idle(line: &str) -> bool {
    let t = line.trim_start_matches(' ');
    t.is_empty() || t.starts_with('#')
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// Whether `line` has exactly `indent` spaces, then something other than white space.
fn starts_with_text(line: &str, indent: usize) -> bool {
    indent_of(line) == indent
        && line[indent..]
            .chars()
            .next()
            .is_some_and(|c| !c.is_whitespace())
}

/// Where the text's `directory.users` list is cut.
#[derive(Debug, PartialEq, Eq)]
struct Cut {
    /// The line of the list's first item (from 1).
    first_line: usize,
    /// The users key's indentation.
    users_indent: usize,
    /// The items' indentation (spaces before the dash).
    indent: usize,
    /// The byte offset of the line that starts the second half's first item, and its line.
    split: usize,
    split_line: usize,
    /// The byte offset of the first line after the list (the text's length when none), and its
    /// line.
    end: usize,
    end_line: usize,
}

/// Finds the `directory.users` block list by its lines (`directory:` at the start of a line,
/// `users:` indented under it, then lines that start `- ` at one indentation), and a line that
/// starts an item near its middle. `None` for a list shorter than `split_from` bytes, or
/// written any other way (the text is then parsed in one go). Line breaks must be `\n`: a lone
/// `\r` is a line break to the parser, and the cut counts lines.
fn users_cut(text: &str, split_from: usize) -> Option<Cut> {
    if text.len() < split_from || text.contains('\r') {
        return None;
    }
    // (byte offset, line number from 1, the line without its break)
    let mut lines = text
        .split_inclusive('\n')
        .scan(0usize, |offset, line| {
            let at = *offset;
            *offset += line.len();
            Some((at, line.trim_end_matches('\n')))
        })
        .enumerate()
        .map(|(i, (at, line))| (at, i + 1, line));
    let key_line = |line: &str, key: &str| {
        line.trim_start_matches(' ')
            .strip_prefix(key)
            .and_then(|r| r.strip_prefix(':'))
            .is_some_and(|r| r.is_empty() || r.starts_with(' ') && idle(r))
    };
    lines.find(|(_, _, l)| indent_of(l) == 0 && key_line(l, "directory"))?;
    let (_, _, users) = lines.find(|(_, _, l)| !idle(l))?;
    let users_indent = indent_of(users);
    if users_indent == 0 || !key_line(users, "users") {
        return None;
    }
    let (start, first_line, first) = lines.find(|(_, _, l)| !idle(l))?;
    let indent = indent_of(first);
    let item = |line: &str| indent_of(line) == indent && line[indent..].starts_with("- ");
    if indent < users_indent || !item(first) {
        return None;
    }
    // The list goes on while lines are items, more indented, comments or blank.
    let end = lines
        .find(|(_, _, l)| !idle(l) && indent_of(l) <= indent && !item(l))
        .map_or(text.len(), |(at, _, _)| at);
    // A document marker after the list (`---`, `...`): the file's first document is what is
    // read, and the parts would not say where it ends.
    if end - start < split_from
        || text[end..]
            .lines()
            .any(|l| l.starts_with("---") || l.starts_with("..."))
    {
        return None;
    }
    let middle = start + (end - start) / 2;
    let split = text[middle..end]
        .match_indices('\n')
        .map(|(i, _)| middle + i + 1)
        .find(|&at| at < end && item(text[at..end].lines().next().unwrap_or_default()))?;
    let lines_in = |from: usize, to: usize| text[from..to].bytes().filter(|&b| b == b'\n').count();
    let split_line = first_line + lines_in(start, split);
    Some(Cut {
        first_line,
        users_indent,
        indent,
        split,
        split_line,
        end,
        end_line: split_line + lines_in(split, end),
    })
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
    /// The document may be a list.
    list: bool,
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
                if self.open.is_empty() && !self.list {
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

    /// `n` users as `item(i)` writes them, between what comes before and after the list.
    fn with_users(before: &str, n: usize, item: impl Fn(usize) -> String, after: &str) -> String {
        let mut t = before.to_owned();
        for i in 0..n {
            t.push_str(&item(i));
        }
        t.push_str(after);
        t
    }

    const BEFORE: &str = "idp:\n  base_url: http://127.0.0.1:7000\ndirectory:\n  users:\n";

    fn flow(i: usize) -> String {
        format!("    - {{ id: u{i}, email: u{i}@x.test, groups: [A, B{i}] }}\n")
    }

    /// The texts the cut must handle: parsed in parts when it can, always as one parse does.
    fn texts() -> Vec<(&'static str, String, bool)> {
        let after = "  groups:\n    - { name: A, id: g1 }\napps:\n  - id: a\ntarget: { app: a }\n";
        vec![
            (
                "flow items, a tail in directory",
                with_users(BEFORE, 40, flow, after),
                true,
            ),
            (
                "the list ends the file",
                with_users(BEFORE, 40, flow, ""),
                true,
            ),
            (
                "a tail at the top",
                with_users(BEFORE, 40, flow, "apps: []\n"),
                true,
            ),
            (
                "a compact list",
                with_users(
                    "directory:\n  users:\n",
                    40,
                    |i| format!("  - {{ id: u{i} }}\n"),
                    "  groups: []\napps: []\n",
                ),
                true,
            ),
            (
                "block items, comments and blank lines",
                with_users(
                    BEFORE,
                    40,
                    |i| {
                        format!(
                            "    - id: u{i}\n      # a comment\n\n# at the margin\n      groups:\n        - G{i}\n        - H\n      attributes: {{ a: '{i}' }}\n"
                        )
                    },
                    after,
                ),
                true,
            ),
            (
                "flow items over lines",
                with_users(
                    BEFORE,
                    40,
                    |i| format!("    - {{ id: u{i},\n        email: u{i}@x.test }}\n"),
                    after,
                ),
                true,
            ),
            (
                "a block scalar with item-like lines",
                with_users(
                    BEFORE,
                    40,
                    |i| {
                        format!(
                            "    - id: u{i}\n      note: |\n        - not an item\n      - nor this\n"
                        )
                    },
                    after,
                ),
                false,
            ),
            (
                "a quoted scalar over the cut",
                with_users(
                    BEFORE,
                    40,
                    |i| match i {
                        20..=23 => format!("    - {{ id: u{i}, name: \"a\n    - b\" }}\n"),
                        _ => flow(i),
                    },
                    after,
                ),
                false,
            ),
            (
                "a flow list over the cut",
                with_users(
                    BEFORE,
                    40,
                    |i| match i {
                        20..=23 => format!("    - [u{i},\n    - x]\n"),
                        _ => flow(i),
                    },
                    after,
                ),
                false,
            ),
            (
                "a key in the head and the tail",
                with_users(&format!("apps: []\n{BEFORE}"), 40, flow, "apps: []\n"),
                false,
            ),
            (
                "users twice in directory",
                with_users(BEFORE, 40, flow, "  users: []\n"),
                false,
            ),
            (
                "a bad item in the second half",
                with_users(
                    BEFORE,
                    40,
                    |i| {
                        if i == 35 {
                            "    - { a: 1, a: 2 }\n".into()
                        } else {
                            flow(i)
                        }
                    },
                    after,
                ),
                false,
            ),
            (
                "a tab in the tail",
                with_users(BEFORE, 40, flow, "\tapps: []\n"),
                false,
            ),
            (
                "an odd indentation after",
                with_users(BEFORE, 40, flow, "   apps: []\n"),
                false,
            ),
            (
                "a second document after",
                with_users(BEFORE, 40, flow, "---\napps: []\n"),
                false,
            ),
            (
                "CRLF",
                with_users(BEFORE, 40, flow, after).replace('\n', "\r\n"),
                false,
            ),
            (
                "an alias in the tail",
                with_users(BEFORE, 40, flow, "apps: *x\n"),
                false,
            ),
        ]
    }

    #[test]
    fn a_list_parsed_in_parts_is_the_list_parsed_whole() {
        for (name, text, splits) in texts() {
            for duplicates in [true, false] {
                let whole = parse(&text, duplicates);
                let parts = parse_in_parts(&text, duplicates, 1);
                if let Some(parts) = &parts {
                    // Not assert_eq: a tree's Debug is long.
                    assert!(
                        whole.as_ref().ok() == Some(parts),
                        "{name}: the parts differ"
                    );
                }
                if splits {
                    assert!(parts.is_some(), "{name}: not parsed in parts");
                }
                let large = format!("{:?}", parse_large(&text, duplicates));
                assert_eq!(large, format!("{whole:?}"), "{name}");
            }
        }
    }

    /// Lists mixing every way an item may be written, some broken, from a fixed seed: a part
    /// parse that succeeds gives the whole parse's tree, and `parse_large` always gives what
    /// `parse` gives, errors included.
    #[test]
    fn mixed_lists_parse_in_parts_as_whole() {
        let kinds: [fn(usize) -> String; 12] = [
            flow,
            |i| format!("    - id: u{i}\n      groups: [A]\n"),
            |i| format!("    - {{ id: u{i},\n      name: two lines }}\n"),
            |i| format!("    - {{ id: u{i}, name: \"a\n    - b\" }}\n"),
            |i| format!("    - [u{i},\n    - x]\n"),
            |i| format!("    - id: u{i}\n      note: |\n        - text\n\n        more\n"),
            |i| format!("    # comment {i}\n\n"),
            |i| format!("    - 'u{i}'\n"),
            |i| format!("    - plain {i}\n      continued\n"),
            |i| format!("    - {{ id: u{i}, id: again }}\n"),
            |i| format!("    - \"u{i}\\\n      joined\"\n"),
            |i| format!("    - {{ id: u{i} }} # trailing\n"),
        ];
        let tails = [
            "",
            "  groups: []\napps: []\n",
            "apps:\n  - id: a\n",
            "  users: []\n",
            "   odd: 1\n",
            "directory: {}\n",
        ];
        let mut seed: u64 = 0x5eed;
        let mut next = |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as usize) % n
        };
        let (mut split, mut total) = (0, 0);
        for round in 0..300 {
            let n = 8 + next(40);
            // Mostly plain items, so that most texts can be cut; a few of any kind.
            let picks: Vec<usize> = (0..n)
                .map(|_| if next(4) == 0 { next(kinds.len()) } else { 0 })
                .collect();
            let tail = tails[next(tails.len())];
            let text = with_users(BEFORE, n, |i| kinds[picks[i]](i), tail);
            for duplicates in [true, false] {
                total += 1;
                let whole = parse(&text, duplicates);
                if let Some(parts) = parse_in_parts(&text, duplicates, 1) {
                    split += 1;
                    assert!(
                        whole.as_ref().ok() == Some(&parts),
                        "round {round}: the parts differ for\n{text}"
                    );
                }
                assert_eq!(
                    format!("{:?}", parse_large(&text, duplicates)),
                    format!("{whole:?}"),
                    "round {round}"
                );
            }
        }
        // The cut is made often enough for the comparison to mean something.
        assert!(
            split * 5 > total,
            "{split} of {total} texts were parsed in parts"
        );
    }

    #[test]
    fn the_cut_is_at_an_item_near_the_middle() {
        let text = with_users(BEFORE, 40, flow, "apps: []\n");
        let cut = users_cut(&text, 1).unwrap();
        assert_eq!((cut.first_line, cut.users_indent, cut.indent), (5, 2, 4));
        // Items 20 and 21 are the ones about the middle of the list's bytes.
        let at = &text[cut.split..];
        assert!(
            at.starts_with("    - { id: u20,") || at.starts_with("    - { id: u21,"),
            "{}",
            &at[..20]
        );
        assert!(text[cut.end..].starts_with("apps:"));
        let line_of = |at: usize| text[..at].matches('\n').count() + 1;
        assert_eq!(
            (cut.split_line, cut.end_line),
            (line_of(cut.split), line_of(cut.end))
        );
        // Too short a list, or none, is not cut.
        assert_eq!(users_cut(&text, text.len() + 1), None);
        assert_eq!(users_cut("apps: []\n", 1), None);
    }
}
