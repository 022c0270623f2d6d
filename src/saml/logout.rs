//! IdP-initiated Single Logout: the IdP's `<samlp:LogoutRequest>` and its faults (G2), sent
//! over HTTP-Redirect with a detached RSA-SHA256 query signature.

use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer;
use time::OffsetDateTime;

use super::binding::encode_redirect;
use super::ns;
use super::untrusted::{self, XmlError};
use super::xml::{escape, instant};

/// Faults of an IdP-initiated LogoutRequest (CONFORMANCE.md G2); each must have no effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// No signature at all.
    Unsigned,
    /// Signed, but addressed to another Destination.
    WrongDestination,
    /// Signed, but naming another user's NameID and SessionIndex.
    OtherSession,
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

/// The query string of the HTTP-Redirect binding, signed with `key` when given.
pub fn redirect_query(
    xml: &str,
    relay_state: Option<&str>,
    key: Option<&PKey<Private>>,
) -> Result<String, openssl::error::ErrorStack> {
    use base64::Engine;
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let mut q = format!("SAMLRequest={}", enc(&encode_redirect(xml)));
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
}

/// Parses a LogoutRequest (no DTD is ever processed; the nesting limit of `super::untrusted`
/// is checked first).
pub fn parse_request(xml: &str) -> Result<Parsed, LogoutError> {
    let doc = untrusted::parse(xml, false).map_err(|e| match e {
        XmlError::Doctype => LogoutError::Doctype,
        XmlError::NotXml(why) => LogoutError::NotXml(why),
        XmlError::TooDeep { limit } => LogoutError::TooDeep { limit },
    })?;
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

/// The IdP's LogoutResponse (Status Success) to an SP's LogoutRequest.
pub fn response(
    id: &str,
    in_response_to: &str,
    issue_instant: OffsetDateTime,
    issuer: &str,
    destination: &str,
) -> String {
    format!(
        "<saml2p:LogoutResponse xmlns:saml2p=\"{p}\" Destination=\"{d}\" ID=\"{id}\" InResponseTo=\"{irt}\" IssueInstant=\"{ii}\" Version=\"2.0\"><saml2:Issuer xmlns:saml2=\"{a}\">{iss}</saml2:Issuer><saml2p:Status><saml2p:StatusCode Value=\"{ok}\"/></saml2p:Status></saml2p:LogoutResponse>",
        p = ns::PROTOCOL,
        a = ns::ASSERTION,
        d = escape(destination),
        id = escape(id),
        irt = escape(in_response_to),
        ii = instant(issue_instant),
        iss = escape(issuer),
        ok = ns::STATUS_SUCCESS,
    )
}

/// A signed HTTP-Redirect query carrying a SAMLResponse.
pub fn redirect_response_query(
    xml: &str,
    relay_state: Option<&str>,
    key: &PKey<Private>,
) -> Result<String, openssl::error::ErrorStack> {
    use base64::Engine;
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let mut q = format!("SAMLResponse={}", enc(&encode_redirect(xml)));
    if let Some(rs) = relay_state {
        q.push_str(&format!("&RelayState={}", enc(rs)));
    }
    q.push_str(&format!("&SigAlg={}", enc(ns::ALG_RSA_SHA256)));
    let mut s = Signer::new(MessageDigest::sha256(), key)?;
    s.update(q.as_bytes())?;
    let sig = base64::engine::general_purpose::STANDARD.encode(s.sign_to_vec()?);
    q.push_str(&format!("&Signature={}", enc(&sig)));
    Ok(q)
}
