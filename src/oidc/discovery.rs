//! Authorization servers and their discovery documents, in Okta's layout: the org server
//! (issuer `{base}`, endpoints `{base}/oauth2/v1/...`) and custom servers (issuer
//! `{base}/oauth2/{id}`, endpoints `{base}/oauth2/{id}/v1/...`).

use serde::Serialize;

pub use crate::config::AuthServer as Server;

impl Server {
    /// The issuer for an IdP reached at `base` (no trailing slash).
    pub fn issuer(&self, base: &str) -> String {
        match self {
            Server::Org => base.to_owned(),
            Server::Custom(id) => format!("{base}/oauth2/{id}"),
        }
    }

    /// Path prefix of the server's endpoints: `/oauth2/v1` or `/oauth2/{id}/v1`.
    pub fn endpoint_prefix(&self) -> String {
        match self {
            Server::Org => "/oauth2/v1".to_owned(),
            Server::Custom(id) => format!("/oauth2/{id}/v1"),
        }
    }

    /// Path of the discovery document.
    pub fn discovery_path(&self) -> String {
        match self {
            Server::Org => "/.well-known/openid-configuration".to_owned(),
            Server::Custom(id) => format!("/oauth2/{id}/.well-known/openid-configuration"),
        }
    }

    /// The default audience of access tokens (Okta: the org URL, or `api://{id}`).
    pub fn access_token_audience(&self, base: &str) -> String {
        match self {
            Server::Org => base.to_owned(),
            Server::Custom(id) => format!("api://{id}"),
        }
    }
}

/// OpenID Provider metadata (OIDC Discovery 1.0 section 3).
#[derive(Debug, Clone, Serialize)]
pub struct ProviderMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: String,
    pub jwks_uri: String,
    /// None where the vendor has no RP-initiated logout (Google).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_session_endpoint: Option<String>,
    /// None where the vendor publishes none (Entra).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub introspection_endpoint: Option<String>,
    pub response_types_supported: Vec<&'static str>,
    pub response_modes_supported: Vec<&'static str>,
    pub grant_types_supported: Vec<&'static str>,
    pub subject_types_supported: Vec<&'static str>,
    pub id_token_signing_alg_values_supported: Vec<&'static str>,
    pub scopes_supported: Vec<&'static str>,
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    /// OIDC Discovery §3: the algorithms of `client_secret_jwt` and `private_key_jwt`
    /// assertions (RFC 8414 §2 names the same for revocation and introspection).
    pub token_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    pub revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    pub revocation_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    pub introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    pub introspection_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    pub claims_supported: Vec<&'static str>,
    pub code_challenge_methods_supported: Vec<&'static str>,
    pub request_parameter_supported: bool,
    pub backchannel_logout_supported: bool,
    pub backchannel_logout_session_supported: bool,
}

pub const SCOPES: &[&str] = &["openid", "profile", "email", "groups", "offline_access"];

/// Every client authentication method the endpoints take (an app uses the one it registered).
fn auth_methods() -> Vec<&'static str> {
    crate::config::TokenAuth::ALL
        .iter()
        .map(|t| t.name())
        .collect()
}

/// The algorithms of client assertions: HMAC for `client_secret_jwt`, RSA and ECDSA for
/// `private_key_jwt` (never `none`).
fn assertion_algs() -> Vec<&'static str> {
    let a = &crate::oidc::assertion::HMAC_ALGS;
    a.iter()
        .copied()
        .chain(crate::oidc::assertion::KeyAlg::ALL.iter().map(|k| k.name()))
        .collect()
}

/// The discovery document of `server`, in the layout of the file's flavor (`crate::flavor`:
/// Okta's unless `idp.flavor` says otherwise).
pub fn metadata(idp: &crate::config::Idp, server: &Server) -> ProviderMetadata {
    use crate::flavor::Endpoint as E;
    let issuer = idp.oidc_issuer(server);
    let opt = |e: E| idp.oidc_endpoint(server, e);
    let ep = |e: E| opt(e).unwrap_or_default();
    ProviderMetadata {
        issuer,
        authorization_endpoint: ep(E::Authorize),
        token_endpoint: ep(E::Token),
        userinfo_endpoint: ep(E::Userinfo),
        jwks_uri: ep(E::Keys),
        end_session_endpoint: opt(E::Logout),
        revocation_endpoint: opt(E::Revoke),
        introspection_endpoint: opt(E::Introspect),
        // Okta's `/authorize` response types (code flow, implicit, hybrid); an app uses those
        // its `grant_types` allow (`ResponseType::grants`).
        response_types_supported: crate::config::ResponseType::ALL
            .iter()
            .map(|r| r.name())
            .collect(),
        response_modes_supported: crate::oidc::authorize::ResponseMode::ALL
            .iter()
            .map(|m| m.as_str())
            .collect(),
        // Every grant fakta answers (Discovery 1.0 §3 lists `implicit` among them too); an app
        // uses those its `grant_types` allow.
        grant_types_supported: crate::config::GrantType::ALL
            .iter()
            .map(|g| g.name())
            .collect(),
        subject_types_supported: vec!["public"],
        id_token_signing_alg_values_supported: vec!["RS256", "ES256"],
        scopes_supported: SCOPES.to_vec(),
        token_endpoint_auth_methods_supported: auth_methods(),
        token_endpoint_auth_signing_alg_values_supported: assertion_algs(),
        revocation_endpoint_auth_methods_supported: auth_methods(),
        revocation_endpoint_auth_signing_alg_values_supported: assertion_algs(),
        introspection_endpoint_auth_methods_supported: auth_methods(),
        introspection_endpoint_auth_signing_alg_values_supported: assertion_algs(),
        claims_supported: vec![
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "at_hash",
            "c_hash",
            "sid",
            "email",
            "email_verified",
            "name",
            "preferred_username",
            "groups",
        ],
        code_challenge_methods_supported: vec!["S256", "plain"],
        request_parameter_supported: false,
        backchannel_logout_supported: true,
        backchannel_logout_session_supported: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idp(flavor: crate::flavor::Flavor) -> crate::config::Idp {
        crate::config::Idp {
            base_url: url::Url::parse("http://127.0.0.1:7000").unwrap(),
            trusted_origins: None,
            flavor,
            tenant: flavor.default_tenant().to_owned(),
        }
    }

    #[test]
    fn okta_layout() {
        let okta = idp(crate::flavor::Flavor::Okta);
        let org = metadata(&okta, &Server::Org);
        assert_eq!(org.issuer, "http://127.0.0.1:7000");
        assert_eq!(org.token_endpoint, "http://127.0.0.1:7000/oauth2/v1/token");
        assert_eq!(
            org.revocation_endpoint.as_deref(),
            Some("http://127.0.0.1:7000/oauth2/v1/revoke")
        );
        let custom = metadata(&okta, &Server::Custom("default".into()));
        assert_eq!(custom.issuer, "http://127.0.0.1:7000/oauth2/default");
        assert_eq!(
            custom.jwks_uri,
            "http://127.0.0.1:7000/oauth2/default/v1/keys"
        );
        assert_eq!(
            Server::Custom("default".into()).discovery_path(),
            "/oauth2/default/.well-known/openid-configuration"
        );
    }

    #[test]
    fn entra_and_keycloak_layouts() {
        let entra = idp(crate::flavor::Flavor::Entra);
        let md = metadata(&entra, &Server::Org);
        let t = crate::flavor::entra::DEFAULT_TENANT;
        assert_eq!(md.issuer, format!("http://127.0.0.1:7000/{t}/v2.0"));
        assert_eq!(
            md.authorization_endpoint,
            format!("http://127.0.0.1:7000/{t}/oauth2/v2.0/authorize")
        );
        assert_eq!(
            md.jwks_uri,
            format!("http://127.0.0.1:7000/{t}/discovery/v2.0/keys")
        );
        assert_eq!(md.userinfo_endpoint, "http://127.0.0.1:7000/oidc/userinfo");
        assert_eq!(md.revocation_endpoint, None);
        assert_eq!(
            entra.discovery_path(&Server::Org),
            format!("/{t}/v2.0/.well-known/openid-configuration")
        );
        let kc = metadata(&idp(crate::flavor::Flavor::Keycloak), &Server::Org);
        assert_eq!(kc.issuer, "http://127.0.0.1:7000/realms/fakta");
        assert_eq!(
            kc.token_endpoint,
            "http://127.0.0.1:7000/realms/fakta/protocol/openid-connect/token"
        );
        assert_eq!(
            kc.jwks_uri,
            "http://127.0.0.1:7000/realms/fakta/protocol/openid-connect/certs"
        );
    }

    #[test]
    fn google_and_auth0_layouts() {
        let google = metadata(&idp(crate::flavor::Flavor::Google), &Server::Org);
        assert_eq!(google.issuer, "http://127.0.0.1:7000");
        assert_eq!(
            google.authorization_endpoint,
            "http://127.0.0.1:7000/o/oauth2/v2/auth"
        );
        assert_eq!(google.jwks_uri, "http://127.0.0.1:7000/oauth2/v3/certs");
        // Google has no RP-initiated logout: the document names no end_session_endpoint.
        assert_eq!(google.end_session_endpoint, None);
        let json = serde_json::to_value(&google).unwrap();
        assert!(json.get("end_session_endpoint").is_none(), "{json}");
        let auth0 = metadata(&idp(crate::flavor::Flavor::Auth0), &Server::Org);
        assert_eq!(auth0.issuer, "http://127.0.0.1:7000/");
        assert_eq!(auth0.token_endpoint, "http://127.0.0.1:7000/oauth/token");
        assert_eq!(
            auth0.jwks_uri,
            "http://127.0.0.1:7000/.well-known/jwks.json"
        );
        assert_eq!(
            auth0.end_session_endpoint.as_deref(),
            Some("http://127.0.0.1:7000/oidc/logout")
        );
        assert_eq!(auth0.introspection_endpoint, None);
    }
}
