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

/// Verifies the first signature of a document with a certificate (DER); the ID attribute is
/// `ID`. For tests and SP-signed POST requests.
pub fn verify_first(xml: &str, cert_der: &[u8]) -> bool {
    crate::ffi::quiet_xmlsec();
    XmlSec::verify_signed_xml(xml, &CertificateDer::from(cert_der.to_vec()), Some("ID")).is_ok()
}
