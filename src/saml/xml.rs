//! Text helpers for the XML fakta writes by hand: escaping and SAML instants.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Escapes text content and attribute values (`&`, `<`, `>`, `"`, `'`). Tab, line feed and
/// carriage return are written as character references, so that a parser gives them back as
/// they were (it would turn them into spaces in an attribute, and CR LF into LF anywhere).
/// Characters XML 1.0 cannot carry at all (most C0 controls, U+FFFE, U+FFFF) are dropped rather
/// than written out.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    // Runs of characters written as they are are copied whole: a SAMLResponse field of the
    // HTML form is 10 KB of base64 with nothing to escape.
    let mut rest = s;
    while let Some(at) = next_to_escape(rest) {
        out.push_str(&rest[..at]);
        let Some(c) = rest[at..].chars().next() else {
            break;
        };
        rest = &rest[at + c.len_utf8()..];
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c if (c as u32) < 0x20 => {}
            '\u{FFFE}' | '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out.push_str(rest);
    out
}

/// Where the first character [`escape`] changes starts: a byte scan (every such character is
/// ASCII, or U+FFFE/U+FFFF, whose UTF-8 forms begin with 0xEF), not a decode of every char.
fn next_to_escape(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut from = 0;
    while let Some(i) = bytes[from..]
        .iter()
        .position(|&b| b < 0x20 || matches!(b, b'&' | b'<' | b'>' | b'"' | b'\'' | 0xEF))
    {
        let at = from + i;
        if bytes[at] != 0xEF || matches!(&bytes[at..], [0xEF, 0xBF, 0xBE | 0xBF, ..]) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// A SAML `xs:dateTime` in UTC with milliseconds, as Okta writes them: `2026-11-28T08:39:15.123Z`.
pub fn instant(t: OffsetDateTime) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.to_offset(time::UtcOffset::UTC)
        .format(FORMAT)
        .unwrap_or_default()
}

/// Parses an `xs:dateTime` as SAML uses it (UTC, `Z` or an offset).
pub fn parse_instant(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape("O'Brien & <Sons> \"x\""),
            "O&apos;Brien &amp; &lt;Sons&gt; &quot;x&quot;"
        );
        assert_eq!(escape("a\u{1}b\u{FFFF}"), "ab");
        assert_eq!(escape("a\tb\r\nc"), "a&#x9;b&#xD;&#xA;c");
        // Runs between escapes, multi-byte characters among them, are kept whole.
        assert_eq!(escape("été&\u{1}ü<x"), "été&amp;ü&lt;x");
        assert_eq!(escape("plain base64+/="), "plain base64+/=");
        // Other characters whose UTF-8 starts with 0xEF are kept (U+F000, U+FFFD).
        assert_eq!(escape("\u{F000}\u{FFFD}\u{FFFE}x"), "\u{F000}\u{FFFD}x");
    }

    #[test]
    fn instants_have_milliseconds_and_z() {
        let t = time::macros::datetime!(2026-11-28 08:39:15.123456 UTC);
        assert_eq!(instant(t), "2026-11-28T08:39:15.123Z");
        let t = time::macros::datetime!(2026-11-28 08:39:15 UTC);
        assert_eq!(instant(t), "2026-11-28T08:39:15.000Z");
        assert_eq!(parse_instant("2026-11-28T08:39:15Z"), Some(t));
    }
}
