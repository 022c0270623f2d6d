//! Keycloak: one realm's endpoints under `/realms/{realm}/protocol/...`, the realm URL as the
//! issuer, and groups as full paths (`/Qovery-Admins`).
//!
//! Sources:
//! - \[LAYERS\]: "Keycloak OpenID Connect layers", <https://www.keycloak.org/securing-apps/oidc-layers>:
//!   the well-known document at `/realms/{realm-name}/.well-known/openid-configuration`, the
//!   authorization endpoint `/realms/{realm-name}/protocol/openid-connect/auth`, token
//!   `.../token`, userinfo `.../userinfo`, logout `.../logout`, certificates `.../certs`,
//!   introspection `.../token/introspect`, revocation `.../revoke`; and Keycloak's
//!   `org.keycloak.constants.ServiceUrlConstants` (AUTH_PATH, TOKEN_PATH, ..., REALM_INFO_PATH
//!   `/realms/{realm-name}`).
//! - \[MAPPER\]: the "Group Membership" protocol mapper,
//!   <https://www.keycloak.org/docs-api/latest/javadocs/org/keycloak/protocol/oidc/mappers/GroupMembershipMapper.html>
//!   (`useFullPath`): with "Full group path" on, a group is written as its path from the
//!   realm's root, `/Parent/Child`. fakta plays the mapper with the option on, so a top-level
//!   group `Qovery-Admins` is sent as `/Qovery-Admins`. (That the admin console creates the
//!   mapper with the option on is not checked here.)
//!
//! Left as Okta's (not verified or not done): the SAML URLs (Keycloak's descriptor is
//! `/realms/{realm}/protocol/saml/descriptor`), SAML attribute names, NameID, and the
//! id_token's claims beyond `iss`.

use super::{Endpoint, Vendor};
use crate::config::{AuthServer, Directory, Idp, NameIdSpec, SamlAttribute};

/// The realm when the file names none.
pub const DEFAULT_REALM: &str = "fakta";

#[derive(Debug)]
pub struct Keycloak;

impl Keycloak {
    fn realm(idp: &Idp) -> String {
        format!("/realms/{}", idp.tenant)
    }
}

impl Vendor for Keycloak {
    /// The realm URL, as for OIDC (REALM_INFO_PATH).
    fn saml_issuer(&self, idp: &Idp, _app_id: &str) -> String {
        format!("{}{}", idp.base(), Keycloak::realm(idp))
    }

    /// [LAYERS]: discovery is the issuer plus `/.well-known/openid-configuration`, and it is
    /// served at `/realms/{realm-name}/.well-known/...`: the issuer is the realm URL.
    fn oidc_issuer(&self, idp: &Idp, _server: &AuthServer) -> String {
        format!("{}{}", idp.base(), Keycloak::realm(idp))
    }

    /// \[LAYERS\] the endpoint paths.
    fn oidc_path(&self, idp: &Idp, _server: &AuthServer, endpoint: Endpoint) -> Option<String> {
        let name = match endpoint {
            Endpoint::Authorize => "auth",
            Endpoint::Token => "token",
            Endpoint::Userinfo => "userinfo",
            Endpoint::Keys => "certs",
            Endpoint::Logout => "logout",
            Endpoint::Revoke => "revoke",
            Endpoint::Introspect => "token/introspect",
        };
        Some(format!(
            "{}/protocol/openid-connect/{name}",
            Keycloak::realm(idp)
        ))
    }

    fn discovery_path(&self, idp: &Idp, _server: &AuthServer) -> String {
        format!("{}/.well-known/openid-configuration", Keycloak::realm(idp))
    }

    fn default_name_id(&self) -> NameIdSpec {
        super::okta::Okta.default_name_id()
    }

    fn default_saml_attributes(&self) -> Vec<SamlAttribute> {
        Vec::new()
    }

    /// \[MAPPER\] with "Full group path" on, the full path: `/` and the group's name (a name
    /// with `/` in the file is a subgroup's path below its parents); off, the name.
    fn group_value(&self, _directory: &Directory, name: &str, full_path: bool) -> String {
        if full_path {
            format!("/{name}")
        } else {
            name.to_owned()
        }
    }

    fn group_paths(&self) -> bool {
        true
    }
}
