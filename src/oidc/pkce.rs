//! PKCE (RFC 7636): checking a `code_verifier` against the `code_challenge` of the request.

use super::jwt::b64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    S256,
    Plain,
}

impl Method {
    pub fn parse(s: &str) -> Option<Method> {
        match s {
            "S256" => Some(Method::S256),
            "plain" => Some(Method::Plain),
            _ => None,
        }
    }
}

/// RFC 7636 4.1: 43 to 128 characters of `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"`.
pub fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Whether `verifier` answers `challenge` under `method` (compared in constant time).
pub fn verify(method: Method, challenge: &str, verifier: &str) -> bool {
    if !valid_verifier(verifier) {
        return false;
    }
    let computed = match method {
        Method::S256 => b64(&openssl::sha::sha256(verifier.as_bytes())),
        Method::Plain => verifier.to_owned(),
    };
    // memcmp::eq requires equal lengths (and panics otherwise).
    computed.len() == challenge.len()
        && openssl::memcmp::eq(computed.as_bytes(), challenge.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(verify(Method::S256, challenge, verifier));
        assert!(!verify(
            Method::S256,
            challenge,
            &verifier.replace('d', "e")
        ));
        assert!(verify(Method::Plain, verifier, verifier));
        assert!(!verify(Method::Plain, challenge, verifier));
        assert!(!verify(Method::Plain, "short", "short"));
    }
}
