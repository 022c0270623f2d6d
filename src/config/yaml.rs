//! The YAML layer of a connection file: where and what a parse error is, in words a user can act
//! on (the parser reports where it noticed a problem, often lines after its cause), and the
//! checks on the text itself before any section is read.

use super::tree::{self, LoadError, Marker, Node};

use super::diag::Diagnostics;
use super::reader::{Pos, Sink, index, join};

/// The first byte that is not UTF-8, at its line and column (counted in characters).
pub(super) fn not_utf8(file: &str, bytes: &[u8], e: std::str::Utf8Error) -> Diagnostics {
    let good = &bytes[..e.valid_up_to()];
    let line_start = good.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    // A byte order mark is not counted: it is invisible, and the loader strips it.
    let line = String::from_utf8_lossy(&good[line_start..]);
    let column = line.trim_start_matches('\u{feff}').chars().count() + 1;
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

fn marker_pos(m: &Marker) -> Pos {
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
pub(super) fn describe_load_error(e: &LoadError, text: &str) -> (Pos, String, String) {
    let (pos, message) = match e {
        LoadError::TopLevelMustBeMapping(m) => (
            marker_pos(m),
            "expected a mapping at the top level (keys idp, directory, apps, ...)".to_owned(),
        ),
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
        LoadError::Scan { at: m, error: err } => {
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
        LoadError::DuplicateKey { key, prev_key } => {
            let at = Pos::of(key.span());
            let first = Pos::of(prev_key.span());
            // Find the key path in the document read again with duplicates allowed.
            let path = tree::parse(text, false)
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
                    key.as_str(),
                    first.line
                ),
            );
        }
    };
    (pos, String::new(), message)
}

/// Whether `line` is a document marker (`---` or `...`) followed by nothing or a space: at the
/// start of a line it can be nothing else (a scalar's continuation lines are indented, and YAML
/// forbids such a line inside quotes).
fn is_marker(line: &str, marker: &str) -> bool {
    line.strip_prefix(marker)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
}

/// Where a second YAML document starts, if the text has one: a `---` after content, or content
/// after a `...` end marker. The parser reads only the first document, so whatever follows would
/// be silently ignored. A `---` before any content only marks the start of the first document.
pub(super) fn second_document(text: &str) -> Option<(Pos, String)> {
    let mut content_seen = false;
    let mut ended_at: Option<usize> = None;
    for (i, line) in text.lines().enumerate() {
        let at = Pos {
            line: i + 1,
            column: 1,
        };
        let trimmed = line.trim_start();
        let is_blank = trimmed.is_empty() || trimmed.starts_with('#');
        // A directive (`%YAML 1.2`) comes before the first document's `---`.
        let directive = trimmed.starts_with('%') && !content_seen;
        if is_marker(line, "---") {
            if content_seen || ended_at.is_some() {
                return Some((
                    at,
                    "a second YAML document starts here; a connection file is one document: remove this `---` and merge what follows into the first".to_owned(),
                ));
            }
            let rest = line[3..].trim_start();
            content_seen = !(rest.is_empty() || rest.starts_with('#'));
        } else if is_marker(line, "...") {
            ended_at.get_or_insert(i + 1);
        } else if let (Some(end), false) = (ended_at, is_blank) {
            return Some((
                at,
                format!(
                    "a second YAML document starts here, after the end marker `...` at line {end}; a connection file is one document"
                ),
            ));
        } else if !is_blank && !directive {
            content_seen = true;
        }
    }
    None
}

/// Most levels of block nesting (indentation, and `- ` entries on one line) a connection file
/// may have. The shipped files nest 7 deep. Flow nesting (`[`, `{`) is limited by the parser
/// itself (255 levels, "recursion limit exceeded"); block nesting is not, and a tree thousands
/// of levels deep would overflow the stack of the walks over it (and of its drop).
pub const MAX_BLOCK_DEPTH: usize = 64;

/// Where the text nests deeper than [`MAX_BLOCK_DEPTH`] block levels, if it does: a single
/// pass over the lines with a stack of indentation columns, before the parser builds a tree.
/// It may count too many (a continuation line of a plain scalar), never too few; the lines of
/// a literal or folded block scalar (`|`, `>`) are text, not nesting, and are skipped.
pub(super) fn too_deep(text: &str) -> Option<(Pos, String)> {
    let mut columns: Vec<usize> = Vec::new();
    // The indentation of the line that opened a block scalar: deeper lines are its text.
    let mut scalar: Option<usize> = None;
    for (i, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let mut rest = &line[indent..];
        if rest.trim().is_empty() || rest.starts_with('#') {
            continue;
        }
        if let Some(base) = scalar {
            if indent > base {
                continue;
            }
            scalar = None;
        }
        let mut column = indent;
        loop {
            while columns.last().is_some_and(|&c| c >= column) {
                columns.pop();
            }
            columns.push(column);
            if columns.len() > MAX_BLOCK_DEPTH {
                let pos = Pos {
                    line: i + 1,
                    column: line[..column].chars().count() + 1,
                };
                return Some((
                    pos,
                    format!("the YAML nests deeper than {MAX_BLOCK_DEPTH} levels"),
                ));
            }
            // `- - x` is a sequence in a sequence: each entry marker is a level.
            match rest.strip_prefix('-') {
                Some(after) if after.starts_with(' ') && !after.trim().is_empty() => {
                    let spaces = after.len() - after.trim_start_matches(' ').len();
                    column += 1 + spaces;
                    rest = &after[spaces..];
                }
                _ => break,
            }
        }
        let last = rest.trim_end().rsplit(' ').next().unwrap_or("");
        let header = last.strip_prefix(['|', '>']).is_some_and(|ind| {
            ind.chars()
                .all(|c| c == '-' || c == '+' || c.is_ascii_digit())
        });
        if header {
            scalar = Some(indent);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn second(text: &str) -> Option<usize> {
        second_document(text).map(|(pos, _)| pos.line)
    }

    #[test]
    fn a_bad_byte_on_the_first_line_is_placed_without_counting_a_bom() {
        let bytes = b"\xef\xbb\xbfidp: \xe9";
        let e = String::from_utf8(bytes.to_vec()).unwrap_err().utf8_error();
        let d = not_utf8("f.yaml", bytes, e);
        assert_eq!((d.0[0].line, d.0[0].column), (1, 6), "{d}");
    }

    #[test]
    fn one_document_with_or_without_markers_is_one() {
        assert_eq!(second("idp:\n  base_url: x\n"), None);
        assert_eq!(second("# comment\n---\nidp: {}\n"), None);
        assert_eq!(second("%YAML 1.2\n---\nidp: {}\n...\n# end\n"), None);
        assert_eq!(second("--- # first\nidp: {}\n"), None);
        // Not markers: indented, or followed by more than a space.
        assert_eq!(second("a: |\n  ---\nb: ---x\n----\n"), None);
    }

    #[test]
    fn block_nesting_is_counted_by_indentation_and_entries_and_limited() {
        let depth = |n: usize, unit: &str| -> String {
            (0..n)
                .map(|i| format!("{}{unit}\n", " ".repeat(i)))
                .collect()
        };
        assert_eq!(too_deep(&depth(MAX_BLOCK_DEPTH, "a:")), None);
        let (pos, message) = too_deep(&depth(MAX_BLOCK_DEPTH + 1, "a:")).unwrap();
        assert_eq!(
            (pos.line, pos.column),
            (MAX_BLOCK_DEPTH + 1, MAX_BLOCK_DEPTH + 1)
        );
        assert_eq!(message, "the YAML nests deeper than 64 levels");
        assert!(too_deep(&depth(MAX_BLOCK_DEPTH + 1, "-")).is_some());
        // Entries on one line nest too.
        let dashes = format!("{}x\n", "- ".repeat(MAX_BLOCK_DEPTH + 1));
        assert_eq!(too_deep(&dashes).map(|(p, _)| p.line), Some(1));
        assert_eq!(
            too_deep(&format!("{}x\n", "- ".repeat(MAX_BLOCK_DEPTH - 1))),
            None
        );
        // Siblings do not add up; a block scalar's indented text is not nesting.
        assert_eq!(too_deep(&"a: 1\n".repeat(10_000)), None);
        let text: String = (0..200)
            .map(|i| format!("  {}if x\n", " ".repeat(i)))
            .collect();
        assert_eq!(too_deep(&format!("run: |\n{text}b: 1\n")), None);
        assert_eq!(too_deep(&format!("- >-\n{text}- 1\n")), None);
        // Without the header, the same lines nest.
        assert!(too_deep(&format!("run:\n{text}b: 1\n")).is_some());
        // The shipped files are far from the limit.
        for f in [
            include_str!("../../scenarios/qovery-saml.yaml"),
            include_str!("../../scenarios/qovery-oidc.yaml"),
        ] {
            assert_eq!(too_deep(f), None);
        }
    }

    #[test]
    fn a_second_document_is_found_where_it_starts() {
        assert_eq!(second("idp: {}\n---\napps: []\n"), Some(2));
        assert_eq!(second("---\nidp: {}\n---\n"), Some(3));
        assert_eq!(second("--- {idp: {}}\n--- {}\n"), Some(2));
        assert_eq!(second("idp: {}\n...\n\napps: []\n"), Some(4));
        assert_eq!(second("idp: {}\n...\n---\n"), Some(3));
    }
}
