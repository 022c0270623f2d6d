//! The reference SP's SAML side: building its AuthnRequest and checking a posted Response the
//! way a careful SP does — only signed content is read (xmlsec's pre-digest output, so
//! signature wrapping cannot smuggle data in), then Issuer, Audience, Recipient/Destination,
//! InResponseTo, time windows, bearer confirmation, Status, one Assertion, no replay. An SP whose
//! app encrypts (`decryption_key`) takes only an `EncryptedAssertion`: the Response's signature
//! is verified over it, then the Assertion is decrypted (`saml::encrypt`) in place and the
//! decrypted document goes through the same checks as one in clear (its own signature, one
//! Assertion, ...), so each flaw bends an encrypted Response as it bends a clear one;
//! signatures and digests are RSA-SHA256 / SHA-256 unless the SP takes SHA-1.

use std::collections::BTreeMap;

use samael::crypto::{
    AllowedSignatureAlgorithm, CertificateDer, CryptoProvider, ReduceMode, XmlSec,
};
use time::{Duration, OffsetDateTime};

use super::flaws::{Flaw, Flaws};

const PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";

/// How much clock difference the SP tolerates.
pub const SKEW: Duration = Duration::seconds(30);

/// What the SP trusts and who it is.
#[derive(Debug, Clone)]
pub struct SpSettings {
    pub entity_id: String,
    pub acs_url: String,
    pub idp_entity_id: String,
    /// The IdP's signing certificates (DER), from its metadata.
    pub idp_certs: Vec<Vec<u8>>,
    pub allow_unsolicited: bool,
    /// The SP's decryption key: set when the app encrypts assertions, and then the SP takes
    /// only encrypted ones (it gave the IdP its encryption certificate for that).
    pub decryption_key: Option<openssl::pkey::PKey<openssl::pkey::Private>>,
    /// Whether RSA-SHA1 signatures and SHA-1 digests are taken (else RSA-SHA256 and SHA-256
    /// only).
    pub allow_sha1: bool,
}

/// A Response the SP accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub name_id: String,
    pub session_index: Option<String>,
    pub assertion_id: String,
    pub in_response_to: Option<String>,
    /// Attribute name -> values.
    pub attributes: BTreeMap<String, Vec<String>>,
    pub not_on_or_after: Option<OffsetDateTime>,
}

/// Why a Response was refused: each names the check, with the values involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the SAMLResponse is not valid base64 or UTF-8")]
    Encoding,
    #[error("the Response contains a DOCTYPE; refused without expanding anything")]
    Doctype,
    #[error("the Response is not well-formed XML: {0}")]
    NotXml(String),
    #[error("the XML nests deeper than {limit} elements")]
    TooDeep { limit: usize },
    #[error("the document is not a samlp:Response")]
    NotAResponse,
    #[error(
        "the Response has no Assertion (an EncryptedAssertion is read only by an SP with a decryption key: apps[].encryption.private_key)"
    )]
    NoAssertion,
    #[error("the Response has {0} Assertions; exactly one is accepted")]
    SeveralAssertions(usize),
    #[error("the signature does not verify with the IdP's certificate (or there is none): {0}")]
    Signature(String),
    #[error("the signature cannot be checked: {0}")]
    Reference(String),
    #[error("the Assertion is not signed (only signed Assertions are accepted)")]
    AssertionUnsigned,
    #[error("Status is `{0}`, not Success")]
    Status(String),
    #[error("Issuer `{got}` is not the IdP `{expected}`")]
    Issuer { got: String, expected: String },
    #[error("Destination `{got}` is not this ACS URL `{expected}`")]
    Destination { got: String, expected: String },
    #[error("Recipient `{got}` is not this ACS URL `{expected}`")]
    Recipient { got: String, expected: String },
    #[error("SubjectConfirmation method `{0}` is not bearer")]
    NotBearer(String),
    #[error("SubjectConfirmationData lacks {0}")]
    ConfirmationIncomplete(&'static str),
    #[error("Audience {got:?} does not include this SP `{expected}`")]
    Audience { got: Vec<String>, expected: String },
    #[error("the Assertion is not valid yet (NotBefore {0})")]
    NotYetValid(String),
    #[error("the Assertion has expired ({what} {at})")]
    Expired { what: &'static str, at: String },
    #[error("InResponseTo `{0}` is not a request this SP sent (or it was answered already)")]
    UnknownInResponseTo(String),
    #[error(
        "an unsolicited Response (no InResponseTo), and this SP accepts only answers to its own requests"
    )]
    Unsolicited,
    #[error("Assertion `{0}` was already used (replay)")]
    Replay(String),
    #[error("the Assertion has no NameID")]
    NoNameId,
    #[error("the {0} `{1}` is not a valid instant")]
    BadInstant(&'static str, String),
    #[error(
        "the Assertion is in clear, and this SP takes only encrypted assertions (it gave the IdP its encryption certificate)"
    )]
    NotEncrypted,
    #[error("the EncryptedAssertion does not decrypt: {0}")]
    Decrypt(String),
    #[error("the {what} is `{algorithm}`; this SP is configured for {want}")]
    WeakAlgorithm {
        what: &'static str,
        algorithm: String,
        want: &'static str,
    },
}

fn parse<'x>(xml: &'x str, flaws: &Flaws) -> Result<roxmltree::Document<'x>, Refusal> {
    use crate::saml::untrusted::{self, XmlError};
    // The defect of `accept-doctype`: a DOCTYPE is parsed (roxmltree still expands only
    // internal entities, within limits, and fetches nothing). The nesting limit holds anyway.
    untrusted::parse(xml, flaws.on(Flaw::AcceptDoctype)).map_err(|e| match e {
        XmlError::Doctype => Refusal::Doctype,
        XmlError::NotXml(why) => Refusal::NotXml(why),
        XmlError::TooDeep { limit } => Refusal::TooDeep { limit },
    })
}

fn is(n: &roxmltree::Node<'_, '_>, ns: &str, name: &str) -> bool {
    n.is_element() && n.tag_name().name() == name && n.tag_name().namespace() == Some(ns)
}

fn child<'a, 'i>(
    n: roxmltree::Node<'a, 'i>,
    ns: &str,
    name: &str,
) -> Option<roxmltree::Node<'a, 'i>> {
    n.children().find(|c| is(c, ns, name))
}

/// All text under a node, concatenated (comments split text nodes; a careful SP joins them).
fn full_text(n: roxmltree::Node<'_, '_>) -> String {
    n.descendants()
        .filter(|d| d.is_text())
        .filter_map(|d| d.text())
        .collect::<String>()
        .trim()
        .to_owned()
}

/// Whether a Destination (or, `recipient`, a bearer Recipient) names this ACS URL: equal,
/// unless a flaw bends the comparison the way real SP libraries do (a prefix, a substring).
fn names_the_acs(got: &str, acs: &str, recipient: bool, flaws: &Flaws) -> bool {
    got == acs
        || (flaws.on(Flaw::AcsPrefixMatch) && got.starts_with(acs))
        || (recipient && flaws.on(Flaw::RecipientSubstring) && got.contains(acs))
}

fn instant(what: &'static str, s: &str) -> Result<OffsetDateTime, Refusal> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|_| Refusal::BadInstant(what, s.to_owned()))
}

/// How many closing tags of the root's name `parse-past-first-root` tries as the end of the
/// first root element.
const MAX_ROOT_CANDIDATES: usize = 16;

/// How many `ds:KeyValue` keys the KeyInfo flaws take from one document (each becomes a
/// throwaway certificate).
const MAX_KEY_VALUES: usize = 4;

/// The defect of `parse-past-first-root`: when the document does not parse because a second
/// element follows the root, (the first root element, the rest). None without the flaw, or
/// when the document parses (or fails for another reason).
fn split_at_second_root<'x>(xml: &'x str, flaws: &Flaws) -> Option<(&'x str, &'x str)> {
    if !flaws.on(Flaw::ParsePastFirstRoot) || parse(xml, flaws).is_ok() {
        return None;
    }
    // The root's qualified name, after the XML declaration.
    let body = xml.trim_start();
    let body = match body.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>")?.1.trim_start(),
        None => body,
    };
    let name: String = body
        .strip_prefix('<')?
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '>' && *c != '/')
        .collect();
    let close = format!("</{name}>");
    let mut from = 0;
    // Each candidate costs a parse: a bounded number of them, however many the text holds.
    for _ in 0..MAX_ROOT_CANDIDATES {
        let Some(at) = xml[from..].find(&close) else {
            break;
        };
        let end = from + at + close.len();
        let (first, rest) = xml.split_at(end);
        if parse(first, flaws).is_ok() && parse(rest, flaws).is_ok() {
            return Some((first, rest));
        }
        from = end;
    }
    None
}

/// Whether a `ds:DigestValue` of the document has a child other than its text (a comment).
fn digest_value_has_a_leading_node(doc: &roxmltree::Document<'_>) -> bool {
    doc.descendants()
        .filter(|n| is(n, DSIG, "DigestValue"))
        .any(|d| d.children().any(|c| !c.is_text()))
}

/// The defect of `digest-from-first-node`, in place of xmlsec: each reference's digest is
/// compared with the first child node of its DigestValue (a comment's text included), and
/// SignedInfo's signature is checked over its exclusive c14n (comments dropped). Returns the
/// signed element's canonical form (what xmlsec's pre-digest output would be).
fn first_node_digests(doc: &roxmltree::Document<'_>, certs: &[Vec<u8>]) -> Result<String, Refusal> {
    use base64::Engine;
    use openssl::hash::MessageDigest;
    let b64 = base64::engine::general_purpose::STANDARD;
    let bad = |why: &str| Refusal::Signature(why.to_owned());
    let keys: Vec<_> = certs
        .iter()
        .filter_map(|c| openssl::x509::X509::from_der(c).ok()?.public_key().ok())
        .collect();
    let mut signed = None;
    for sig in doc.descendants().filter(|n| is(n, DSIG, "Signature")) {
        let info = child(sig, DSIG, "SignedInfo").ok_or_else(|| bad("no SignedInfo"))?;
        let method = child(info, DSIG, "SignatureMethod")
            .and_then(|m| m.attribute("Algorithm"))
            .unwrap_or_default();
        if method != crate::saml::ns::ALG_RSA_SHA256 {
            return Err(bad("the SignatureMethod is not RSA-SHA256"));
        }
        let reference = child(info, DSIG, "Reference").ok_or_else(|| bad("no Reference"))?;
        let id = reference
            .attribute("URI")
            .and_then(|u| u.strip_prefix('#'))
            .ok_or_else(|| bad("the Reference names no ID"))?;
        let element = doc
            .descendants()
            .find(|n| n.is_element() && n.attribute("ID") == Some(id))
            .ok_or_else(|| bad("no element has the referenced ID"))?;
        let own = element.children().find(|c| is(c, DSIG, "Signature"));
        let canonical = crate::saml::c14n::canonicalize(element, own.map(|s| s.id()));
        let digest = openssl::hash::hash(MessageDigest::sha256(), canonical.as_bytes())
            .map_err(|e| bad(&e.to_string()))?;
        // The defect: the first child node, whatever it is.
        let first = child(reference, DSIG, "DigestValue")
            .and_then(|d| d.first_child())
            .and_then(|n| n.text())
            .unwrap_or_default()
            .trim();
        if first != b64.encode(digest) {
            return Err(bad("a digest does not match"));
        }
        let value: String = child(sig, DSIG, "SignatureValue")
            .map(full_text)
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        let value = b64
            .decode(value)
            .map_err(|_| bad("SignatureValue is not base64"))?;
        let info_c14n = crate::saml::c14n::canonicalize(info, None);
        let verified = keys.iter().any(|k| {
            openssl::sign::Verifier::new(MessageDigest::sha256(), k)
                .and_then(|mut v| {
                    v.update(info_c14n.as_bytes())?;
                    v.verify(&value)
                })
                .unwrap_or(false)
        });
        if !verified {
            return Err(bad(
                "SignatureValue does not verify with the IdP's certificate",
            ));
        }
        // The outermost signed element is what the SP reads (xmlsec's pre-digest output).
        if signed.is_none() || element == doc.root_element() {
            signed = Some(canonical);
        }
    }
    signed.ok_or_else(|| bad("no signature"))
}

/// The defects of `trust-keyinfo-keyvalue` and `keyvalue-beside-idp-certificate`: the
/// `ds:RSAKeyValue` of a signature's KeyInfo, wrapped in a certificate for xmlsec, when the
/// KeyInfo has no certificate (the first) or has one of the IdP's (the second).
fn key_values_trusted(
    doc: &roxmltree::Document<'_>,
    sp: &SpSettings,
    flaws: &Flaws,
) -> Vec<Vec<u8>> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let (alone, beside) = (
        flaws.on(Flaw::TrustKeyInfoKeyValue),
        flaws.on(Flaw::KeyValueBesideIdpCertificate),
    );
    if !alone && !beside {
        return Vec::new();
    }
    let mut out = Vec::new();
    for info in doc
        .descendants()
        .filter(|n| is(n, DSIG, "KeyInfo"))
        .take(MAX_KEY_VALUES)
    {
        let certs: Vec<Vec<u8>> = info
            .descendants()
            .filter(|n| is(n, DSIG, "X509Certificate"))
            .filter_map(|c| {
                b64.decode(full_text(c).split_whitespace().collect::<String>())
                    .ok()
            })
            .collect();
        let take = (alone && certs.is_empty())
            || (beside && certs.iter().any(|c| sp.idp_certs.contains(c)));
        let Some(kv) = info.descendants().find(|n| is(n, DSIG, "RSAKeyValue")) else {
            continue;
        };
        let number = |name: &str| {
            let text: String = child(kv, DSIG, name)
                .map(full_text)?
                .split_whitespace()
                .collect();
            openssl::bn::BigNum::from_slice(&b64.decode(text).ok()?).ok()
        };
        if let (true, Some(n), Some(e)) = (take, number("Modulus"), number("Exponent")) {
            if let Some(der) = certificate_for(n, e) {
                out.push(der);
            }
        }
    }
    out
}

/// A throwaway certificate around an RSA public key (xmlsec is handed keys as certificates).
fn certificate_for(n: openssl::bn::BigNum, e: openssl::bn::BigNum) -> Option<Vec<u8>> {
    use openssl::pkey::PKey;
    let public = PKey::from_rsa(openssl::rsa::Rsa::from_public_components(n, e).ok()?).ok()?;
    let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).ok()?;
    let signer = PKey::from_ec_key(openssl::ec::EcKey::generate(&group).ok()?).ok()?;
    let mut b = openssl::x509::X509Builder::new().ok()?;
    b.set_pubkey(&public).ok()?;
    let mut name = openssl::x509::X509NameBuilder::new().ok()?;
    name.append_entry_by_text("CN", "keyvalue").ok()?;
    let name = name.build();
    b.set_subject_name(&name).ok()?;
    b.set_issuer_name(&name).ok()?;
    let (from, until) = (
        openssl::asn1::Asn1Time::days_from_now(0).ok()?,
        openssl::asn1::Asn1Time::days_from_now(1).ok()?,
    );
    b.set_not_before(&from).ok()?;
    b.set_not_after(&until).ok()?;
    b.sign(&signer, openssl::hash::MessageDigest::sha256())
        .ok()?;
    b.build().to_der().ok()
}

/// What the caller remembers between requests: requests sent, assertions seen.
pub trait Memory {
    /// Consumes an outstanding request id; false when unknown.
    fn take_request(&mut self, id: &str) -> bool;
    /// Whether an outstanding request id is known, leaving it outstanding (the
    /// `allow-replay` defect answers a request twice); consumes it unless overridden.
    fn peek_request(&mut self, id: &str) -> bool {
        self.take_request(id)
    }
    /// Records an assertion id until `until`; false when it was seen before.
    fn first_use(&mut self, assertion_id: &str, until: OffsetDateTime) -> bool;
}

/// Checks a posted Response (already base64-decoded), one rule at a time (each a function
/// below, in the order applied). Blocking (libxmlsec1, RSA): the server runs it on the
/// blocking pool.
pub fn check(
    xml: &str,
    sp: &SpSettings,
    now: OffsetDateTime,
    memory: &mut dyn Memory,
    flaws: &Flaws,
) -> Result<Accepted, Refusal> {
    // The defect of `parse-past-first-root`: a document with a second root element is split
    // there; the first is only signature-checked, the second is read.
    let (xml, first_root) = match split_at_second_root(xml, flaws) {
        Some((first, rest)) => (rest, Some(first)),
        None => (xml, None),
    };
    // Encrypted Assertions are decrypted here (the Response's signature verified first, over
    // the EncryptedAssertion); what follows reads the decrypted document, and verifies the
    // Assertion's own signature the way it does in clear. Under `parse-past-first-root` the
    // rest is decrypted unverified, as it is read unverified.
    let decrypted = decrypted_response(xml, sp, flaws, first_root.is_none())?;
    let xml = decrypted.as_ref().map_or(xml, |d| d.full.as_str());
    let original = parse(xml, flaws)?;
    let root = original.root_element();
    if !is(&root, PROTOCOL, "Response") {
        return Err(Refusal::NotAResponse);
    }
    let assertions = one_assertion(&original, flaws)?;
    algorithms(&original, sp, flaws)?;
    // What the Assertion's signature is looked for in: the decrypted Response as its verified
    // signature covers it, when it is signed; else the document.
    let verified_response = decrypted
        .as_ref()
        .and_then(|d| d.signed_response.as_deref());
    let response_doc = verified_response.map(|t| parse(t, flaws)).transpose()?;
    let (base_text, base) = match (verified_response, &response_doc) {
        (Some(t), Some(d)) => (t, d),
        _ => (xml, &original),
    };
    let trust_decrypted = decrypted.is_some() && flaws.on(Flaw::TrustDecryptedAssertion);

    // The signed content: xmlsec's pre-digest bytes of the verified reference.
    let signed_text;
    let signed_doc;
    let content = if flaws.on(Flaw::SkipSignature) {
        &original
    } else if let Some(first) = first_root {
        first_root_signed(first, sp, flaws)?;
        &original
    } else if trust_decrypted || (decrypted.is_some() && !has_signature(base)) {
        // A decrypted Assertion without a signature: only a verified Response vouches for
        // it (and `assertion_signed` below still wants it signed).
        if verified_response.is_none() && !trust_decrypted {
            return Err(Refusal::AssertionUnsigned);
        }
        base
    } else if flaws.on(Flaw::DigestFromFirstNode) && digest_value_has_a_leading_node(base) {
        crate::saml::signature::same_document_references(base)
            .map_err(|e| Refusal::Reference(e.to_string()))?;
        signed_text = first_node_digests(base, &sp.idp_certs)?;
        signed_doc = parse(&signed_text, flaws)?;
        &signed_doc
    } else {
        signed_text = signed_content(base_text, base, sp, flaws)?;
        signed_doc = parse(&signed_text, flaws)?;
        &signed_doc
    };
    let signed_root = content.root_element();
    // Response-level values come from the signed Response when it is signed.
    let response = if is(&signed_root, PROTOCOL, "Response") {
        signed_root
    } else {
        response_doc.as_ref().map_or(root, |d| d.root_element())
    };
    let verified_assertion = if is(&signed_root, ASSERTION, "Assertion") {
        signed_root
    } else {
        child(signed_root, ASSERTION, "Assertion").ok_or(Refusal::NoAssertion)?
    };
    // Under `parse-past-first-root` only the first root was verified: nothing read is signed.
    // Under `trust-decrypted-assertion` a decrypted Assertion need not be.
    if first_root.is_none() && !trust_decrypted {
        assertion_signed(signed_root, verified_assertion, flaws)?;
    }
    // The defect of `first-assertion`: the data is read from the document's first Assertion,
    // whatever was verified.
    let assertion = if flaws.on(Flaw::FirstAssertion) {
        assertions[0]
    } else if flaws.on(Flaw::LastAssertion) {
        assertions[assertions.len() - 1]
    } else {
        verified_assertion
    };
    let assertion_id = assertion.attribute("ID").unwrap_or_default().to_owned();

    status(response, flaws)?;
    issuer(assertion, response, sp, flaws)?;
    destination(response, sp, flaws)?;
    let subject = child(assertion, ASSERTION, "Subject").ok_or(Refusal::NoNameId)?;
    let name_id = name_id(&original, subject, &assertion_id, flaws)?;
    let data = bearer(subject, sp, flaws)?;
    let conditions = child(assertion, ASSERTION, "Conditions");
    let not_on_or_after = time_window(data, conditions, now, flaws)?;
    audience(conditions, sp, flaws)?;
    replay(memory, &assertion_id, not_on_or_after, now, flaws)?;
    let in_response_to = in_response_to(data, response, sp, memory, flaws)?;
    let session_index = child(assertion, ASSERTION, "AuthnStatement")
        .and_then(|a| a.attribute("SessionIndex"))
        .map(str::to_owned);
    Ok(Accepted {
        name_id,
        session_index,
        assertion_id,
        in_response_to,
        attributes: attributes(assertion),
        not_on_or_after,
    })
}

type Node<'a, 'i> = roxmltree::Node<'a, 'i>;

/// The signature and digest algorithms of every `ds:Signature` in the document: RSA-SHA256
/// and SHA-256, unless the SP takes SHA-1 (or has the `accept-sha1` defect). A digest inside
/// an `xenc:EncryptionMethod` (RSA-OAEP's) is not a signature's.
fn algorithms(
    doc: &roxmltree::Document<'_>,
    sp: &SpSettings,
    flaws: &Flaws,
) -> Result<(), Refusal> {
    use crate::saml::ns;
    let sha1 = sp.allow_sha1 || flaws.on(Flaw::AcceptSha1);
    for n in doc.descendants() {
        let (what, want, weak) = if is(&n, DSIG, "SignatureMethod") {
            ("SignatureMethod", ns::ALG_RSA_SHA256, ns::ALG_RSA_SHA1)
        } else if is(&n, DSIG, "DigestMethod")
            && n.parent().is_some_and(|p| is(&p, DSIG, "Reference"))
        {
            ("DigestMethod", ns::ALG_SHA256, ns::ALG_SHA1)
        } else {
            continue;
        };
        let algorithm = n.attribute("Algorithm").unwrap_or_default();
        if algorithm != want && !(sha1 && algorithm == weak) {
            return Err(Refusal::WeakAlgorithm {
                what,
                algorithm: algorithm.to_owned(),
                want: if what == "SignatureMethod" {
                    "RSA-SHA256"
                } else {
                    "SHA-256"
                },
            });
        }
    }
    Ok(())
}

/// The most EncryptedAssertions a Response may carry to an SP whose flaws read one of several
/// (each costs an RSA decryption); a strict SP takes one.
const MAX_ENCRYPTED_ASSERTIONS: usize = 4;

/// What an SP that decrypts reads: the document with every `EncryptedAssertion` replaced by
/// its plaintext (`full`), and, when the Response is signed and verified, the Response as its
/// signature covers it (xmlsec's pre-digest text), decrypted the same way.
struct Decrypted {
    full: String,
    signed_response: Option<String>,
}

/// For an SP that decrypts (`SpSettings::decryption_key`): the Response's signature verified
/// over the `EncryptedAssertion` when it has one (and `verify`), then the Assertion decrypted
/// in place, in the whole document and in the verified Response. None for an SP without a
/// decryption key. An Assertion in clear is refused (SAML core §2.3.4: the SP asked for
/// encryption), except under `accept-plain-assertion`. The Assertion's own signature is
/// checked by the caller, as in clear.
fn decrypted_response(
    xml: &str,
    sp: &SpSettings,
    flaws: &Flaws,
    verify: bool,
) -> Result<Option<Decrypted>, Refusal> {
    let Some(key) = &sp.decryption_key else {
        return Ok(None);
    };
    let doc = parse(xml, flaws)?;
    let root = doc.root_element();
    if !is(&root, PROTOCOL, "Response") {
        return Err(Refusal::NotAResponse);
    }
    let encrypted = doc
        .descendants()
        .filter(|n| is(n, ASSERTION, "EncryptedAssertion"))
        .count();
    let plain = doc
        .descendants()
        .filter(|n| is(n, ASSERTION, "Assertion"))
        .count();
    if encrypted == 0 {
        return if flaws.on(Flaw::AcceptPlainAssertion) {
            Ok(None)
        } else if plain == 0 {
            Err(Refusal::NoAssertion)
        } else {
            Err(Refusal::NotEncrypted)
        };
    }
    if plain > 0 && !flaws.on(Flaw::AcceptPlainAssertion) {
        return Err(Refusal::NotEncrypted);
    }
    let several_read = reads_one_of_several(flaws);
    if (encrypted + plain > 1 && !several_read) || encrypted > MAX_ENCRYPTED_ASSERTIONS {
        return Err(Refusal::SeveralAssertions(encrypted + plain));
    }
    algorithms(&doc, sp, flaws)?;
    // The Response's signature, when it has one: what is read next is what it covers.
    let signed_response =
        if verify && !flaws.on(Flaw::SkipSignature) && child(root, DSIG, "Signature").is_some() {
            let text =
                if flaws.on(Flaw::DigestFromFirstNode) && digest_value_has_a_leading_node(&doc) {
                    crate::saml::signature::same_document_references(&doc)
                        .map_err(|e| Refusal::Reference(e.to_string()))?;
                    first_node_digests(&doc, &sp.idp_certs)?
                } else {
                    signed_content(xml, &doc, sp, flaws)?
                };
            Some(decrypt_in_place(&text, key, flaws)?)
        } else {
            None
        };
    Ok(Some(Decrypted {
        full: decrypt_in_place(xml, key, flaws)?,
        signed_response,
    }))
}

/// `xml` with each `EncryptedAssertion` replaced by the Assertion it decrypts to (one pass: an
/// EncryptedAssertion inside a decrypted one stays as it is).
fn decrypt_in_place(
    xml: &str,
    key: &openssl::pkey::PKey<openssl::pkey::Private>,
    flaws: &Flaws,
) -> Result<String, Refusal> {
    let doc = parse(xml, flaws)?;
    let mut plains = Vec::new();
    for encrypted in doc
        .descendants()
        .filter(|n| is(n, ASSERTION, "EncryptedAssertion"))
        .take(MAX_ENCRYPTED_ASSERTIONS)
    {
        let plain = crate::saml::encrypt::decrypt_assertion(encrypted, key)
            .map_err(|e| Refusal::Decrypt(e.to_string()))?;
        let assertion = parse(&plain, flaws)?;
        if !is(&assertion.root_element(), ASSERTION, "Assertion") {
            return Err(Refusal::Decrypt(
                "the decrypted element is not a saml:Assertion".into(),
            ));
        }
        plains.push((encrypted.range(), plain));
    }
    let mut out = xml.to_owned();
    // From the end, so the earlier ranges stay valid.
    for (r, plain) in plains.into_iter().rev() {
        out.replace_range(r, &plain);
    }
    Ok(out)
}

/// Whether the document holds a `ds:Signature` anywhere.
fn has_signature(doc: &roxmltree::Document<'_>) -> bool {
    doc.descendants().any(|n| is(&n, DSIG, "Signature"))
}

/// The flaws under which the SP reads one Assertion of several (`keep-signed-assertion`, an
/// allowed behaviour, included).
fn reads_one_of_several(flaws: &Flaws) -> bool {
    [
        Flaw::FirstAssertion,
        Flaw::LastAssertion,
        Flaw::KeepSignedAssertion,
    ]
    .iter()
    .any(|f| flaws.on(*f))
}

/// One Assertion per Response (the flaws that read some Assertion of several excepted): every
/// Assertion of the document, in order.
fn one_assertion<'a, 'i>(
    original: &'a roxmltree::Document<'i>,
    flaws: &Flaws,
) -> Result<Vec<Node<'a, 'i>>, Refusal> {
    let assertions: Vec<_> = original
        .descendants()
        .filter(|n| is(n, ASSERTION, "Assertion"))
        .collect();
    if assertions.is_empty() {
        return Err(Refusal::NoAssertion);
    }
    // `keep-signed-assertion` reads only the verified Assertion, whatever else the document
    // holds: allowed, since the unsigned ones are never used.
    if assertions.len() > 1 && !reads_one_of_several(flaws) {
        return Err(Refusal::SeveralAssertions(assertions.len()));
    }
    Ok(assertions)
}

/// The signature, by libxmlsec1 against the IdP's certificates (RSA-SHA256 only, references
/// within the document only): the pre-digest text of what it covers.
fn signed_content(
    xml: &str,
    original: &roxmltree::Document<'_>,
    sp: &SpSettings,
    flaws: &Flaws,
) -> Result<String, Refusal> {
    // Nothing outside the document is ever fetched while verifying.
    crate::saml::signature::same_document_references(original)
        .map_err(|e| Refusal::Reference(e.to_string()))?;
    crate::ffi::prepare_xmlsec();
    // The keys the KeyInfo flaws take from the document come first: samael stops at the
    // first key that fails with an error rather than a mismatch.
    let mut certs: Vec<CertificateDer> = key_values_trusted(original, sp, flaws)
        .into_iter()
        .map(CertificateDer::from)
        .collect();
    certs.extend(sp.idp_certs.iter().map(|c| CertificateDer::from(c.clone())));
    // RSA-SHA1 has no name in samael's list: when SHA-1 is taken, `algorithms` has already
    // limited the document to RSA-SHA256 and RSA-SHA1.
    let sha1 = sp.allow_sha1 || flaws.on(Flaw::AcceptSha1);
    XmlSec::reduce_xml_to_signed_with_allowed_algorithms(
        xml,
        &certs,
        ReduceMode::PreDigest,
        (!sha1).then_some(&[AllowedSignatureAlgorithm::RsaSha256][..]),
    )
    .map_err(|e| Refusal::Signature(e.to_string()))
}

/// The defect of `parse-past-first-root`: only the document's first root element is
/// verified (by libxmlsec1 against the IdP's certificates, as `signed_content`); what is read
/// comes from the rest.
fn first_root_signed(first: &str, sp: &SpSettings, flaws: &Flaws) -> Result<(), Refusal> {
    let certs: Vec<CertificateDer> = sp
        .idp_certs
        .iter()
        .map(|c| CertificateDer::from(c.clone()))
        .collect();
    crate::saml::signature::same_document_references(&parse(first, flaws)?)
        .map_err(|e| Refusal::Reference(e.to_string()))?;
    crate::ffi::prepare_xmlsec();
    XmlSec::reduce_xml_to_signed_with_allowed_algorithms(
        first,
        &certs,
        ReduceMode::PreDigest,
        Some(&[AllowedSignatureAlgorithm::RsaSha256]),
    )
    .map_err(|e| Refusal::Signature(e.to_string()))?;
    Ok(())
}

/// The Assertion is signed when it is the verified reference itself, or when the signed
/// Response carries the Assertion's own signature (xmlsec verified every signature present).
fn assertion_signed(
    signed_root: Node<'_, '_>,
    verified_assertion: Node<'_, '_>,
    flaws: &Flaws,
) -> Result<(), Refusal> {
    if flaws.on(Flaw::SkipSignature)
        || flaws.on(Flaw::UnsignedAssertion)
        || is(&signed_root, ASSERTION, "Assertion")
    {
        return Ok(());
    }
    let id = verified_assertion.attribute("ID").unwrap_or_default();
    let signed = child(verified_assertion, DSIG, "Signature")
        .and_then(|s| child(s, DSIG, "SignedInfo"))
        .and_then(|si| child(si, DSIG, "Reference"))
        .and_then(|r| r.attribute("URI"))
        .is_some_and(|uri| uri.strip_prefix('#') == Some(id));
    if signed {
        Ok(())
    } else {
        Err(Refusal::AssertionUnsigned)
    }
}

/// The Response's top-level StatusCode is Success.
fn status(response: Node<'_, '_>, flaws: &Flaws) -> Result<(), Refusal> {
    let status = child(response, PROTOCOL, "Status")
        .and_then(|s| child(s, PROTOCOL, "StatusCode"))
        .and_then(|c| c.attribute("Value"))
        .unwrap_or("(none)");
    if status != SUCCESS && !flaws.on(Flaw::IgnoreStatus) {
        return Err(Refusal::Status(status.to_owned()));
    }
    Ok(())
}

/// The Assertion's Issuer (required) and the Response's (when present) are the IdP's.
fn issuer(
    assertion: Node<'_, '_>,
    response: Node<'_, '_>,
    sp: &SpSettings,
    flaws: &Flaws,
) -> Result<(), Refusal> {
    if flaws.on(Flaw::IgnoreIssuer) {
        return Ok(());
    }
    for node in [assertion, response] {
        if let Some(issuer) = child(node, ASSERTION, "Issuer") {
            let got = full_text(issuer);
            if got != sp.idp_entity_id {
                return Err(Refusal::Issuer {
                    got,
                    expected: sp.idp_entity_id.clone(),
                });
            }
        } else if node == assertion {
            return Err(Refusal::Issuer {
                got: "(none)".into(),
                expected: sp.idp_entity_id.clone(),
            });
        }
    }
    Ok(())
}

/// A Destination, when present, is this ACS URL.
fn destination(response: Node<'_, '_>, sp: &SpSettings, flaws: &Flaws) -> Result<(), Refusal> {
    if flaws.on(Flaw::IgnoreRecipient) {
        return Ok(());
    }
    match response.attribute("Destination") {
        Some(d) if !names_the_acs(d, &sp.acs_url, false, flaws) => Err(Refusal::Destination {
            got: d.to_owned(),
            expected: sp.acs_url.clone(),
        }),
        _ => Ok(()),
    }
}

/// The whole NameID (every text node: a comment inside does not cut it), not empty.
fn name_id(
    original: &roxmltree::Document<'_>,
    subject: Node<'_, '_>,
    assertion_id: &str,
    flaws: &Flaws,
) -> Result<String, Refusal> {
    let name_id_node = child(subject, ASSERTION, "NameID").ok_or(Refusal::NoNameId)?;
    let name_id = if flaws.on(Flaw::TruncateNameIdAtComment) {
        // The defect: the first text node only, as some XML libraries hand it out.
        original
            .descendants()
            .find(|n| is(n, ASSERTION, "Assertion") && n.attribute("ID") == Some(assertion_id))
            .and_then(|a| child(a, ASSERTION, "Subject"))
            .and_then(|s| child(s, ASSERTION, "NameID"))
            .and_then(|n| n.first_child())
            .and_then(|t| t.text())
            .unwrap_or_default()
            .trim()
            .to_owned()
    } else {
        full_text(name_id_node)
    };
    if name_id.is_empty() {
        return Err(Refusal::NoNameId);
    }
    Ok(name_id)
}

/// A bearer SubjectConfirmation whose Recipient is this ACS URL: its SubjectConfirmationData.
fn bearer<'a, 'i>(
    subject: Node<'a, 'i>,
    sp: &SpSettings,
    flaws: &Flaws,
) -> Result<Node<'a, 'i>, Refusal> {
    let confirmation = subject
        .children()
        .find(|c| is(c, ASSERTION, "SubjectConfirmation"))
        .ok_or(Refusal::ConfirmationIncomplete("a SubjectConfirmation"))?;
    let method = confirmation.attribute("Method").unwrap_or("(none)");
    let any_confirmation = flaws.on(Flaw::AcceptAnyConfirmation);
    if method != BEARER && !any_confirmation {
        return Err(Refusal::NotBearer(method.to_owned()));
    }
    let data = child(confirmation, ASSERTION, "SubjectConfirmationData")
        .ok_or(Refusal::ConfirmationIncomplete("SubjectConfirmationData"))?;
    let recipient = match data.attribute("Recipient") {
        Some(r) => r,
        None if any_confirmation => sp.acs_url.as_str(),
        None => return Err(Refusal::ConfirmationIncomplete("Recipient")),
    };
    if !flaws.on(Flaw::IgnoreRecipient) && !names_the_acs(recipient, &sp.acs_url, true, flaws) {
        return Err(Refusal::Recipient {
            got: recipient.to_owned(),
            expected: sp.acs_url.clone(),
        });
    }
    Ok(data)
}

/// The confirmation's NotOnOrAfter and the Conditions' window, with the clock skew: how long
/// the Assertion is good for.
fn time_window(
    data: Node<'_, '_>,
    conditions: Option<Node<'_, '_>>,
    now: OffsetDateTime,
    flaws: &Flaws,
) -> Result<Option<OffsetDateTime>, Refusal> {
    let confirm_until = data
        .attribute("NotOnOrAfter")
        .ok_or(Refusal::ConfirmationIncomplete("NotOnOrAfter"))?;
    let confirm_until = instant("SubjectConfirmationData NotOnOrAfter", confirm_until)?;
    let mut not_on_or_after = Some(confirm_until);
    if flaws.on(Flaw::AcceptExpired) {
        return Ok(not_on_or_after);
    }
    if now - SKEW >= confirm_until {
        return Err(Refusal::Expired {
            what: "SubjectConfirmationData NotOnOrAfter",
            at: crate::saml::xml::instant(confirm_until),
        });
    }
    if let Some(c) = conditions {
        if let Some(nb) = c.attribute("NotBefore") {
            let nb = instant("Conditions NotBefore", nb)?;
            if now + SKEW < nb {
                return Err(Refusal::NotYetValid(crate::saml::xml::instant(nb)));
            }
        }
        if let Some(na) = c.attribute("NotOnOrAfter") {
            let na = instant("Conditions NotOnOrAfter", na)?;
            if now - SKEW >= na {
                return Err(Refusal::Expired {
                    what: "Conditions NotOnOrAfter",
                    at: crate::saml::xml::instant(na),
                });
            }
            not_on_or_after = Some(na.min(confirm_until));
        }
    }
    Ok(not_on_or_after)
}

/// This SP is one of the audiences.
fn audience(
    conditions: Option<Node<'_, '_>>,
    sp: &SpSettings,
    flaws: &Flaws,
) -> Result<(), Refusal> {
    if flaws.on(Flaw::IgnoreAudience) {
        return Ok(());
    }
    let audiences: Vec<String> = conditions
        .into_iter()
        .flat_map(|c| {
            c.children()
                .filter(|x| is(x, ASSERTION, "AudienceRestriction"))
        })
        .flat_map(|r| r.children().filter(|x| is(x, ASSERTION, "Audience")))
        .map(full_text)
        .collect();
    if !audiences.contains(&sp.entity_id) {
        return Err(Refusal::Audience {
            got: audiences,
            expected: sp.entity_id.clone(),
        });
    }
    Ok(())
}

/// The Assertion was not used before. Checked before InResponseTo: a replayed answer to an
/// SP-initiated login would otherwise only show as an InResponseTo already answered.
fn replay(
    memory: &mut dyn Memory,
    assertion_id: &str,
    not_on_or_after: Option<OffsetDateTime>,
    now: OffsetDateTime,
    flaws: &Flaws,
) -> Result<(), Refusal> {
    if flaws.on(Flaw::AllowReplay) {
        return Ok(());
    }
    let until = not_on_or_after.unwrap_or(now + Duration::minutes(10));
    if !memory.first_use(assertion_id, until.max(now + SKEW)) {
        return Err(Refusal::Replay(assertion_id.to_owned()));
    }
    Ok(())
}

/// InResponseTo answers an outstanding request of this SP (taken once), or is absent when the
/// SP takes unsolicited Responses.
fn in_response_to(
    data: Node<'_, '_>,
    response: Node<'_, '_>,
    sp: &SpSettings,
    memory: &mut dyn Memory,
    flaws: &Flaws,
) -> Result<Option<String>, Refusal> {
    let in_response_to = data
        .attribute("InResponseTo")
        .or_else(|| response.attribute("InResponseTo"))
        .map(str::to_owned);
    if flaws.on(Flaw::IgnoreInResponseTo) {
        return Ok(in_response_to);
    }
    match &in_response_to {
        Some(id) => {
            let known = if flaws.on(Flaw::AllowReplay) {
                memory.peek_request(id)
            } else {
                memory.take_request(id)
            };
            if !known {
                return Err(Refusal::UnknownInResponseTo(id.clone()));
            }
        }
        None if !sp.allow_unsolicited => return Err(Refusal::Unsolicited),
        None => {}
    }
    Ok(in_response_to)
}

/// The attribute statements' values, by attribute name.
fn attributes(assertion: Node<'_, '_>) -> BTreeMap<String, Vec<String>> {
    let mut attributes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for statement in assertion
        .children()
        .filter(|c| is(c, ASSERTION, "AttributeStatement"))
    {
        for attr in statement
            .children()
            .filter(|c| is(c, ASSERTION, "Attribute"))
        {
            let name = attr.attribute("Name").unwrap_or_default().to_owned();
            let values = attr
                .children()
                .filter(|v| is(v, ASSERTION, "AttributeValue"))
                .map(full_text);
            attributes.entry(name).or_default().extend(values);
        }
    }
    attributes
}

/// The SP's AuthnRequest (sent unsigned over HTTP-Redirect).
pub fn authn_request(
    id: &str,
    issue_instant: OffsetDateTime,
    sp: &SpSettings,
    sso_url: &str,
) -> String {
    crate::saml::authn_request::build(
        id,
        &crate::saml::xml::instant(issue_instant),
        &sp.entity_id,
        sso_url,
        &sp.acs_url,
        false,
    )
}

/// What the SP learns from IdP metadata.
#[derive(Debug, Clone)]
pub struct IdpMetadata {
    pub entity_id: String,
    pub sso_url: String,
    pub slo_url: Option<String>,
    pub certs: Vec<Vec<u8>>,
}

/// The IdP's entity id, Redirect-binding SSO (and SLO) URLs and signing certificates.
pub fn read_metadata(xml: &str) -> Result<IdpMetadata, String> {
    use base64::Engine;
    let doc = parse(xml, &Flaws::none()).map_err(|e| e.to_string())?;
    let root = doc.root_element();
    let md = "urn:oasis:names:tc:SAML:2.0:metadata";
    let entity_id = root
        .attribute("entityID")
        .ok_or("the metadata has no entityID")?
        .to_owned();
    let idp = doc
        .descendants()
        .find(|n| is(n, md, "IDPSSODescriptor"))
        .ok_or("the metadata has no IDPSSODescriptor")?;
    let sso = idp
        .children()
        .filter(|n| is(n, md, "SingleSignOnService"))
        .find(|n| {
            n.attribute("Binding") == Some("urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect")
        })
        .and_then(|n| n.attribute("Location"))
        .ok_or("the metadata has no HTTP-Redirect SingleSignOnService")?
        .to_owned();
    let certs: Vec<Vec<u8>> = idp
        .children()
        .filter(|n| is(n, md, "KeyDescriptor") && n.attribute("use") != Some("encryption"))
        .flat_map(|k| k.descendants().filter(|d| is(d, DSIG, "X509Certificate")))
        .filter_map(|c| {
            let b64: String = full_text(c).split_whitespace().collect();
            base64::engine::general_purpose::STANDARD.decode(b64).ok()
        })
        .collect();
    if certs.is_empty() {
        return Err("the metadata has no signing certificate".into());
    }
    let slo_url = idp
        .children()
        .filter(|n| is(n, md, "SingleLogoutService"))
        .find(|n| {
            n.attribute("Binding") == Some("urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect")
        })
        .and_then(|n| n.attribute("Location"))
        .map(str::to_owned);
    Ok(IdpMetadata {
        entity_id,
        sso_url: sso,
        slo_url,
        certs,
    })
}
