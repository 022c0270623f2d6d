//! Auth0: a tenant's OIDC endpoints at the root of its domain (the issuer `https://{domain}/`,
//! with the trailing slash), and groups only as a custom claim an Action sets, under a name
//! that is not one of Auth0's restricted claims (a namespaced URL, as Auth0 recommends).
//!
//! Sources:
//! - \[API\]: Auth0 Authentication API, <https://auth0.com/docs/api/authentication>: `GET
//!   /authorize`, `POST /oauth/token`, `GET /userinfo`, `POST /oauth/revoke`, and "OIDC
//!   Logout", <https://auth0.com/docs/api/authentication/logout/oidc-logout>: `GET
//!   /oidc/logout` with `id_token_hint` and `post_logout_redirect_uri`.
//! - \[LOGOUT\]: "Log Users Out of Auth0 with OIDC Endpoint",
//!   <https://auth0.com/docs/authenticate/login/logout/log-users-out-of-auth0>: "Auth0
//!   implements OpenID Connect's RP-Initiated Logout 1.0"; the `end_session_endpoint` is in
//!   the tenant's discovery document when "RP-Initiated Logout End Session Endpoint
//!   Discovery" is on (fakta plays a tenant with it on).
//! - \[JWKS\]: "Locate JSON Web Key Sets",
//!   <https://auth0.com/docs/secure/tokens/json-web-tokens/locate-json-web-key-sets>:
//!   `https://{yourDomain}/.well-known/jwks.json`, and the discovery document at
//!   `https://{yourDomain}/.well-known/openid-configuration`.
//! - \[ISS\]: the issuer is `https://{yourDomain}/`, with the trailing slash: Auth0's own SDK
//!   validates `iss` against it (node-auth0 `auth/id-token-validator`: ``this.issuer =
//!   `https://${domain}/` ``), and "Auth0's iss field always has a trailing slash"
//!   (spring-projects/spring-boot#15324).
//! - \[CLAIMS\]: "Create Custom Claims",
//!   <https://auth0.com/docs/secure/tokens/json-web-tokens/create-custom-claims>: "Auth0
//!   allows namespaced and non-namespaced claims, but certain restrictions apply ... In case of
//!   collisions, the transaction won't fail, but your custom claim won't be added to your
//!   tokens"; "OPENID standard claims and claims used internally by Auth0 cannot be customized
//!   or modified"; the restricted claims listed include `groups`, `roles` and `permissions`.
//!   (Before 28 July 2022 only namespaced claims were allowed: "Migrate Custom Claims",
//!   <https://auth0.com/docs/troubleshoot/product-lifecycle/past-migrations/custom-claims-migration>.)
//!
//! An Auth0 tenant is its own host (`{tenant}.auth0.com`, a regional or custom domain): fakta's
//! base URL stands for it, so an Auth0 file names no tenant.
//!
//! - \[SAMLAPI\]: Auth0 Authentication API, SAML, <https://auth0.com/docs/api/authentication>:
//!   "Accept Request", `GET /samlp/{client_id}`,
//!   "Use this endpoint to accept a SAML request to initiate a login"; "Get Metadata",
//!   <https://auth0.com/docs/api/authentication/saml/get-saml-metadata>: `GET
//!   /samlp/metadata/{clientId}`, "This endpoint returns the SAML 2.0 metadata", `clientId`
//!   "The client_id of your application"; "SAML Logout",
//!   <https://auth0.com/docs/api/authentication/logout/saml-logout>: `POST
//!   /samlp/{client_id}/logout`, "log out a user from an Auth0 tenant configured as a SAML
//!   identity provider (IdP)", `client_id` the "Client ID of your application configured with
//!   the SAML2 Web App addon".
//! - \[ASSERT\]: "Customize SAML Assertions",
//!   <https://auth0.com/docs/authenticate/protocols/saml/saml-configuration/customize-saml-assertions>:
//!   `signResponse`: "By default the SAML assertion will be signed, but not the SAML
//!   response"; `passthroughClaimsWithNoMapping` / `mapUnknownClaimsAsIs`: a claim not mapped
//!   to the common profile is passed through with the prefix `http://schema.auth0.com`;
//!   "SAML Attribute Mapping Examples",
//!   <https://auth0.com/docs/authenticate/protocols/saml/saml-configuration/saml-attribute-mapping-examples>:
//!   with no mappings, a profile's `"fav_genre": "fiction"` "gets mapped to the
//!   `http://schemas.auth0.com/fav_genre` attribute in the SAML Response" (how a `groups` claim
//!   an Action or Rule sets reaches the SP: scenarios/auth0-saml.yaml).
//! - \[PROBES\]: "Configure Auth0 as Identity Provider for Atlassian",
//!   <https://auth0.com/docs/authenticate/single-sign-on/outbound-single-sign-on/configure-auth0-saml-identity-provider/configure-auth0-as-identity-provider-for-atlassian>:
//!   the add-on's `nameIdentifierProbes` name the assertion's attributes
//!   `http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress`, `.../nameidentifier`
//!   and `.../name` (the NameID is the first of them with a value); "Mapping email in NameID
//!   field", Auth0 Community, <https://community.auth0.com/t/mapping-email-in-nameid-field/95828>:
//!   "In the Subject's NameId attribute we send the user's user id by default", shown with
//!   `Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"`.
//!
//! Left as Okta's (not verified or not done): the add-on's IdP entity id (the Issuer: not found
//! in Auth0's documentation; the file's `issuer` may set the tenant's), `signResponse` (fakta
//! signs as it does for Okta), the UPN claim (`createUpnClaim`) and groups in SAML (a claim an
//! Action or Rule sets: the file names the attribute), `sub` (Auth0's is `{connection}|{id}`:
//! a file may give users such ids), and the discovery document's lists of methods and
//! algorithms.

use super::{Endpoint, SamlPaths, TokenKind, Vendor};
use crate::config::{
    AuthServer, Directory, Idp, NameIdFormat, NameIdSpec, NameIdValue, SamlAttribute, UserField,
};

/// \[PROBES\] the claim URIs of the assertion's attributes: the user's email, user id and name.
/// The email and name claim URIs are the WS-* ones Entra ID uses too.
pub use super::entra::{CLAIM_EMAIL, CLAIM_NAME};
pub const CLAIM_NAME_IDENTIFIER: &str =
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier";

/// \[SAMLAPI\] an application's SAML endpoints: `/samlp/{client_id}` (SSO), its `/logout`
/// (SLO), `/samlp/metadata/{client_id}`; the IdP-initiated start is the SSO URL without a
/// request (fakta's tile, as for Okta). fakta's app id stands for the client id.
pub fn saml_paths(client_id: &str) -> SamlPaths {
    let sso = format!("/samlp/{client_id}");
    SamlPaths {
        slo: format!("{sso}/logout"),
        metadata: format!("/samlp/metadata/{client_id}"),
        idp_initiated: sso.clone(),
        sso,
    }
}

/// \[CLAIMS\] The restricted claims of "General restrictions" a custom claim cannot be: an
/// Action setting one is ignored (the claim is not added), so a group statement under one of
/// these names would never reach the SP.
pub const RESTRICTED_CLAIMS: &[&str] = &[
    "acr",
    "act",
    "active",
    "amr",
    "at_hash",
    "ath",
    "attest",
    "aud",
    "auth_time",
    "authorization_details",
    "azp",
    "c_hash",
    "client_id",
    "cnf",
    "cty",
    "dest",
    "entitlements",
    "events",
    "exp",
    "groups",
    "gty",
    "htm",
    "htu",
    "iat",
    "internalService",
    "iss",
    "jcard",
    "jku",
    "jti",
    "jwe",
    "jwk",
    "kid",
    "may_act",
    "mky",
    "nbf",
    "nonce",
    "object_id",
    "org_id",
    "org_name",
    "orig",
    "origid",
    "permissions",
    "roles",
    "rph",
    "s_hash",
    "sid",
    "sip_callid",
    "sip_cseq_num",
    "sip_date",
    "sip_from_tag",
    "sip_via_branch",
    "sub",
    "sub_jwk",
    "toe",
    "txn",
    "typ",
    "uuid",
    "vot",
    "vtm",
    "x5t#S256",
];

#[derive(Debug)]
pub struct Auth0;

impl Vendor for Auth0 {
    /// Not verified: Okta's (see the module's notes).
    fn saml_issuer(&self, idp: &Idp, app_id: &str) -> String {
        super::okta::Okta.saml_issuer(idp, app_id)
    }

    /// \[SAMLAPI\] per application, by client id: not tenant-wide.
    fn saml_paths(&self, _idp: &Idp, _name: &str, id: &str) -> SamlPaths {
        saml_paths(id)
    }

    /// \[ISS\] the issuer is the tenant's URL with a trailing slash.
    fn oidc_issuer(&self, idp: &Idp, _server: &AuthServer) -> String {
        format!("{}/", idp.base())
    }

    /// \[API\] the Authentication API's paths; \[JWKS\] the key set; Auth0 publishes no
    /// introspection endpoint.
    fn oidc_path(&self, _idp: &Idp, _server: &AuthServer, endpoint: Endpoint) -> Option<String> {
        let path = match endpoint {
            Endpoint::Authorize => "/authorize",
            Endpoint::Token => "/oauth/token",
            Endpoint::Userinfo => "/userinfo",
            Endpoint::Keys => "/.well-known/jwks.json",
            Endpoint::Logout => "/oidc/logout",
            Endpoint::Revoke => "/oauth/revoke",
            Endpoint::Introspect => return None,
        };
        Some(path.to_owned())
    }

    /// \[JWKS\] the discovery document at the root of the tenant's domain.
    fn discovery_path(&self, _idp: &Idp, _server: &AuthServer) -> String {
        "/.well-known/openid-configuration".to_owned()
    }

    /// \[PROBES\] the user id, format unspecified, by default.
    fn default_name_id(&self) -> NameIdSpec {
        NameIdSpec {
            format: NameIdFormat::Unspecified,
            value: NameIdValue::Field(UserField::Id),
        }
    }

    /// \[PROBES\] the email, the user id and the name under their claim URIs.
    fn default_saml_attributes(&self) -> Vec<SamlAttribute> {
        super::claim_attributes([
            (CLAIM_EMAIL, UserField::Email),
            (CLAIM_NAME_IDENTIFIER, UserField::Id),
            (CLAIM_NAME, UserField::Name),
        ])
    }

    fn group_value(&self, _directory: &Directory, name: &str, _full_path: bool) -> String {
        name.to_owned()
    }

    /// \[CLAIMS\] a group list under a restricted name (`groups`, `roles`, ...) is dropped by
    /// Auth0 without an error: the file must name the claim the Action sets, namespaced as
    /// Auth0 recommends.
    fn refuses_group_claim(&self, kind: TokenKind, name: &str) -> Option<String> {
        (kind == TokenKind::Jwt && RESTRICTED_CLAIMS.contains(&name)).then(|| {
            format!(
                "`{name}` is one of Auth0's restricted claims: an Action setting it is ignored and the token carries no groups (auth0.com/docs/secure/tokens/json-web-tokens/create-custom-claims). Name the claim your Action sets, namespaced as Auth0 recommends: `attribute: https://acme.test/groups`"
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flavor::Flavor;

    #[test]
    fn issuer_has_the_trailing_slash_and_paths_are_auth0s() {
        let idp = Idp {
            base_url: url::Url::parse("http://127.0.0.1:7000").unwrap(),
            trusted_origins: None,
            flavor: Flavor::Auth0,
            tenant: String::new(),
        };
        let org = AuthServer::Org;
        assert_eq!(Auth0.oidc_issuer(&idp, &org), "http://127.0.0.1:7000/");
        assert_eq!(
            Auth0.oidc_path(&idp, &org, Endpoint::Token).as_deref(),
            Some("/oauth/token")
        );
        assert_eq!(Auth0.oidc_path(&idp, &org, Endpoint::Introspect), None);
    }

    #[test]
    fn a_restricted_group_claim_is_refused_a_namespaced_one_is_not() {
        for name in ["groups", "roles", "permissions"] {
            assert!(
                Auth0
                    .refuses_group_claim(TokenKind::Jwt, name)
                    .is_some_and(|m| m.contains(name))
            );
        }
        assert_eq!(
            Auth0.refuses_group_claim(TokenKind::Jwt, "https://acme.test/groups"),
            None
        );
        assert_eq!(Auth0.refuses_group_claim(TokenKind::Saml, "groups"), None);
    }

    #[test]
    fn saml_is_per_application_under_samlp_with_claim_uris_and_the_user_id() {
        let idp = Idp {
            base_url: url::Url::parse("http://127.0.0.1:7000").unwrap(),
            trusted_origins: None,
            flavor: Flavor::Auth0,
            tenant: String::new(),
        };
        let paths = Auth0.saml_paths(&idp, "acme_qovery_1", "qovery");
        assert_eq!(paths.sso, "/samlp/qovery");
        assert_eq!(paths.slo, "/samlp/qovery/logout");
        assert_eq!(paths.metadata, "/samlp/metadata/qovery");
        assert_eq!(paths.idp_initiated, "/samlp/qovery");
        assert!(!Auth0.saml_tenant_wide());
        assert!(!Auth0.saml_redirect_binding_only());
        assert_eq!(
            Auth0.default_name_id().value,
            NameIdValue::Field(UserField::Id)
        );
        let names: Vec<String> = Auth0
            .default_saml_attributes()
            .into_iter()
            .map(|a| a.name)
            .collect();
        assert_eq!(names, [CLAIM_EMAIL, CLAIM_NAME_IDENTIFIER, CLAIM_NAME]);
    }
}
