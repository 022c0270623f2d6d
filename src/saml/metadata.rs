//! IdP metadata (`EntityDescriptor` with one `IDPSSODescriptor`), shaped like Okta's: signing
//! KeyDescriptors (the current certificate and a rotated-out one still published), NameID formats,
//! SSO over HTTP-POST and HTTP-Redirect, and SLO when the app has logout.

use super::ns;
use super::xml::escape;

#[derive(Debug, Clone)]
pub struct MetadataParams<'a> {
    pub entity_id: &'a str,
    pub sso_url: &'a str,
    pub slo_url: Option<&'a str>,
    /// Base64 DER certificates, current first.
    pub certificates: Vec<String>,
    pub want_authn_requests_signed: bool,
    /// List the SSO and SLO services with the HTTP-Redirect binding only (Entra publishes no
    /// other); otherwise HTTP-POST and HTTP-Redirect.
    pub redirect_binding_only: bool,
}

pub fn build(p: &MetadataParams<'_>) -> String {
    let mut x = String::with_capacity(4096);
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    x.push_str(&format!(
        "<md:EntityDescriptor xmlns:md=\"{md}\" entityID=\"{eid}\">",
        md = ns::METADATA,
        eid = escape(p.entity_id)
    ));
    x.push_str(&format!(
        "<md:IDPSSODescriptor WantAuthnRequestsSigned=\"{}\" protocolSupportEnumeration=\"{}\">",
        p.want_authn_requests_signed,
        ns::PROTOCOL
    ));
    for cert in &p.certificates {
        x.push_str(&format!(
            "<md:KeyDescriptor use=\"signing\"><ds:KeyInfo xmlns:ds=\"{ds}\"><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>",
            ds = ns::DSIG,
        ));
    }
    let bindings: &[&str] = if p.redirect_binding_only {
        &[ns::BINDING_REDIRECT]
    } else {
        &[ns::BINDING_POST, ns::BINDING_REDIRECT]
    };
    if let Some(slo) = p.slo_url {
        for binding in bindings {
            x.push_str(&format!(
                "<md:SingleLogoutService Binding=\"{binding}\" Location=\"{}\"/>",
                escape(slo)
            ));
        }
    }
    for format in [
        "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
        "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
    ] {
        x.push_str(&format!("<md:NameIDFormat>{format}</md:NameIDFormat>"));
    }
    for binding in bindings {
        x.push_str(&format!(
            "<md:SingleSignOnService Binding=\"{binding}\" Location=\"{}\"/>",
            escape(p.sso_url)
        ));
    }
    x.push_str("</md:IDPSSODescriptor></md:EntityDescriptor>");
    x
}
