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
    pub end_session_endpoint: String,
    pub revocation_endpoint: String,
    pub introspection_endpoint: String,
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
        .chain(crate::oidc::assertion::KeyAlg::ALL.map(crate::oidc::assertion::KeyAlg::name))
        .collect()
}

pub fn metadata(server: &Server, base: &str) -> ProviderMetadata {
    let issuer = server.issuer(base);
    let ep = |name: &str| format!("{base}{}/{name}", server.endpoint_prefix());
    ProviderMetadata {
        issuer,
        authorization_endpoint: ep("authorize"),
        token_endpoint: ep("token"),
        userinfo_endpoint: ep("userinfo"),
        jwks_uri: ep("keys"),
        end_session_endpoint: ep("logout"),
        revocation_endpoint: ep("revoke"),
        introspection_endpoint: ep("introspect"),
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

    #[test]
    fn okta_layout() {
        let org = metadata(&Server::Org, "http://127.0.0.1:7000");
        assert_eq!(org.issuer, "http://127.0.0.1:7000");
        assert_eq!(org.token_endpoint, "http://127.0.0.1:7000/oauth2/v1/token");
        let custom = metadata(&Server::Custom("default".into()), "http://127.0.0.1:7000");
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
}
