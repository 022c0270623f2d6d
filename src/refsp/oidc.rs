//! The reference SP's OpenID Connect relying-party checks on an id_token's claims and on the
//! userinfo answer (OIDC Core 3.1.3.7 and 5.3.2).

use serde_json::Value;
use time::OffsetDateTime;

use super::flaws::{Flaw, Flaws};

/// Clock skew tolerated on exp / iat.
pub const SKEW_SECS: i64 = 30;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcRefusal {
    #[error("the discovery document's issuer `{got}` is not the issuer in use `{expected}`")]
    DiscoveryIssuer { got: String, expected: String },
    #[error("the id_token is not valid: {0}")]
    Jwt(#[from] super::jwt::JwtRefusal),
    #[error("id_token iss `{got}` is not `{expected}`")]
    Issuer { got: String, expected: String },
    #[error("id_token aud {got} does not include client `{expected}`")]
    Audience { got: String, expected: String },
    #[error("id_token azp `{0}` is not this client")]
    Azp(String),
    #[error("id_token has no {0} claim")]
    Missing(&'static str),
    #[error("id_token expired at {0}")]
    Expired(i64),
    #[error("id_token iat {0} is in the future")]
    IssuedInFuture(i64),
    #[error("id_token nonce {got:?} is not the one sent ({expected})")]
    Nonce {
        got: Option<String>,
        expected: String,
    },
    #[error(
        "the authorization response has no {0}, which response_type `{1}` returns (OpenID Connect Core 3.3.2.5)"
    )]
    MissingInResponse(&'static str, &'static str),
    #[error(
        "the front-channel id_token has no {claim}, REQUIRED beside {what} (OpenID Connect Core {section})"
    )]
    HashMissing {
        claim: &'static str,
        what: &'static str,
        section: &'static str,
    },
    #[error(
        "the front-channel id_token's {claim} does not match the {what} it came with (OpenID Connect Core {section})"
    )]
    HashMismatch {
        claim: &'static str,
        what: &'static str,
        section: &'static str,
    },
    #[error("the id_token's alg `{0}` has no hash for at_hash / c_hash here (RS256, ES256 only)")]
    HashAlg(String),
    #[error(
        "the token endpoint's id_token has sub `{got}`, the authorization endpoint's `{expected}`: they must be identical (OpenID Connect Core 3.3.3.6)"
    )]
    FrontChannelSub { got: String, expected: String },
    #[error("userinfo sub `{got}` differs from the id_token sub `{expected}`")]
    UserinfoSub { got: String, expected: String },
    #[error("the refreshed id_token's sub `{got}` is not the session's `{expected}`")]
    RefreshSub { got: String, expected: String },
    #[error("the state parameter is not the one this browser's login request carried")]
    State,
    #[error(
        "no login is in flight in this browser (no login cookie, or its login was used already)"
    )]
    NoLoginInFlight,
    #[error("the IdP answered the authorization with an error: {0}")]
    AuthorizeError(String),
    #[error("the token request failed: {0}")]
    Token(String),
    #[error("{0}")]
    Profile(String),
    #[error("cannot reach the IdP: {0}")]
    Http(String),
    /// The SP failed (the `fail-without-kid` defect): answered 500.
    #[error("internal error: {0}")]
    Internal(String),
}

/// What a checked id_token says about the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdTokenInfo {
    pub sub: String,
    pub sid: Option<String>,
}

/// Whether `aud` (a string or a list) names the client.
pub fn aud_contains(aud: &Value, client_id: &str) -> bool {
    match aud {
        Value::String(s) => s == client_id,
        Value::Array(a) => a.iter().any(|x| x.as_str() == Some(client_id)),
        _ => false,
    }
}

/// Checks id_token claims (the signature was checked by `jwt::verify`).
pub fn check_id_token(
    claims: &Value,
    issuer: &str,
    client_id: &str,
    nonce: &str,
    now: OffsetDateTime,
    flaws: &Flaws,
) -> Result<IdTokenInfo, OidcRefusal> {
    let iss = claims["iss"].as_str().ok_or(OidcRefusal::Missing("iss"))?;
    if iss != issuer && !flaws.on(Flaw::IgnoreIdTokenIss) {
        return Err(OidcRefusal::Issuer {
            got: iss.to_owned(),
            expected: issuer.to_owned(),
        });
    }
    let azp_only = flaws.on(Flaw::AudViaAzp) && claims["azp"].is_string();
    if !flaws.on(Flaw::IgnoreIdTokenAud) && !azp_only {
        if claims.get("aud").is_none() {
            return Err(OidcRefusal::Missing("aud"));
        }
        if !aud_contains(&claims["aud"], client_id) {
            return Err(OidcRefusal::Audience {
                got: claims["aud"].to_string(),
                expected: client_id.to_owned(),
            });
        }
        if let Some(azp) = claims["azp"].as_str() {
            if azp != client_id {
                return Err(OidcRefusal::Azp(azp.to_owned()));
            }
        }
    }
    if azp_only && claims["azp"].as_str() != Some(client_id) {
        return Err(OidcRefusal::Azp(claims["azp"].to_string()));
    }
    let sub = match claims["sub"].as_str().filter(|s| !s.is_empty()) {
        Some(sub) => sub,
        // The defect: the user is keyed by email when there is no sub.
        None if flaws.on(Flaw::AcceptMissingSub) => claims["email"].as_str().unwrap_or("(no sub)"),
        None => return Err(OidcRefusal::Missing("sub")),
    };
    let exp = claims["exp"].as_i64().ok_or(OidcRefusal::Missing("exp"))?;
    let now = now.unix_timestamp();
    let iat = match claims["iat"].as_i64() {
        Some(iat) => iat,
        None if flaws.on(Flaw::AcceptMissingIat) => now,
        None => return Err(OidcRefusal::Missing("iat")),
    };
    if !flaws.on(Flaw::IgnoreExp) && now - SKEW_SECS >= exp {
        return Err(OidcRefusal::Expired(exp));
    }
    if iat > now + SKEW_SECS {
        return Err(OidcRefusal::IssuedInFuture(iat));
    }
    if !flaws.on(Flaw::IgnoreNonce) {
        let got = claims["nonce"].as_str();
        if got != Some(nonce) {
            return Err(OidcRefusal::Nonce {
                got: got.map(str::to_owned),
                expected: nonce.to_owned(),
            });
        }
    }
    Ok(IdTokenInfo {
        sub: sub.to_owned(),
        sid: claims["sid"].as_str().map(str::to_owned),
    })
}

/// Which value a front-channel hash covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hashed {
    /// `at_hash`, of the access token (OIDC Core §3.2.2.9, §3.3.2.9).
    AccessToken,
    /// `c_hash`, of the code (OIDC Core §3.3.2.10).
    Code,
}

impl Hashed {
    fn claim(self) -> &'static str {
        match self {
            Hashed::AccessToken => "at_hash",
            Hashed::Code => "c_hash",
        }
    }
    fn what(self) -> &'static str {
        match self {
            Hashed::AccessToken => "access token",
            Hashed::Code => "code",
        }
    }
    fn section(self) -> &'static str {
        match self {
            Hashed::AccessToken => "3.3.2.9",
            Hashed::Code => "3.3.2.10",
        }
    }
}

/// The left half of the hash of `value`'s ASCII octets, base64url, with the hash of the JWS
/// `alg` (OIDC Core §3.3.2.11: "if the alg is RS256, hash the access_token value with
/// SHA-256"): SHA-256, SHA-384 or SHA-512 by the alg's size (RS, PS, ES, HS alike).
pub fn half_hash(alg: &str, value: &str) -> Option<String> {
    use base64::Engine;
    let family = ["RS", "PS", "ES", "HS"].iter().any(|f| alg.starts_with(f));
    let digest: Vec<u8> = match alg.get(2..) {
        Some("256") if family => openssl::sha::sha256(value.as_bytes()).to_vec(),
        Some("384") if family => openssl::sha::sha384(value.as_bytes()).to_vec(),
        Some("512") if family => openssl::sha::sha512(value.as_bytes()).to_vec(),
        _ => return None,
    };
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2]))
}

/// Checks a front-channel id_token's `at_hash` or `c_hash` (REQUIRED there: OIDC Core
/// §3.3.2.11) against the value it came with; `alg` is the id_token's (already verified).
pub fn check_hash(
    claims: &Value,
    alg: &str,
    which: Hashed,
    value: &str,
) -> Result<(), OidcRefusal> {
    let Some(got) = claims[which.claim()].as_str() else {
        return Err(OidcRefusal::HashMissing {
            claim: which.claim(),
            what: which.what(),
            section: "3.3.2.11",
        });
    };
    let want = half_hash(alg, value).ok_or_else(|| OidcRefusal::HashAlg(alg.to_owned()))?;
    // Both are public values of the response: a plain comparison leaks nothing.
    if got == want {
        Ok(())
    } else {
        Err(OidcRefusal::HashMismatch {
            claim: which.claim(),
            what: which.what(),
            section: which.section(),
        })
    }
}

/// A string claim from the id_token, else from userinfo.
pub fn claim_str(id: &Value, userinfo: Option<&Value>, name: &str) -> Option<String> {
    id[name]
        .as_str()
        .or_else(|| userinfo.and_then(|u| u[name].as_str()))
        .map(str::to_owned)
}

/// Where a distributed claim (OIDC Core §5.6.2: `_claim_names` naming a source of
/// `_claim_sources` with an `endpoint`) says to fetch the claim `name`; Entra's group overage.
pub fn distributed_source(id: &Value, name: &str) -> Option<String> {
    let source = id["_claim_names"][name].as_str()?;
    id["_claim_sources"][source]["endpoint"]
        .as_str()
        .map(str::to_owned)
}

/// A list claim (groups) from the id_token, else from userinfo; None when absent in both.
pub fn claim_list(id: &Value, userinfo: Option<&Value>, name: &str) -> Option<Vec<String>> {
    let from = |v: &Value| {
        v.get(name).and_then(Value::as_array).map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect::<Vec<_>>()
        })
    };
    from(id).or_else(|| userinfo.and_then(from))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn front_channel_hashes_are_checked_against_their_value() {
        // OIDC Core A.4: code "Qcb0Orv1zh30vL1MPRsbm-diHiMwcLyZvn1arpZv-Jxf_11jnpEX3Tgfvk",
        // c_hash "LDktKdoQak3Pk0cnXxCltA".
        let code = "Qcb0Orv1zh30vL1MPRsbm-diHiMwcLyZvn1arpZv-Jxf_11jnpEX3Tgfvk";
        let c = json!({"c_hash": "LDktKdoQak3Pk0cnXxCltA"});
        assert_eq!(check_hash(&c, "RS256", Hashed::Code, code), Ok(()));
        assert!(matches!(
            check_hash(&c, "ES256", Hashed::Code, "another-code"),
            Err(OidcRefusal::HashMismatch {
                claim: "c_hash",
                ..
            })
        ));
        assert!(matches!(
            check_hash(&c, "RS256", Hashed::AccessToken, code),
            Err(OidcRefusal::HashMissing {
                claim: "at_hash",
                ..
            })
        ));
        // HS256 hashes with SHA-256 too (its size names the hash); none and EdDSA name none.
        assert_eq!(check_hash(&c, "HS256", Hashed::Code, code), Ok(()));
        for alg in ["none", "EdDSA", "XS256"] {
            assert_eq!(
                check_hash(&c, alg, Hashed::Code, code),
                Err(OidcRefusal::HashAlg(alg.into()))
            );
        }
        // OIDC Core A.3: access token "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y", at_hash
        // "77QmUPtjPfzWtF2AnpK9RQ".
        let a = json!({"at_hash": "77QmUPtjPfzWtF2AnpK9RQ"});
        let at = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y";
        assert_eq!(check_hash(&a, "RS256", Hashed::AccessToken, at), Ok(()));
    }

    const NOW: i64 = 1_800_000_000;

    fn claims() -> Value {
        json!({"iss": "http://idp", "aud": "c1", "sub": "u1", "exp": NOW + 60, "iat": NOW, "nonce": "n"})
    }

    fn at() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(NOW).unwrap()
    }

    #[test]
    fn strict_checks_and_their_flaws() {
        let none = Flaws::none();
        assert!(check_id_token(&claims(), "http://idp", "c1", "n", at(), &none).is_ok());
        let mut c = claims();
        c["aud"] = json!("other");
        assert!(matches!(
            check_id_token(&c, "http://idp", "c1", "n", at(), &none),
            Err(OidcRefusal::Audience { .. })
        ));
        assert!(
            check_id_token(
                &c,
                "http://idp",
                "c1",
                "n",
                at(),
                &Flaws::none().with(Flaw::IgnoreIdTokenAud)
            )
            .is_ok()
        );
        let mut c = claims();
        c["nonce"] = json!("x");
        assert!(matches!(
            check_id_token(&c, "http://idp", "c1", "n", at(), &none),
            Err(OidcRefusal::Nonce { .. })
        ));
        assert!(
            check_id_token(
                &c,
                "http://idp",
                "c1",
                "n",
                at(),
                &Flaws::none().with(Flaw::IgnoreNonce)
            )
            .is_ok()
        );
        let mut c = claims();
        c["exp"] = json!(NOW - 3600);
        assert!(matches!(
            check_id_token(&c, "http://idp", "c1", "n", at(), &none),
            Err(OidcRefusal::Expired(_))
        ));
        assert!(
            check_id_token(
                &c,
                "http://idp",
                "c1",
                "n",
                at(),
                &Flaws::none().with(Flaw::IgnoreExp)
            )
            .is_ok()
        );
        let mut c = claims();
        c.as_object_mut().unwrap().remove("iat");
        assert_eq!(
            check_id_token(&c, "http://idp", "c1", "n", at(), &none),
            Err(OidcRefusal::Missing("iat"))
        );
        let mut c = claims();
        c.as_object_mut().unwrap().remove("sub");
        assert_eq!(
            check_id_token(&c, "http://idp", "c1", "n", at(), &none),
            Err(OidcRefusal::Missing("sub"))
        );
        assert!(matches!(
            check_id_token(&claims(), "http://other", "c1", "n", at(), &none),
            Err(OidcRefusal::Issuer { .. })
        ));
    }
}
