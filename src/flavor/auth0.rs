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
//! Left as Okta's (not verified or not done): the SAML2 Web App add-on (`/samlp/{client_id}`,
//! its issuer and attribute URIs), `sub` (Auth0's is `{connection}|{id}`: a file may give
//! users such ids), and the discovery document's lists of methods and algorithms.

use super::{Endpoint, TokenKind, Vendor};
use crate::config::{AuthServer, Directory, Idp, NameIdSpec, SamlAttribute};

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
    fn saml_issuer(&self, idp: &Idp, app_id: &str) -> String {
        super::okta::Okta.saml_issuer(idp, app_id)
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

    fn default_name_id(&self) -> NameIdSpec {
        super::okta::Okta.default_name_id()
    }

    fn default_saml_attributes(&self) -> Vec<SamlAttribute> {
        Vec::new()
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
}
