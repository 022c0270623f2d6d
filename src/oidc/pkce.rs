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

/// Why a code_challenge or code_verifier is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PkceError {
    #[error(
        "the code_challenge is {len} characters; an S256 challenge is the 43-character base64url SHA-256 of the verifier (RFC 7636 §4.2)"
    )]
    S256ChallengeLength { len: usize },
    #[error(
        "the code_challenge is {len} characters; a plain challenge is the verifier, 43 to 128 characters (RFC 7636 §4.1, §4.2)"
    )]
    PlainChallengeLength { len: usize },
    #[error("the code_challenge contains {ch:?}, which is outside {alphabet} (RFC 7636 §4.2)")]
    ChallengeCharacter { ch: char, alphabet: &'static str },
    #[error("the code_verifier is {len} characters; RFC 7636 §4.1 requires 43 to 128")]
    VerifierLength { len: usize },
    #[error("the code_verifier contains {ch:?}; RFC 7636 §4.1 allows only A-Z a-z 0-9 - . _ ~")]
    VerifierCharacter { ch: char },
}

fn unreserved(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
}

/// RFC 7636 §4.2: an S256 challenge is BASE64URL(SHA256(verifier)) without padding, so 43
/// characters of the base64url alphabet; a plain one is a verifier.
pub fn check_challenge(method: Method, challenge: &str) -> Result<(), PkceError> {
    let len = challenge.chars().count();
    let (ok_len, alphabet, allowed): (bool, &'static str, fn(char) -> bool) = match method {
        Method::S256 => (len == 43, "the base64url alphabet (A-Z a-z 0-9 - _)", |c| {
            c.is_ascii_alphanumeric() || matches!(c, '-' | '_')
        }),
        Method::Plain => ((43..=128).contains(&len), "A-Z a-z 0-9 - . _ ~", unreserved),
    };
    if let Some(ch) = challenge.chars().find(|c| !allowed(*c)) {
        return Err(PkceError::ChallengeCharacter { ch, alphabet });
    }
    match (ok_len, method) {
        (true, _) => Ok(()),
        (false, Method::S256) => Err(PkceError::S256ChallengeLength { len }),
        (false, Method::Plain) => Err(PkceError::PlainChallengeLength { len }),
    }
}

/// RFC 7636 §4.1: 43 to 128 characters of `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"`.
pub fn check_verifier(v: &str) -> Result<(), PkceError> {
    if let Some(ch) = v.chars().find(|c| !unreserved(*c)) {
        return Err(PkceError::VerifierCharacter { ch });
    }
    let len = v.len();
    if !(43..=128).contains(&len) {
        return Err(PkceError::VerifierLength { len });
    }
    Ok(())
}

pub fn valid_verifier(v: &str) -> bool {
    check_verifier(v).is_ok()
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

    /// Guards the challenge alphabet and length checks at the authorize endpoint.
    #[test]
    fn challenges_outside_the_alphabet_or_length_are_refused() {
        let good = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert_eq!(check_challenge(Method::S256, good), Ok(()));
        assert_eq!(
            check_challenge(Method::S256, &format!("{good}A")),
            Err(PkceError::S256ChallengeLength { len: 44 })
        );
        let padded = format!("{}=", &good[..42]);
        assert!(matches!(
            check_challenge(Method::S256, &padded),
            Err(PkceError::ChallengeCharacter { ch: '=', .. })
        ));
        let tilde = format!("{}~", &good[..42]);
        assert!(check_challenge(Method::S256, &tilde).is_err());
        assert_eq!(check_challenge(Method::Plain, &tilde), Ok(()));
        assert!(check_challenge(Method::Plain, &"é".repeat(43)).is_err());
    }

    /// Guards the message for a short verifier (it used to say "does not match").
    #[test]
    fn a_short_verifier_is_named_as_such() {
        let e = check_verifier("abc").unwrap_err();
        assert_eq!(e, PkceError::VerifierLength { len: 3 });
        assert!(e.to_string().contains("43 to 128"), "{e}");
        assert_eq!(
            check_verifier(&format!("{}+", "a".repeat(43))),
            Err(PkceError::VerifierCharacter { ch: '+' })
        );
    }
}
