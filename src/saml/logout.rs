//! IdP-initiated Single Logout: the IdP's `<samlp:LogoutRequest>` and its faults (G2), sent
//! over HTTP-Redirect with a detached RSA-SHA256 query signature.

use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer;
use time::OffsetDateTime;

use super::binding::encode_redirect;
use super::ns;
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
