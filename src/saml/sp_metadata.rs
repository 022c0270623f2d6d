//! An SP's SAML 2.0 metadata (an `EntityDescriptor` with an `SPSSODescriptor`), read for
//! `apps[].sp_metadata`: the values a connection file would otherwise spell out (entity id, ACS
//! URL, SLO URL, signing certificate, what the SP signs and wants signed, NameID formats).
//!
//! The document comes from outside (a file the SP's library wrote, or its metadata URL), so it is
//! parsed like any XML from the network ([`super::untrusted::parse`]: depth pre-scan, no DTD),
//! and every problem is an [`SpMetadataError`] naming the element and the value. Where the
//! document offers a choice (several ACS endpoints, several signing certificates) the choice is
//! made the way SAML metadata says it is made, and written down in [`SpMetadata::choices`] so
//! `fakta check` can say which one was taken.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use openssl::x509::X509;
use roxmltree::Node;
use url::Url;

use super::ns;
use super::untrusted::{self, XmlError};

/// Why a metadata document cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpMetadataError {
    #[error("not well-formed XML: {0}")]
    NotXml(String),
    #[error("it contains a DOCTYPE; DTDs and entities are refused")]
    Doctype,
    #[error("the XML nests deeper than {limit} elements")]
    TooDeep { limit: usize },
    #[error("the root element is `{found}`, not a SAML metadata EntityDescriptor")]
    NotMetadata { found: String },
    #[error(
        "no EntityDescriptor in it has an SPSSODescriptor (this is not a service provider's metadata)"
    )]
    NoSp,
    #[error("{count} EntityDescriptors in it have an SPSSODescriptor; give the document of one SP")]
    SeveralSps { count: usize },
    #[error("the EntityDescriptor has no entityID")]
    NoEntityId,
    #[error(
        "no SPSSODescriptor supports SAML 2.0 (protocolSupportEnumeration lacks `{}`)",
        ns::PROTOCOL
    )]
    NoSaml2,
    #[error("SPSSODescriptor {attribute}=`{value}` is not a boolean (true, false, 1 or 0)")]
    NotBoolean {
        attribute: &'static str,
        value: String,
    },
    #[error(
        "no AssertionConsumerService with the HTTP-POST binding (the only one Okta posts the Response with); it lists {listed}"
    )]
    NoPostAcs { listed: String },
    #[error("{element} Location `{value}` is not an absolute http(s) URL")]
    BadLocation {
        element: &'static str,
        value: String,
    },
    #[error("the signing KeyDescriptor's X509Certificate is not a base64 DER certificate")]
    BadCertificate,
}

impl From<XmlError> for SpMetadataError {
    fn from(e: XmlError) -> Self {
        match e {
            XmlError::TooDeep { limit } => SpMetadataError::TooDeep { limit },
            XmlError::Doctype => SpMetadataError::Doctype,
            XmlError::NotXml(m) => SpMetadataError::NotXml(m),
        }
    }
}

/// An SP endpoint: where, and with which binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub url: Url,
    /// The binding URI as the document gives it.
    pub binding: String,
}

/// What fakta takes from an SP's metadata.
#[derive(Debug, Clone)]
pub struct SpMetadata {
    /// `entityID`: the Audience, and the Issuer of the SP's requests.
    pub entity_id: String,
    /// The ACS endpoint the Response is posted to (HTTP-POST).
    pub acs: Endpoint,
    /// The SingleLogoutService fakta sends to, if the SP has one.
    pub slo: Option<Endpoint>,
    /// The first certificate of a KeyDescriptor with `use="signing"` or no `use`.
    pub signing_certificate: Option<X509>,
    /// `AuthnRequestsSigned` (absent: false, as the schema's default).
    pub authn_requests_signed: bool,
    /// `WantAssertionsSigned` (absent: false).
    pub want_assertions_signed: bool,
    /// The NameIDFormat elements, in document order.
    pub name_id_formats: Vec<String>,
    /// Sentences saying which of several candidates was taken (ACS, SLO, certificate,
    /// descriptor), for `fakta check`.
    pub choices: Vec<String>,
}

/// Reads an SP's metadata document.
pub fn parse(text: &str) -> Result<SpMetadata, SpMetadataError> {
    let doc = untrusted::parse(text, false)?;
    let root = doc.root_element();
    let is_md = |n: &Node<'_, '_>, name: &str| {
        n.is_element()
            && n.tag_name().namespace() == Some(ns::METADATA)
            && n.tag_name().name() == name
    };
    if !is_md(&root, "EntityDescriptor") && !is_md(&root, "EntitiesDescriptor") {
        return Err(SpMetadataError::NotMetadata {
            found: qualified(&root),
        });
    }
    let mut choices = Vec::new();
    // `descendants` walks without recursion; the depth is bounded by the pre-scan anyway.
    let entities: Vec<Node<'_, '_>> = root
        .descendants()
        .filter(|n| is_md(n, "EntityDescriptor"))
        .filter(|e| e.children().any(|c| is_md(&c, "SPSSODescriptor")))
        .collect();
    let entity = match entities.as_slice() {
        [] => return Err(SpMetadataError::NoSp),
        [one] => *one,
        more => return Err(SpMetadataError::SeveralSps { count: more.len() }),
    };
    let entity_id = entity
        .attribute("entityID")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or(SpMetadataError::NoEntityId)?
        .to_owned();
    let descriptors: Vec<Node<'_, '_>> = entity
        .children()
        .filter(|c| is_md(c, "SPSSODescriptor"))
        .filter(|c| {
            c.attribute("protocolSupportEnumeration")
                .is_some_and(|p| p.split_whitespace().any(|u| u == ns::PROTOCOL))
        })
        .collect();
    let sp = *descriptors.first().ok_or(SpMetadataError::NoSaml2)?;
    if descriptors.len() > 1 {
        choices.push(format!(
            "{} SPSSODescriptors support SAML 2.0; the first is used",
            descriptors.len()
        ));
    }
    let authn_requests_signed = boolean(&sp, "AuthnRequestsSigned")?;
    let want_assertions_signed = boolean(&sp, "WantAssertionsSigned")?;
    let acs = acs(&sp, &mut choices)?;
    let slo = slo(&sp, &mut choices)?;
    let signing_certificate = signing_certificate(&sp, &mut choices)?;
    let name_id_formats = sp
        .children()
        .filter(|c| is_md(c, "NameIDFormat"))
        .filter_map(|c| c.text())
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect();
    Ok(SpMetadata {
        entity_id,
        acs,
        slo,
        signing_certificate,
        authn_requests_signed,
        want_assertions_signed,
        name_id_formats,
        choices,
    })
}

fn qualified(n: &Node<'_, '_>) -> String {
    match n.tag_name().namespace() {
        Some(ns) => format!("{{{ns}}}{}", n.tag_name().name()),
        None => n.tag_name().name().to_owned(),
    }
}

fn md_children<'a, 'i>(
    sp: &Node<'a, 'i>,
    name: &'static str,
) -> impl Iterator<Item = Node<'a, 'i>> {
    sp.children().filter(move |c| {
        c.is_element()
            && c.tag_name().namespace() == Some(ns::METADATA)
            && c.tag_name().name() == name
    })
}

/// An xs:boolean attribute; absent is false (the metadata schema's default for both flags).
fn boolean(sp: &Node<'_, '_>, attribute: &'static str) -> Result<bool, SpMetadataError> {
    match sp.attribute(attribute).map(str::trim) {
        None => Ok(false),
        Some("true" | "1") => Ok(true),
        Some("false" | "0") => Ok(false),
        Some(other) => Err(SpMetadataError::NotBoolean {
            attribute,
            value: other.to_owned(),
        }),
    }
}

fn location(n: &Node<'_, '_>, element: &'static str) -> Result<Url, SpMetadataError> {
    let raw = n.attribute("Location").unwrap_or("").trim();
    let bad = || SpMetadataError::BadLocation {
        element,
        value: raw.to_owned(),
    };
    let url = Url::parse(raw).map_err(|_| bad())?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(bad());
    }
    Ok(url)
}

fn binding_name(uri: &str) -> &str {
    uri.rsplit(':').next().unwrap_or(uri)
}

/// The ACS Okta would post to: among the HTTP-POST endpoints, the default as SAML Metadata
/// 2.2.3 defines it for indexed endpoints: the first with `isDefault="true"`, else the first
/// without `isDefault="false"`, else the first (`index` plays no part in it).
fn acs(sp: &Node<'_, '_>, choices: &mut Vec<String>) -> Result<Endpoint, SpMetadataError> {
    let all: Vec<Node<'_, '_>> = md_children(sp, "AssertionConsumerService").collect();
    let is_default = |n: &Node<'_, '_>| match n.attribute("isDefault").map(str::trim) {
        Some("true" | "1") => Some(true),
        Some("false" | "0") => Some(false),
        _ => None,
    };
    let posts: Vec<Node<'_, '_>> = all
        .iter()
        .filter(|n| n.attribute("Binding") == Some(ns::BINDING_POST))
        .copied()
        .collect();
    let chosen = posts
        .iter()
        .find(|n| is_default(n) == Some(true))
        .map(|n| (n, "isDefault=\"true\""))
        .or_else(|| {
            posts
                .iter()
                .find(|n| is_default(n).is_none())
                .map(|n| (n, "the first not marked isDefault=\"false\""))
        })
        .or_else(|| posts.first().map(|n| (n, "the first")));
    let Some((node, why)) = chosen else {
        let listed = if all.is_empty() {
            "no AssertionConsumerService at all".to_owned()
        } else {
            all.iter()
                .map(|n| binding_name(n.attribute("Binding").unwrap_or("(no Binding)")).to_owned())
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(SpMetadataError::NoPostAcs { listed });
    };
    let url = location(node, "AssertionConsumerService")?;
    if all.len() > 1 {
        choices.push(format!(
            "{} AssertionConsumerServices; the HTTP-POST one at {url} is used ({why})",
            all.len()
        ));
    }
    Ok(Endpoint {
        url,
        binding: ns::BINDING_POST.to_owned(),
    })
}

/// The SingleLogoutService fakta sends LogoutRequests and LogoutResponses to: HTTP-Redirect
/// first (what fakta's IdP answers a logout with), then HTTP-POST; other bindings are not used.
fn slo(sp: &Node<'_, '_>, choices: &mut Vec<String>) -> Result<Option<Endpoint>, SpMetadataError> {
    let all: Vec<Node<'_, '_>> = md_children(sp, "SingleLogoutService").collect();
    let pick = [ns::BINDING_REDIRECT, ns::BINDING_POST]
        .iter()
        .find_map(|b| all.iter().find(|n| n.attribute("Binding") == Some(*b)));
    let Some(node) = pick else {
        if !all.is_empty() {
            choices.push(
                "its SingleLogoutServices use neither HTTP-Redirect nor HTTP-POST; no SLO URL is taken"
                    .to_owned(),
            );
        }
        return Ok(None);
    };
    let url = location(node, "SingleLogoutService")?;
    let binding = node.attribute("Binding").unwrap_or_default().to_owned();
    let others: Vec<Url> = all
        .iter()
        .filter(|n| n.id() != node.id())
        .filter_map(|n| location(n, "SingleLogoutService").ok())
        .filter(|u| *u != url)
        .collect();
    if !others.is_empty() {
        choices.push(format!(
            "{} SingleLogoutServices at different URLs; the {} one at {url} is used",
            all.len(),
            binding_name(&binding)
        ));
    }
    if let Some(r) = node.attribute("ResponseLocation") {
        if r.trim() != url.as_str() && Url::parse(r.trim()).ok().as_ref() != Some(&url) {
            choices.push(format!(
                "its SingleLogoutService has ResponseLocation {}; fakta sends logout responses to the Location {url}",
                r.trim()
            ));
        }
    }
    Ok(Some(Endpoint { url, binding }))
}

/// The first certificate of a KeyDescriptor for signing (`use="signing"` or no `use`).
fn signing_certificate(
    sp: &Node<'_, '_>,
    choices: &mut Vec<String>,
) -> Result<Option<X509>, SpMetadataError> {
    let certs: Vec<&str> = md_children(sp, "KeyDescriptor")
        .filter(|k| matches!(k.attribute("use"), None | Some("signing")))
        .flat_map(|k| {
            k.descendants().filter(|d| {
                d.is_element()
                    && d.tag_name().namespace() == Some(ns::DSIG)
                    && d.tag_name().name() == "X509Certificate"
            })
        })
        .map(|c| c.text().unwrap_or(""))
        .collect();
    let Some(first) = certs.first() else {
        return Ok(None);
    };
    if certs.len() > 1 {
        choices.push(format!(
            "{} signing certificates; signatures are checked with the first",
            certs.len()
        ));
    }
    let b64: String = first.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = STANDARD
        .decode(b64.as_bytes())
        .map_err(|_| SpMetadataError::BadCertificate)?;
    X509::from_der(&der)
        .map(Some)
        .map_err(|_| SpMetadataError::BadCertificate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_b64() -> String {
        let c = crate::keys::SigningKey::generate().unwrap().certificate;
        STANDARD.encode(c.x509().to_der().unwrap())
    }

    fn doc(sp_inner: &str, attrs: &str) -> String {
        format!(
            r#"<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://sp.test/meta">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" {attrs}>
{sp_inner}
  </md:SPSSODescriptor>
</md:EntityDescriptor>"#
        )
    }

    const POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
    const REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
    const ARTIFACT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact";

    #[test]
    fn every_value_is_read() {
        let inner = format!(
            r#"<md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>bm90IGEgY2VydA==</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>
{}
</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
<md:SingleLogoutService Binding="{POST}" Location="https://sp.test/slo"/>
<md:SingleLogoutService Binding="{REDIRECT}" Location="https://sp.test/slo"/>
<md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>
<md:AssertionConsumerService Binding="{POST}" Location="https://sp.test/acs" index="0"/>"#,
            cert_b64()
        );
        let m = parse(&doc(
            &inner,
            r#"AuthnRequestsSigned="true" WantAssertionsSigned="1""#,
        ))
        .unwrap();
        assert_eq!(m.entity_id, "https://sp.test/meta");
        assert_eq!(m.acs.url.as_str(), "https://sp.test/acs");
        let slo = m.slo.unwrap();
        assert_eq!(
            (slo.url.as_str(), slo.binding.as_str()),
            ("https://sp.test/slo", REDIRECT)
        );
        assert!(m.signing_certificate.is_some());
        assert!(m.authn_requests_signed && m.want_assertions_signed);
        assert_eq!(
            m.name_id_formats,
            ["urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"]
        );
        assert!(m.choices.is_empty(), "{:?}", m.choices);
    }

    #[test]
    fn the_default_post_acs_is_chosen_and_the_choice_said() {
        let inner = format!(
            r#"<md:AssertionConsumerService Binding="{ARTIFACT}" Location="https://sp.test/art" index="0" isDefault="true"/>
<md:AssertionConsumerService Binding="{POST}" Location="https://sp.test/two" index="2" isDefault="false"/>
<md:AssertionConsumerService Binding="{POST}" Location="https://sp.test/one" index="1"/>"#
        );
        let m = parse(&doc(&inner, "")).unwrap();
        assert_eq!(m.acs.url.as_str(), "https://sp.test/one");
        assert!(!m.authn_requests_signed && !m.want_assertions_signed);
        assert_eq!(
            m.choices,
            [
                "3 AssertionConsumerServices; the HTTP-POST one at https://sp.test/one is used (the first not marked isDefault=\"false\")"
            ]
        );
        let marked = inner.replace(r#"isDefault="false""#, r#"isDefault="true""#);
        assert_eq!(
            parse(&doc(&marked, "")).unwrap().acs.url.as_str(),
            "https://sp.test/two"
        );
    }

    #[test]
    fn each_unusable_document_says_why() {
        let acs = format!(
            r#"<md:AssertionConsumerService Binding="{POST}" Location="https://sp.test/acs"/>"#
        );
        let cases: Vec<(String, SpMetadataError)> = vec![
            ("not xml".into(), SpMetadataError::NotXml(String::new())),
            (
                "<!DOCTYPE x [<!ENTITY a \"b\">]><x/>".into(),
                SpMetadataError::Doctype,
            ),
            (
                "<html/>".into(),
                SpMetadataError::NotMetadata { found: "html".into() },
            ),
            (
                r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"><md:IDPSSODescriptor/></md:EntityDescriptor>"#.into(),
                SpMetadataError::NoSp,
            ),
            (
                doc(&format!(r#"<md:AssertionConsumerService Binding="{ARTIFACT}" Location="https://sp.test/a"/>"#), ""),
                SpMetadataError::NoPostAcs { listed: "HTTP-Artifact".into() },
            ),
            (
                doc(&acs, r#"AuthnRequestsSigned="yes""#),
                SpMetadataError::NotBoolean { attribute: "AuthnRequestsSigned", value: "yes".into() },
            ),
            (
                doc(&acs.replace("https://sp.test/acs", "/acs"), ""),
                SpMetadataError::BadLocation { element: "AssertionConsumerService", value: "/acs".into() },
            ),
            (
                doc(&format!(r#"{acs}<md:KeyDescriptor><ds:KeyInfo><ds:X509Data><ds:X509Certificate>!!</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#), ""),
                SpMetadataError::BadCertificate,
            ),
            (
                doc(&acs, "").replace("protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\"", "protocolSupportEnumeration=\"urn:x\""),
                SpMetadataError::NoSaml2,
            ),
        ];
        for (text, want) in cases {
            let got = parse(&text).unwrap_err();
            match (&got, &want) {
                (SpMetadataError::NotXml(_), SpMetadataError::NotXml(_)) => {}
                _ => assert_eq!(got, want, "{text}"),
            }
        }
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        let deep = format!("{}{}", "<a>".repeat(10_000), "</a>".repeat(10_000));
        assert!(matches!(parse(&deep), Err(SpMetadataError::TooDeep { .. })));
    }
}
