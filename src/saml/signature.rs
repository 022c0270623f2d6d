//! Enveloped XML signatures over fakta's Responses.
//!
//! The honest Responses fakta builds are signed here, natively: exclusive c14n of the signed
//! element without its signature (`super::c14n`), its digest, the canonical SignedInfo signed
//! with the parsed key (the algorithms are those the template names: RSA-SHA256 and SHA-256
//! unless the app says RSA-SHA1 or SHA-1, Okta's two other choices), the values written into fakta's own template. libxmlsec
//! (through samael) re-imports the key for every signature, which cost more than the RSA
//! operation itself; it still signs the forged documents of the attack pack (`sign_bare`: any
//! shape, duplicated IDs, comments), and every test verifies the native signatures with it, the
//! xmlsec1 command and two independent libraries.
//!
//! "Both" is signed from one parse ([`sign_templates`]): the document is built with both
//! templates, the Assertion's is signed first, then the Response's, whose digest covers the
//! signed Assertion: its c14n is computed from the same parse as if the Assertion's values were
//! written in (`c14n::canonicalize_filled`), byte for byte what a second parse would give. With
//! encryption it stays two passes (sign the Assertion, encrypt it, then place and sign the
//! Response's template over the EncryptedAssertion).
//!
//! Signed messages from the network are checked here before libxmlsec1 sees them
//! ([`check_enveloped`], [`same_document_references`]): only same-document references (`""` or
//! `#id`), so xmlsec never opens a URL an attacker chose, and for the IdP's requests the one
//! reference must name the root element itself (a signature over a wrapped element is refused).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use samael::crypto::{CertificateDer, CryptoProvider, XmlSec};

use super::ns;
use super::response::{self, Algorithms, ResponseParams, Templates};
use super::untrusted::{self, XmlError};
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
    #[error("{0}")]
    Encrypt(#[from] super::encrypt::EncryptError),
}

/// Fills in the empty template of the `ds:Signature` that references `reference_id` (a child of
/// the element with that ID): DigestValue over the element's exclusive c14n without that
/// signature, SignatureValue over the canonical SignedInfo.
pub fn sign_template(
    xml: &str,
    reference_id: &str,
    key: &PKey<Private>,
) -> Result<String, SignError> {
    sign_templates(xml, &[reference_id], key)
}

/// Fills in the empty templates of the `ds:Signature`s that reference `reference_ids`, in that
/// order, from one parse of the document: each signature after the first is computed as if the
/// earlier ones were already written in (the Response's digest covers the filled Assertion
/// signature), so the output is byte for byte what signing them one after the other, parsing
/// the document again each time, gives.
pub fn sign_templates(
    xml: &str,
    reference_ids: &[&str],
    key: &PKey<Private>,
) -> Result<String, SignError> {
    let native = |what: &str| SignError::Native(what.to_owned());
    // fakta's own text, but parsed by a recursive parser all the same.
    untrusted::check_depth(xml).map_err(|e| SignError::Native(e.to_string()))?;
    let opts = roxmltree::ParsingOptions {
        allow_dtd: false,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(xml, opts)
        .map_err(|e| SignError::Native(format!("the document is not XML: {e}")))?;
    let is = |n: &roxmltree::Node<'_, '_>, name: &str| {
        n.is_element() && n.tag_name().name() == name && n.tag_name().namespace() == Some(ns::DSIG)
    };
    // The values written so far: the element, its text (base64), and its range in `xml`.
    let mut filled: Vec<(roxmltree::NodeId, String, std::ops::Range<usize>)> = Vec::new();
    for reference_id in reference_ids {
        let signed = doc
            .descendants()
            .find(|n| n.is_element() && n.attribute("ID") == Some(*reference_id))
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
        if digest_value.has_children() || signature_value.has_children() {
            return Err(native(
                "the template's DigestValue or SignatureValue is not empty",
            ));
        }
        if filled.iter().any(|(id, _, _)| *id == digest_value.id()) {
            return Err(native("two references name the same signature"));
        }
        let algorithm = |name: &str| {
            signed_info
                .descendants()
                .find(|c| is(c, name))
                .and_then(|c| c.attribute("Algorithm"))
                .unwrap_or_default()
        };
        let digest_method = match algorithm("DigestMethod") {
            ns::ALG_SHA256 => MessageDigest::sha256(),
            ns::ALG_SHA1 => MessageDigest::sha1(),
            other => return Err(native(&format!("unsupported DigestMethod `{other}`"))),
        };
        let signature_method = match algorithm("SignatureMethod") {
            ns::ALG_RSA_SHA256 => MessageDigest::sha256(),
            ns::ALG_RSA_SHA1 => MessageDigest::sha1(),
            other => return Err(native(&format!("unsupported SignatureMethod `{other}`"))),
        };
        let fills: Vec<(roxmltree::NodeId, &str)> = filled
            .iter()
            .map(|(id, text, _)| (*id, text.as_str()))
            .collect();
        let canonical = super::c14n::canonicalize_filled(signed, Some(signature.id()), &fills);
        let digest = STANDARD.encode(openssl::hash::hash(digest_method, canonical.as_bytes())?);
        let info = super::c14n::canonicalize_filled(
            signed_info,
            None,
            &[(digest_value.id(), digest.as_str())],
        );
        let mut signer = openssl::sign::Signer::new(signature_method, key)?;
        signer.update(info.as_bytes())?;
        let value = STANDARD.encode(signer.sign_to_vec()?);
        filled.push((digest_value.id(), digest, digest_value.range()));
        filled.push((signature_value.id(), value, signature_value.range()));
    }
    // The empty elements of the templates are replaced in the text, in document order; fakta
    // writes them as `<ds:X></ds:X>` (or `<ds:X/>`), so the values go before the close tag.
    filled.sort_by_key(|(_, _, range)| range.start);
    let extra: usize = filled.iter().map(|(_, text, _)| text.len() + 24).sum();
    let mut out = String::with_capacity(xml.len() + extra);
    let mut at = 0;
    for (id, text, range) in &filled {
        let element = &xml[range.clone()];
        let qname = doc
            .get_node(*id)
            .map(|n| n.tag_name().name())
            .unwrap_or_default();
        if !element.starts_with("<ds:") {
            return Err(native(
                "the template's elements are not written with the ds prefix",
            ));
        }
        out.push_str(&xml[at..range.start]);
        out.push_str("<ds:");
        out.push_str(qname);
        out.push('>');
        out.push_str(text);
        out.push_str("</ds:");
        out.push_str(qname);
        out.push('>');
        at = range.end;
    }
    out.push_str(&xml[at..]);
    Ok(out)
}

/// Builds and signs a Response as `what` says (natively, see the module docs), RSA-SHA256
/// over SHA-256 digests, the Assertion in clear.
pub fn signed_response(
    params: &ResponseParams,
    what: SignWhat,
    key: &PKey<Private>,
    cert_b64: &str,
) -> Result<String, SignError> {
    signed_response_with(params, what, &Options::default(), key, cert_b64)
}

/// Turns the document with a signed (or unsigned) Assertion into one with an
/// `EncryptedAssertion`, before the Response is signed.
pub type Encrypt<'a> = &'a dyn Fn(&str) -> Result<String, SignError>;

/// How an app signs: its algorithms, and whether the Assertion is encrypted between the
/// Assertion's signature and the Response's (as Okta does: sign, encrypt, then sign the
/// Response over the `EncryptedAssertion`).
#[derive(Clone, Copy, Default)]
pub struct Options<'a> {
    pub algorithms: Algorithms,
    pub encrypt: Option<Encrypt<'a>>,
}

impl std::fmt::Debug for Options<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("algorithms", &self.algorithms)
            .field("encrypt", &self.encrypt.is_some())
            .finish()
    }
}

/// [`signed_response`] with the app's algorithms and encryption.
pub fn signed_response_with(
    params: &ResponseParams,
    what: SignWhat,
    options: &Options<'_>,
    key: &PKey<Private>,
    cert_b64: &str,
) -> Result<String, SignError> {
    let templates = Templates {
        response: what != SignWhat::Assertion,
        assertion: what != SignWhat::Response,
    };
    if options.encrypt.is_none() {
        // One parse for both signatures: the templates are built where `sign_in_order` puts
        // them, the Assertion's signed first, then the Response's over it.
        let xml = response::build_with(params, templates, cert_b64, options.algorithms);
        let ids = [
            params.ids.assertion_id.as_str(),
            params.ids.response_id.as_str(),
        ];
        let ids = match what {
            SignWhat::Both => &ids[..],
            SignWhat::Assertion => &ids[..1],
            SignWhat::Response => &ids[1..],
        };
        return sign_templates(&xml, ids, key);
    }
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
        options,
        cert_b64,
        |xml, id| sign_template(xml, id, key),
    )
}

/// Signs a status-only Response ([`response::build_status`]): its template after the
/// Response's Issuer, signed natively.
pub fn signed_status_response(
    bare: &str,
    response_id: &str,
    key: &PKey<Private>,
    cert_b64: &str,
) -> Result<String, SignError> {
    let close = "</saml2:Issuer>";
    let at = bare.find(close).ok_or(SignError::NoIssuer)? + close.len();
    let mut xml = bare.to_owned();
    xml.insert_str(at, &response::signature_template(response_id, cert_b64));
    sign_template(&xml, response_id, key)
}

/// Signs a signature-free Response as fakta's IdP signs it: the Assertion's template after the
/// Assertion's Issuer, signed; then the Response's after the Response's Issuer, signed (its
/// digest covers the signed Assertion). `sign(xml, id)` fills the template referencing `id`.
fn sign_in_order(
    bare: &str,
    response_id: &str,
    assertion_id: &str,
    what: SignWhat,
    options: &Options<'_>,
    cert_b64: &str,
    sign: impl Fn(&str, &str) -> Result<String, SignError>,
) -> Result<String, SignError> {
    let close = "</saml2:Issuer>";
    let template = |id: &str| response::signature_template_with(id, cert_b64, options.algorithms);
    let mut xml = bare.to_owned();
    if what != SignWhat::Response {
        let start = xml.find("<saml2:Assertion").ok_or(SignError::NoIssuer)?;
        let at = xml[start..].find(close).ok_or(SignError::NoIssuer)? + start + close.len();
        xml.insert_str(at, &template(assertion_id));
        xml = sign(&xml, assertion_id)?;
    }
    if let Some(encrypt) = options.encrypt {
        xml = encrypt(&xml)?;
    }
    if what != SignWhat::Assertion {
        let at = xml.find(close).ok_or(SignError::NoIssuer)? + close.len();
        xml.insert_str(at, &template(response_id));
        xml = sign(&xml, response_id)?;
    }
    Ok(xml)
}

/// Signs a document whose first `ds:Signature` is an empty template.
pub fn sign_first_template(xml: &str, private_key_pkcs8_der: &[u8]) -> Result<String, SignError> {
    crate::ffi::prepare_xmlsec();
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
    sign_bare_with(
        bare,
        response_id,
        assertion_id,
        what,
        &Options::default(),
        private_key_pkcs8_der,
        cert_b64,
    )
}

/// [`sign_bare`] with algorithms and encryption (S28, S29).
pub fn sign_bare_with(
    bare: &str,
    response_id: &str,
    assertion_id: &str,
    what: SignWhat,
    options: &Options<'_>,
    private_key_pkcs8_der: &[u8],
    cert_b64: &str,
) -> Result<String, SignError> {
    sign_in_order(
        bare,
        response_id,
        assertion_id,
        what,
        options,
        cert_b64,
        |xml, _| sign_first_template(xml, private_key_pkcs8_der),
    )
}

/// As [`sign_bare_with`], with `key_info` (the content of `ds:KeyInfo`) in every signature
/// instead of a certificate: put in each template before it is signed, since the Response's
/// digest covers the Assertion's signature, KeyInfo included.
pub fn sign_bare_key_info(
    bare: &str,
    response_id: &str,
    assertion_id: &str,
    what: SignWhat,
    options: &Options<'_>,
    private_key_pkcs8_der: &[u8],
    key_info: &str,
) -> Result<String, SignError> {
    const MARK: &str = "fakta-key-info";
    let template = format!(
        "<ds:KeyInfo><ds:X509Data><ds:X509Certificate>{MARK}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>"
    );
    sign_in_order(
        bare,
        response_id,
        assertion_id,
        what,
        options,
        MARK,
        |xml: &str, _: &str| {
            let xml = xml.replacen(
                &template,
                &format!("<ds:KeyInfo>{key_info}</ds:KeyInfo>"),
                1,
            );
            sign_first_template(&xml, private_key_pkcs8_der)
        },
    )
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
/// `ID`. Only within the nesting limit and with same-document references; for tests and
/// signed messages whose shape is checked elsewhere ([`verify_enveloped`] checks it).
pub fn verify_first(xml: &str, cert_der: &[u8]) -> bool {
    let Ok(doc) = untrusted::parse(xml, false) else {
        return false;
    };
    if same_document_references(&doc).is_err() {
        return false;
    }
    xmlsec_verify(xml, cert_der)
}

fn xmlsec_verify(xml: &str, cert_der: &[u8]) -> bool {
    crate::ffi::prepare_xmlsec();
    XmlSec::verify_signed_xml(xml, &CertificateDer::from(cert_der.to_vec()), Some("ID")).is_ok()
}

/// Why a signed message from the network is refused before or by the signature check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("{0}")]
    Xml(#[from] XmlError),
    #[error("{0}")]
    Reference(#[from] ReferenceError),
    #[error("the signature does not verify with the certificate")]
    BadSignature,
}

/// What makes a signed message's `ds:Signature` unacceptable, found before xmlsec runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error(
        "a `URI` of the signature is `{uri}`, not a same-document reference (\"\" or #id); nothing outside the message is fetched"
    )]
    NotSameDocument { uri: String },
    #[error(
        "the message has {count} ds:Signature elements; exactly one, a child of the root element, is accepted"
    )]
    SignatureCount { count: usize },
    #[error("the ds:Signature is not a child of the root element")]
    NotEnveloped,
    #[error("the ds:Signature has {count} ds:Reference elements; exactly one is accepted")]
    ReferenceCount { count: usize },
    #[error(
        "the signature covers `{uri}`, not the root element `#{root_id}`: it must cover the whole message (signature wrapping)"
    )]
    NotTheRoot { uri: String, root_id: String },
    #[error("the root element has no ID for the signature to reference")]
    NoRootId,
    #[error("the ID `{id}` is carried by {count} elements; IDs must be unique")]
    DuplicateId { id: String, count: usize },
    #[error(
        "the ds:Reference uses transform `{algorithm}`; only enveloped-signature and canonicalization are accepted"
    )]
    Transform { algorithm: String },
}

/// Every `URI` attribute of an element in the xmldsig namespace (`Reference`,
/// `RetrievalMethod`, ...) is `""` or `#` and a name: libxmlsec1 would fetch anything else
/// (http, file) while verifying, before the signature fails.
pub fn same_document_references(doc: &roxmltree::Document<'_>) -> Result<(), ReferenceError> {
    for n in doc.descendants() {
        if !n.is_element() || n.tag_name().namespace() != Some(ns::DSIG) {
            continue;
        }
        let Some(uri) = n.attribute("URI") else {
            if n.tag_name().name() == "Reference" {
                return Err(ReferenceError::NotSameDocument {
                    uri: "(none)".into(),
                });
            }
            continue;
        };
        let name = uri.strip_prefix('#').unwrap_or(uri);
        let named = uri.starts_with('#')
            && !name.is_empty()
            && !name
                .chars()
                .any(|c| c.is_whitespace() || matches!(c, '(' | ')' | '/' | '#' | ':'));
        if !uri.is_empty() && !named {
            return Err(ReferenceError::NotSameDocument {
                uri: uri.to_owned(),
            });
        }
    }
    Ok(())
}

/// The transforms a reference of an SP-signed request may use: enveloped-signature and the
/// canonicalizations (no XPath, XSLT or base64, which could select or make other content).
const ACCEPTED_TRANSFORMS: [&str; 7] = [
    ns::ALG_ENVELOPED,
    ns::ALG_EXC_C14N,
    ns::ALG_EXC_C14N_COMMENTS,
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments",
    "http://www.w3.org/2006/12/xml-c14n11",
    "http://www.w3.org/2006/12/xml-c14n11#WithComments",
];

/// The shape an SP-signed request must have before xmlsec checks it: one `ds:Signature`, a
/// child of the root element, with one `ds:Reference` naming the root element's own ID (or
/// `""`, the whole document), an ID no other element carries, and only the enveloped-signature
/// and canonicalization transforms. So what xmlsec verifies is the very element the IdP reads.
pub fn check_enveloped(doc: &roxmltree::Document<'_>) -> Result<(), ReferenceError> {
    same_document_references(doc)?;
    let is = |n: &roxmltree::Node<'_, '_>, name: &str| {
        n.is_element() && n.tag_name().name() == name && n.tag_name().namespace() == Some(ns::DSIG)
    };
    let root = doc.root_element();
    let signatures: Vec<_> = doc.descendants().filter(|n| is(n, "Signature")).collect();
    let [signature] = signatures[..] else {
        return Err(ReferenceError::SignatureCount {
            count: signatures.len(),
        });
    };
    if signature.parent() != Some(root) {
        return Err(ReferenceError::NotEnveloped);
    }
    let root_id = root
        .attribute("ID")
        .filter(|id| !id.is_empty())
        .ok_or(ReferenceError::NoRootId)?;
    let count = doc
        .descendants()
        .filter(|n| n.is_element() && n.attribute("ID") == Some(root_id))
        .count();
    if count > 1 {
        return Err(ReferenceError::DuplicateId {
            id: root_id.to_owned(),
            count,
        });
    }
    let references: Vec<_> = signature
        .descendants()
        .filter(|n| is(n, "Reference"))
        .collect();
    let [reference] = references[..] else {
        return Err(ReferenceError::ReferenceCount {
            count: references.len(),
        });
    };
    let uri = reference.attribute("URI").unwrap_or_default();
    if !uri.is_empty() && uri.strip_prefix('#') != Some(root_id) {
        return Err(ReferenceError::NotTheRoot {
            uri: uri.to_owned(),
            root_id: root_id.to_owned(),
        });
    }
    for t in reference.descendants().filter(|n| is(n, "Transform")) {
        let algorithm = t.attribute("Algorithm").unwrap_or_default();
        if !ACCEPTED_TRANSFORMS.contains(&algorithm) {
            return Err(ReferenceError::Transform {
                algorithm: algorithm.to_owned(),
            });
        }
    }
    Ok(())
}

/// Verifies an SP-signed request (POST binding): the nesting limit, the shape of
/// [`check_enveloped`], then libxmlsec1 with the certificate (DER). Blocking (RSA, libxml2):
/// callers on an async runtime run it on the blocking pool.
pub fn verify_enveloped(xml: &str, cert_der: &[u8]) -> Result<(), VerifyError> {
    let doc = untrusted::parse(xml, false)?;
    check_enveloped(&doc)?;
    if xmlsec_verify(xml, cert_der) {
        Ok(())
    } else {
        Err(VerifyError::BadSignature)
    }
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
            recipient: "http://127.0.0.1:7100/acs?a=1&b=\"2\"".into(),
            authn_context_class: ns::AC_PASSWORD_PROTECTED.into(),
            in_response_to: Some("_req<1>".into()),
            audience: "urn:sp & 'co'".into(),
            name_id: name.into(),
            name_id_format: "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified".into(),
            attributes: vec![
                Attribute {
                    name: "name\twith tab".into(),
                    name_format: ns::ATTRNAME_UNSPECIFIED.into(),
                    values: vec![name.into(), "line\r\nbreak\rcr".into()],
                },
                Attribute {
                    name: "groups".into(),
                    name_format: ns::ATTRNAME_UNSPECIFIED.into(),
                    values: vec!["Qovery-Admins".into(), String::new()],
                },
            ],
        }
    }

    /// An AuthnRequest with `signature` after its Issuer, `extensions` after that.
    fn request(root_id: &str, signature: &str, extensions: &str) -> String {
        format!(
            "<samlp:AuthnRequest xmlns:samlp=\"{p}\" xmlns:saml=\"{a}\" ID=\"{root_id}\" Version=\"2.0\"><saml:Issuer>urn:sp</saml:Issuer>{signature}{extensions}</samlp:AuthnRequest>",
            p = ns::PROTOCOL,
            a = ns::ASSERTION,
        )
    }

    fn shape(xml: &str) -> Result<(), ReferenceError> {
        check_enveloped(&roxmltree::Document::parse(xml).unwrap())
    }

    #[test]
    fn only_a_signature_over_the_root_element_passes_the_shape_check() {
        let sig = |id: &str| response::signature_template(id, "MIIB");
        assert_eq!(shape(&request("_r", &sig("_r"), "")), Ok(()));
        // `URI=""` is the whole document, the root; `URI="#"` names nothing.
        let whole = sig("_r").replace("URI=\"#_r\"", "URI=\"\"");
        assert_eq!(shape(&request("_r", &whole, "")), Ok(()));
        assert_eq!(
            shape(&request("_r", &sig(""), "")),
            Err(ReferenceError::NotSameDocument { uri: "#".into() })
        );
        // The signature covers an element in Extensions, not the root (XSW).
        let wrapped = request(
            "_evil",
            &sig("_inner"),
            "<samlp:Extensions><samlp:AuthnRequest ID=\"_inner\"/></samlp:Extensions>",
        );
        assert_eq!(
            shape(&wrapped),
            Err(ReferenceError::NotTheRoot {
                uri: "#_inner".into(),
                root_id: "_evil".into()
            })
        );
        // A second element carrying the root's ID.
        let twin = request(
            "_r",
            &sig("_r"),
            "<samlp:Extensions><x ID=\"_r\"/></samlp:Extensions>",
        );
        assert_eq!(
            shape(&twin),
            Err(ReferenceError::DuplicateId {
                id: "_r".into(),
                count: 2
            })
        );
        // A signature anywhere but as a child of the root.
        let nested = request(
            "_r",
            "",
            &format!("<samlp:Extensions>{}</samlp:Extensions>", sig("_r")),
        );
        assert_eq!(shape(&nested), Err(ReferenceError::NotEnveloped));
        let two = request("_r", &sig("_r"), &sig("_r"));
        assert_eq!(
            shape(&two),
            Err(ReferenceError::SignatureCount { count: 2 })
        );
        assert_eq!(
            shape(&request("_r", "", "")),
            Err(ReferenceError::SignatureCount { count: 0 })
        );
        let xpath = sig("_r").replace(
            ns::ALG_ENVELOPED,
            "http://www.w3.org/TR/1999/REC-xpath-19991116",
        );
        assert_eq!(
            shape(&request("_r", &xpath, "")),
            Err(ReferenceError::Transform {
                algorithm: "http://www.w3.org/TR/1999/REC-xpath-19991116".into()
            })
        );
    }

    #[test]
    fn references_outside_the_document_are_refused_before_xmlsec() {
        for uri in [
            "http://127.0.0.1:9/x",
            "file:///etc/passwd",
            "x",
            "#xpointer(/)",
            "# a",
        ] {
            let template = response::signature_template("_r", "MIIB")
                .replace("URI=\"#_r\"", &format!("URI=\"{uri}\""));
            let xml = request("_r", &template, "");
            let err = ReferenceError::NotSameDocument { uri: uri.into() };
            assert_eq!(shape(&xml), Err(err.clone()), "{uri}");
            assert_eq!(
                verify_enveloped(&xml, b"not a certificate"),
                Err(VerifyError::Reference(err))
            );
            assert!(!verify_first(&xml, b"not a certificate"));
        }
        // A RetrievalMethod in KeyInfo is a URI xmlsec would open too.
        let retrieval = response::signature_template("_r", "MIIB").replace(
            "<ds:X509Data>",
            "<ds:RetrievalMethod URI=\"http://127.0.0.1:9/k\"/><ds:X509Data>",
        );
        assert!(matches!(
            shape(&request("_r", &retrieval, "")),
            Err(ReferenceError::NotSameDocument { .. })
        ));
    }

    #[test]
    fn a_status_response_is_signed_and_says_no_passive() {
        let key = crate::keys::SigningKey::generate().unwrap();
        let bare = response::build_status(
            "_s1",
            time::macros::datetime!(2026-11-28 09:00:00 UTC),
            "http://www.okta.com/exk1",
            "http://127.0.0.1:7100/acs",
            Some("_req"),
            ns::STATUS_RESPONDER,
            ns::STATUS_NO_PASSIVE,
        );
        let xml =
            signed_status_response(&bare, "_s1", key.pkey(), &key.certificate.base64()).unwrap();
        assert!(verify_first(&xml, key.certificate.der()), "{xml}");
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let codes: Vec<&str> = doc
            .descendants()
            .filter(|n| n.tag_name().name() == "StatusCode")
            .filter_map(|n| n.attribute("Value"))
            .collect();
        assert_eq!(codes, [ns::STATUS_RESPONDER, ns::STATUS_NO_PASSIVE]);
        assert_eq!(doc.root_element().attribute("InResponseTo"), Some("_req"));
    }

    #[test]
    fn one_parse_signs_byte_for_byte_as_one_parse_per_signature() {
        let key = crate::keys::SigningKey::generate().unwrap();
        let cert = key.certificate.base64();
        for what in SignWhat::ALL.iter().copied() {
            let none = Templates {
                response: false,
                assertion: false,
            };
            let bare = response::build(&params("O'Brien & <Sons>"), none, &cert);
            let one_by_one = sign_in_order(
                &bare,
                "id-resp-1",
                "id-assert-1",
                what,
                &Options::default(),
                &cert,
                |xml, id| sign_template(xml, id, key.pkey()),
            )
            .unwrap();
            let at_once =
                signed_response(&params("O'Brien & <Sons>"), what, key.pkey(), &cert).unwrap();
            assert_eq!(at_once, one_by_one, "{what:?}");
        }
        // A template already filled, or named twice, is refused rather than signed over.
        let both = Templates {
            response: true,
            assertion: true,
        };
        let xml = response::build(&params("a"), both, &cert);
        let twice = sign_templates(&xml, &["id-resp-1", "id-resp-1"], key.pkey());
        assert!(matches!(twice, Err(SignError::Native(_))), "{twice:?}");
        let signed = sign_templates(&xml, &["id-assert-1"], key.pkey()).unwrap();
        let again = sign_templates(&signed, &["id-assert-1"], key.pkey());
        assert!(matches!(again, Err(SignError::Native(_))), "{again:?}");
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
            for what in SignWhat::ALL.iter().copied() {
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
