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
        "the AuthnRequest asks for AssertionConsumerServiceURL `{got}`, which is not registered for this app (its ACS URL{registered}); fakta never posts an assertion to an unregistered URL"
    )]
    AcsMismatch { got: String, registered: String },
    #[error(
        "the AuthnRequest asks for AssertionConsumerServiceIndex `{got}`, which names no URL of this app ({registered}); fakta never posts an assertion to an unregistered URL"
    )]
    UnknownAcsIndex { got: String, registered: String },
    #[error(
        "the AuthnRequest has both AssertionConsumerServiceIndex and {other}, which SAML Core 3.4.1 makes mutually exclusive"
    )]
    AcsIndexAndUrl { other: &'static str },
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
    /// `AssertionConsumerServiceIndex`, as written.
    pub acs_index: Option<String>,
    pub protocol_binding: Option<String>,
    pub force_authn: bool,
    pub is_passive: bool,
    pub name_id_format: Option<String>,
    /// Whether an enveloped `ds:Signature` is present (POST binding).
    pub has_signature: bool,
    /// `<samlp:RequestedAuthnContext>`, if any.
    pub requested_authn_context: Option<RequestedAuthnContext>,
}

/// What a `<samlp:RequestedAuthnContext>` asks for (SAML Core 3.3.2.2.1): its class references
/// (declaration references are not read) and the comparison, `exact` when absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedAuthnContext {
    pub comparison: String,
    pub class_refs: Vec<String>,
}

impl RequestedAuthnContext {
    /// Whether answering with `class` meets the request. Only `exact` can be decided: SAML
    /// Core 3.3.2.2.1 leaves the order between classes for `minimum`, `maximum` and `better`
    /// to the IdP, and Okta documents none, so those are met by the app's own class (the IdP
    /// answers with it, as Okta does). An `exact` request that names no class refs asks for
    /// nothing fakta reads (declaration references) and is met too.
    pub fn met_by(&self, class: &str) -> bool {
        self.comparison != "exact"
            || self.class_refs.is_empty()
            || self.class_refs.iter().any(|c| c == class)
    }
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
        acs_index: root
            .attribute("AssertionConsumerServiceIndex")
            .map(str::to_owned),
        requested_authn_context: child(ns::PROTOCOL, "RequestedAuthnContext").map(|n| {
            RequestedAuthnContext {
                comparison: n.attribute("Comparison").unwrap_or("exact").to_owned(),
                class_refs: n
                    .children()
                    .filter(|c| {
                        c.is_element()
                            && c.tag_name().name() == "AuthnContextClassRef"
                            && c.tag_name().namespace() == Some(ns::ASSERTION)
                    })
                    .map(|c| {
                        c.descendants()
                            .filter(|d| d.is_text())
                            .filter_map(|d| d.text())
                            .collect::<String>()
                            .trim()
                            .to_owned()
                    })
                    .collect(),
            }
        }),
    })
}

/// The ACS URLs registered for an app: its own (Okta's "Single sign-on URL") and the other
/// requestable ones with their indexes.
#[derive(Debug, Clone, Copy)]
pub struct AcsUrls<'a> {
    pub default: &'a str,
    pub others: &'a [(u16, &'a str)],
}

impl AcsUrls<'_> {
    /// For error messages: ` `a`, or another requestable SSO URL: `b` (index 1)`.
    fn registered(&self) -> String {
        let mut out = format!(" `{}`", self.default);
        if !self.others.is_empty() {
            let others: Vec<String> = self
                .others
                .iter()
                .map(|(i, u)| format!("`{u}` (index {i})"))
                .collect();
            out.push_str(&format!(
                ", or another requestable SSO URL: {}",
                others.join(", ")
            ));
        }
        out
    }
}

impl AuthnRequest {
    /// Checks the request against the app it was sent to: Issuer, ACS URL (by URL or by index,
    /// among the registered ones), binding, Destination. The ACS URL to answer to.
    pub fn check(
        &self,
        sp_entity_id: &str,
        acs: AcsUrls<'_>,
        sso_url: &str,
    ) -> Result<String, AuthnRequestError> {
        if self.issuer != sp_entity_id {
            return Err(AuthnRequestError::UnknownIssuer {
                got: self.issuer.clone(),
                expected: sp_entity_id.to_owned(),
            });
        }
        let mut chosen = acs.default.to_owned();
        if let Some(got) = &self.acs_index {
            if self.acs_url.is_some() {
                return Err(AuthnRequestError::AcsIndexAndUrl {
                    other: "AssertionConsumerServiceURL",
                });
            }
            if self.protocol_binding.is_some() {
                return Err(AuthnRequestError::AcsIndexAndUrl {
                    other: "ProtocolBinding",
                });
            }
            let index = got.trim().parse::<u16>().ok();
            chosen = acs
                .others
                .iter()
                .find(|(i, _)| Some(*i) == index)
                .map(|(_, u)| (*u).to_owned())
                .ok_or_else(|| AuthnRequestError::UnknownAcsIndex {
                    got: got.clone(),
                    registered: if acs.others.is_empty() {
                        "it has no other requestable SSO URLs".to_owned()
                    } else {
                        format!("its indexes are {}", acs.registered().trim_start())
                    },
                })?;
        }
        if let Some(got) = &self.acs_url {
            if got != acs.default {
                chosen = acs
                    .others
                    .iter()
                    .find(|(_, u)| u == got)
                    .map(|(_, u)| (*u).to_owned())
                    .ok_or_else(|| AuthnRequestError::AcsMismatch {
                        got: got.clone(),
                        registered: acs.registered(),
                    })?;
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
        Ok(chosen)
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
        assert_eq!(req.check("urn:sp", only(ACS), SSO).unwrap(), ACS);
        assert!(matches!(
            req.check("urn:other", only(ACS), SSO),
            Err(AuthnRequestError::UnknownIssuer { .. })
        ));
        assert!(matches!(
            req.check("urn:sp", only("http://evil.test/acs"), SSO),
            Err(AuthnRequestError::AcsMismatch { .. })
        ));
        assert!(matches!(
            req.check("urn:sp", only(ACS), "http://127.0.0.1:7000/other"),
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
            req.check("urn:sp", only(ACS), SSO),
            Err(AuthnRequestError::UnknownIssuer { .. })
        ));
    }

    fn only(acs: &str) -> AcsUrls<'_> {
        AcsUrls {
            default: acs,
            others: &[],
        }
    }

    const OTHER: &str = "http://127.0.0.1:7200/acs";
    const OTHERS: &[(u16, &str)] = &[(3, OTHER)];

    fn with_others() -> AcsUrls<'static> {
        AcsUrls {
            default: ACS,
            others: OTHERS,
        }
    }

    #[test]
    fn another_requestable_url_is_chosen_by_url_or_by_index() {
        let by_url = parse(&build(
            "_a",
            "2026-11-28T08:00:00Z",
            "urn:sp",
            SSO,
            OTHER,
            false,
        ))
        .unwrap();
        assert_eq!(by_url.check("urn:sp", with_others(), SSO).unwrap(), OTHER);
        let by_index = build("_a", "2026-11-28T08:00:00Z", "urn:sp", SSO, ACS, false).replace(
            &format!(
                " AssertionConsumerServiceURL=\"{ACS}\" ProtocolBinding=\"{}\"",
                ns::BINDING_POST
            ),
            " AssertionConsumerServiceIndex=\"3\"",
        );
        let by_index = parse(&by_index).unwrap();
        assert_eq!(by_index.acs_index.as_deref(), Some("3"));
        assert_eq!(by_index.check("urn:sp", with_others(), SSO).unwrap(), OTHER);
        // Without the other URLs, neither is registered.
        let e = by_url.check("urn:sp", only(ACS), SSO).unwrap_err();
        assert!(matches!(e, AuthnRequestError::AcsMismatch { .. }));
        let e = by_index.check("urn:sp", only(ACS), SSO).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the AuthnRequest asks for AssertionConsumerServiceIndex `3`, which names no URL of this app (it has no other requestable SSO URLs); fakta never posts an assertion to an unregistered URL"
        );
    }

    #[test]
    fn an_unregistered_url_or_index_is_refused_naming_what_is_registered() {
        let evil = parse(&build(
            "_a",
            "2026-11-28T08:00:00Z",
            "urn:sp",
            SSO,
            "http://evil.test/acs",
            false,
        ))
        .unwrap();
        assert_eq!(
            evil.check("urn:sp", with_others(), SSO)
                .unwrap_err()
                .to_string(),
            format!(
                "the AuthnRequest asks for AssertionConsumerServiceURL `http://evil.test/acs`, which is not registered for this app (its ACS URL `{ACS}`, or another requestable SSO URL: `{OTHER}` (index 3)); fakta never posts an assertion to an unregistered URL"
            )
        );
        let seven = build("_a", "2026-11-28T08:00:00Z", "urn:sp", SSO, ACS, false).replace(
            " ProtocolBinding=",
            " AssertionConsumerServiceIndex=\"7\" ProtocolBinding=",
        );
        assert_eq!(
            parse(&seven).unwrap().check("urn:sp", with_others(), SSO),
            Err(AuthnRequestError::AcsIndexAndUrl {
                other: "AssertionConsumerServiceURL"
            })
        );
        let seven = seven.replace(&format!(" AssertionConsumerServiceURL=\"{ACS}\""), "");
        assert_eq!(
            parse(&seven).unwrap().check("urn:sp", with_others(), SSO),
            Err(AuthnRequestError::AcsIndexAndUrl {
                other: "ProtocolBinding"
            })
        );
        let seven = seven.replace(&format!(" ProtocolBinding=\"{}\"", ns::BINDING_POST), "");
        assert!(matches!(
            parse(&seven).unwrap().check("urn:sp", with_others(), SSO),
            Err(AuthnRequestError::UnknownAcsIndex { .. })
        ));
    }

    #[test]
    fn requested_authn_context_exact_is_met_only_by_a_listed_class() {
        let ppt = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport";
        let x509 = "urn:oasis:names:tc:SAML:2.0:ac:classes:X509";
        let with = |attrs: &str| {
            let xml = build("_a", "2026-11-28T08:00:00Z", "urn:sp", SSO, ACS, false).replace(
                "</samlp:AuthnRequest>",
                &format!("<samlp:RequestedAuthnContext{attrs}><saml:AuthnContextClassRef> {x509} </saml:AuthnContextClassRef></samlp:RequestedAuthnContext></samlp:AuthnRequest>"),
            );
            parse(&xml).unwrap().requested_authn_context.unwrap()
        };
        let exact = with("");
        assert_eq!(exact.comparison, "exact");
        assert_eq!(exact.class_refs, [x509]);
        assert!(exact.met_by(x509));
        assert!(!exact.met_by(ppt));
        assert!(!with(" Comparison=\"exact\"").met_by(ppt));
        assert!(with(" Comparison=\"minimum\"").met_by(ppt));
        let none = parse(&build(
            "_a",
            "2026-11-28T08:00:00Z",
            "urn:sp",
            SSO,
            ACS,
            false,
        ))
        .unwrap();
        assert_eq!(none.requested_authn_context, None);
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
