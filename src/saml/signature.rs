//! Enveloped XML signatures over fakta's Responses.
//!
//! The honest Responses fakta builds are signed here, natively: exclusive c14n of the signed
//! element without its signature (`super::c14n`), SHA-256, the canonical SignedInfo signed
//! RSA-SHA256 with the parsed key, the values written into fakta's own template. libxmlsec
//! (through samael) re-imports the key for every signature, which cost more than the RSA
//! operation itself; it still signs the forged documents of the attack pack (`sign_bare`: any
//! shape, duplicated IDs, comments), and every test verifies the native signatures with it, the
//! xmlsec1 command and two independent libraries.
//!
//! "Both" is done in two passes: the Assertion's template is signed first, then the Response's
//! template is placed after the Response's Issuer and signed (its digest then covers the signed
//! Assertion).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use samael::crypto::{CertificateDer, CryptoProvider, XmlSec};

use super::ns;
use super::response::{self, ResponseParams, Templates};
use crate::config::SignWhat;

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("xmlsec could not sign the document: {0}")]
    Xmlsec(String),
    #[error("the signed document has no Response Issuer to place the Response signature after")]
    NoIssuer,
    #[error("cannot sign the document: {0}")]
    Native(String),
    #[error("cannot sign the document: {0}")]
    Crypto(#[from] openssl::error::ErrorStack),
}

/// Fills in the empty template of the `ds:Signature` that references `reference_id` (a child of
/// the element with that ID): DigestValue over the element's exclusive c14n without that
/// signature, SignatureValue over the canonical SignedInfo.
pub fn sign_template(
    xml: &str,
    reference_id: &str,
    key: &PKey<Private>,
) -> Result<String, SignError> {
    let native = |what: &str| SignError::Native(what.to_owned());
    let opts = roxmltree::ParsingOptions {
        allow_dtd: false,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(xml, opts)
        .map_err(|e| SignError::Native(format!("the document is not XML: {e}")))?;
    let is = |n: &roxmltree::Node<'_, '_>, name: &str| {
        n.is_element() && n.tag_name().name() == name && n.tag_name().namespace() == Some(ns::DSIG)
    };
    let signed = doc
        .descendants()
        .find(|n| n.is_element() && n.attribute("ID") == Some(reference_id))
        .ok_or_else(|| native("no element has the referenced ID"))?;
    let signature = signed
        .children()
        .find(|c| is(c, "Signature"))
        .ok_or_else(|| native("the signed element has no ds:Signature template"))?;
    let signed_info = signature
        .children()
        .find(|c| is(c, "SignedInfo"))
        .ok_or_else(|| native("the template has no SignedInfo"))?;
    let digest_value = signed_info
        .descendants()
        .find(|c| is(c, "DigestValue"))
        .ok_or_else(|| native("the template has no DigestValue"))?;
    let signature_value = signature
        .children()
        .find(|c| is(c, "SignatureValue"))
        .ok_or_else(|| native("the template has no SignatureValue"))?;
    let canonical = super::c14n::canonicalize(signed, Some(signature.id()));
    let digest = openssl::hash::hash(MessageDigest::sha256(), canonical.as_bytes())?;
    // The filled DigestValue, as fakta writes it and as its canonical form is (base64 has
    // nothing to escape).
    let digest_element = format!(
        "<ds:DigestValue>{}</ds:DigestValue>",
        STANDARD.encode(digest)
    );
    const EMPTY_DIGEST: &str = "<ds:DigestValue></ds:DigestValue>";
    let info = super::c14n::canonicalize(signed_info, None);
    if !info.contains(EMPTY_DIGEST) {
        return Err(native("the template's DigestValue is not empty"));
    }
    let info = info.replacen(EMPTY_DIGEST, &digest_element, 1);
    let mut signer = openssl::sign::Signer::new(MessageDigest::sha256(), key)?;
    signer.update(info.as_bytes())?;
    let value = signer.sign_to_vec()?;
    // The two empty elements of the template are replaced in the text, in document order.
    let (d, v) = (digest_value.range(), signature_value.range());
    if d.end > v.start {
        return Err(native("SignatureValue comes before DigestValue"));
    }
    let mut out = String::with_capacity(xml.len() + 512);
    out.push_str(&xml[..d.start]);
    out.push_str(&digest_element);
    out.push_str(&xml[d.end..v.start]);
    out.push_str(&format!(
        "<ds:SignatureValue>{}</ds:SignatureValue>",
        STANDARD.encode(value)
    ));
    out.push_str(&xml[v.end..]);
    Ok(out)
}

/// Builds and signs a Response as `what` says (natively, see the module docs).
pub fn signed_response(
    params: &ResponseParams,
    what: SignWhat,
    key: &PKey<Private>,
    cert_b64: &str,
) -> Result<String, SignError> {
    let none = Templates {
        response: false,
        assertion: false,
    };
    let bare = response::build(params, none, cert_b64);
    sign_in_order(
        &bare,
        &params.ids.response_id,
        &params.ids.assertion_id,
        what,
        cert_b64,
        |xml, id| sign_template(xml, id, key),
    )
}

/// Signs a signature-free Response as fakta's IdP signs it: the Assertion's template after the
/// Assertion's Issuer, signed; then the Response's after the Response's Issuer, signed (its
/// digest covers the signed Assertion). `sign(xml, id)` fills the template referencing `id`.
fn sign_in_order(
    bare: &str,
    response_id: &str,
    assertion_id: &str,
    what: SignWhat,
    cert_b64: &str,
    sign: impl Fn(&str, &str) -> Result<String, SignError>,
) -> Result<String, SignError> {
    let close = "</saml2:Issuer>";
    let mut xml = bare.to_owned();
    if what != SignWhat::Response {
        let start = xml.find("<saml2:Assertion").ok_or(SignError::NoIssuer)?;
        let at = xml[start..].find(close).ok_or(SignError::NoIssuer)? + start + close.len();
        xml.insert_str(at, &response::signature_template(assertion_id, cert_b64));
        xml = sign(&xml, assertion_id)?;
    }
    if what != SignWhat::Assertion {
        let at = xml.find(close).ok_or(SignError::NoIssuer)? + close.len();
        xml.insert_str(at, &response::signature_template(response_id, cert_b64));
        xml = sign(&xml, response_id)?;
    }
    Ok(xml)
}

/// Signs a document whose first `ds:Signature` is an empty template.
pub fn sign_first_template(xml: &str, private_key_pkcs8_der: &[u8]) -> Result<String, SignError> {
    crate::ffi::quiet_xmlsec();
    XmlSec::sign_xml(xml, private_key_pkcs8_der).map_err(|e| SignError::Xmlsec(e.to_string()))
}

/// Signs a bare (signature-free) Response as fakta's IdP signs it, with libxmlsec: used to
/// re-sign a forged document with a key (`crate::saml::faults`), whatever its shape.
pub fn sign_bare(
    bare: &str,
    response_id: &str,
    assertion_id: &str,
    what: SignWhat,
    private_key_pkcs8_der: &[u8],
    cert_b64: &str,
) -> Result<String, SignError> {
    sign_in_order(bare, response_id, assertion_id, what, cert_b64, |xml, _| {
        sign_first_template(xml, private_key_pkcs8_der)
    })
}

/// The document without any `ds:Signature` element.
pub fn strip_signatures(xml: &str) -> String {
    let mut out = String::with_capacity(xml.len());
    let mut rest = xml;
    while let Some(start) = rest.find("<ds:Signature") {
        out.push_str(&rest[..start]);
        match rest[start..].find("</ds:Signature>") {
            Some(end) => rest = &rest[start + end + "</ds:Signature>".len()..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Verifies the first signature of a document with a certificate (DER); the ID attribute is
/// `ID`. For tests and SP-signed POST requests.
pub fn verify_first(xml: &str, cert_der: &[u8]) -> bool {
    crate::ffi::quiet_xmlsec();
    XmlSec::verify_signed_xml(xml, &CertificateDer::from(cert_der.to_vec()), Some("ID")).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::saml::response::{Attribute, ResponseIds};

    fn params(name: &str) -> ResponseParams {
        let t = time::macros::datetime!(2026-11-28 09:00:00 UTC);
        ResponseParams {
            ids: ResponseIds {
                response_id: "id-resp-1".into(),
                assertion_id: "id-assert-1".into(),
                session_index: "id-sess-1".into(),
            },
            issue_instant: t,
            authn_instant: t,
            lifetime: time::Duration::minutes(5),
            issuer: "http://www.okta.com/exk1".into(),
            destination: "http://127.0.0.1:7100/acs?a=1&b=\"2\"".into(),
            in_response_to: Some("_req<1>".into()),
            audience: "urn:sp & 'co'".into(),
            name_id: name.into(),
            name_id_format: "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified".into(),
            attributes: vec![
                Attribute {
                    name: "name\twith tab".into(),
                    values: vec![name.into(), "line\r\nbreak\rcr".into()],
                },
                Attribute {
                    name: "groups".into(),
                    values: vec!["Qovery-Admins".into(), String::new()],
                },
            ],
        }
    }

    #[test]
    fn native_signatures_verify_with_xmlsec_whatever_the_values() {
        let key = crate::keys::SigningKey::generate().unwrap();
        let cert = key.certificate.base64();
        let certs = [CertificateDer::from(key.certificate.der().to_vec())];
        for name in [
            "alice@acme.test",
            "O'Brien & <Sons> \"q\" > x",
            "Zoë 日本 \u{1F600}",
            " spaced\ttab ",
        ] {
            for what in [SignWhat::Both, SignWhat::Response, SignWhat::Assertion] {
                let xml = signed_response(&params(name), what, key.pkey(), &cert).unwrap();
                assert!(
                    verify_first(&xml, key.certificate.der()),
                    "{what:?} {name:?}: {xml}"
                );
                // xmlsec verifies every signature of the document while reducing it.
                let reduced = XmlSec::reduce_xml_to_signed(
                    &xml,
                    &certs,
                    samael::crypto::ReduceMode::PreDigest,
                );
                assert!(reduced.is_ok(), "{what:?} {name:?}: {reduced:?}\n{xml}");
                // Values come back from a parser exactly as given.
                let doc = roxmltree::Document::parse(&xml).unwrap();
                let values: Vec<&str> = doc
                    .descendants()
                    .filter(|n| n.tag_name().name() == "AttributeValue")
                    .map(|n| n.text().unwrap_or_default())
                    .collect();
                assert_eq!(values[..2], [name, "line\r\nbreak\rcr"], "{xml}");
                let audience = doc
                    .descendants()
                    .find(|n| n.tag_name().name() == "SubjectConfirmationData")
                    .and_then(|n| n.attribute("Recipient"));
                assert_eq!(audience, Some("http://127.0.0.1:7100/acs?a=1&b=\"2\""));
                let tampered = xml.replacen("Qovery-Admins", "Qovery-Owners", 1);
                assert!(
                    XmlSec::reduce_xml_to_signed(
                        &tampered,
                        &certs,
                        samael::crypto::ReduceMode::PreDigest
                    )
                    .is_err(),
                    "{what:?}: a change after signing is caught"
                );
            }
        }
    }
}
