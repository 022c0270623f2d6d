//! Building the `<saml2p:Response>` an Okta SAML app sends: Okta's prefixes and element order,
//! bearer SubjectConfirmation, Conditions with one Audience, an AuthnStatement with a
//! SessionIndex and the app's authentication context class, and attributes with the app's
//! `NameFormat` (unspecified unless set) and `xs:string` values.
//!
//! Every value is escaped here (samael's builders write text content raw, and libxml's
//! recover mode then silently rewrites a value such as `a&b<c` before it is signed).

use time::{Duration, OffsetDateTime};

use super::ns;
use super::xml::{escape, instant};

/// The identifiers of one Response; random in the IdP, fixed in tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseIds {
    pub response_id: String,
    pub assertion_id: String,
    pub session_index: String,
}

/// One SAML attribute with its values, in the order they are emitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub name: String,
    /// The `NameFormat` URN (SAML Core 8.2).
    pub name_format: String,
    pub values: Vec<String>,
}

/// Everything a Response says.
#[derive(Debug, Clone)]
pub struct ResponseParams {
    pub ids: ResponseIds,
    pub issue_instant: OffsetDateTime,
    pub authn_instant: OffsetDateTime,
    /// How long the assertion is valid from `issue_instant`.
    pub lifetime: Duration,
    /// The IdP entity id.
    pub issuer: String,
    /// The Response's Destination: the ACS URL it is posted to, unless the app sets Okta's
    /// "Destination URL".
    pub destination: String,
    /// The bearer SubjectConfirmationData's Recipient: the ACS URL, unless the app sets Okta's
    /// "Recipient URL".
    pub recipient: String,
    /// The AuthnStatement's AuthnContextClassRef.
    pub authn_context_class: String,
    /// None for IdP-initiated (unsolicited) responses.
    pub in_response_to: Option<String>,
    pub audience: String,
    pub name_id: String,
    pub name_id_format: String,
    pub attributes: Vec<Attribute>,
}

/// Conditions start this long before the issue instant, for clock skew, as Okta does.
pub const NOT_BEFORE_SKEW: Duration = Duration::minutes(5);

/// Where the signature templates go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Templates {
    pub response: bool,
    pub assertion: bool,
}

/// The Response as XML text, with empty `ds:Signature` templates where `templates` says;
/// [`super::signature`] fills them in.
pub fn build(p: &ResponseParams, templates: Templates, cert_b64: &str) -> String {
    build_with(p, templates, cert_b64, Algorithms::default())
}

/// [`build`] with templates that name the app's algorithms.
pub fn build_with(
    p: &ResponseParams,
    templates: Templates,
    cert_b64: &str,
    algs: Algorithms,
) -> String {
    let issue = instant(p.issue_instant);
    let not_before = instant(p.issue_instant - NOT_BEFORE_SKEW);
    let not_on_or_after = instant(p.issue_instant + p.lifetime);
    let in_response_to = p
        .in_response_to
        .as_deref()
        .map(|id| format!(" InResponseTo=\"{}\"", escape(id)))
        .unwrap_or_default();
    let mut x = String::with_capacity(6 * 1024);
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    x.push_str(&format!(
        "<saml2p:Response xmlns:saml2p=\"{proto}\" Destination=\"{dest}\" ID=\"{rid}\"{irt} IssueInstant=\"{issue}\" Version=\"2.0\">",
        proto = ns::PROTOCOL,
        dest = escape(&p.destination),
        rid = escape(&p.ids.response_id),
        irt = in_response_to,
    ));
    x.push_str(&format!(
        "<saml2:Issuer xmlns:saml2=\"{a}\" Format=\"{f}\">{iss}</saml2:Issuer>",
        a = ns::ASSERTION,
        f = ns::NAMEID_ENTITY,
        iss = escape(&p.issuer),
    ));
    if templates.response {
        x.push_str(&signature_template_with(&p.ids.response_id, cert_b64, algs));
    }
    x.push_str(&format!(
        "<saml2p:Status xmlns:saml2p=\"{proto}\"><saml2p:StatusCode Value=\"{ok}\"/></saml2p:Status>",
        proto = ns::PROTOCOL,
        ok = ns::STATUS_SUCCESS,
    ));
    x.push_str(&format!(
        "<saml2:Assertion xmlns:saml2=\"{a}\" ID=\"{aid}\" IssueInstant=\"{issue}\" Version=\"2.0\">",
        a = ns::ASSERTION,
        aid = escape(&p.ids.assertion_id),
    ));
    x.push_str(&format!(
        "<saml2:Issuer xmlns:saml2=\"{a}\" Format=\"{f}\">{iss}</saml2:Issuer>",
        a = ns::ASSERTION,
        f = ns::NAMEID_ENTITY,
        iss = escape(&p.issuer),
    ));
    if templates.assertion {
        x.push_str(&signature_template_with(
            &p.ids.assertion_id,
            cert_b64,
            algs,
        ));
    }
    x.push_str(&format!(
        "<saml2:Subject xmlns:saml2=\"{a}\"><saml2:NameID Format=\"{nf}\">{nid}</saml2:NameID>\
<saml2:SubjectConfirmation Method=\"{bearer}\"><saml2:SubjectConfirmationData{irt} NotOnOrAfter=\"{noa}\" Recipient=\"{dest}\"/></saml2:SubjectConfirmation></saml2:Subject>",
        a = ns::ASSERTION,
        nf = escape(&p.name_id_format),
        nid = escape(&p.name_id),
        bearer = ns::CM_BEARER,
        irt = in_response_to,
        noa = not_on_or_after,
        dest = escape(&p.recipient),
    ));
    x.push_str(&format!(
        "<saml2:Conditions xmlns:saml2=\"{a}\" NotBefore=\"{nb}\" NotOnOrAfter=\"{noa}\"><saml2:AudienceRestriction><saml2:Audience>{aud}</saml2:Audience></saml2:AudienceRestriction></saml2:Conditions>",
        a = ns::ASSERTION,
        nb = not_before,
        noa = not_on_or_after,
        aud = escape(&p.audience),
    ));
    x.push_str(&format!(
        "<saml2:AuthnStatement xmlns:saml2=\"{a}\" AuthnInstant=\"{ai}\" SessionIndex=\"{si}\"><saml2:AuthnContext><saml2:AuthnContextClassRef>{ac}</saml2:AuthnContextClassRef></saml2:AuthnContext></saml2:AuthnStatement>",
        a = ns::ASSERTION,
        ai = instant(p.authn_instant),
        si = escape(&p.ids.session_index),
        ac = escape(&p.authn_context_class),
    ));
    if !p.attributes.is_empty() {
        x.push_str(&format!(
            "<saml2:AttributeStatement xmlns:saml2=\"{}\">",
            ns::ASSERTION
        ));
        for attr in &p.attributes {
            x.push_str(&format!(
                "<saml2:Attribute Name=\"{}\" NameFormat=\"{}\">",
                escape(&attr.name),
                escape(&attr.name_format),
            ));
            for v in &attr.values {
                x.push_str(&format!(
                    "<saml2:AttributeValue xmlns:xs=\"{xs}\" xmlns:xsi=\"{xsi}\" xsi:type=\"xs:string\">{v}</saml2:AttributeValue>",
                    xs = ns::XS,
                    xsi = ns::XSI,
                    v = escape(v),
                ));
            }
            x.push_str("</saml2:Attribute>");
        }
        x.push_str("</saml2:AttributeStatement>");
    }
    x.push_str("</saml2:Assertion></saml2p:Response>");
    x
}

/// A Response without an Assertion that says why none is given: top-level status `status`
/// with the second-level code `detail` (e.g. Responder / NoPassive when `IsPassive` asked for
/// no interaction and there is no IdP session), no signature template.
pub fn build_status(
    id: &str,
    issue_instant: OffsetDateTime,
    issuer: &str,
    destination: &str,
    in_response_to: Option<&str>,
    status: &str,
    detail: &str,
) -> String {
    let in_response_to = in_response_to
        .map(|id| format!(" InResponseTo=\"{}\"", escape(id)))
        .unwrap_or_default();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><saml2p:Response xmlns:saml2p=\"{proto}\" Destination=\"{dest}\" ID=\"{id}\"{irt} IssueInstant=\"{issue}\" Version=\"2.0\">\
<saml2:Issuer xmlns:saml2=\"{a}\" Format=\"{f}\">{iss}</saml2:Issuer>\
<saml2p:Status><saml2p:StatusCode Value=\"{status}\"><saml2p:StatusCode Value=\"{detail}\"/></saml2p:StatusCode></saml2p:Status></saml2p:Response>",
        proto = ns::PROTOCOL,
        dest = escape(destination),
        id = escape(id),
        irt = in_response_to,
        issue = instant(issue_instant),
        a = ns::ASSERTION,
        f = ns::NAMEID_ENTITY,
        iss = escape(issuer),
        status = escape(status),
        detail = escape(detail),
    )
}

/// The signature and digest algorithms of an app's signatures (Okta's "Signature Algorithm"
/// and "Digest Algorithm"); RSA-SHA256 and SHA-256 by default, as Okta's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Algorithms {
    pub signature: crate::config::SignatureAlgorithm,
    pub digest: crate::config::DigestAlgorithm,
}

impl Default for Algorithms {
    fn default() -> Self {
        Algorithms {
            signature: crate::config::SignatureAlgorithm::RsaSha256,
            digest: crate::config::DigestAlgorithm::Sha256,
        }
    }
}

/// An enveloped-signature template for the element with `ID="{reference_id}"`: RSA-SHA256,
/// SHA-256 digest, exclusive c14n, the certificate in KeyInfo (as Okta sends it).
pub fn signature_template(reference_id: &str, cert_b64: &str) -> String {
    signature_template_with(reference_id, cert_b64, Algorithms::default())
}

/// [`signature_template`] with the app's algorithms.
pub fn signature_template_with(reference_id: &str, cert_b64: &str, algs: Algorithms) -> String {
    format!(
        "<ds:Signature xmlns:ds=\"{ds}\"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm=\"{c14n}\"/>\
<ds:SignatureMethod Algorithm=\"{rsa}\"/><ds:Reference URI=\"#{id}\"><ds:Transforms>\
<ds:Transform Algorithm=\"{env}\"/><ds:Transform Algorithm=\"{c14n}\"/></ds:Transforms>\
<ds:DigestMethod Algorithm=\"{sha}\"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo>\
<ds:SignatureValue></ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>",
        ds = ns::DSIG,
        c14n = ns::ALG_EXC_C14N,
        rsa = algs.signature.uri(),
        env = ns::ALG_ENVELOPED,
        sha = algs.digest.uri(),
        id = escape(reference_id),
        cert = cert_b64,
    )
}
