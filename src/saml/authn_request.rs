//! Reading an SP's `<samlp:AuthnRequest>`: parsed without DTDs (a DOCTYPE is refused, so no
//! entity is ever expanded or fetched) and within the nesting limit of `super::untrusted`, then
//! checked against the app it was sent to.

use super::ns;
use super::untrusted::{self, XmlError};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthnRequestError {
    #[error("the SAML message contains a DOCTYPE; DTDs and entities are refused")]
    Doctype,
    #[error("the SAML message is not well-formed XML: {0}")]
    NotXml(String),
    #[error("the XML nests deeper than {limit} elements")]
    TooDeep { limit: usize },
    #[error("expected a samlp:AuthnRequest, found {found}")]
    NotAnAuthnRequest { found: String },
    #[error("the AuthnRequest has no ID attribute")]
    MissingId,
    #[error("the AuthnRequest has Version `{0}`; expected 2.0")]
    Version(String),
    #[error("the AuthnRequest has no Issuer: the SP is unknown")]
    MissingIssuer,
    #[error("the AuthnRequest's Issuer `{got}` is not this app's SP entity id `{expected}`")]
    UnknownIssuer { got: String, expected: String },
    #[error(
        "the AuthnRequest asks for AssertionConsumerServiceURL `{got}`, which is not this app's ACS URL `{expected}`; fakta never posts an assertion to an unregistered URL"
    )]
    AcsMismatch { got: String, expected: String },
    #[error(
        "the AuthnRequest asks for ProtocolBinding `{0}`; only HTTP-POST is supported for responses"
    )]
    UnsupportedBinding(String),
    #[error("the AuthnRequest's Destination `{got}` is not this SSO URL `{expected}`")]
    DestinationMismatch { got: String, expected: String },
}

/// The parts of an AuthnRequest the IdP acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthnRequest {
    pub id: String,
    pub issuer: String,
    pub issue_instant: Option<String>,
    pub destination: Option<String>,
    pub acs_url: Option<String>,
    pub protocol_binding: Option<String>,
    pub force_authn: bool,
    pub is_passive: bool,
    pub name_id_format: Option<String>,
    /// Whether an enveloped `ds:Signature` is present (POST binding).
    pub has_signature: bool,
}

/// Parses XML that must be a SAML 2.0 AuthnRequest.
pub fn parse(xml: &str) -> Result<AuthnRequest, AuthnRequestError> {
    let doc = untrusted::parse(xml, false).map_err(|e| match e {
        XmlError::Doctype => AuthnRequestError::Doctype,
        XmlError::NotXml(why) => AuthnRequestError::NotXml(why),
        XmlError::TooDeep { limit } => AuthnRequestError::TooDeep { limit },
    })?;
    let root = doc.root_element();
    let tag = root.tag_name();
    if tag.name() != "AuthnRequest" || tag.namespace() != Some(ns::PROTOCOL) {
        return Err(AuthnRequestError::NotAnAuthnRequest {
            found: match tag.namespace() {
                Some(n) => format!("{{{n}}}{}", tag.name()),
                None => tag.name().to_owned(),
            },
        });
    }
    let id = root
        .attribute("ID")
        .filter(|s| !s.is_empty())
        .ok_or(AuthnRequestError::MissingId)?;
    if let Some(v) = root.attribute("Version") {
        if v != "2.0" {
            return Err(AuthnRequestError::Version(v.to_owned()));
        }
    }
    let child = |ns_uri: &str, name: &str| {
        root.children().find(|c| {
            c.is_element()
                && c.tag_name().name() == name
                && c.tag_name().namespace() == Some(ns_uri)
        })
    };
    // Every text node of the Issuer: a comment splits the text, and reading only the first
    // node would take `urn:sp<!---->.evil` for `urn:sp`.
    let issuer = child(ns::ASSERTION, "Issuer")
        .map(|n| {
            n.descendants()
                .filter(|d| d.is_text())
                .filter_map(|d| d.text())
                .collect::<String>()
                .trim()
                .to_owned()
        })
        .filter(|t| !t.is_empty())
        .ok_or(AuthnRequestError::MissingIssuer)?;
    let flag = |name: &str| matches!(root.attribute(name), Some("true") | Some("1"));
    Ok(AuthnRequest {
        id: id.to_owned(),
        issuer,
        issue_instant: root.attribute("IssueInstant").map(str::to_owned),
        destination: root.attribute("Destination").map(str::to_owned),
        acs_url: root
            .attribute("AssertionConsumerServiceURL")
            .map(str::to_owned),
        protocol_binding: root.attribute("ProtocolBinding").map(str::to_owned),
        force_authn: flag("ForceAuthn"),
        is_passive: flag("IsPassive"),
        name_id_format: child(ns::PROTOCOL, "NameIDPolicy")
            .and_then(|n| n.attribute("Format"))
            .map(str::to_owned),
        has_signature: child(ns::DSIG, "Signature").is_some(),
    })
}

impl AuthnRequest {
    /// Checks the request against the app it was sent to: Issuer, ACS URL, binding, Destination.
    pub fn check(
        &self,
        sp_entity_id: &str,
        acs_url: &str,
        sso_url: &str,
    ) -> Result<(), AuthnRequestError> {
        if self.issuer != sp_entity_id {
            return Err(AuthnRequestError::UnknownIssuer {
                got: self.issuer.clone(),
                expected: sp_entity_id.to_owned(),
            });
        }
        if let Some(got) = &self.acs_url {
            if got != acs_url {
                return Err(AuthnRequestError::AcsMismatch {
                    got: got.clone(),
                    expected: acs_url.to_owned(),
                });
            }
        }
        if let Some(b) = &self.protocol_binding {
            if b != ns::BINDING_POST {
                return Err(AuthnRequestError::UnsupportedBinding(b.clone()));
            }
        }
        if let Some(d) = &self.destination {
            if d != sso_url {
                return Err(AuthnRequestError::DestinationMismatch {
                    got: d.clone(),
                    expected: sso_url.to_owned(),
                });
            }
        }
        Ok(())
    }
}

/// Builds a minimal AuthnRequest, as an SP would send it; used by tests and the reference SP.
pub fn build(
    id: &str,
    issue_instant: &str,
    issuer: &str,
    destination: &str,
    acs_url: &str,
    force_authn: bool,
) -> String {
    use super::xml::escape;
    format!(
        "<samlp:AuthnRequest xmlns:samlp=\"{p}\" xmlns:saml=\"{a}\" ID=\"{id}\" Version=\"2.0\" IssueInstant=\"{ii}\" Destination=\"{d}\" AssertionConsumerServiceURL=\"{acs}\" ProtocolBinding=\"{b}\"{force}><saml:Issuer>{iss}</saml:Issuer><samlp:NameIDPolicy AllowCreate=\"true\" Format=\"urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified\"/></samlp:AuthnRequest>",
        p = ns::PROTOCOL,
        a = ns::ASSERTION,
        id = escape(id),
        ii = escape(issue_instant),
        d = escape(destination),
        acs = escape(acs_url),
        b = ns::BINDING_POST,
        force = if force_authn {
            " ForceAuthn=\"true\""
        } else {
            ""
        },
        iss = escape(issuer),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SSO: &str = "http://127.0.0.1:7000/app/qovery/qovery/sso/saml";
    const ACS: &str = "http://127.0.0.1:7100/acs";

    #[test]
    fn parses_and_checks_a_request() {
        let xml = build("_abc", "2026-11-28T08:00:00Z", "urn:sp", SSO, ACS, true);
        let req = parse(&xml).unwrap();
        assert_eq!(req.id, "_abc");
        assert!(req.force_authn);
        assert!(!req.has_signature);
        req.check("urn:sp", ACS, SSO).unwrap();
        assert!(matches!(
            req.check("urn:other", ACS, SSO),
            Err(AuthnRequestError::UnknownIssuer { .. })
        ));
        assert!(matches!(
            req.check("urn:sp", "http://evil.test/acs", SSO),
            Err(AuthnRequestError::AcsMismatch { .. })
        ));
        assert!(matches!(
            req.check("urn:sp", ACS, "http://127.0.0.1:7000/other"),
            Err(AuthnRequestError::DestinationMismatch { .. })
        ));
    }

    #[test]
    fn doctype_and_entities_are_refused_without_expansion() {
        let xxe = "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" ID=\"a\">&x;</samlp:AuthnRequest>";
        assert_eq!(parse(xxe), Err(AuthnRequestError::Doctype));
        let lol = "<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;\">]><a>&lol2;</a>";
        assert_eq!(parse(lol), Err(AuthnRequestError::Doctype));
    }

    #[test]
    fn the_issuer_is_all_its_text_not_the_first_node() {
        let xml = build("_a", "2026-11-28T08:00:00Z", "urn:sp.evil", SSO, ACS, false)
            .replace("urn:sp.evil", "urn:sp<!---->.evil");
        let req = parse(&xml).unwrap();
        assert_eq!(req.issuer, "urn:sp.evil");
        assert!(matches!(
            req.check("urn:sp", ACS, SSO),
            Err(AuthnRequestError::UnknownIssuer { .. })
        ));
    }

    #[test]
    fn deep_requests_are_refused_before_parsing() {
        let deep = format!(
            "<samlp:AuthnRequest xmlns:samlp=\"{}\" ID=\"a\">{}{}</samlp:AuthnRequest>",
            ns::PROTOCOL,
            "<x>".repeat(3100),
            "</x>".repeat(3100)
        );
        assert_eq!(
            parse(&deep),
            Err(AuthnRequestError::TooDeep {
                limit: untrusted::MAX_DEPTH
            })
        );
    }

    #[test]
    fn other_documents_are_named() {
        assert!(matches!(
            parse("not xml"),
            Err(AuthnRequestError::NotXml(_))
        ));
        assert!(matches!(
            parse("<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\"/>"),
            Err(AuthnRequestError::NotAnAuthnRequest { .. })
        ));
        assert_eq!(
            parse(
                "<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" ID=\"a\"/>"
            ),
            Err(AuthnRequestError::MissingIssuer)
        );
    }
}
