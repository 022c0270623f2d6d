//! Okta: what fakta always did. The org server (issuer `{base}`, endpoints
//! `{base}/oauth2/v1/...`) and custom servers (`{base}/oauth2/{id}`), SAML apps issued by
//! `http://www.okta.com/{app id}`, groups by name, no overage (Okta's group filter decides what
//! is sent). The facts are cited where fakta's Okta behaviour is built (`oidc::discovery`,
//! `config::load::saml`).

use super::{Endpoint, SamlPaths, Vendor};
use crate::config::{
    AuthServer, Directory, Idp, NameIdFormat, NameIdSpec, NameIdValue, SamlAttribute, UserField,
};

#[derive(Debug)]
pub struct Okta;

/// Okta's SAML endpoints, per app: `/app/{name}/{id}/sso/saml` (the "Identity Provider Single
/// Sign-On URL" of an app's Sign On tab), `/app/{name}/{id}/slo/saml`, the metadata at
/// `/app/{id}/sso/saml/metadata`; the tile is the SSO URL without a request.
pub fn saml_paths(name: &str, id: &str) -> SamlPaths {
    let sso = format!("/app/{name}/{id}/sso/saml");
    SamlPaths {
        slo: format!("/app/{name}/{id}/slo/saml"),
        metadata: format!("/app/{id}/sso/saml/metadata"),
        idp_initiated: sso.clone(),
        sso,
    }
}

impl Vendor for Okta {
    fn saml_issuer(&self, _idp: &Idp, app_id: &str) -> String {
        format!("http://www.okta.com/{app_id}")
    }

    fn oidc_issuer(&self, idp: &Idp, server: &AuthServer) -> String {
        server.issuer(idp.base())
    }

    fn oidc_path(&self, _idp: &Idp, server: &AuthServer, endpoint: Endpoint) -> Option<String> {
        let name = match endpoint {
            Endpoint::Authorize => "authorize",
            Endpoint::Token => "token",
            Endpoint::Userinfo => "userinfo",
            Endpoint::Keys => "keys",
            Endpoint::Logout => "logout",
            Endpoint::Revoke => "revoke",
            Endpoint::Introspect => "introspect",
        };
        Some(format!("{}/{name}", server.endpoint_prefix()))
    }

    fn discovery_path(&self, _idp: &Idp, server: &AuthServer) -> String {
        server.discovery_path()
    }

    fn default_name_id(&self) -> NameIdSpec {
        NameIdSpec {
            format: NameIdFormat::Unspecified,
            value: NameIdValue::Field(UserField::Email),
        }
    }

    fn default_saml_attributes(&self) -> Vec<SamlAttribute> {
        Vec::new()
    }

    fn group_value(&self, _directory: &Directory, name: &str, _full_path: bool) -> String {
        name.to_owned()
    }
}
