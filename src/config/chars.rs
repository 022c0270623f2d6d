//! What characters the values (and keys) of a connection file may hold. Checked once over the
//! whole document, before any section is read, so no value escapes it:
//! - control characters (NUL, tab, newline, ... and the Unicode line separators) are errors:
//!   a double-quoted YAML string can write them (`"alice\0"`), and they would otherwise be
//!   dropped or mangled somewhere on the way (the URL parser strips tabs and newlines, a NUL
//!   ends a C string). Only `target.start`, a shell command, may span lines and hold tabs;
//! - in a user's id, login and email, invisible characters (zero-width space, joiners, word
//!   joiner, a byte order mark inside the value) and letters of two scripts in one word
//!   (Cyrillic `а` among Latin letters) are warnings: such an id looks like another one.

use super::tree::Node;

use super::reader::{Pos, Sink, index, join};

/// Keys whose value may hold line breaks and tabs (and no other control character).
const MULTILINE: &[&str] = &["target.start"];

/// Checks every key and scalar of the document. The walk uses its own stack: the document's
/// depth is chosen by whoever wrote the file. A node's key path is kept as a link to its parent's
/// (one small entry per node) and written out only for a finding: a 100,000-user file has
/// millions of values, almost all fine (benches/scale.sh).
pub fn check_tree(sink: &mut Sink, root: &Node) {
    let mut segments: Vec<Segment> = vec![Segment {
        parent: usize::MAX,
        step: Step::Root,
    }];
    let mut stack: Vec<(&Node, usize)> = vec![(root, 0)];
    while let Some((node, at)) = stack.pop() {
        match node {
            Node::Scalar(s) => check_value(sink, node, &segments, at, s.as_str()),
            Node::Sequence(items) => {
                for (i, item) in items.iter().enumerate().rev() {
                    segments.push(Segment {
                        parent: at,
                        step: Step::Index(i),
                    });
                    stack.push((item, segments.len() - 1));
                }
            }
            Node::Mapping(map) => {
                for (key, value) in map.iter() {
                    segments.push(Segment {
                        parent: at,
                        step: Step::Key(key.as_str()),
                    });
                    let here = segments.len() - 1;
                    let bad = (!printable_ascii(key.as_str()))
                        .then(|| forbidden(key.as_str(), false))
                        .flatten();
                    if let Some((c, column)) = bad {
                        let p = path(&segments, here);
                        sink.error(Pos::of(key.span()), &p, refused(c, column, "key"));
                    }
                    stack.push((value, here));
                }
            }
        }
    }
}

/// One step of a key path: the segment of a node, linked to its parent's.
#[derive(Debug, Clone, Copy)]
struct Segment<'n> {
    parent: usize,
    step: Step<'n>,
}

#[derive(Debug, Clone, Copy)]
enum Step<'n> {
    Root,
    Key(&'n str),
    Index(usize),
}

/// The key path of segment `at`, as the readers write it (`directory.users[3].id`).
fn path(segments: &[Segment], mut at: usize) -> String {
    let mut steps = Vec::new();
    while let Some(s) = segments.get(at) {
        steps.push(s.step);
        at = s.parent;
    }
    let mut p = String::new();
    for step in steps.into_iter().rev() {
        match step {
            Step::Root => {}
            Step::Key(k) => p = join(&p, k),
            Step::Index(i) => p = index(&p, i),
        }
    }
    p
}

/// The common case, printable ASCII, has nothing to find: no control character, nothing
/// invisible, and its letters are all Latin.
fn printable_ascii(s: &str) -> bool {
    s.bytes().all(|b| (b' '..0x7f).contains(&b))
}

fn check_value(sink: &mut Sink, node: &Node, segments: &[Segment], at: usize, value: &str) {
    if printable_ascii(value) {
        return;
    }
    let path = path(segments, at);
    check_text(sink, Pos::of(node.span()), &path, value);
}

fn check_text(sink: &mut Sink, pos: Pos, path: &str, value: &str) {
    let multiline = MULTILINE.contains(&path);
    if let Some((c, column)) = forbidden(value, multiline) {
        sink.error(pos, path, refused(c, column, "value"));
    }
    if is_identity(path) {
        if let Some((c, column)) = invisible(value) {
            sink.warning(
                pos,
                path,
                format!(
                    "`{}` has {}, an invisible character ({}): it looks like an id that lacks it",
                    value.escape_debug(),
                    at(c, column, "value"),
                    name(c)
                ),
            );
        }
        if let Some(m) = mixed_script(value) {
            sink.warning(
                pos,
                path,
                format!(
                    "the word `{}` mixes {} and {} letters ({} is {}): it looks like an id that has only {} letters (a homoglyph)",
                    m.word,
                    m.usual.name(),
                    m.odd.name(),
                    at(m.c, m.column, "value"),
                    m.odd.name(),
                    m.usual.name()
                ),
            );
        }
    }
}

/// A user's id, login or email: `directory.users[N].id` and the like.
fn is_identity(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("directory.users[") else {
        return false;
    };
    let Some((n, field)) = rest.split_once("].") else {
        return false;
    };
    n.chars().all(|c| c.is_ascii_digit()) && matches!(field, "id" | "login" | "email")
}

/// `U+0000 at column 6 of the value`: columns count characters, from 1.
fn at(c: char, column: usize, of: &str) -> String {
    format!("U+{:04X} at column {column} of the {of}", u32::from(c))
}

/// The name of a character that is refused or warned about, when it has a well-known one.
fn name(c: char) -> &'static str {
    match c {
        '\0' => "NUL",
        '\t' => "a tab",
        '\n' => "a newline",
        '\r' => "a carriage return",
        '\u{1b}' => "ESC",
        '\u{7f}' => "DEL",
        '\u{85}' => "NEXT LINE",
        '\u{2028}' => "LINE SEPARATOR",
        '\u{2029}' => "PARAGRAPH SEPARATOR",
        '\u{200b}' => "ZERO WIDTH SPACE",
        '\u{200c}' => "ZERO WIDTH NON-JOINER",
        '\u{200d}' => "ZERO WIDTH JOINER",
        '\u{2060}' => "WORD JOINER",
        '\u{feff}' => "ZERO WIDTH NO-BREAK SPACE, a byte order mark",
        _ => "",
    }
}

/// "U+0000 at column 6 of the value is a control character (NUL); ..."
fn refused(c: char, column: usize, of: &str) -> String {
    let kind = if c.is_control() {
        "a control character"
    } else {
        "a line break"
    };
    let named = match name(c) {
        "" => String::new(),
        n => format!(" ({n})"),
    };
    format!(
        "{} is {kind}{named}; control characters and line breaks are not allowed in connection files",
        at(c, column, of)
    )
}

/// The first control character or line break, and its column.
fn forbidden(s: &str, multiline: bool) -> Option<(char, usize)> {
    s.chars().zip(1..).find(|(c, _)| {
        let line_break = matches!(c, '\n' | '\r' | '\t');
        (c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')) && !(multiline && line_break)
    })
}

/// The first invisible character, and its column.
fn invisible(s: &str) -> Option<(char, usize)> {
    s.chars().zip(1..).find(|(c, _)| {
        matches!(
            c,
            '\u{200b}' | '\u{200c}' | '\u{200d}' | '\u{2060}' | '\u{feff}'
        )
    })
}

/// Scripts whose letters look like Latin ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Script {
    Latin,
    Greek,
    Cyrillic,
    Armenian,
}

impl Script {
    fn of(c: char) -> Option<Script> {
        match u32::from(c) {
            _ if c.is_ascii_alphabetic() => Some(Script::Latin),
            0x00C0..=0x024F | 0x1E00..=0x1EFF | 0xFF21..=0xFF3A | 0xFF41..=0xFF5A
                if c.is_alphabetic() =>
            {
                Some(Script::Latin)
            }
            0x0370..=0x03FF | 0x1F00..=0x1FFF if c.is_alphabetic() => Some(Script::Greek),
            0x0400..=0x052F | 0x1C80..=0x1C8F | 0x2DE0..=0x2DFF | 0xA640..=0xA69F
                if c.is_alphabetic() =>
            {
                Some(Script::Cyrillic)
            }
            0x0530..=0x058F if c.is_alphabetic() => Some(Script::Armenian),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Script::Latin => "Latin",
            Script::Greek => "Greek",
            Script::Cyrillic => "Cyrillic",
            Script::Armenian => "Armenian",
        }
    }
}

/// A word written in two scripts: the word, the two scripts, and the first letter of the odd
/// one (the one that is not Latin, when Latin is one of them) with its column in the value.
#[derive(Debug, PartialEq, Eq)]
struct Mixed {
    word: String,
    usual: Script,
    odd: Script,
    c: char,
    column: usize,
}

/// The first word (a run of letters) whose letters come from two scripts.
fn mixed_script(s: &str) -> Option<Mixed> {
    let mut word = String::new();
    let mut letters: Vec<(Script, char, usize)> = Vec::new();
    for (c, column) in s.chars().chain(std::iter::once(' ')).zip(1..) {
        if c.is_alphabetic() {
            word.push(c);
            if let Some(script) = Script::of(c) {
                letters.push((script, c, column));
            }
            continue;
        }
        if let Some(m) = mixed_word(&word, &letters) {
            return Some(m);
        }
        word.clear();
        letters.clear();
    }
    None
}

fn mixed_word(word: &str, letters: &[(Script, char, usize)]) -> Option<Mixed> {
    let (first, ..) = *letters.first()?;
    let usual = if letters.iter().any(|l| l.0 == Script::Latin) {
        Script::Latin
    } else {
        first
    };
    let &(odd, c, column) = letters.iter().find(|l| l.0 != usual)?;
    Some(Mixed {
        word: word.to_owned(),
        usual,
        odd,
        c,
        column,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_found_with_their_column() {
        assert_eq!(forbidden("alice", false), None);
        assert_eq!(forbidden("al\0ice", false), Some(('\0', 3)));
        assert_eq!(forbidden("a\tb", false), Some(('\t', 2)));
        assert_eq!(forbidden("é\u{2028}", false), Some(('\u{2028}', 2)));
        assert_eq!(forbidden("x\u{7f}", false), Some(('\u{7f}', 2)));
        assert_eq!(forbidden("x\u{85}", false), Some(('\u{85}', 2)));
    }

    #[test]
    fn the_walk_reaches_keys_and_nested_values_and_spares_only_target_start() {
        let yaml = "target:\n  start: \"cd sp\\n\\tmake\"\n  login_url: \"x\\ty\"\na:\n  - [{ \"k\\0\": \"v\\r\" }]\n";
        let root = super::super::tree::parse(yaml, false).unwrap();
        let mut sink = Sink::new("f.yaml");
        check_tree(&mut sink, &root);
        let mut found: Vec<(String, usize)> = sink
            .found
            .iter()
            .map(|d| (d.path.clone(), d.line))
            .collect();
        found.sort();
        assert_eq!(
            found,
            vec![
                ("a[0][0].k\0".to_owned(), 5),
                ("a[0][0].k\0".to_owned(), 5),
                ("target.login_url".to_owned(), 3),
            ]
        );
    }

    #[test]
    fn a_shell_command_may_span_lines_but_holds_no_nul() {
        assert_eq!(forbidden("cd sp &&\n\tmake run\r\n", true), None);
        assert_eq!(forbidden("run\0", true), Some(('\0', 4)));
    }

    #[test]
    fn the_message_names_the_code_point_and_column() {
        assert_eq!(
            refused('\0', 6, "value"),
            "U+0000 at column 6 of the value is a control character (NUL); control characters and line breaks are not allowed in connection files"
        );
        assert!(
            refused('\u{1}', 1, "key")
                .starts_with("U+0001 at column 1 of the key is a control character; ")
        );
        assert!(
            refused('\u{2028}', 2, "value")
                .starts_with("U+2028 at column 2 of the value is a line break (LINE SEPARATOR); ")
        );
    }

    #[test]
    fn invisible_characters_are_found() {
        assert_eq!(invisible("alice"), None);
        assert_eq!(invisible("ali\u{200b}ce"), Some(('\u{200b}', 4)));
        assert_eq!(invisible("\u{feff}alice"), Some(('\u{feff}', 1)));
        assert_eq!(invisible("a\u{2060}"), Some(('\u{2060}', 2)));
    }

    #[test]
    fn a_word_of_two_scripts_is_found_and_one_script_per_word_is_not() {
        // U+0430 CYRILLIC SMALL LETTER A in place of the Latin a.
        let m = mixed_script("\u{430}lice@acme.test").unwrap();
        assert_eq!(m.word, "\u{430}lice");
        assert_eq!((m.usual, m.odd), (Script::Latin, Script::Cyrillic));
        assert_eq!((m.c, m.column), ('\u{430}', 1));
        let m = mixed_script("bob@\u{430}cme.test").unwrap();
        assert_eq!((m.word.as_str(), m.column), ("\u{430}cme", 5));
        assert_eq!(mixed_script("alice@acme.test"), None);
        assert_eq!(
            mixed_script("\u{430}\u{43b}\u{438}\u{441}\u{430}@acme.test"),
            None
        );
        assert_eq!(mixed_script("ren\u{e9}e.o'brien@acme.test"), None);
        assert_eq!(mixed_script("00u1alice"), None);
        // Letters of scripts that do not look like Latin are not compared.
        assert_eq!(mixed_script("yamada\u{5c71}\u{7530}"), None);
    }

    #[test]
    fn identity_paths_are_the_users_id_login_and_email() {
        assert!(is_identity("directory.users[0].id"));
        assert!(is_identity("directory.users[12].email"));
        assert!(is_identity("directory.users[1].login"));
        assert!(!is_identity("directory.users[1].name"));
        assert!(!is_identity("directory.users[1].groups[0]"));
        assert!(!is_identity("apps[0].id"));
    }
}
