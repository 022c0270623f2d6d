//! Google (Sign in with Google, a Google Workspace domain): Google's OIDC endpoint paths, the
//! issuer `https://accounts.google.com` (fakta's base URL), `hd` for a Workspace account, and
//! no groups in id_tokens.
//!
//! Sources:
//! - \[OIDC\]: "OpenID Connect", <https://developers.google.com/identity/openid-connect/openid-connect>
//!   (the ID token's payload; the Discovery document).
//! - \[REF\]: "Google OpenID Connect API Reference",
//!   <https://developers.google.com/identity/openid-connect/reference>: the Discovery
//!   document at `https://accounts.google.com/.well-known/openid-configuration`, its fields
//!   (issuer, authorization, device authorization, token, userinfo and revocation endpoints,
//!   jwks_uri, ...: no `end_session_endpoint`, no introspection endpoint) and the ID token's
//!   claims.
//!
//! Google serves its endpoints from several hosts (accounts.google.com, oauth2.googleapis.com,
//! openidconnect.googleapis.com, www.googleapis.com); fakta serves them all on its base URL,
//! with Google's paths.
//!
//! Roles: Google's id_token carries no groups (\[REF\]'s claim list has none, and \[OIDC\]'s
//! payload neither), so a Google OIDC app has no group statement (`apps[].groups` is refused
//! for it) and the role oracle expects every user to get the default role: an SP that gets
//! roles from Google groups fetches them elsewhere (the Directory or Cloud Identity API, which
//! fakta does not serve), and the file says so by mapping no groups.
//!
//! Left as Okta's (not verified or not done): Google Workspace SAML apps (the `idpid` URLs,
//! attribute mapping, group membership), `sub` (Google's is a numeric account id; fakta keeps
//! the user id), and the discovery document's lists of methods and algorithms.

use serde_json::{Map, Value, json};

use super::{Endpoint, TokenKind, Vendor};
use crate::config::{AuthServer, Directory, Idp, NameIdSpec, SamlAttribute, User};

#[derive(Debug)]
pub struct Google;

impl Vendor for Google {
    fn saml_issuer(&self, idp: &Idp, app_id: &str) -> String {
        super::okta::Okta.saml_issuer(idp, app_id)
    }

    /// \[REF\] issuer: "The modern value is `https://accounts.google.com`": the host alone, no
    /// path (fakta's base URL stands for it).
    fn oidc_issuer(&self, idp: &Idp, _server: &AuthServer) -> String {
        idp.base().to_owned()
    }

    /// \[OIDC\] the Discovery document's endpoints: `authorization_endpoint`
    /// `https://accounts.google.com/o/oauth2/v2/auth`, `token_endpoint`
    /// `https://oauth2.googleapis.com/token`, `userinfo_endpoint`
    /// `https://openidconnect.googleapis.com/v1/userinfo`, `revocation_endpoint`
    /// `https://oauth2.googleapis.com/revoke`, `jwks_uri`
    /// `https://www.googleapis.com/oauth2/v3/certs`. \[REF\] lists no end_session or
    /// introspection endpoint: Google has no RP-initiated logout.
    fn oidc_path(&self, _idp: &Idp, _server: &AuthServer, endpoint: Endpoint) -> Option<String> {
        match endpoint {
            Endpoint::Authorize => Some("/o/oauth2/v2/auth".to_owned()),
            Endpoint::Token => Some("/token".to_owned()),
            Endpoint::Userinfo => Some("/v1/userinfo".to_owned()),
            Endpoint::Keys => Some("/oauth2/v3/certs".to_owned()),
            Endpoint::Revoke => Some("/revoke".to_owned()),
            Endpoint::Logout | Endpoint::Introspect => None,
        }
    }

    /// \[REF\] "URL: `https://accounts.google.com/.well-known/openid-configuration`".
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

    /// \[OIDC\] `hd`: "The domain associated with the Google Cloud organization of the user.
    /// Provided only if the user belongs to a Google Cloud organization": the file's
    /// `idp.domain` (a Workspace), none without one (consumer accounts). `email_verified`
    /// ("True if the user's e-mail address has been verified") fakta already sends.
    fn id_token_claims(&self, idp: &Idp, _user: &User, claims: &mut Map<String, Value>) {
        if !idp.tenant.is_empty() {
            claims.insert("hd".into(), json!(idp.tenant));
        }
    }

    /// Google Workspace's custom SAML apps are not played: their URLs (`idpid`), NameID and
    /// attribute mapping could not be checked against Google's own documentation.
    fn saml_not_played(&self) -> Option<&'static str> {
        Some(
            "fakta does not play Google Workspace's SAML apps (their URLs, NameID and attribute mapping could not be checked against Google's documentation): this app gets Okta's SAML shape; `idp.flavor: google` changes only OIDC",
        )
    }

    fn no_groups(&self, kind: TokenKind) -> Option<&'static str> {
        (kind == TokenKind::Jwt).then_some(
            "Google's id_token carries no groups claim (developers.google.com/identity/openid-connect/reference lists its claims): an SP behind Google gets groups from Google's Directory or Cloud Identity API, which fakta does not serve. Remove `groups`; the role matrix then expects the default role for every user",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flavor::Flavor;

    fn idp(domain: &str) -> Idp {
        Idp {
            base_url: url::Url::parse("http://127.0.0.1:7000").unwrap(),
            trusted_origins: None,
            flavor: Flavor::Google,
            tenant: domain.to_owned(),
        }
    }

    #[test]
    fn hd_only_for_a_workspace_domain() {
        let user = User {
            id: "1".into(),
            login: "a@acme.test".into(),
            email: "a@acme.test".into(),
            name: None,
            groups: Vec::new(),
            attributes: Default::default(),
        };
        let mut c = Map::new();
        Google.id_token_claims(&idp("acme.test"), &user, &mut c);
        assert_eq!(c["hd"], "acme.test");
        let mut consumer = Map::new();
        Google.id_token_claims(&idp(""), &user, &mut consumer);
        assert!(consumer.get("hd").is_none());
    }

    #[test]
    fn no_logout_and_no_groups_in_id_tokens() {
        let org = AuthServer::Org;
        assert_eq!(Google.oidc_path(&idp(""), &org, Endpoint::Logout), None);
        assert_eq!(
            Google
                .oidc_path(&idp(""), &org, Endpoint::Authorize)
                .as_deref(),
            Some("/o/oauth2/v2/auth")
        );
        assert!(Google.no_groups(TokenKind::Jwt).is_some());
        assert!(Google.no_groups(TokenKind::Saml).is_none());
    }
}
