//! Enveloped XML signatures over fakta's Responses, through libxmlsec (via samael).
//!
//! xmlsec signs only the first `ds:Signature` template in document order, so "both" is done in
//! two passes: the Assertion's template is signed first, then the Response's template is placed
//! after the Response's Issuer and signed (its digest then covers the signed Assertion).

use samael::crypto::{CertificateDer, CryptoProvider, XmlSec};

use super::response::{self, ResponseParams, Templates};
use crate::config::SignWhat;

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("xmlsec could not sign the document: {0}")]
    Xmlsec(String),
    #[error("the signed document has no Response Issuer to place the Response signature after")]
    NoIssuer,
}

/// Signs a document whose first `ds:Signature` is an empty template.
pub fn sign_first_template(xml: &str, private_key_pkcs8_der: &[u8]) -> Result<String, SignError> {
    crate::ffi::quiet_xmlsec();
    XmlSec::sign_xml(xml, private_key_pkcs8_der).map_err(|e| SignError::Xmlsec(e.to_string()))
}

/// Builds and signs a Response as `what` says.
pub fn signed_response(
    params: &ResponseParams,
    what: SignWhat,
    private_key_pkcs8_der: &[u8],
    cert_b64: &str,
) -> Result<String, SignError> {
    let templates = Templates {
        response: what == SignWhat::Response,
        assertion: what != SignWhat::Response,
    };
    let xml = response::build(params, templates, cert_b64);
    let signed = sign_first_template(&xml, private_key_pkcs8_der)?;
    if what != SignWhat::Both {
        return Ok(signed);
    }
    let close = "</saml2:Issuer>";
    let at = signed.find(close).ok_or(SignError::NoIssuer)? + close.len();
    let mut with_template = String::with_capacity(signed.len() + 2048);
    with_template.push_str(&signed[..at]);
    with_template.push_str(&response::signature_template(
        &params.ids.response_id,
        cert_b64,
    ));
    with_template.push_str(&signed[at..]);
    sign_first_template(&with_template, private_key_pkcs8_der)
}

/// Signs a bare (signature-free) Response as fakta's IdP signs it: the Assertion's template
/// after the Assertion's Issuer, the Response's after the Response's Issuer. Used to re-sign a
/// forged document with a key (`crate::saml::faults`).
pub fn sign_bare(
    bare: &str,
    response_id: &str,
    assertion_id: &str,
    what: SignWhat,
    private_key_pkcs8_der: &[u8],
    cert_b64: &str,
) -> Result<String, SignError> {
    let close = "</saml2:Issuer>";
    let mut xml = bare.to_owned();
    if what != SignWhat::Response {
        let start = xml.find("<saml2:Assertion").ok_or(SignError::NoIssuer)?;
        let at = xml[start..].find(close).ok_or(SignError::NoIssuer)? + start + close.len();
        xml.insert_str(at, &response::signature_template(assertion_id, cert_b64));
        xml = sign_first_template(&xml, private_key_pkcs8_der)?;
    }
    if what != SignWhat::Assertion {
        let at = xml.find(close).ok_or(SignError::NoIssuer)? + close.len();
        xml.insert_str(at, &response::signature_template(response_id, cert_b64));
        xml = sign_first_template(&xml, private_key_pkcs8_der)?;
    }
    Ok(xml)
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
