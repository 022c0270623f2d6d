//! Hiding credentials in text shown to people: failure transcripts and JUnit files (the
//! runner) and the IdP's inspector page. One set of rules, so both promise the same thing; it
//! lives outside `runner/` and `idp/` because `idp/` must not import the runner.

/// Hides values that act as credentials: authorization codes, tokens (in queries, fragments,
/// form bodies and JSON), client secrets, raw SAMLResponse parameters, anything shaped like a
/// JWT, signature values, certificates, private keys in PEM.
pub fn redact(s: &str) -> String {
    static RULES: std::sync::OnceLock<Vec<Rule>> = std::sync::OnceLock::new();
    let rules = RULES.get_or_init(|| {
        [
            Rule::pattern(
                r"(?m)((?:^|[?&#\s])(?:code|access_token|id_token|refresh_token|logout_token|client_secret|SAMLResponse)=)[^&\s#]+",
                "${1}[redacted]",
                |t| ["code=", "_token=", "client_secret=", "SAMLResponse="].iter().any(|k| t.contains(k)),
            ),
            Rule::pattern(
                r#"("(?:access_token|id_token|refresh_token|logout_token|client_secret|code)"\s*:\s*")[^"]*""#,
                "${1}[redacted]\"",
                |t| ["_token\"", "client_secret\"", "\"code\""].iter().any(|k| t.contains(k)),
            ),
            Rule::pattern(
                r"(?i)(authorization:\s*(?:bearer|basic)\s+)\S+",
                "${1}[redacted]",
                |t| contains_ignore_ascii_case(t, "authorization:"),
            ),
            Rule::pattern(
                r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*",
                "[a JWT, redacted]",
                |t| t.contains("eyJ"),
            ),
            Some(Rule::Element("ds:SignatureValue", "[redacted]")),
            Some(Rule::Element("ds:X509Certificate", "[certificate]")),
            Rule::pattern(
                r"(?s)-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----",
                "[a private key, redacted]",
                |t| t.contains("PRIVATE KEY-----"),
            ),
            Some(Rule::Element("ds:DigestValue", "[digest]")),
        ]
        .into_iter()
        .flatten()
        .collect()
    });
    let mut out = s.to_owned();
    for rule in rules {
        match rule {
            // Copied only when the rule found something: most texts hold few kinds of secret.
            // The regexes run only where their literal part is: a signed Response has none,
            // and five scans of it were a tenth of a login's non-RSA time (benches/saml_load.sh).
            Rule::Pattern(_, _, can_match) if !can_match(&out) => {}
            Rule::Pattern(re, with, _) => {
                if let std::borrow::Cow::Owned(changed) = re.replace_all(&out, *with) {
                    out = changed;
                }
            }
            Rule::Element(element, with) => out = between_tags(out, element, with),
        }
    }
    out
}

/// One redaction, applied to the whole text in turn.
#[derive(Debug)]
enum Rule {
    /// Every match replaced (`${1}` and the like name its groups), looked for only in a text
    /// for which the test (a literal every match contains) holds.
    Pattern(regex::Regex, &'static str, fn(&str) -> bool),
    /// The content of every `<element>...</element>` replaced, up to the first close tag after
    /// it opens: what `(?s)(<x>).*?(</x>)` does, without a regex. The IdP records every
    /// Response it signs, and the regex's captures over the certificate and signature texts
    /// were most of the time it spent redacting one (benches/saml_load.sh).
    Element(&'static str, &'static str),
}

impl Rule {
    fn pattern(re: &str, with: &'static str, can_match: fn(&str) -> bool) -> Option<Rule> {
        Some(Rule::Pattern(regex::Regex::new(re).ok()?, with, can_match))
    }
}

/// Whether `text` contains `needle` (ASCII) in any letter case.
fn contains_ignore_ascii_case(text: &str, needle: &str) -> bool {
    let (text, needle) = (text.as_bytes(), needle.as_bytes());
    text.len() >= needle.len()
        && text
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

/// `text` with the content of every `<element>...</element>` replaced by `with`; an element
/// left open is kept as it is.
fn between_tags(text: String, element: &str, with: &str) -> String {
    let open = format!("<{element}>");
    let close = format!("</{element}>");
    if !text.contains(&open) {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(start) = rest.find(&open) {
        let content = start + open.len();
        let Some(len) = rest[content..].find(&close) else {
            break;
        };
        out.push_str(&rest[..content]);
        out.push_str(with);
        out.push_str(&close);
        rest = &rest[content + len + close.len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::redact;

    /// The redaction promise: no credential survives into a transcript, a JUnit file or the inspector.
    #[test]
    fn no_secret_survives_redaction() {
        // Each text with the secrets it holds.
        let secrets: [(&str, &[&str]); 11] = [
            ("http://sp/cb?code=SECRETCODE1&state=x", &["SECRETCODE1"]),
            (
                "http://sp/cb#id_token=eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl&state=y",
                &["c2lnbmF0dXJl"],
            ),
            ("http://sp/cb#access_token=SECRETAT2", &["SECRETAT2"]),
            (
                "http://sp/acs?SAMLResponse=PHNhbWxwOlJlc3BvbnNl&RelayState=r",
                &["PHNhbWxwOlJlc3BvbnNl"],
            ),
            (
                "client_secret=SECRETCS3&grant_type=authorization_code",
                &["SECRETCS3"],
            ),
            (
                r#"{"access_token":"SECRETAT4","refresh_token":"SECRETRT5","id_token":"x.y.z"}"#,
                &["SECRETAT4", "SECRETRT5"],
            ),
            ("Authorization: Bearer SECRETBEARER6", &["SECRETBEARER6"]),
            (
                "Authorization: Basic U0VDUkVUQkFTSUM3",
                &["U0VDUkVUQkFTSUM3"],
            ),
            (
                "<ds:SignatureValue>SECRETSIG8</ds:SignatureValue>",
                &["SECRETSIG8"],
            ),
            (
                "token eyJ0eXAiOiJKV1QifQ.eyJleHAiOjF9.SECRETJWTSIG9 in a page",
                &["SECRETJWTSIG9"],
            ),
            (
                "-----BEGIN PRIVATE KEY-----\nSECRETKEY10\n-----END PRIVATE KEY-----",
                &["SECRETKEY10"],
            ),
        ];
        // Each alone too: a rule's literal test must not hide what it is for.
        for (line, needles) in secrets {
            for needle in needles {
                assert!(
                    !redact(line).contains(needle),
                    "{needle} survived in {line}"
                );
            }
        }
        assert!(!redact("AUTHORIZATION: bearer SECRET11").contains("SECRET11"));
        let text: Vec<&str> = secrets.iter().map(|(line, _)| *line).collect();
        let out = redact(&text.join("\n"));
        for needle in secrets.iter().flat_map(|(_, needles)| needles.iter()) {
            assert!(!out.contains(needle), "{needle} survived:\n{out}");
        }
        // What is not a secret stays readable.
        assert!(out.contains("state=x"), "{out}");
        assert!(out.contains("RelayState=r"), "{out}");
    }

    /// The element rules do what the regexes they replaced did, on the cases that matter: two
    /// elements, nested text, an element left open, an empty one, and line breaks inside.
    #[test]
    fn element_contents_are_replaced_as_the_lazy_regex_did() {
        let regex = |text: &str, element: &str, with: &str| {
            let re = regex::Regex::new(&format!("(?s)(<{element}>).*?(</{element}>)")).unwrap();
            re.replace_all(text, format!("${{1}}{with}${{2}}"))
                .into_owned()
        };
        for text in [
            "<a><ds:X509Certificate>MIIC\nAbc=</ds:X509Certificate><ds:X509Certificate>x</ds:X509Certificate></a>",
            "<ds:X509Certificate></ds:X509Certificate> and <ds:X509Certificate>open",
            "<ds:X509Certificate>a<ds:X509Certificate>b</ds:X509Certificate>c</ds:X509Certificate>",
            "nothing here",
            "</ds:X509Certificate><ds:X509Certificate>",
        ] {
            assert_eq!(
                super::between_tags(text.to_owned(), "ds:X509Certificate", "[certificate]"),
                regex(text, "ds:X509Certificate", "[certificate]"),
                "{text}"
            );
        }
    }
}
