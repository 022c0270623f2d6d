//! Single Logout documents: the `<samlp:LogoutRequest>` (the IdP's, with its faults for G2, and
//! the SP's), the `<samlp:LogoutResponse>` either side answers with, their parsers (roxmltree,
//! no DTD) and the pure checks the IdP applies to an SP's LogoutResponse. Sent over HTTP-Redirect
//! (detached RSA-SHA256 query signature) or HTTP-POST (enveloped signature).

use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer;
use time::OffsetDateTime;

use super::binding::encode_redirect;
use super::ns;
use super::response::signature_template;
use super::signature::{SignError, sign_template};
use super::untrusted::{self, XmlError};
use super::xml::{escape, instant};

/// Faults of an IdP-initiated LogoutRequest (G2 in docs/catalogue.md); each must have no effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::VariantArray)]
pub enum Fault {
    /// No signature at all.
    Unsigned,
    /// Signed, but addressed to another Destination.
    WrongDestination,
    /// Signed, but naming another user's NameID and SessionIndex.
    OtherSession,
}

impl Fault {
    /// Its name in a scenario's `logout_fault` (const: `crate::config::LogoutFault::ALL` is
    /// built from it).
    pub const fn name(self) -> &'static str {
        match self {
            Fault::Unsigned => "unsigned",
            Fault::WrongDestination => "wrong_destination",
            Fault::OtherSession => "other_session",
        }
    }
}

/// What a LogoutRequest says.
#[derive(Debug, Clone)]
pub struct LogoutRequest {
    pub id: String,
    pub issue_instant: OffsetDateTime,
    pub issuer: String,
    pub destination: String,
    pub name_id: String,
    pub name_id_format: String,
    pub session_index: Option<String>,
}

pub fn build(r: &LogoutRequest) -> String {
    let si = r
        .session_index
        .as_deref()
        .map(|s| format!("<saml2p:SessionIndex>{}</saml2p:SessionIndex>", escape(s)))
        .unwrap_or_default();
    format!(
        "<saml2p:LogoutRequest xmlns:saml2p=\"{p}\" Destination=\"{d}\" ID=\"{id}\" IssueInstant=\"{ii}\" Version=\"2.0\"><saml2:Issuer xmlns:saml2=\"{a}\">{iss}</saml2:Issuer><saml2:NameID xmlns:saml2=\"{a}\" Format=\"{nf}\">{nid}</saml2:NameID>{si}</saml2p:LogoutRequest>",
        p = ns::PROTOCOL,
        a = ns::ASSERTION,
        d = escape(&r.destination),
        id = escape(&r.id),
        ii = instant(r.issue_instant),
        iss = escape(&r.issuer),
        nf = escape(&r.name_id_format),
        nid = escape(&r.name_id),
    )
}

/// The query string of the HTTP-Redirect binding carrying a `SAMLRequest`, signed with `key`
/// when given.
pub fn redirect_query(
    xml: &str,
    relay_state: Option<&str>,
    key: Option<&PKey<Private>>,
) -> Result<String, openssl::error::ErrorStack> {
    query("SAMLRequest", xml, relay_state, key)
}

/// `{param}=..&RelayState=..&SigAlg=..&Signature=..` (SAML Bindings 3.4.4.1): the detached
/// signature covers the parameters exactly as they are sent.
fn query(
    param: &str,
    xml: &str,
    relay_state: Option<&str>,
    key: Option<&PKey<Private>>,
) -> Result<String, openssl::error::ErrorStack> {
    use base64::Engine;
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let mut q = format!("{param}={}", enc(&encode_redirect(xml)));
    if let Some(rs) = relay_state {
        q.push_str(&format!("&RelayState={}", enc(rs)));
    }
    if let Some(key) = key {
        q.push_str(&format!("&SigAlg={}", enc(ns::ALG_RSA_SHA256)));
        let mut s = Signer::new(MessageDigest::sha256(), key)?;
        s.update(q.as_bytes())?;
        let sig = base64::engine::general_purpose::STANDARD.encode(s.sign_to_vec()?);
        q.push_str(&format!("&Signature={}", enc(&sig)));
    }
    Ok(q)
}

/// Signs a LogoutRequest or LogoutResponse with an enveloped signature (HTTP-POST binding): the
/// signature goes after the root's Issuer and references the root's `ID`. `cert_b64` goes into
/// KeyInfo when given (the verifier is configured with the certificate either way).
pub fn sign_enveloped(
    xml: &str,
    id: &str,
    key: &PKey<Private>,
    cert_b64: Option<&str>,
) -> Result<String, SignError> {
    let close = "</saml2:Issuer>";
    let at = xml.find(close).ok_or(SignError::NoIssuer)? + close.len();
    let mut template = signature_template(id, cert_b64.unwrap_or(""));
    if cert_b64.is_none() {
        // KeyInfo is optional (XML-DSig 4.4); an empty X509Certificate is not.
        if let (Some(start), Some(end)) = (
            template.find("<ds:KeyInfo>"),
            template.find("</ds:KeyInfo>"),
        ) {
            template.replace_range(start..end + "</ds:KeyInfo>".len(), "");
        }
    }
    let mut out = xml.to_owned();
    out.insert_str(at, &template);
    sign_template(&out, id, key)
}

/// Applies a fault to the honest request: the only place G2 faults are made. `other` is
/// another user's (NameID, SessionIndex). Returns the request and whether to sign it.
pub fn apply(
    fault: Fault,
    mut r: LogoutRequest,
    other: (String, Option<String>),
) -> (LogoutRequest, bool) {
    match fault {
        Fault::Unsigned => (r, false),
        Fault::WrongDestination => {
            r.destination = format!("{}-elsewhere", r.destination.trim_end_matches('/'));
            (r, true)
        }
        Fault::OtherSession => {
            r.name_id = other.0;
            r.session_index = other.1;
            (r, true)
        }
    }
}

/// What the IdP needs from an SP's LogoutRequest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub id: String,
    /// As written; a signed request is answered only within its window from it.
    pub issue_instant: Option<String>,
    pub issuer: String,
    pub destination: Option<String>,
    pub name_id: String,
    pub session_index: Option<String>,
    pub has_signature: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogoutError {
    #[error("the SAML message contains a DOCTYPE; DTDs and entities are refused")]
    Doctype,
    #[error("the SAML message is not well-formed XML: {0}")]
    NotXml(String),
    #[error("the XML nests deeper than {limit} elements")]
    TooDeep { limit: usize },
    #[error("expected a samlp:LogoutRequest, found {0}")]
    NotALogoutRequest(String),
    #[error("the LogoutRequest has no {0}")]
    Missing(&'static str),
    #[error("expected a samlp:LogoutResponse, found {0}")]
    NotALogoutResponse(String),
    #[error("the LogoutResponse has no {0}")]
    ResponseMissing(&'static str),
    #[error("the LogoutResponse's Issuer `{got}` is not the SP entity id `{expected}`")]
    ResponseIssuer { got: String, expected: String },
    #[error("the LogoutResponse's Destination `{got}` is not this SLO URL `{expected}`")]
    ResponseDestination { got: String, expected: String },
}

/// What the IdP needs from an SP's LogoutResponse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedResponse {
    pub id: String,
    pub in_response_to: Option<String>,
    pub issuer: String,
    pub destination: Option<String>,
    /// The top-level StatusCode's Value, and the second-level one if any.
    pub status: String,
    pub sub_status: Option<String>,
    pub status_message: Option<String>,
    /// Where the document's `ds:Signature` elements are (for the enveloped-signature check).
    pub signatures: Signatures,
}

/// The `ds:Signature` elements of a document: how many in all, and the `Reference URI`s of
/// those that are children of the root element.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signatures {
    pub count: usize,
    pub on_root: Vec<Option<String>>,
}

/// What is wrong with the signature of a LogoutResponse from an app with an SP certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureProblem {
    #[error("the LogoutResponse is not signed")]
    Unsigned,
    #[error("the LogoutResponse's query has `Signature` but no `SigAlg`")]
    MissingSigAlg,
    #[error("the LogoutResponse's SigAlg `{0}` is not accepted; expected {alg}", alg = ns::ALG_RSA_SHA256)]
    UnsupportedSigAlg(String),
    #[error("the LogoutResponse's signature is malformed: {0}")]
    Malformed(String),
    #[error(
        "the LogoutResponse has {0} ds:Signature elements; exactly one, on the root, is accepted"
    )]
    Several(usize),
    #[error("the LogoutResponse's ds:Signature is not a child of the samlp:LogoutResponse element")]
    NotEnveloped,
    #[error("the LogoutResponse's signature references `{got}`, not the LogoutResponse `#{id}`")]
    WrongReference { got: String, id: String },
    #[error("the LogoutResponse's signature does not verify with the SP certificate")]
    DoesNotVerify,
}

impl From<super::binding::BindingError> for SignatureProblem {
    /// The problems `binding::verify_redirect_signature` reports, as a LogoutResponse's.
    fn from(e: super::binding::BindingError) -> Self {
        use super::binding::BindingError as B;
        match e {
            B::Unsigned => SignatureProblem::Unsigned,
            B::MissingSigAlg => SignatureProblem::MissingSigAlg,
            B::UnsupportedSigAlg(a) => SignatureProblem::UnsupportedSigAlg(a),
            B::BadSignature => SignatureProblem::DoesNotVerify,
            other => SignatureProblem::Malformed(other.to_string()),
        }
    }
}

/// Parses XML from the network: no DTD, and the nesting limit of `super::untrusted` checked
/// before roxmltree sees it.
fn parse_xml(xml: &str) -> Result<roxmltree::Document<'_>, LogoutError> {
    untrusted::parse(xml, false).map_err(|e| match e {
        XmlError::Doctype => LogoutError::Doctype,
        XmlError::NotXml(why) => LogoutError::NotXml(why),
        XmlError::TooDeep { limit } => LogoutError::TooDeep { limit },
    })
}

/// The trimmed text of the first child element `ns_uri:name` of `parent`.
fn child_text(parent: roxmltree::Node<'_, '_>, ns_uri: &str, name: &str) -> Option<String> {
    child(parent, ns_uri, name).map(|n| {
        n.descendants()
            .filter(|d| d.is_text())
            .filter_map(|d| d.text())
            .collect::<String>()
            .trim()
            .to_owned()
    })
}

fn child<'a, 'i>(
    parent: roxmltree::Node<'a, 'i>,
    ns_uri: &str,
    name: &str,
) -> Option<roxmltree::Node<'a, 'i>> {
    parent.children().find(|c| {
        c.is_element() && c.tag_name().name() == name && c.tag_name().namespace() == Some(ns_uri)
    })
}

/// Parses a LogoutRequest (no DTD is ever processed).
pub fn parse_request(xml: &str) -> Result<Parsed, LogoutError> {
    let doc = parse_xml(xml)?;
    let root = doc.root_element();
    if root.tag_name().name() != "LogoutRequest"
        || root.tag_name().namespace() != Some(ns::PROTOCOL)
    {
        return Err(LogoutError::NotALogoutRequest(
            root.tag_name().name().to_owned(),
        ));
    }
    let text = |ns_uri: &str, name: &str| {
        root.children()
            .find(|c| {
                c.is_element()
                    && c.tag_name().name() == name
                    && c.tag_name().namespace() == Some(ns_uri)
            })
            .map(|n| {
                n.descendants()
                    .filter(|d| d.is_text())
                    .filter_map(|d| d.text())
                    .collect::<String>()
                    .trim()
                    .to_owned()
            })
    };
    Ok(Parsed {
        id: root
            .attribute("ID")
            .ok_or(LogoutError::Missing("ID"))?
            .to_owned(),
        issue_instant: root.attribute("IssueInstant").map(str::to_owned),
        issuer: text(ns::ASSERTION, "Issuer").ok_or(LogoutError::Missing("Issuer"))?,
        destination: root.attribute("Destination").map(str::to_owned),
        name_id: text(ns::ASSERTION, "NameID").ok_or(LogoutError::Missing("NameID"))?,
        session_index: text(ns::PROTOCOL, "SessionIndex"),
        has_signature: root.children().any(|c| {
            c.is_element()
                && c.tag_name().name() == "Signature"
                && c.tag_name().namespace() == Some(ns::DSIG)
        }),
    })
}

/// Parses an SP's LogoutResponse (no DTD is ever processed). ID, Issuer and a top-level
/// StatusCode are required; InResponseTo is checked by [`check_response`].
pub fn parse_response(xml: &str) -> Result<ParsedResponse, LogoutError> {
    let doc = parse_xml(xml)?;
    let root = doc.root_element();
    if root.tag_name().name() != "LogoutResponse"
        || root.tag_name().namespace() != Some(ns::PROTOCOL)
    {
        return Err(LogoutError::NotALogoutResponse(
            root.tag_name().name().to_owned(),
        ));
    }
    let status =
        child(root, ns::PROTOCOL, "Status").ok_or(LogoutError::ResponseMissing("Status"))?;
    let code = child(status, ns::PROTOCOL, "StatusCode")
        .ok_or(LogoutError::ResponseMissing("Status/StatusCode"))?;
    let is_signature = |n: &roxmltree::Node<'_, '_>| {
        n.is_element()
            && n.tag_name().name() == "Signature"
            && n.tag_name().namespace() == Some(ns::DSIG)
    };
    let signatures = Signatures {
        count: root.descendants().filter(is_signature).count(),
        on_root: root
            .children()
            .filter(is_signature)
            .map(|sig| {
                child(sig, ns::DSIG, "SignedInfo")
                    .and_then(|si| child(si, ns::DSIG, "Reference"))
                    .and_then(|r| r.attribute("URI"))
                    .map(str::to_owned)
            })
            .collect(),
    };
    Ok(ParsedResponse {
        id: root
            .attribute("ID")
            .ok_or(LogoutError::ResponseMissing("ID"))?
            .to_owned(),
        in_response_to: root.attribute("InResponseTo").map(str::to_owned),
        issuer: child_text(root, ns::ASSERTION, "Issuer")
            .ok_or(LogoutError::ResponseMissing("Issuer"))?,
        destination: root.attribute("Destination").map(str::to_owned),
        status: code
            .attribute("Value")
            .ok_or(LogoutError::ResponseMissing("StatusCode Value"))?
            .to_owned(),
        sub_status: child(code, ns::PROTOCOL, "StatusCode")
            .and_then(|c| c.attribute("Value"))
            .map(str::to_owned),
        status_message: child_text(status, ns::PROTOCOL, "StatusMessage"),
        signatures,
    })
}

/// Checks what an SP's LogoutResponse says about itself: its Issuer is the app's SP entity id,
/// its Destination (when present) is the IdP's SLO URL, and it answers some request. Returns
/// the InResponseTo, which the IdP must then find among the LogoutRequests it sent.
pub fn check_response<'r>(
    r: &'r ParsedResponse,
    sp_entity_id: &str,
    slo_url: &str,
) -> Result<&'r str, LogoutError> {
    if r.issuer != sp_entity_id {
        return Err(LogoutError::ResponseIssuer {
            got: r.issuer.clone(),
            expected: sp_entity_id.to_owned(),
        });
    }
    if let Some(d) = &r.destination {
        if d != slo_url {
            return Err(LogoutError::ResponseDestination {
                got: d.clone(),
                expected: slo_url.to_owned(),
            });
        }
    }
    r.in_response_to
        .as_deref()
        .ok_or(LogoutError::ResponseMissing("InResponseTo"))
}

/// Checks where the signature of a POSTed LogoutResponse is, before it is verified: exactly one
/// `ds:Signature` in the document, a child of the root, referencing the root's ID. Then the
/// signature xmlsec verifies is the one that covers the document fakta reads, not one over some
/// element wrapped inside it.
pub fn check_enveloped(r: &ParsedResponse) -> Result<(), SignatureProblem> {
    match (r.signatures.count, r.signatures.on_root.as_slice()) {
        (0, _) => Err(SignatureProblem::Unsigned),
        (n, _) if n > 1 => Err(SignatureProblem::Several(n)),
        (_, []) => Err(SignatureProblem::NotEnveloped),
        (_, [reference, ..]) => {
            let want = format!("#{}", r.id);
            match reference {
                Some(uri) if *uri == want => Ok(()),
                other => Err(SignatureProblem::WrongReference {
                    got: other.clone().unwrap_or_default(),
                    id: r.id.clone(),
                }),
            }
        }
    }
}

/// A LogoutResponse with Status Success (the IdP's to an SP's LogoutRequest, or an SP's to the
/// IdP's).
pub fn response(
    id: &str,
    in_response_to: &str,
    issue_instant: OffsetDateTime,
    issuer: &str,
    destination: &str,
) -> String {
    response_with_status(
        id,
        in_response_to,
        issue_instant,
        issuer,
        destination,
        ns::STATUS_SUCCESS,
    )
}

/// A LogoutResponse with the given top-level status code.
pub fn response_with_status(
    id: &str,
    in_response_to: &str,
    issue_instant: OffsetDateTime,
    issuer: &str,
    destination: &str,
    status: &str,
) -> String {
    format!(
        "<saml2p:LogoutResponse xmlns:saml2p=\"{p}\" Destination=\"{d}\" ID=\"{id}\" InResponseTo=\"{irt}\" IssueInstant=\"{ii}\" Version=\"2.0\"><saml2:Issuer xmlns:saml2=\"{a}\">{iss}</saml2:Issuer><saml2p:Status><saml2p:StatusCode Value=\"{st}\"/></saml2p:Status></saml2p:LogoutResponse>",
        p = ns::PROTOCOL,
        a = ns::ASSERTION,
        d = escape(destination),
        id = escape(id),
        irt = escape(in_response_to),
        ii = instant(issue_instant),
        iss = escape(issuer),
        st = escape(status),
    )
}

/// The HTTP-Redirect query carrying a `SAMLResponse`, signed with `key` when given.
pub fn redirect_response_query(
    xml: &str,
    relay_state: Option<&str>,
    key: Option<&PKey<Private>>,
) -> Result<String, openssl::error::ErrorStack> {
    query("SAMLResponse", xml, relay_state, key)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SP: &str = "urn:auth0:qovery:acme";
    const SLO: &str = "http://127.0.0.1:7000/app/acme_qovery_1/qovery/slo/saml";
    const T: OffsetDateTime = time::macros::datetime!(2026-11-28 09:00:00 UTC);

    fn honest() -> String {
        response("_r1", "id42", T, SP, SLO)
    }

    #[test]
    fn a_logout_response_is_read() {
        let r = parse_response(&honest()).unwrap();
        assert_eq!(r.id, "_r1");
        assert_eq!(r.in_response_to.as_deref(), Some("id42"));
        assert_eq!(r.issuer, SP);
        assert_eq!(r.destination.as_deref(), Some(SLO));
        assert_eq!(r.status, ns::STATUS_SUCCESS);
        assert_eq!(r.sub_status, None);
        assert_eq!(r.signatures, Signatures::default());
        assert_eq!(check_response(&r, SP, SLO), Ok("id42"));
    }

    #[test]
    fn a_non_success_status_is_read_with_its_second_level_and_message() {
        let xml = format!(
            "<samlp:LogoutResponse xmlns:samlp=\"{p}\" xmlns:saml=\"{a}\" ID=\"_r\" InResponseTo=\"i\"><saml:Issuer>{SP}</saml:Issuer><samlp:Status><samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:Responder\"><samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:PartialLogout\"/></samlp:StatusCode><samlp:StatusMessage> busy </samlp:StatusMessage></samlp:Status></samlp:LogoutResponse>",
            p = ns::PROTOCOL,
            a = ns::ASSERTION
        );
        let r = parse_response(&xml).unwrap();
        assert_eq!(r.status, "urn:oasis:names:tc:SAML:2.0:status:Responder");
        assert_eq!(
            r.sub_status.as_deref(),
            Some("urn:oasis:names:tc:SAML:2.0:status:PartialLogout")
        );
        assert_eq!(r.status_message.as_deref(), Some("busy"));
        assert_eq!(r.destination, None);
        // No Destination is allowed (it is optional when unsigned, SAML Bindings 3.4.5.2).
        assert_eq!(check_response(&r, SP, SLO), Ok("i"));
    }

    #[test]
    fn bad_logout_responses_are_named() {
        let p = ns::PROTOCOL;
        let a = ns::ASSERTION;
        for (xml, want) in [
            (
                "<!DOCTYPE x [<!ENTITY e \"b\">]><x>&e;</x>".to_owned(),
                LogoutError::Doctype,
            ),
            (
                format!("<samlp:LogoutRequest xmlns:samlp=\"{p}\" ID=\"a\"/>"),
                LogoutError::NotALogoutResponse("LogoutRequest".into()),
            ),
            (
                "<LogoutResponse ID=\"a\"/>".to_owned(),
                LogoutError::NotALogoutResponse("LogoutResponse".into()),
            ),
            (
                format!(
                    "<samlp:LogoutResponse xmlns:samlp=\"{p}\" xmlns:saml=\"{a}\" ID=\"a\"><saml:Issuer>x</saml:Issuer></samlp:LogoutResponse>"
                ),
                LogoutError::ResponseMissing("Status"),
            ),
            (
                format!(
                    "<samlp:LogoutResponse xmlns:samlp=\"{p}\" xmlns:saml=\"{a}\" ID=\"a\"><saml:Issuer>x</saml:Issuer><samlp:Status/></samlp:LogoutResponse>"
                ),
                LogoutError::ResponseMissing("Status/StatusCode"),
            ),
            (
                format!(
                    "<samlp:LogoutResponse xmlns:samlp=\"{p}\" ID=\"a\"><samlp:Status><samlp:StatusCode Value=\"v\"/></samlp:Status></samlp:LogoutResponse>"
                ),
                LogoutError::ResponseMissing("Issuer"),
            ),
            (
                format!(
                    "<samlp:LogoutResponse xmlns:samlp=\"{p}\" xmlns:saml=\"{a}\"><saml:Issuer>x</saml:Issuer><samlp:Status><samlp:StatusCode Value=\"v\"/></samlp:Status></samlp:LogoutResponse>"
                ),
                LogoutError::ResponseMissing("ID"),
            ),
        ] {
            assert_eq!(parse_response(&xml), Err(want), "{xml}");
        }
        assert!(matches!(
            parse_response("<unclosed"),
            Err(LogoutError::NotXml(_))
        ));
    }

    #[test]
    fn the_check_names_a_wrong_issuer_destination_or_missing_in_response_to() {
        let r = parse_response(&response("_r", "i", T, "urn:other", SLO)).unwrap();
        assert_eq!(
            check_response(&r, SP, SLO),
            Err(LogoutError::ResponseIssuer {
                got: "urn:other".into(),
                expected: SP.into()
            })
        );
        let r = parse_response(&response("_r", "i", T, SP, "http://elsewhere/slo")).unwrap();
        assert_eq!(
            check_response(&r, SP, SLO),
            Err(LogoutError::ResponseDestination {
                got: "http://elsewhere/slo".into(),
                expected: SLO.into()
            })
        );
        let mut r = parse_response(&honest()).unwrap();
        r.in_response_to = None;
        assert_eq!(
            check_response(&r, SP, SLO),
            Err(LogoutError::ResponseMissing("InResponseTo"))
        );
    }

    #[test]
    fn an_enveloped_signature_is_placed_on_the_root_and_verifies() {
        let key = crate::keys::foreign_key().unwrap();
        for cert in [Some(key.certificate.base64()), None] {
            let signed = sign_enveloped(&honest(), "_r1", key.pkey(), cert.as_deref()).unwrap();
            assert_eq!(signed.contains("<ds:KeyInfo>"), cert.is_some());
            let r = parse_response(&signed).unwrap();
            assert_eq!(r.signatures.count, 1);
            assert_eq!(r.signatures.on_root, vec![Some("#_r1".to_owned())]);
            assert_eq!(check_enveloped(&r), Ok(()));
            assert!(super::super::signature::verify_first(
                &signed,
                key.certificate.der()
            ));
            assert!(!super::super::signature::verify_first(
                &signed.replace(SP, "urn:someone:else"),
                key.certificate.der()
            ));
        }
    }

    #[test]
    fn a_signature_elsewhere_than_on_the_root_is_refused_before_verification() {
        let key = crate::keys::foreign_key().unwrap();
        assert_eq!(
            check_enveloped(&parse_response(&honest()).unwrap()),
            Err(SignatureProblem::Unsigned)
        );
        let signed = sign_enveloped(&honest(), "_r1", key.pkey(), None).unwrap();
        // A second signature.
        let sig = &signed[signed.find("<ds:Signature").unwrap()
            ..signed.find("</ds:Signature>").unwrap() + "</ds:Signature>".len()];
        let two = signed.replacen("</saml2p:Status>", &format!("{sig}</saml2p:Status>"), 1);
        assert_eq!(
            check_enveloped(&parse_response(&two).unwrap()),
            Err(SignatureProblem::Several(2))
        );
        // The signature moved inside Status: not enveloped by the root.
        let moved = crate::saml::signature::strip_signatures(&signed).replacen(
            "</saml2p:Status>",
            &format!("{sig}</saml2p:Status>"),
            1,
        );
        assert_eq!(
            check_enveloped(&parse_response(&moved).unwrap()),
            Err(SignatureProblem::NotEnveloped)
        );
        // A signature over another ID.
        let other = signed.replacen("URI=\"#_r1\"", "URI=\"#_wrapped\"", 1);
        assert_eq!(
            check_enveloped(&parse_response(&other).unwrap()),
            Err(SignatureProblem::WrongReference {
                got: "#_wrapped".into(),
                id: "_r1".into()
            })
        );
    }

    #[test]
    fn redirect_signature_problems_read_as_the_logout_responses() {
        use super::super::binding::BindingError as B;
        assert_eq!(
            SignatureProblem::from(B::Unsigned),
            SignatureProblem::Unsigned
        );
        assert_eq!(
            SignatureProblem::from(B::BadSignature),
            SignatureProblem::DoesNotVerify
        );
        assert_eq!(
            SignatureProblem::from(B::BadSignature).to_string(),
            "the LogoutResponse's signature does not verify with the SP certificate"
        );
    }

    #[test]
    fn a_redirect_response_query_is_signed_only_with_a_key() {
        let key = crate::keys::foreign_key().unwrap();
        let q = redirect_response_query(&honest(), Some("rs"), None).unwrap();
        assert!(q.starts_with("SAMLResponse=") && q.ends_with("&RelayState=rs"));
        let q = redirect_response_query(&honest(), None, Some(key.pkey())).unwrap();
        assert_eq!(
            super::super::binding::verify_redirect_signature(
                &q,
                "SAMLResponse",
                key.certificate.x509(),
                true
            ),
            Ok(true)
        );
    }
}
