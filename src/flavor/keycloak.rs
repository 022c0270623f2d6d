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
//! - \[SAMLCLIENT\]: Keycloak's Server Administration Guide, "Creating a SAML client",
//!   <https://www.keycloak.org/docs/latest/server_admin/#_client-saml-configuration>: "Client
//!   ID ... must match the issuer value sent with AuthNRequests. Keycloak pulls the issuer from
//!   the Authn SAML request and match it to a client by this value"; "IDP-Initiated SSO URL
//!   name ... The URL you will reference from your browser will be:
//!   `server-root/realms/{realm}/protocol/saml/clients/{client-url-name}`".
//! - \[DESCRIPTOR\]: the realm's "SAML 2.0 Identity Provider Metadata" (Realm settings,
//!   Endpoints) at `/realms/{realm}/protocol/saml/descriptor`: an `EntityDescriptor` whose
//!   `entityID` is the realm URL, with `SingleLogoutService` and `SingleSignOnService` at
//!   `/realms/{realm}/protocol/saml` for the HTTP-POST and HTTP-Redirect bindings (Keycloak's
//!   `org.keycloak.protocol.saml.SamlService` serves `descriptor` below the realm's SAML
//!   endpoint; `IDPMetadataDescriptor.getIDPDescriptor(loginPostEndpoint,
//!   loginRedirectEndpoint, logoutEndpoint, ..., entityId, wantAuthnRequestsSigned, ...)`).
//!
//! Left as Okta's (not verified or not done): SAML attribute names and the default NameID
//! (a keycloak-saml file names its mappers' attributes and its NameID itself), the
//! descriptor's `ArtifactResolutionService` and HTTP-Artifact endpoints (fakta has no artifact
//! binding), and the id_token's claims beyond `iss`.

use super::{Endpoint, SamlPaths, Vendor};
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
    /// The realm URL, as for OIDC (REALM_INFO_PATH); \[DESCRIPTOR\] the `entityID`.
    fn saml_issuer(&self, idp: &Idp, _app_id: &str) -> String {
        format!("{}{}", idp.base(), Keycloak::realm(idp))
    }

    fn saml_tenant_wide(&self) -> bool {
        true
    }

    /// \[DESCRIPTOR\] one SAML endpoint for the realm, SSO and SLO, the app told by the
    /// request's Issuer (\[SAMLCLIENT\] the client ID); \[SAMLCLIENT\] the IdP-initiated URL
    /// `/realms/{realm}/protocol/saml/clients/{client-url-name}` (fakta's app id is the URL
    /// name).
    fn saml_paths(&self, idp: &Idp, _name: &str, id: &str) -> SamlPaths {
        let endpoint = format!("{}/protocol/saml", Keycloak::realm(idp));
        SamlPaths {
            metadata: format!("{endpoint}/descriptor"),
            idp_initiated: format!("{endpoint}/clients/{id}"),
            sso: endpoint.clone(),
            slo: endpoint,
        }
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
