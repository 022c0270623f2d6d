//! The OIDC login faults (CONFORMANCE.md O1-O12), as data, applied to the honest id_token (and,
//! for O12, to the userinfo answer): the only place OIDC login faults are made.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openssl::pkey::{HasPublic, PKeyRef, Private};
use serde_json::{Value, json};

use super::jwt::{self, Alg, b64};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    WrongIss,
    WrongAud,
    MissingAud,
    MissingSub,
    MissingIat,
    WrongNonce,
    CorruptSignature,
    AlgNone,
    Hs256KeyConfusion,
    UnknownKid,
    Expired,
    UserinfoSubDiffers,
    /// No `kid` while the JWKS holds several keys (the RP may refuse or try them all).
    NoKid,
    /// Signed with a new key that appears in the JWKS just before the login: the RP must fetch
    /// the JWKS again and accept.
    KeyRotation,
}

impl Fault {
    pub const ALL: &'static [Fault] = &[
        Fault::WrongIss,
        Fault::WrongAud,
        Fault::MissingAud,
        Fault::MissingSub,
        Fault::MissingIat,
        Fault::WrongNonce,
        Fault::CorruptSignature,
        Fault::AlgNone,
        Fault::Hs256KeyConfusion,
        Fault::UnknownKid,
        Fault::Expired,
        Fault::UserinfoSubDiffers,
        Fault::NoKid,
        Fault::KeyRotation,
    ];

    pub fn case(self) -> &'static str {
        match self {
            Fault::WrongIss => "O1",
            Fault::WrongAud | Fault::MissingAud => "O2",
            Fault::MissingSub => "O3",
            Fault::MissingIat => "O4",
            Fault::WrongNonce => "O5",
            Fault::CorruptSignature => "O6",
            Fault::AlgNone => "O7",
            Fault::Hs256KeyConfusion => "O8",
            Fault::UnknownKid => "O9",
            Fault::Expired => "O11",
            Fault::UserinfoSubDiffers => "O12",
            Fault::NoKid => "O10",
            Fault::KeyRotation => "O14",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Fault::WrongIss => "iss_of_another_idp",
            Fault::WrongAud => "aud_of_another_client",
            Fault::MissingAud => "aud_missing",
            Fault::MissingSub => "sub_missing",
            Fault::MissingIat => "iat_missing",
            Fault::WrongNonce => "nonce_not_the_one_sent",
            Fault::CorruptSignature => "signature_corrupted",
            Fault::AlgNone => "alg_none",
            Fault::Hs256KeyConfusion => "hs256_with_the_public_key_as_secret",
            Fault::UnknownKid => "unknown_kid",
            Fault::Expired => "expired",
            Fault::UserinfoSubDiffers => "userinfo_sub_differs",
            Fault::NoKid => "no_kid_with_several_keys",
            Fault::KeyRotation => "signed_with_a_newly_published_key",
        }
    }
}

/// Applies `fault` to the honest claims and signs (or mis-signs) the result. Returns the token
/// and what was altered.
pub fn forge_id_token<K: HasPublic>(
    fault: Fault,
    mut claims: serde_json::Map<String, Value>,
    alg: Alg,
    kid: &str,
    key: &openssl::pkey::PKey<Private>,
    rsa_public: &PKeyRef<K>,
    rotation: Option<(&str, &openssl::pkey::PKey<Private>)>,
) -> Result<(String, String), jwt::JwtError> {
    let sign = |c: &serde_json::Map<String, Value>, kid: &str| jwt::sign(alg, kid, None, key, c);
    Ok(match fault {
        Fault::WrongIss => {
            claims.insert("iss".into(), json!("https://another-idp.invalid"));
            (
                sign(&claims, kid)?,
                "iss set to https://another-idp.invalid".into(),
            )
        }
        Fault::WrongAud => {
            claims.insert("aud".into(), json!("another-client"));
            (sign(&claims, kid)?, "aud set to another-client".into())
        }
        Fault::MissingAud => {
            claims.remove("aud");
            (sign(&claims, kid)?, "aud removed".into())
        }
        Fault::MissingSub => {
            claims.remove("sub");
            (sign(&claims, kid)?, "sub removed".into())
        }
        Fault::MissingIat => {
            claims.remove("iat");
            (sign(&claims, kid)?, "iat removed".into())
        }
        Fault::WrongNonce => {
            claims.insert("nonce".into(), json!("a-nonce-the-rp-never-sent"));
            (
                sign(&claims, kid)?,
                "nonce set to a-nonce-the-rp-never-sent".into(),
            )
        }
        Fault::CorruptSignature => {
            let t = sign(&claims, kid)?;
            let (input, sig) = t.rsplit_once('.').unwrap_or((&t, ""));
            let mut raw = URL_SAFE_NO_PAD.decode(sig).unwrap_or_default();
            if let Some(b) = raw.first_mut() {
                *b ^= 0x01;
            }
            (
                format!("{input}.{}", b64(&raw)),
                "one bit of the signature flipped".into(),
            )
        }
        Fault::AlgNone => {
            let h = jwt::Header {
                alg: "none",
                kid: Some(kid),
                typ: None,
            };
            (
                format!("{}.", jwt::signing_input(&h, &claims)?),
                "alg none, no signature".into(),
            )
        }
        Fault::Hs256KeyConfusion => {
            let h = jwt::Header {
                alg: "HS256",
                kid: Some(kid),
                typ: None,
            };
            let input = jwt::signing_input(&h, &claims)?;
            let pem = rsa_public
                .public_key_to_pem()
                .map_err(|e| jwt::JwtError::Sign {
                    alg: "HS256",
                    source: e,
                })?;
            let mac = openssl::pkey::PKey::hmac(&pem)
                .and_then(|k| {
                    let mut s =
                        openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &k)?;
                    s.update(input.as_bytes())?;
                    s.sign_to_vec()
                })
                .map_err(|e| jwt::JwtError::Sign {
                    alg: "HS256",
                    source: e,
                })?;
            (
                format!("{input}.{}", b64(&mac)),
                "HS256, HMAC keyed with the IdP's RSA public key (PEM)".into(),
            )
        }
        Fault::UnknownKid => (
            sign(&claims, "kid-not-in-the-jwks")?,
            "kid set to kid-not-in-the-jwks".into(),
        ),
        Fault::Expired => {
            let iat = claims.get("iat").and_then(Value::as_i64).unwrap_or(0);
            claims.insert("iat".into(), json!(iat - 7200));
            claims.insert("exp".into(), json!(iat - 3600));
            (sign(&claims, kid)?, "exp set to an hour ago".into())
        }
        Fault::NoKid => {
            let h = jwt::Header {
                alg: alg.name(),
                kid: None,
                typ: None,
            };
            let input = jwt::signing_input(&h, &claims)?;
            let sig = jwt::sign_input(alg, key, &input)?;
            (
                format!("{input}.{}", b64(&sig)),
                "no kid in the header (the JWKS has several keys)".into(),
            )
        }
        Fault::KeyRotation => {
            let (new_kid, new_key) = rotation.ok_or_else(|| jwt::JwtError::Sign {
                alg: "RS256",
                source: openssl::error::ErrorStack::get(),
            })?;
            (
                jwt::sign(Alg::RS256, new_kid, None, new_key, &claims)?,
                format!("signed with a new key, kid {new_kid}, published in the JWKS just before"),
            )
        }
        Fault::UserinfoSubDiffers => {
            // The id_token leaves out the profile claims so that the RP asks userinfo, whose
            // `sub` is then another user's.
            for k in [
                "email",
                "email_verified",
                "name",
                "preferred_username",
                "groups",
            ] {
                claims.remove(k);
            }
            (
                sign(&claims, kid)?,
                "profile claims left to userinfo, whose sub differs".into(),
            )
        }
    })
}
