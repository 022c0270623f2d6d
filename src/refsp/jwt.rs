//! The reference SP's JWT verification (id_tokens, logout tokens, revocation requests): its own
//! code, sharing nothing with the IdP's signer (the HS256 flaws write the public key in the
//! same texts as the O8 faults, `oidc::faults::KeyText`). RS256 and ES256 against a JWK Set;
//! the alg-none and HMAC flaws bend exactly what their names say.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openssl::bn::BigNum;
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Public};
use openssl::sign::Verifier;
use serde_json::Value;

use super::flaws::{Flaw, Flaws};
use crate::oidc::faults::KeyText;

/// Largest token accepted.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtRefusal {
    #[error("the token is larger than {MAX_TOKEN_BYTES} bytes")]
    TooLarge,
    #[error("the token is not a compact JWS (three base64url parts)")]
    Malformed,
    #[error("the token's {0} is not base64url JSON")]
    BadPart(&'static str),
    #[error("alg `{0}` is not accepted")]
    Alg(String),
    #[error("no key with kid `{0}` in the IdP's JWKS")]
    UnknownKid(String),
    #[error("the token has no kid (this SP requires one)")]
    KidRequired,
    #[error("no key in the IdP's JWKS fits alg `{0}`")]
    NoKey(String),
    #[error("the signature does not verify")]
    Signature,
}

/// A public key from a JWK Set.
#[derive(Debug, Clone)]
pub struct Key {
    pub kid: Option<String>,
    pub kty: String,
    pub key: PKey<Public>,
}

/// Parses a JWK Set; keys of other types or curves are skipped.
pub fn parse_jwks(json: &[u8]) -> Result<Vec<Key>, String> {
    let v: Value =
        serde_json::from_slice(json).map_err(|e| format!("the JWKS is not JSON: {e}"))?;
    let keys = v["keys"].as_array().ok_or("the JWKS has no `keys` list")?;
    let b = |s: &Value| -> Option<BigNum> {
        BigNum::from_slice(&URL_SAFE_NO_PAD.decode(s.as_str()?).ok()?).ok()
    };
    let mut out = Vec::new();
    for k in keys {
        let kid = k["kid"].as_str().map(str::to_owned);
        let key = match k["kty"].as_str() {
            Some("RSA") => (|| {
                let rsa =
                    openssl::rsa::Rsa::from_public_components(b(&k["n"])?, b(&k["e"])?).ok()?;
                PKey::from_rsa(rsa).ok()
            })(),
            Some("EC") if k["crv"] == "P-256" => (|| {
                let group =
                    openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1)
                        .ok()?;
                let (x, y) = (b(&k["x"])?, b(&k["y"])?);
                let ec =
                    openssl::ec::EcKey::from_public_key_affine_coordinates(&group, &x, &y).ok()?;
                PKey::from_ec_key(ec).ok()
            })(),
            _ => None,
        };
        if let Some(key) = key {
            out.push(Key {
                kid,
                kty: k["kty"].as_str().unwrap_or_default().to_owned(),
                key,
            });
        }
    }
    Ok(out)
}

fn part(p: &str, what: &'static str) -> Result<Value, JwtRefusal> {
    let bytes = URL_SAFE_NO_PAD
        .decode(p.trim_end_matches('='))
        .map_err(|_| JwtRefusal::BadPart(what))?;
    serde_json::from_slice(&bytes).map_err(|_| JwtRefusal::BadPart(what))
}

/// Header and claims of a token without any check (for messages and transcripts).
pub fn peek(token: &str) -> Option<(Value, Value)> {
    let mut it = token.split('.');
    let h = part(it.next()?, "header").ok()?;
    let c = part(it.next()?, "claims").ok()?;
    Some((h, c))
}

/// The key texts the HS256 flaws take as an HMAC secret (`hs256-key-confusion`: SPKI PEM,
/// then PKCS#1 PEM, OpenSSH line, JWK JSON text).
fn hmac_texts(flaws: &Flaws) -> impl Iterator<Item = KeyText> + '_ {
    [
        (Flaw::Hs256KeyConfusion, KeyText::SpkiPem),
        (Flaw::HmacWithPkcs1Pem, KeyText::Pkcs1Pem),
        (Flaw::HmacWithOpensshKey, KeyText::OpenSsh),
        (Flaw::HmacWithJwkJson, KeyText::JwkJson),
    ]
    .into_iter()
    .filter(|(f, _)| flaws.on(*f))
    .map(|(_, t)| t)
}

/// Verifies the signature of a compact JWS with the keys; returns (header, claims).
/// `allowed` lists the algorithms accepted (e.g. RS256, ES256).
pub fn verify(
    token: &str,
    keys: &[Key],
    allowed: &[&str],
    flaws: &Flaws,
) -> Result<(Value, Value), JwtRefusal> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(JwtRefusal::TooLarge);
    }
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(JwtRefusal::Malformed);
    }
    let header = part(parts[0], "header")?;
    let claims = part(parts[1], "claims")?;
    let alg = header["alg"].as_str().unwrap_or("").to_owned();
    let input = format!("{}.{}", parts[0], parts[1]);
    let sig = URL_SAFE_NO_PAD
        .decode(parts[2].trim_end_matches('='))
        .map_err(|_| JwtRefusal::BadPart("signature"))?;
    let kid = header["kid"].as_str();
    let kid_unknown = kid.is_some_and(|kid| !keys.iter().any(|k| k.kid.as_deref() == Some(kid)));
    match alg.as_str() {
        "none" if flaws.on(Flaw::AcceptAlgNone) => return Ok((header, claims)),
        // The defects of `none-for-unknown-kid` and `none-without-kid`: no key found, so the
        // token is verified with "no key", under which alg none passes.
        "none" if flaws.on(Flaw::NoneForUnknownKid) && kid_unknown => {
            return Ok((header, claims));
        }
        "none" if flaws.on(Flaw::NoneWithoutKid) && kid.is_none() => {
            return Ok((header, claims));
        }
        // The defect of `alg-none-any-case`: "none" is blocked as written, other spellings are
        // read as none.
        a if a != "none" && a.eq_ignore_ascii_case("none") && flaws.on(Flaw::AlgNoneAnyCase) => {
            return Ok((header, claims));
        }
        "HS256" if hmac_texts(flaws).next().is_some() => {
            // The defect: the IdP's public key, in some text, used as an HMAC secret.
            for text in hmac_texts(flaws) {
                for k in keys {
                    let Some(secret) = text.encode(&k.key) else {
                        continue;
                    };
                    let ok = crate::oidc::faults::hmac_sha256(&secret, input.as_bytes())
                        .map(|mac| mac.len() == sig.len() && openssl::memcmp::eq(&mac, &sig))
                        .unwrap_or(false);
                    if ok {
                        return Ok((header, claims));
                    }
                }
            }
            return Err(JwtRefusal::Signature);
        }
        a if !allowed.contains(&a) => return Err(JwtRefusal::Alg(alg)),
        _ => {}
    }
    let kty = if alg == "ES256" { "EC" } else { "RSA" };
    let candidates: Vec<&Key> = match header["kid"].as_str() {
        // The defect of `ignore-kid`: every key is tried, whatever the kid says.
        Some(_) if flaws.on(Flaw::IgnoreKid) => keys.iter().filter(|k| k.kty == kty).collect(),
        // Keys without a kid (from a SAML certificate) are tried for any kid.
        Some(kid) => {
            let found: Vec<&Key> = keys
                .iter()
                .filter(|k| k.kid.as_deref().is_none_or(|x| x == kid))
                .collect();
            if found.is_empty() {
                return Err(JwtRefusal::UnknownKid(kid.to_owned()));
            }
            found
        }
        // No kid: try every key of the right type.
        None => keys.iter().filter(|k| k.kty == kty).collect(),
    };
    if candidates.is_empty() {
        return Err(JwtRefusal::NoKey(alg));
    }
    for k in candidates.into_iter().filter(|k| k.kty == kty) {
        let ok = if alg == "ES256" {
            if sig.len() != 64 {
                false
            } else {
                (|| {
                    let r = BigNum::from_slice(&sig[..32]).ok()?;
                    let s = BigNum::from_slice(&sig[32..]).ok()?;
                    let der = EcdsaSig::from_private_components(r, s)
                        .ok()?
                        .to_der()
                        .ok()?;
                    let mut v = Verifier::new(MessageDigest::sha256(), &k.key).ok()?;
                    v.update(input.as_bytes()).ok()?;
                    v.verify(&der).ok()
                })()
                .unwrap_or(false)
            }
        } else {
            Verifier::new(MessageDigest::sha256(), &k.key)
                .and_then(|mut v| {
                    v.update(input.as_bytes())?;
                    v.verify(&sig)
                })
                .unwrap_or(false)
        };
        if ok {
            return Ok((header, claims));
        }
    }
    if flaws.on(Flaw::AcceptBadSignature) {
        // The defect: a verification failure is logged and ignored.
        return Ok((header, claims));
    }
    Err(JwtRefusal::Signature)
}
