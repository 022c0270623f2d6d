//! Client assertions (RFC 7523 §2.2 and §3, OpenID Connect Core §9): the JWT a client signs to
//! authenticate at the token, revocation and introspection endpoints, with `client_secret_jwt`
//! (an HMAC keyed with its client secret) or `private_key_jwt` (its private key; the connection
//! file holds the public keys, as Okta's app holds its "Public keys").
//!
//! Checked as Okta documents it ("Client authentication methods", "Build a JWT for client
//! authentication"): `iss` and `sub` are the client id, `aud` the full URL of the endpoint,
//! `exp` is required and "a maximum of only an hour in the future", and a `jti` (optional) can
//! be used once. Pure: the caller gives the time and keeps the replay store
//! (`crate::idp::state`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openssl::bn::BigNum;
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::pkey::{Id, PKey, Public};
use openssl::sign::{Signer, Verifier};
use serde_json::{Map, Value};

use crate::config::{ClientKey, TokenAuth};

/// RFC 7523 §2.2: the `client_assertion_type` of a JWT client assertion.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Largest assertion read (a JWT with an RSA-4096 signature is under 1.5 KiB).
pub const MAX_ASSERTION_BYTES: usize = 8 * 1024;
/// Okta: `exp` "must be a maximum of only an hour in the future".
pub const MAX_LIFETIME_SECS: i64 = 3600;
/// The most keys a client's JWK set may hold (each is tried for an assertion without `kid`).
pub const MAX_CLIENT_KEYS: usize = 20;

/// The algorithms `client_secret_jwt` accepts (Okta: HS256, HS384, HS512).
pub const HMAC_ALGS: &[&str] = &["HS256", "HS384", "HS512"];
/// A JWS algorithm `private_key_jwt` accepts (RFC 7518 §3.3 RSASSA-PKCS1-v1_5, §3.4 ECDSA).
/// Okta's Management API describes an app's JSON Web Key as one "Okta can use ... to verify
/// the signature of a JWT when provided for the private_key_jwt client authentication method"
/// and types its `alg` as `SigningAlgorithm`: ES256, ES384, ES512, HS256, HS384, HS512, RS256,
/// RS384, RS512 (Okta Admin Management OpenAPI 5.1.0, as generated in okta/okta-sdk-dotnet
/// `src/Okta.Sdk/Model/SigningAlgorithm.cs` and `docs/SchemasJsonWebKey.md`); the asymmetric
/// ones are these (HS* are `client_secret_jwt`'s, [`HMAC_ALGS`]). See also "Client
/// authentication methods",
/// <https://developer.okta.com/docs/api/openapi/okta-oauth/guides/client-auth/>.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::VariantArray)]
pub enum KeyAlg {
    RS256,
    RS384,
    RS512,
    ES256,
    ES384,
    ES512,
}

impl KeyAlg {
    pub const ALL: &'static [Self] = <Self as strum::VariantArray>::VARIANTS;

    pub fn name(self) -> &'static str {
        match self {
            KeyAlg::RS256 => "RS256",
            KeyAlg::RS384 => "RS384",
            KeyAlg::RS512 => "RS512",
            KeyAlg::ES256 => "ES256",
            KeyAlg::ES384 => "ES384",
            KeyAlg::ES512 => "ES512",
        }
    }

    /// The algorithm of a JWS `alg` value (case-sensitive, RFC 7515 §4.1.1).
    pub fn parse(alg: &str) -> Option<KeyAlg> {
        KeyAlg::ALL.iter().copied().find(|a| a.name() == alg)
    }

    fn digest(self) -> MessageDigest {
        match self {
            KeyAlg::RS256 | KeyAlg::ES256 => MessageDigest::sha256(),
            KeyAlg::RS384 | KeyAlg::ES384 => MessageDigest::sha384(),
            KeyAlg::RS512 | KeyAlg::ES512 => MessageDigest::sha512(),
        }
    }

    /// The key an algorithm signs with (RFC 7518 §3.4: each ES alg has its own curve).
    pub fn kind(self) -> KeyKind {
        match self {
            KeyAlg::RS256 | KeyAlg::RS384 | KeyAlg::RS512 => KeyKind::Rsa,
            KeyAlg::ES256 => KeyKind::P256,
            KeyAlg::ES384 => KeyKind::P384,
            KeyAlg::ES512 => KeyKind::P521,
        }
    }
}

/// What a client's key is: RSA, or EC on one of the three curves JWS names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::VariantArray)]
pub enum KeyKind {
    Rsa,
    P256,
    P384,
    P521,
}

impl KeyKind {
    pub const ALL: &'static [Self] = <Self as strum::VariantArray>::VARIANTS;

    /// The bytes of r (and of s) in a JWS ECDSA signature (RFC 7518 §3.4); None for RSA.
    fn ec_half(self) -> Option<usize> {
        match self {
            KeyKind::Rsa => None,
            KeyKind::P256 => Some(32),
            KeyKind::P384 => Some(48),
            KeyKind::P521 => Some(66),
        }
    }

    /// The JWK `crv` of an EC key.
    fn curve(self) -> Option<(&'static str, openssl::nid::Nid)> {
        use openssl::nid::Nid;
        match self {
            KeyKind::Rsa => None,
            KeyKind::P256 => Some(("P-256", Nid::X9_62_PRIME256V1)),
            KeyKind::P384 => Some(("P-384", Nid::SECP384R1)),
            KeyKind::P521 => Some(("P-521", Nid::SECP521R1)),
        }
    }

    /// The algorithm a key of this kind signs with by default (RS256 for RSA).
    pub fn default_alg(self) -> KeyAlg {
        match self {
            KeyKind::Rsa => KeyAlg::RS256,
            KeyKind::P256 => KeyAlg::ES256,
            KeyKind::P384 => KeyAlg::ES384,
            KeyKind::P521 => KeyAlg::ES512,
        }
    }
}

/// Why a client assertion is refused; each becomes Okta's `invalid_client`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssertionError {
    #[error(
        "the request has a client_assertion but no client_assertion_type (RFC 7521 section 4.2)"
    )]
    MissingType,
    #[error("client_assertion_type `{0}` is not `{ASSERTION_TYPE}`")]
    WrongType(String),
    #[error("the request has a client_assertion_type but no client_assertion")]
    MissingAssertion,
    #[error("the client assertion is larger than {MAX_ASSERTION_BYTES} bytes")]
    TooLarge,
    #[error("the client assertion is not a compact JWS (three base64url parts)")]
    Malformed,
    #[error("the client assertion's {0} is not base64url JSON (an object)")]
    BadPart(&'static str),
    #[error("the client assertion has alg `none`: an unsigned assertion proves nothing")]
    AlgNone,
    #[error("alg `{alg}` is not accepted for {method}; use one of {allowed}")]
    Alg {
        alg: String,
        method: &'static str,
        allowed: String,
    },
    #[error("no key with kid `{0}` in the client's JWK set")]
    UnknownKid(String),
    #[error("no key in the client's JWK set fits alg `{0}`")]
    NoKey(String),
    #[error("the signature does not verify with the client's {0}")]
    Signature(&'static str),
    #[error("the claim `{0}` is missing")]
    Missing(&'static str),
    #[error("the claim `{0}` is not {1}")]
    Type(&'static str, &'static str),
    #[error("iss `{iss}` and sub `{sub}` differ: both must be the client id (RFC 7523 section 3)")]
    IssNotSub { iss: String, sub: String },
    #[error("{claim} `{found}` is not the client id `{client_id}`")]
    NotClient {
        claim: &'static str,
        found: String,
        client_id: String,
    },
    #[error("aud {found} does not name {expected} (Okta wants the endpoint's full URL)")]
    Audience { found: String, expected: String },
    #[error("the assertion expired: exp {exp} is not after now ({now})")]
    Expired { exp: i64, now: i64 },
    #[error(
        "exp {exp} is {ahead} seconds ahead of now ({now}): Okta refuses an exp more than {MAX_LIFETIME_SECS} seconds in the future"
    )]
    TooFarAhead { exp: i64, now: i64, ahead: i64 },
    #[error("nbf {nbf} is after now ({now}): the assertion is not valid yet")]
    NotYet { nbf: i64, now: i64 },
    #[error("jti `{0}` was already used: Okta accepts a client assertion's jti once")]
    Replayed(String),
}

/// What the client registered to check its assertions with.
#[derive(Debug, Clone, Copy)]
pub enum Verifying<'a> {
    Secret(&'a str),
    Keys(&'a [ClientKey]),
}

/// An assertion that verified: the replay store must still see its `jti` (with `exp` as how
/// long to remember it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub jti: Option<String>,
    pub exp: i64,
}

fn part(p: &str, what: &'static str) -> Result<Map<String, Value>, AssertionError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(p)
        .map_err(|_| AssertionError::BadPart(what))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(AssertionError::BadPart(what)),
    }
}

/// The claims of an assertion without any check: the client id it names (`sub`, else `iss`),
/// to find the client when the form has no `client_id`.
pub fn named_client(assertion: &str) -> Option<String> {
    if assertion.len() > MAX_ASSERTION_BYTES {
        return None;
    }
    let claims = part(assertion.split('.').nth(1)?, "claims").ok()?;
    ["sub", "iss"]
        .iter()
        .find_map(|c| claims.get(*c)?.as_str().map(str::to_owned))
}

fn digest(alg: &str) -> MessageDigest {
    match alg {
        "HS384" => MessageDigest::sha384(),
        "HS512" => MessageDigest::sha512(),
        _ => MessageDigest::sha256(),
    }
}

/// HMAC of `input` under `secret` with `alg`'s hash (HS256, HS384, HS512).
pub fn hmac(alg: &str, secret: &[u8], input: &[u8]) -> Option<Vec<u8>> {
    let key = PKey::hmac(secret).ok()?;
    let mut s = Signer::new(digest(alg), &key).ok()?;
    s.update(input).ok()?;
    s.sign_to_vec().ok()
}

fn verify_with_key(key: &ClientKey, alg: KeyAlg, input: &[u8], sig: &[u8]) -> bool {
    let der;
    let sig = match key.kind.ec_half() {
        None => sig,
        Some(half) => {
            // JWS carries ECDSA as the raw r || s, each of the curve's size (RFC 7518 §3.4).
            if sig.len() != 2 * half {
                return false;
            }
            let rs = BigNum::from_slice(&sig[..half])
                .and_then(|r| Ok((r, BigNum::from_slice(&sig[half..])?)))
                .and_then(|(r, s)| EcdsaSig::from_private_components(r, s))
                .and_then(|s| s.to_der());
            match rs {
                Ok(d) => der = d,
                Err(_) => return false,
            }
            &der
        }
    };
    Verifier::new(alg.digest(), &key.key)
        .and_then(|mut v| {
            v.update(input)?;
            v.verify(sig)
        })
        .unwrap_or(false)
}

fn int_claim(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<i64>, AssertionError> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
            .map(Some)
            .ok_or(AssertionError::Type(name, "a number (seconds since 1970)")),
    }
}

fn string_claim<'c>(
    claims: &'c Map<String, Value>,
    name: &'static str,
) -> Result<&'c str, AssertionError> {
    match claims.get(name) {
        None => Err(AssertionError::Missing(name)),
        Some(v) => v.as_str().ok_or(AssertionError::Type(name, "a string")),
    }
}

/// Checks a client assertion for `client_id` registered with `method`: its signature with
/// `with`, then its claims at `now` (Unix seconds). `audiences` are the URLs `aud` may name
/// (the endpoint's, and at revocation and introspection the token endpoint's too).
pub fn verify(
    assertion: &str,
    client_id: &str,
    method: TokenAuth,
    with: Verifying<'_>,
    audiences: &[String],
    now: i64,
) -> Result<Verified, AssertionError> {
    if assertion.len() > MAX_ASSERTION_BYTES {
        return Err(AssertionError::TooLarge);
    }
    let parts: Vec<&str> = assertion.split('.').collect();
    let [h, c, s] = parts[..] else {
        return Err(AssertionError::Malformed);
    };
    let header = part(h, "header")?;
    let claims = part(c, "claims")?;
    let sig = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| AssertionError::BadPart("signature"))?;
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    if alg.eq_ignore_ascii_case("none") {
        return Err(AssertionError::AlgNone);
    }
    let input = format!("{h}.{c}");
    match with {
        Verifying::Secret(secret) => {
            if !HMAC_ALGS.contains(&alg) {
                return Err(AssertionError::Alg {
                    alg: alg.to_owned(),
                    method: method.name(),
                    allowed: HMAC_ALGS.join(", "),
                });
            }
            let mac = hmac(alg, secret.as_bytes(), input.as_bytes())
                .ok_or(AssertionError::Signature("client secret"))?;
            if mac.len() != sig.len() || !openssl::memcmp::eq(&mac, &sig) {
                return Err(AssertionError::Signature("client secret"));
            }
        }
        Verifying::Keys(keys) => {
            // Never an HMAC here: keyed with a public key, anyone could forge it.
            let Some(want) = KeyAlg::parse(alg) else {
                return Err(AssertionError::Alg {
                    alg: alg.to_owned(),
                    method: method.name(),
                    allowed: KeyAlg::ALL
                        .iter()
                        .copied()
                        .map(KeyAlg::name)
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            };
            let candidates: Vec<&ClientKey> = match header.get("kid").and_then(Value::as_str) {
                Some(kid) => {
                    let found: Vec<&ClientKey> = keys
                        .iter()
                        .filter(|k| k.kid.as_deref().is_none_or(|x| x == kid))
                        .collect();
                    if found.is_empty() {
                        return Err(AssertionError::UnknownKid(kid.to_owned()));
                    }
                    found
                }
                None => keys.iter().collect(),
            };
            // RFC 8725 §3.1: a key is used with its own algorithms only (an RSA key with RS*,
            // an EC key with the ES alg of its curve; a JWK's `alg` narrows that to one).
            let fitting: Vec<&ClientKey> =
                candidates.into_iter().filter(|k| k.allows(want)).collect();
            if fitting.is_empty() {
                return Err(AssertionError::NoKey(alg.to_owned()));
            }
            if !fitting
                .iter()
                .any(|k| verify_with_key(k, want, input.as_bytes(), &sig))
            {
                return Err(AssertionError::Signature("registered public keys"));
            }
        }
    }
    let iss = string_claim(&claims, "iss")?;
    let sub = string_claim(&claims, "sub")?;
    if iss != sub {
        return Err(AssertionError::IssNotSub {
            iss: iss.to_owned(),
            sub: sub.to_owned(),
        });
    }
    if sub != client_id {
        return Err(AssertionError::NotClient {
            claim: "sub",
            found: sub.to_owned(),
            client_id: client_id.to_owned(),
        });
    }
    // RFC 7519 §4.1.3: one string or an array of them.
    let aud_ok = match claims.get("aud") {
        None => return Err(AssertionError::Missing("aud")),
        Some(Value::String(a)) => audiences.contains(a),
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .any(|a| audiences.iter().any(|x| x == a)),
        Some(_) => return Err(AssertionError::Type("aud", "a string or a list of strings")),
    };
    if !aud_ok {
        return Err(AssertionError::Audience {
            found: claims["aud"].to_string(),
            expected: audiences
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(" or "),
        });
    }
    let exp = int_claim(&claims, "exp")?.ok_or(AssertionError::Missing("exp"))?;
    if exp <= now {
        return Err(AssertionError::Expired { exp, now });
    }
    if exp - now > MAX_LIFETIME_SECS {
        return Err(AssertionError::TooFarAhead {
            exp,
            now,
            ahead: exp - now,
        });
    }
    if let Some(nbf) = int_claim(&claims, "nbf")? {
        if nbf > now {
            return Err(AssertionError::NotYet { nbf, now });
        }
    }
    let jti = match claims.get("jti") {
        None => None,
        Some(Value::String(j)) => Some(j.clone()),
        Some(_) => return Err(AssertionError::Type("jti", "a string")),
    };
    Ok(Verified { jti, exp })
}

/// Why a client's JWK set cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    #[error("the JWK set is not JSON: {0}")]
    NotJson(String),
    #[error("the JWK set has no `keys` list")]
    NoKeys,
    #[error("the JWK set has no keys")]
    Empty,
    #[error("the JWK set has {0} keys; at most {MAX_CLIENT_KEYS}")]
    TooMany(usize),
    #[error("key {index}: {reason}")]
    Key { index: usize, reason: String },
}

fn b64_bn(k: &Map<String, Value>, member: &str) -> Result<BigNum, String> {
    let s = k
        .get(member)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("no `{member}` string"))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|_| format!("`{member}` is not base64url"))?;
    BigNum::from_slice(&bytes).map_err(|e| format!("`{member}`: {e}"))
}

fn one_key(k: &Value) -> Result<ClientKey, String> {
    let k = k.as_object().ok_or("not an object")?;
    let kid = match k.get("kid") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err("`kid` is not a string".into()),
    };
    let (kind, key) = match k.get("kty").and_then(Value::as_str) {
        Some("RSA") => {
            let rsa = openssl::rsa::Rsa::from_public_components(b64_bn(k, "n")?, b64_bn(k, "e")?)
                .map_err(|e| format!("not an RSA public key: {e}"))?;
            if rsa.size() < 256 {
                return Err(format!(
                    "an RSA key of {} bits; at least 2048",
                    rsa.size() * 8
                ));
            }
            let key = PKey::from_rsa(rsa).map_err(|e| e.to_string())?;
            (KeyKind::Rsa, key)
        }
        Some("EC") => {
            let crv = k.get("crv").and_then(Value::as_str).unwrap_or_default();
            // The EC kinds are those with a curve (RSA has none).
            let Some((kind, nid)) = KeyKind::ALL.iter().copied().find_map(|kind| {
                kind.curve()
                    .filter(|(n, _)| *n == crv)
                    .map(|(_, nid)| (kind, nid))
            }) else {
                return Err(format!(
                    "crv `{crv}`: an EC key must be on curve P-256 (ES256), P-384 (ES384) or P-521 (ES512)"
                ));
            };
            let group = openssl::ec::EcGroup::from_curve_name(nid).map_err(|e| e.to_string())?;
            let (x, y) = (b64_bn(k, "x")?, b64_bn(k, "y")?);
            let ec = openssl::ec::EcKey::from_public_key_affine_coordinates(&group, &x, &y)
                .map_err(|_| format!("`x`, `y` are not a point on {crv}"))?;
            (kind, PKey::from_ec_key(ec).map_err(|e| e.to_string())?)
        }
        Some(other) => return Err(format!("kty `{other}`: expected RSA or EC")),
        None => return Err("no `kty`".into()),
    };
    let alg = match k.get("alg") {
        None => None,
        Some(a) => match a.as_str().and_then(KeyAlg::parse) {
            Some(alg) if alg.kind() == kind => Some(alg),
            _ => {
                let signs: Vec<&str> = KeyAlg::ALL
                    .iter()
                    .copied()
                    .filter(|x| x.kind() == kind)
                    .map(KeyAlg::name)
                    .collect();
                return Err(format!(
                    "alg {a} does not fit the key: {} key signs {}",
                    match kind.curve() {
                        None => "an RSA".to_owned(),
                        Some((crv, _)) => format!("a {crv}"),
                    },
                    signs.join(", ")
                ));
            }
        },
    };
    if let Some(u) = k.get("use") {
        if u.as_str() != Some("sig") {
            return Err(format!("use {u}: a client assertion key is for `sig`"));
        }
    }
    Ok(ClientKey {
        kid,
        kind,
        alg,
        key,
    })
}

/// A client's public keys from a JWK set (`{"keys": [...]}`): RSA (RS256, RS384, RS512; at
/// least 2048 bits) and EC keys on P-256 (ES256), P-384 (ES384) or P-521 (ES512); any other key
/// is an error, so that a typo is not silently skipped.
pub fn parse_jwks(set: &Value) -> Result<Vec<ClientKey>, JwksError> {
    let keys = set
        .get("keys")
        .and_then(Value::as_array)
        .ok_or(JwksError::NoKeys)?;
    if keys.is_empty() {
        return Err(JwksError::Empty);
    }
    if keys.len() > MAX_CLIENT_KEYS {
        return Err(JwksError::TooMany(keys.len()));
    }
    keys.iter()
        .enumerate()
        .map(|(index, k)| one_key(k).map_err(|reason| JwksError::Key { index, reason }))
        .collect()
}

/// Whether `key` is (the public half of) one of `keys`.
pub fn holds<T: openssl::pkey::HasPublic>(keys: &[ClientKey], key: &PKey<T>) -> bool {
    let Ok(der) = key.public_key_to_der() else {
        return false;
    };
    keys.iter()
        .any(|k| k.key.public_key_to_der().is_ok_and(|d| d == der))
}

/// What a key is (RSA, or EC on P-256, P-384, P-521); None for any other key.
pub fn kind_of<T: openssl::pkey::HasPublic>(key: &PKey<T>) -> Option<KeyKind> {
    match key.id() {
        Id::RSA => Some(KeyKind::Rsa),
        Id::EC => {
            let nid = key.ec_key().ok()?.group().curve_name()?;
            // The EC kinds are those with a curve (RSA has none).
            KeyKind::ALL
                .iter()
                .copied()
                .find(|k| k.curve().is_some_and(|(_, n)| n == nid))
        }
        _ => None,
    }
}

/// The JWS algorithm a private key signs with by default (RS256 for RSA, the ES alg of its
/// curve for EC).
pub fn alg_of<T: openssl::pkey::HasPublic>(key: &PKey<T>) -> Option<KeyAlg> {
    kind_of(key).map(KeyKind::default_alg)
}

/// Signs a JWS signing input with `alg` (which must fit the key): PKCS#1 v1.5 for RS*, the raw
/// r || s for ES* (RFC 7518 §3.4).
pub fn sign(
    alg: KeyAlg,
    key: &PKey<openssl::pkey::Private>,
    input: &[u8],
) -> Result<Vec<u8>, openssl::error::ErrorStack> {
    let mut signer = Signer::new(alg.digest(), key)?;
    signer.update(input)?;
    let der = signer.sign_to_vec()?;
    match alg.kind().ec_half() {
        None => Ok(der),
        Some(half) => {
            let sig = EcdsaSig::from_der(&der)?;
            let fixed = |n: &openssl::bn::BigNumRef| {
                let b = n.to_vec();
                let mut out = vec![0u8; half.saturating_sub(b.len())];
                out.extend(b);
                out
            };
            let mut raw = fixed(sig.r());
            raw.extend(fixed(sig.s()));
            Ok(raw)
        }
    }
}

/// A public key from its PEM (for tests and the reference SP).
pub fn public_from_pem(pem: &[u8]) -> Option<PKey<Public>> {
    PKey::public_key_from_pem(pem).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oidc::jwt;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::nid::Nid;
    use openssl::pkey::Private;
    use openssl::rsa::Rsa;
    use serde_json::json;

    const CLIENT: &str = "0oa1client";
    const AUD: &str = "http://127.0.0.1:7000/oauth2/v1/token";
    const NOW: i64 = 1_800_000_000;
    const SECRET: &str = "a-client-secret-of-some-length-000000";

    fn rsa() -> PKey<Private> {
        PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap()
    }

    fn ec() -> PKey<Private> {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
    }

    fn registered(key: &PKey<Private>, kid: &str) -> ClientKey {
        let jwk = serde_json::to_value(crate::oidc::jwks::jwk(key).unwrap()).unwrap();
        let mut k = one_key(&jwk).unwrap();
        k.kid = Some(kid.to_owned());
        k
    }

    fn claims() -> Value {
        json!({"iss": CLIENT, "sub": CLIENT, "aud": AUD, "exp": NOW + 300, "iat": NOW,
               "jti": "j1"})
    }

    fn signed(key: &PKey<Private>, kid: &str, claims: &Value) -> String {
        signed_with(alg_of(key).unwrap(), key, kid, claims)
    }

    fn signed_with(alg: KeyAlg, key: &PKey<Private>, kid: &str, claims: &Value) -> String {
        let input = jwt::signing_input(
            &jwt::Header {
                alg: alg.name(),
                kid: Some(kid),
                typ: None,
            },
            claims,
        )
        .unwrap();
        let sig = sign(alg, key, input.as_bytes()).unwrap();
        format!("{input}.{}", jwt::b64(&sig))
    }

    fn ec_on(nid: Nid) -> PKey<Private> {
        PKey::from_ec_key(EcKey::generate(&EcGroup::from_curve_name(nid).unwrap()).unwrap())
            .unwrap()
    }

    /// A JWK of an EC public key on any curve (x, y of the curve's size).
    fn ec_jwk(key: &PKey<Private>, crv: &str, size: usize) -> Value {
        let ec = key.ec_key().unwrap();
        let mut ctx = openssl::bn::BigNumContext::new().unwrap();
        let (mut x, mut y) = (BigNum::new().unwrap(), BigNum::new().unwrap());
        ec.public_key()
            .affine_coordinates(ec.group(), &mut x, &mut y, &mut ctx)
            .unwrap();
        let pad = |n: &BigNum| jwt::b64(&n.to_vec_padded(size as i32).unwrap());
        json!({"kty": "EC", "crv": crv, "x": pad(&x), "y": pad(&y)})
    }

    /// Issue 19: every algorithm Okta takes for private_key_jwt verifies with a key of its
    /// kind; an algorithm the key does not sign is refused, and so is one its JWK's `alg`
    /// excludes.
    #[test]
    fn each_okta_key_alg_verifies_and_an_alg_outside_the_key_is_refused() {
        let r = rsa();
        let (p256, p384, p521) = (
            ec_on(Nid::X9_62_PRIME256V1),
            ec_on(Nid::SECP384R1),
            ec_on(Nid::SECP521R1),
        );
        let mut rsa_jwk = serde_json::to_value(crate::oidc::jwks::jwk(&r).unwrap()).unwrap();
        rsa_jwk.as_object_mut().unwrap().remove("alg");
        rsa_jwk["kid"] = json!("r");
        let mut set = vec![rsa_jwk];
        for (key, crv, size, kid) in [
            (&p256, "P-256", 32, "p256"),
            (&p384, "P-384", 48, "p384"),
            (&p521, "P-521", 66, "p521"),
        ] {
            let mut j = ec_jwk(key, crv, size);
            j["kid"] = json!(kid);
            set.push(j);
        }
        let keys = parse_jwks(&json!({ "keys": set })).unwrap();
        for (alg, key, kid) in [
            (KeyAlg::RS256, &r, "r"),
            (KeyAlg::RS384, &r, "r"),
            (KeyAlg::RS512, &r, "r"),
            (KeyAlg::ES256, &p256, "p256"),
            (KeyAlg::ES384, &p384, "p384"),
            (KeyAlg::ES512, &p521, "p521"),
        ] {
            let a = signed_with(alg, key, kid, &claims());
            assert!(check_keys(&keys, &a).is_ok(), "{}", alg.name());
            assert_eq!(alg_of(key).map(KeyAlg::kind), Some(alg.kind()));
        }
        // ES384 with the P-256 key's kid: that key signs ES256 only.
        let a = signed_with(KeyAlg::ES384, &p384, "p256", &claims());
        assert_eq!(
            check_keys(&keys, &a),
            Err(AssertionError::NoKey("ES384".into()))
        );
        // ES512 with an RSA-only set: no key fits.
        let only_rsa = parse_jwks(&json!({ "keys": [set[0].clone()] })).unwrap();
        let a = signed_with(KeyAlg::ES512, &p521, "r", &claims());
        assert_eq!(
            check_keys(&only_rsa, &a),
            Err(AssertionError::NoKey("ES512".into()))
        );
        // A JWK naming RS256 takes no RS512 from the same key.
        let mut pinned = set[0].clone();
        pinned["alg"] = json!("RS256");
        let pinned = parse_jwks(&json!({ "keys": [pinned] })).unwrap();
        let a = signed_with(KeyAlg::RS512, &r, "r", &claims());
        assert_eq!(
            check_keys(&pinned, &a),
            Err(AssertionError::NoKey("RS512".into()))
        );
        assert!(check_keys(&pinned, &signed_with(KeyAlg::RS256, &r, "r", &claims())).is_ok());
        // A JWK's alg must fit its key; a curve JWS does not name is refused.
        let mut wrong = set[2].clone();
        wrong["alg"] = json!("ES256");
        let e = parse_jwks(&json!({ "keys": [wrong] })).unwrap_err();
        assert!(e.to_string().contains("a P-384 key signs ES384"), "{e}");
        let mut k1 = set[1].clone();
        k1["crv"] = json!("secp256k1");
        let e = parse_jwks(&json!({ "keys": [k1] })).unwrap_err();
        assert!(e.to_string().contains("crv `secp256k1`"), "{e}");
        // PS256 is not among Okta's: refused by name.
        let mut a = signed_with(KeyAlg::RS256, &r, "r", &claims());
        a = a.replacen(
            &jwt::b64(br#"{"alg":"RS256","kid":"r"}"#),
            &jwt::b64(br#"{"alg":"PS256","kid":"r"}"#),
            1,
        );
        assert!(matches!(
            check_keys(&keys, &a),
            Err(AssertionError::Alg { .. })
        ));
    }

    fn hs(alg: &str, secret: &str, claims: &Value) -> String {
        let input = jwt::signing_input(
            &jwt::Header {
                alg,
                kid: None,
                typ: None,
            },
            claims,
        )
        .unwrap();
        let mac = hmac(alg, secret.as_bytes(), input.as_bytes()).unwrap();
        format!("{input}.{}", jwt::b64(&mac))
    }

    fn check_keys(keys: &[ClientKey], a: &str) -> Result<Verified, AssertionError> {
        verify(
            a,
            CLIENT,
            TokenAuth::PrivateKeyJwt,
            Verifying::Keys(keys),
            &[AUD.to_owned()],
            NOW,
        )
    }

    fn check_secret(a: &str) -> Result<Verified, AssertionError> {
        verify(
            a,
            CLIENT,
            TokenAuth::ClientSecretJwt,
            Verifying::Secret(SECRET),
            &[AUD.to_owned()],
            NOW,
        )
    }

    #[test]
    fn honest_assertions_verify_with_each_method_and_alg() {
        let (r, e) = (rsa(), ec());
        let keys = [registered(&r, "r"), registered(&e, "e")];
        let ok = check_keys(&keys, &signed(&r, "r", &claims())).unwrap();
        assert_eq!(
            ok,
            Verified {
                jti: Some("j1".into()),
                exp: NOW + 300
            }
        );
        check_keys(&keys, &signed(&e, "e", &claims())).unwrap();
        for alg in HMAC_ALGS {
            check_secret(&hs(alg, SECRET, &claims())).unwrap();
        }
        // aud as a list holding the URL (RFC 7519 §4.1.3).
        let mut c = claims();
        c["aud"] = json!(["https://other.example", AUD]);
        check_secret(&hs("HS256", SECRET, &c)).unwrap();
    }

    /// Every refusal names what was wrong.
    #[test]
    fn each_fault_is_refused_with_its_reason() {
        let r = rsa();
        let keys = [registered(&r, "r")];
        let with = |f: &dyn Fn(&mut Value)| {
            let mut c = claims();
            f(&mut c);
            check_keys(&keys, &signed(&r, "r", &c))
        };
        assert!(matches!(
            with(&|c| c["aud"] = json!("http://127.0.0.1:7000/oauth2/v1/introspect")),
            Err(AssertionError::Audience { .. })
        ));
        assert!(matches!(
            with(&|c| c["aud"] = json!("http://127.0.0.1:7000")),
            Err(AssertionError::Audience { .. })
        ));
        assert_eq!(
            with(&|c| c["exp"] = json!(NOW - 1)),
            Err(AssertionError::Expired {
                exp: NOW - 1,
                now: NOW
            })
        );
        assert_eq!(
            with(&|c| c["exp"] = json!(NOW)),
            Err(AssertionError::Expired { exp: NOW, now: NOW })
        );
        assert!(matches!(
            with(&|c| c["exp"] = json!(NOW + 3601)),
            Err(AssertionError::TooFarAhead { ahead: 3601, .. })
        ));
        assert!(with(&|c| c["exp"] = json!(NOW + 3600)).is_ok());
        assert_eq!(
            with(&|c| {
                c.as_object_mut().unwrap().remove("exp");
            }),
            Err(AssertionError::Missing("exp"))
        );
        assert!(matches!(
            with(&|c| c["exp"] = json!("soon")),
            Err(AssertionError::Type("exp", _))
        ));
        assert!(matches!(
            with(&|c| c["iss"] = json!("0oa1other")),
            Err(AssertionError::IssNotSub { .. })
        ));
        assert!(matches!(
            with(&|c| {
                c["iss"] = json!("0oa1other");
                c["sub"] = json!("0oa1other");
            }),
            Err(AssertionError::NotClient { .. })
        ));
        assert!(matches!(
            with(&|c| c["nbf"] = json!(NOW + 60)),
            Err(AssertionError::NotYet { .. })
        ));
        assert_eq!(
            with(&|c| {
                c.as_object_mut().unwrap().remove("sub");
            }),
            Err(AssertionError::Missing("sub"))
        );
    }

    #[test]
    fn a_wrong_key_an_unknown_kid_and_a_wrong_secret_are_refused() {
        let (r, other) = (rsa(), rsa());
        let keys = [registered(&r, "r")];
        assert_eq!(
            check_keys(&keys, &signed(&other, "r", &claims())),
            Err(AssertionError::Signature("registered public keys"))
        );
        assert_eq!(
            check_keys(&keys, &signed(&r, "nope", &claims())),
            Err(AssertionError::UnknownKid("nope".into()))
        );
        // An ES256 assertion with only an RSA key registered.
        assert_eq!(
            check_keys(&keys, &signed(&ec(), "r", &claims())),
            Err(AssertionError::NoKey("ES256".into()))
        );
        assert_eq!(
            check_secret(&hs("HS256", "not-the-secret", &claims())),
            Err(AssertionError::Signature("client secret"))
        );
    }

    #[test]
    fn alg_none_and_hmac_with_private_key_jwt_are_refused() {
        let r = rsa();
        let keys = [registered(&r, "r")];
        let unsigned = format!(
            "{}.{}.",
            jwt::b64(br#"{"alg":"none"}"#),
            jwt::b64(claims().to_string().as_bytes())
        );
        assert_eq!(check_keys(&keys, &unsigned), Err(AssertionError::AlgNone));
        assert_eq!(check_secret(&unsigned), Err(AssertionError::AlgNone));
        let upper = unsigned.replacen(
            &jwt::b64(br#"{"alg":"none"}"#),
            &jwt::b64(br#"{"alg":"NONE"}"#),
            1,
        );
        assert_eq!(check_keys(&keys, &upper), Err(AssertionError::AlgNone));
        // HS256 keyed with the public key's text: the key-confusion forgery.
        let pem = String::from_utf8(r.public_key_to_pem().unwrap()).unwrap();
        let forged = hs("HS256", &pem, &claims());
        assert!(matches!(
            check_keys(&keys, &forged),
            Err(AssertionError::Alg {
                method: "private_key_jwt",
                ..
            })
        ));
        // And an RS256 assertion for a client_secret_jwt client.
        assert!(matches!(
            check_secret(&signed(&r, "r", &claims())),
            Err(AssertionError::Alg {
                method: "client_secret_jwt",
                ..
            })
        ));
    }

    #[test]
    fn malformed_assertions_are_refused_without_panicking() {
        let keys = [registered(&rsa(), "r")];
        for bad in [
            "",
            "a",
            "a.b",
            "a.b.c.d",
            "!!.!!.!!",
            "e30.e30.",
            "W10.e30.AA",
        ] {
            assert!(check_keys(&keys, bad).is_err(), "{bad}");
        }
        assert_eq!(
            check_keys(&keys, &"a".repeat(MAX_ASSERTION_BYTES + 1)),
            Err(AssertionError::TooLarge)
        );
    }

    #[test]
    fn named_client_reads_sub_then_iss() {
        let a = hs("HS256", SECRET, &claims());
        assert_eq!(named_client(&a).as_deref(), Some(CLIENT));
        assert_eq!(named_client("x.y.z"), None);
    }

    #[test]
    fn jwk_sets_are_checked_key_by_key() {
        assert_eq!(parse_jwks(&json!({})).unwrap_err(), JwksError::NoKeys);
        assert_eq!(
            parse_jwks(&json!({"keys": []})).unwrap_err(),
            JwksError::Empty
        );
        let e = parse_jwks(&json!({"keys": [{"kty": "oct", "k": "AAAA"}]})).unwrap_err();
        assert!(e.to_string().contains("kty `oct`"), "{e}");
        let small = PKey::from_rsa(Rsa::generate(1024).unwrap()).unwrap();
        let jwk = serde_json::to_value(crate::oidc::jwks::jwk(&small).unwrap()).unwrap();
        let e = parse_jwks(&json!({ "keys": [jwk] })).unwrap_err();
        assert!(e.to_string().contains("1024 bits"), "{e}");
        let key = rsa();
        let mut jwk = serde_json::to_value(crate::oidc::jwks::jwk(&key).unwrap()).unwrap();
        let keys = parse_jwks(&json!({ "keys": [jwk.clone()] })).unwrap();
        assert!(holds(&keys, &key));
        assert!(!holds(&keys, &rsa()));
        jwk["alg"] = json!("ES256");
        assert!(parse_jwks(&json!({ "keys": [jwk] })).is_err());
    }
}
