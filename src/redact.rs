//! Hiding credentials in text shown to people: failure transcripts and JUnit files (the
//! runner) and the IdP's inspector page. One set of rules, so both promise the same thing; it
//! lives outside `runner/` and `idp/` because `idp/` must not import the runner.

/// Hides values that act as credentials: authorization codes, tokens (in queries, fragments,
/// form bodies and JSON), client secrets, raw SAMLResponse parameters, anything shaped like a
/// JWT, signature values, certificates, private keys in PEM.
pub fn redact(s: &str) -> String {
    static RULES: std::sync::OnceLock<Vec<(regex::Regex, &'static str)>> =
        std::sync::OnceLock::new();
    let rules = RULES.get_or_init(|| {
        [
            (
                r"(?m)((?:^|[?&#\s])(?:code|access_token|id_token|refresh_token|logout_token|client_secret|SAMLResponse)=)[^&\s#]+",
                "${1}[redacted]",
            ),
            (
                r#"("(?:access_token|id_token|refresh_token|logout_token|client_secret|code)"\s*:\s*")[^"]*""#,
                "${1}[redacted]\"",
            ),
            (
                r"(?i)(authorization:\s*(?:bearer|basic)\s+)\S+",
                "${1}[redacted]",
            ),
            (
                r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*",
                "[a JWT, redacted]",
            ),
            (
                r"(?s)(<ds:SignatureValue>).*?(</ds:SignatureValue>)",
                "${1}[redacted]${2}",
            ),
            (
                r"(?s)(<ds:X509Certificate>).*?(</ds:X509Certificate>)",
                "${1}[certificate]${2}",
            ),
            (
                r"(?s)-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----",
                "[a private key, redacted]",
            ),
            (
                r"(?s)(<ds:DigestValue>).*?(</ds:DigestValue>)",
                "${1}[digest]${2}",
            ),
        ]
        .into_iter()
        .filter_map(|(re, with)| Some((regex::Regex::new(re).ok()?, with)))
        .collect()
    });
    let mut out = s.to_owned();
    for (re, with) in rules {
        out = re.replace_all(&out, *with).into_owned();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::redact;

    /// The redaction promise: no credential survives into a transcript, a JUnit file or the inspector.
    #[test]
    fn no_secret_survives_redaction() {
        let secrets = [
            "http://sp/cb?code=SECRETCODE1&state=x",
            "http://sp/cb#id_token=eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl&state=y",
            "http://sp/cb#access_token=SECRETAT2",
            "http://sp/acs?SAMLResponse=PHNhbWxwOlJlc3BvbnNl&RelayState=r",
            "client_secret=SECRETCS3&grant_type=authorization_code",
            r#"{"access_token":"SECRETAT4","refresh_token":"SECRETRT5","id_token":"x.y.z"}"#,
            "Authorization: Bearer SECRETBEARER6",
            "Authorization: Basic U0VDUkVUQkFTSUM3",
            "<ds:SignatureValue>SECRETSIG8</ds:SignatureValue>",
            "token eyJ0eXAiOiJKV1QifQ.eyJleHAiOjF9.SECRETJWTSIG9 in a page",
            "-----BEGIN PRIVATE KEY-----\nSECRETKEY10\n-----END PRIVATE KEY-----",
        ];
        let text = secrets.join("\n");
        let out = redact(&text);
        for needle in [
            "SECRETCODE1",
            "c2lnbmF0dXJl",
            "SECRETAT2",
            "PHNhbWxwOlJlc3BvbnNl",
            "SECRETCS3",
            "SECRETAT4",
            "SECRETRT5",
            "SECRETBEARER6",
            "U0VDUkVUQkFTSUM3",
            "SECRETSIG8",
            "SECRETJWTSIG9",
            "SECRETKEY10",
        ] {
            assert!(!out.contains(needle), "{needle} survived:\n{out}");
        }
        // What is not a secret stays readable.
        assert!(out.contains("state=x"), "{out}");
        assert!(out.contains("RelayState=r"), "{out}");
    }
}
