//! Parsing XML that came from the network (AuthnRequests, LogoutRequests, Responses posted to
//! the reference SP): a nesting-depth limit checked on the text before any parser sees it, then
//! roxmltree without DTDs.
//!
//! Why a pre-scan: roxmltree's tokenizer (0.20 has no nesting limit of its own, only
//! `nodes_limit` and a depth of 10 for entity references), libxml2 (under xmlsec) and every
//! tree walk recurse once per element level, so a few thousand nested elements (a 192-character
//! deflated SAMLRequest) overflow a worker thread's stack and abort the whole process.
//! [`check_depth`] is a single iterative pass over the bytes, done before roxmltree, xmlsec or
//! the c14n run; fakta's own documents nest fewer than 12 levels, [`MAX_DEPTH`] allows 64.

/// The deepest element nesting accepted in a message from the network.
pub const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("the XML nests deeper than {limit} elements")]
    TooDeep { limit: usize },
    #[error("the SAML message contains a DOCTYPE; DTDs and entities are refused")]
    Doctype,
    #[error("the SAML message is not well-formed XML: {0}")]
    NotXml(String),
}

/// Checks the depth limit, then parses (a DOCTYPE is refused unless `allow_dtd`; roxmltree
/// expands internal entities only, within its own limits, and never fetches anything).
pub fn parse(text: &str, allow_dtd: bool) -> Result<roxmltree::Document<'_>, XmlError> {
    check_depth(text)?;
    let opts = roxmltree::ParsingOptions {
        allow_dtd,
        ..Default::default()
    };
    roxmltree::Document::parse_with_options(text, opts).map_err(|e| match e {
        roxmltree::Error::DtdDetected => XmlError::Doctype,
        other => XmlError::NotXml(other.to_string()),
    })
}

/// Refuses text whose elements may nest deeper than [`MAX_DEPTH`]: one pass, no recursion,
/// no allocation. Start tags count one level unless self-closing, end tags close one;
/// comments, CDATA sections, processing instructions and quoted attribute values are skipped.
/// Text that is not well-formed may be miscounted, but only ever towards refusal or towards
/// the parser's own error. Markup inside the literals of a DOCTYPE (entity values that an
/// entity-expanding parser would splice in) counts as if each entity could nest ten deep (the
/// reference depth roxmltree allows), so an expansion cannot get past the limit either.
pub fn check_depth(text: &str) -> Result<(), XmlError> {
    check_depth_within(text, MAX_DEPTH)
}

fn check_depth_within(text: &str, limit: usize) -> Result<(), XmlError> {
    let too_deep = XmlError::TooDeep { limit };
    let b = text.as_bytes();
    let mut depth = 0usize;
    // Open tags found in the DOCTYPE's quoted literals, times roxmltree's entity depth (10).
    let mut dtd_extra = 0usize;
    let mut i = 0usize;
    while let Some(at) = find_byte(b, i, b'<') {
        let rest = &b[at + 1..];
        i = if rest.starts_with(b"!--") {
            skip_past(b, at + 4, b"-->")
        } else if rest.starts_with(b"![CDATA[") {
            skip_past(b, at + 9, b"]]>")
        } else if rest.starts_with(b"?") {
            skip_past(b, at + 2, b"?>")
        } else if rest.starts_with(b"!") {
            let (end, opens) = skip_declaration(b, at + 2);
            dtd_extra = dtd_extra.saturating_add(opens.saturating_mul(10));
            end
        } else if rest.starts_with(b"/") {
            depth = depth.saturating_sub(1);
            skip_past(b, at + 2, b">")
        } else {
            let (end, self_closing) = skip_tag(b, at + 1);
            if !self_closing {
                depth += 1;
                if depth.saturating_add(dtd_extra) > limit {
                    return Err(too_deep);
                }
            }
            end
        };
    }
    if dtd_extra > limit {
        return Err(too_deep);
    }
    Ok(())
}

fn find_byte(b: &[u8], from: usize, byte: u8) -> Option<usize> {
    b.get(from..)?
        .iter()
        .position(|&c| c == byte)
        .map(|p| p + from)
}

/// The index just past the next `needle` at or after `from` (the end when there is none).
fn skip_past(b: &[u8], from: usize, needle: &[u8]) -> usize {
    b.get(from..)
        .and_then(|rest| rest.windows(needle.len()).position(|w| w == needle))
        .map_or(b.len(), |p| from + p + needle.len())
}

/// A start tag from its name: the index past its `>` (quoted values may hold `>`), and whether
/// it closes itself (`/>`).
fn skip_tag(b: &[u8], from: usize) -> (usize, bool) {
    let mut quote = None;
    let mut i = from;
    while i < b.len() {
        let c = b[i];
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == b'"' || c == b'\'' => quote = Some(c),
            None if c == b'>' => return (i + 1, i > from && b[i - 1] == b'/'),
            None => {}
        }
        i += 1;
    }
    (b.len(), false)
}

/// A `<!...>` declaration (a DOCTYPE, with its internal subset `[...]`) from after its `<!`:
/// the index past its closing `>`, and how many start tags its quoted literals contain. It
/// follows the grammar, so that it ends where a parser's DOCTYPE ends (were a stray quote able
/// to make it skip further, the elements after it would go uncounted): before `[` and inside
/// markup declarations quotes delimit literals (which may hold `<`, `>` and `]`); between
/// declarations, comments and processing instructions are skipped whole (they may hold
/// quotes) and anything else is a single byte.
fn skip_declaration(b: &[u8], from: usize) -> (usize, usize) {
    let mut opens = 0usize;
    let mut i = from;
    // The declaration's own part, up to its internal subset or its end.
    loop {
        match b.get(i) {
            None => return (b.len(), opens),
            Some(b'"' | b'\'') => i = skip_literal(b, i, &mut opens),
            Some(b'>') => return (i + 1, opens),
            Some(b'[') => break,
            Some(_) => i += 1,
        }
    }
    i += 1;
    // The internal subset, up to its `]`.
    loop {
        let rest = b.get(i..).unwrap_or_default();
        if rest.is_empty() {
            return (b.len(), opens);
        } else if rest.starts_with(b"]") {
            break;
        } else if rest.starts_with(b"<!--") {
            i = skip_past(b, i + 4, b"-->");
        } else if rest.starts_with(b"<?") {
            i = skip_past(b, i + 2, b"?>");
        } else if rest.starts_with(b"<") {
            // A markup declaration (ENTITY, ATTLIST, ...): to its `>`, literals skipped.
            i += 1;
            loop {
                match b.get(i) {
                    None => return (b.len(), opens),
                    Some(b'"' | b'\'') => i = skip_literal(b, i, &mut opens),
                    Some(b'>') => break,
                    Some(_) => i += 1,
                }
            }
            i += 1;
        } else {
            i += 1;
        }
    }
    // After `]`: spaces, then the `>` of the DOCTYPE.
    (skip_past(b, i + 1, b">"), opens)
}

/// A quoted literal from its opening quote: the index past its closing quote; the start tags it
/// contains are added to `opens` (an entity value is spliced into the document as markup).
fn skip_literal(b: &[u8], at: usize, opens: &mut usize) -> usize {
    let quote = b[at];
    let mut i = at + 1;
    while i < b.len() && b[i] != quote {
        if b[i] == b'<' && !matches!(b.get(i + 1), Some(b'/' | b'!' | b'?')) {
            *opens += 1;
        }
        i += 1;
    }
    (i + 1).min(b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(n: usize) -> String {
        format!("{}{}", "<a>".repeat(n), "</a>".repeat(n))
    }

    #[test]
    fn the_limit_is_exact() {
        assert_eq!(check_depth(&nested(MAX_DEPTH)), Ok(()));
        assert_eq!(
            check_depth(&nested(MAX_DEPTH + 1)),
            Err(XmlError::TooDeep { limit: MAX_DEPTH })
        );
        assert_eq!(
            XmlError::TooDeep { limit: 64 }.to_string(),
            "the XML nests deeper than 64 elements"
        );
    }

    #[test]
    fn siblings_self_closing_tags_and_skipped_markup_do_not_count() {
        let wide = format!("<r>{}</r>", "<a x=\"1\"/><b></b>".repeat(10_000));
        assert_eq!(check_depth(&wide), Ok(()));
        let hidden = format!(
            "<r><!--{o}--><![CDATA[{o}]]><?pi {o}?><a v=\"{o}\" w='{o}'/></r>",
            o = "<x>".repeat(1000)
        );
        assert_eq!(check_depth(&hidden), Ok(()));
        // `>` and `/>` inside a quoted value neither end the tag nor close it.
        let tricky = format!("{}{}", "<a v=\"/>\">".repeat(65), "</a>".repeat(65));
        assert!(check_depth(&tricky).is_err());
    }

    #[test]
    fn a_deep_document_is_refused_before_the_parser_recurses() {
        // 3,100 levels overflow roxmltree's recursive tokenizer on a 2 MiB stack.
        let deep = nested(100_000);
        assert_eq!(
            parse(&deep, false).err(),
            Some(XmlError::TooDeep { limit: MAX_DEPTH })
        );
        // Unclosed start tags count too.
        assert!(check_depth(&"<a>".repeat(100_000)).is_err());
    }

    #[test]
    fn markup_in_entity_values_counts_against_the_limit() {
        let dtd =
            "<!DOCTYPE r [<!ENTITY e \"<a><a><a><a><a><a><a></a></a></a></a></a></a></a>\">]>";
        let doc = format!("{dtd}<r>&e;</r>");
        assert!(check_depth(&doc).is_err());
        // A DOCTYPE without markup in its literals (fakta's S24 attack) is not affected.
        let xxe = "<!DOCTYPE r [<!ENTITY x SYSTEM \"http://127.0.0.1:1/x\"><!-- \" -->]><r>&x;</r>";
        assert_eq!(check_depth(xxe), Ok(()));
        assert_eq!(parse(xxe, false).err(), Some(XmlError::Doctype));
    }

    #[test]
    fn quotes_outside_literals_do_not_hide_the_body() {
        // A quote in a PI or comment of the internal subset is not a literal: the scan must
        // end the DOCTYPE where a parser does, and count what follows.
        let deep = nested(MAX_DEPTH + 1);
        for dtd in [
            "<!DOCTYPE r [<?pi \"?>]>",
            "<!DOCTYPE r [<!-- ' -->]>",
            "<!DOCTYPE r [<!ENTITY a \"]>'\">]>",
            "<!DOCTYPE r SYSTEM \"x]>\" [ ]>",
        ] {
            let doc = format!("{dtd}{deep}");
            assert_eq!(
                check_depth(&doc),
                Err(XmlError::TooDeep { limit: MAX_DEPTH }),
                "{dtd}"
            );
            let shallow = format!("{dtd}{}", nested(3));
            assert_eq!(check_depth(&shallow), Ok(()), "{dtd}");
        }
        // roxmltree agrees on where those DOCTYPEs end.
        assert!(parse(&format!("<!DOCTYPE r [<?pi \"?>]>{}", nested(3)), true).is_ok());
    }

    #[test]
    fn other_errors_are_named() {
        assert!(matches!(parse("<a>", false), Err(XmlError::NotXml(_))));
        assert!(parse("<a/>", false).is_ok());
    }
}
