//! JSON Web Keys: the public signing keys as a JWK Set, each with a `kid` that is its RFC 7638
//! thumbprint (stable for a key, different for every key).

use openssl::bn::BigNumContext;
use openssl::ec::PointConversionForm;
use openssl::nid::Nid;
use openssl::pkey::{HasPublic, Id, PKeyRef};
use serde::Serialize;

use super::jwt::{b64, bn_b64};

/// One public key as a JWK (RSA members `n`, `e`; EC members `crv`, `x`, `y`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Jwk {
    pub kty: &'static str,
    pub alg: &'static str,
    pub kid: String,
    #[serde(rename = "use")]
    pub use_: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crv: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

/// The JWK of an RSA (RS256) or P-256 (ES256) public key; None for other key types.
pub fn jwk<T: HasPublic>(key: &PKeyRef<T>) -> Option<Jwk> {
    match key.id() {
        Id::RSA => {
            let rsa = key.rsa().ok()?;
            let (n, e) = (bn_b64(rsa.n()), bn_b64(rsa.e()));
            let thumb = format!("{{\"e\":\"{e}\",\"kty\":\"RSA\",\"n\":\"{n}\"}}");
            Some(Jwk {
                kty: "RSA",
                alg: "RS256",
                kid: b64(&openssl::sha::sha256(thumb.as_bytes())),
                use_: "sig",
                n: Some(n),
                e: Some(e),
                crv: None,
                x: None,
                y: None,
            })
        }
        Id::EC => {
            let ec = key.ec_key().ok()?;
            if ec.group().curve_name() != Some(Nid::X9_62_PRIME256V1) {
                return None;
            }
            let mut ctx = BigNumContext::new().ok()?;
            let point = ec
                .public_key()
                .to_bytes(ec.group(), PointConversionForm::UNCOMPRESSED, &mut ctx)
                .ok()?;
            // 0x04 || X (32) || Y (32)
            if point.len() != 65 {
                return None;
            }
            let (x, y) = (b64(&point[1..33]), b64(&point[33..]));
            let thumb = format!("{{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"{x}\",\"y\":\"{y}\"}}");
            Some(Jwk {
                kty: "EC",
                alg: "ES256",
                kid: b64(&openssl::sha::sha256(thumb.as_bytes())),
                use_: "sig",
                n: None,
                e: None,
                crv: Some("P-256"),
                x: Some(x),
                y: Some(y),
            })
        }
        _ => None,
    }
}
