//! Compact JWS (JWT) signing with keys that are parsed once: one RS256 token costs one RSA
//! signature (re-parsing the key from DER for every token, as jsonwebtoken does, made RS256
//! signing 2.6x slower than raw RSA).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openssl::bn::BigNum;
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer;
use serde::Serialize;

/// The JWS algorithms fakta signs with.
pub use crate::config::SigningAlg as Alg;

impl Alg {
    pub fn name(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::ES256 => "ES256",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("cannot serialize the JWT: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the signing key cannot sign {alg}: {source}")]
    Sign {
        alg: &'static str,
        source: openssl::error::ErrorStack,
    },
}

/// The JOSE header fakta writes.
#[derive(Debug, Clone, Serialize)]
pub struct Header<'a> {
    pub alg: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub typ: Option<&'a str>,
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `base64url(header).base64url(claims)`: the signing input.
pub fn signing_input<C: Serialize>(header: &Header<'_>, claims: &C) -> Result<String, JwtError> {
    let h = serde_json::to_vec(header)?;
    let c = serde_json::to_vec(claims)?;
    Ok(format!("{}.{}", b64(&h), b64(&c)))
}

/// Signs `input` with `alg`; ES256 signatures are the raw 64-byte `r || s` JWS wants.
pub fn sign_input(alg: Alg, key: &PKey<Private>, input: &str) -> Result<Vec<u8>, JwtError> {
    let err = |source| JwtError::Sign {
        alg: alg.name(),
        source,
    };
    let mut signer = Signer::new(MessageDigest::sha256(), key).map_err(err)?;
    signer.update(input.as_bytes()).map_err(err)?;
    let der = signer.sign_to_vec().map_err(err)?;
    match alg {
        Alg::RS256 => Ok(der),
        Alg::ES256 => {
            let sig = EcdsaSig::from_der(&der).map_err(err)?;
            let mut raw = fixed(sig.r(), 32);
            raw.extend(fixed(sig.s(), 32));
            Ok(raw)
        }
    }
}

fn fixed(n: &openssl::bn::BigNumRef, len: usize) -> Vec<u8> {
    let bytes = n.to_vec();
    let mut out = vec![0u8; len.saturating_sub(bytes.len())];
    out.extend(bytes);
    out
}

/// A signed compact JWT.
pub fn sign<C: Serialize>(
    alg: Alg,
    kid: &str,
    typ: Option<&str>,
    key: &PKey<Private>,
    claims: &C,
) -> Result<String, JwtError> {
    let header = Header {
        alg: alg.name(),
        kid: Some(kid),
        typ,
    };
    let input = signing_input(&header, claims)?;
    let sig = sign_input(alg, key, &input)?;
    Ok(format!("{input}.{}", b64(&sig)))
}

/// `at_hash` / `c_hash`: the left half of SHA-256 of the ASCII token, base64url (OIDC Core
/// 3.1.3.6, §3.2.2.10 at_hash, §3.3.2.11 c_hash; both RS256 and ES256 use SHA-256).
pub fn half_hash(token: &str) -> String {
    let digest = openssl::sha::sha256(token.as_bytes());
    b64(&digest[..16])
}

/// Big-endian bytes of a BigNum, for JWK members.
pub fn bn_b64(n: &openssl::bn::BigNumRef) -> String {
    b64(&n.to_vec())
}

/// Decodes part `index` of a compact JWT (0: header, 1: claims) without checking anything (for
/// transcripts and tests).
pub fn peek_part(token: &str, index: usize) -> Option<serde_json::Value> {
    let part = token.split('.').nth(index)?;
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Decodes the claims of a compact JWT without checking anything (for transcripts and tests).
pub fn peek_claims(token: &str) -> Option<serde_json::Value> {
    peek_part(token, 1)
}

/// Makes a BigNum from bytes (used by tests to rebuild keys from JWKs).
pub fn bn(bytes: &[u8]) -> Option<BigNum> {
    BigNum::from_slice(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::nid::Nid;
    use openssl::rsa::Rsa;
    use openssl::sign::Verifier;

    #[test]
    fn rs256_verifies_with_the_public_key() {
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let t = sign(
            Alg::RS256,
            "k1",
            None,
            &key,
            &serde_json::json!({"sub": "a"}),
        )
        .unwrap();
        let (input, sig) = t.rsplit_once('.').unwrap();
        let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
        let mut v = Verifier::new(MessageDigest::sha256(), &key).unwrap();
        v.update(input.as_bytes()).unwrap();
        assert!(v.verify(&sig).unwrap());
        assert_eq!(peek_claims(&t).unwrap()["sub"], "a");
    }

    #[test]
    fn es256_signatures_are_raw_r_s() {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
        for _ in 0..20 {
            let t = sign(Alg::ES256, "k", None, &key, &serde_json::json!({"x": 1})).unwrap();
            let (input, sig) = t.rsplit_once('.').unwrap();
            let raw = URL_SAFE_NO_PAD.decode(sig).unwrap();
            assert_eq!(raw.len(), 64);
            let r = BigNum::from_slice(&raw[..32]).unwrap();
            let s = BigNum::from_slice(&raw[32..]).unwrap();
            let der = EcdsaSig::from_private_components(r, s)
                .unwrap()
                .to_der()
                .unwrap();
            let mut v = Verifier::new(MessageDigest::sha256(), &key).unwrap();
            v.update(input.as_bytes()).unwrap();
            assert!(v.verify(&der).unwrap());
        }
    }

    #[test]
    fn at_hash_matches_the_spec_example() {
        // OIDC Core A.3: access_token "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y" -> at_hash
        // "77QmUPtjPfzWtF2AnpK9RQ".
        assert_eq!(
            half_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
        // OIDC Core A.4 (code id_token): code "Qcb0Orv1zh30vL1MPRsbm-diHiMwcLyZvn1arpZv-Jxf_11jnpEX3Tgfvk"
        // -> c_hash "LDktKdoQak3Pk0cnXxCltA".
        assert_eq!(
            half_hash("Qcb0Orv1zh30vL1MPRsbm-diHiMwcLyZvn1arpZv-Jxf_11jnpEX3Tgfvk"),
            "LDktKdoQak3Pk0cnXxCltA"
        );
        // A fixed vector computed independently:
        //   printf %s fakta-code | openssl dgst -sha256 -binary | head -c 16 | basenc --base64url  (padding dropped)
        assert_eq!(half_hash("fakta-code"), "IRY0vUqfW2oCaD32zTRqCQ");
    }
}
