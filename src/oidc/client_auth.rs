//! Client authentication at the token, revocation and introspection endpoints (RFC 6749 2.3.1):
//! `client_secret_basic`, `client_secret_post`, or `none` for public clients.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::error::{ErrorCode, OAuthError};
use crate::config::{OidcApp, TokenAuth};

/// The credentials a request presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presented {
    pub client_id: String,
    pub secret: Option<String>,
    pub method: TokenAuth,
}

fn invalid(msg: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClient, msg)
}

/// The credentials of an `Authorization` header value under `scheme`. The scheme is matched
/// case-insensitively (RFC 7235 §2.1: "case-insensitive token"; so `bearer` is RFC 6750's
/// `Bearer`, `BASIC` is `Basic`).
pub fn credentials<'h>(header: &'h str, scheme: &str) -> Option<&'h str> {
    let (name, rest) = header.trim_start().split_once(' ')?;
    name.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

/// Reads the client's credentials from an `Authorization: Basic` header or the form.
pub fn presented(
    authorization: Option<&str>,
    form: &HashMap<String, String>,
) -> Result<Presented, OAuthError> {
    if let Some(h) = authorization {
        let Some(b64) = credentials(h, "Basic") else {
            return Err(invalid("the Authorization header is not Basic"));
        };
        let raw = STANDARD
            .decode(b64)
            .map_err(|_| invalid("the Basic credentials are not valid base64"))?;
        let raw =
            String::from_utf8(raw).map_err(|_| invalid("the Basic credentials are not UTF-8"))?;
        let (id, secret) = raw
            .split_once(':')
            .ok_or_else(|| invalid("the Basic credentials have no `:`"))?;
        // RFC 6749 2.3.1: both parts are form-urlencoded before base64.
        let dec = |s: &str| crate::saml::binding::percent_decode(s);
        if form.contains_key("client_secret") {
            return Err(OAuthError::new(
                ErrorCode::InvalidRequest,
                "the client authenticated twice (Basic header and client_secret)",
            ));
        }
        return Ok(Presented {
            client_id: dec(id),
            secret: Some(dec(secret)),
            method: TokenAuth::ClientSecretBasic,
        });
    }
    let client_id = form
        .get("client_id")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| invalid("no client authentication and no client_id"))?;
    match form.get("client_secret") {
        Some(s) => Ok(Presented {
            client_id: client_id.clone(),
            secret: Some(s.clone()),
            method: TokenAuth::ClientSecretPost,
        }),
        None => Ok(Presented {
            client_id: client_id.clone(),
            secret: None,
            method: TokenAuth::None,
        }),
    }
}

/// Checks presented credentials against the registered client.
pub fn authenticate(app: &OidcApp, p: &Presented) -> Result<(), OAuthError> {
    if p.method != app.token_auth {
        return Err(invalid(format!(
            "client `{}` is registered for {} but authenticated with {}",
            app.client_id,
            method_name(app.token_auth),
            method_name(p.method)
        )));
    }
    match (&app.client_secret, &p.secret) {
        (Some(expected), Some(got)) if expected.matches(got) => Ok(()),
        (Some(_), _) => Err(invalid(format!(
            "the client secret of `{}` is wrong",
            app.client_id
        ))),
        (None, None) => Ok(()),
        (None, Some(_)) => Err(invalid("a public client has no secret")),
    }
}

pub fn method_name(m: TokenAuth) -> &'static str {
    match m {
        TokenAuth::ClientSecretBasic => "client_secret_basic",
        TokenAuth::ClientSecretPost => "client_secret_post",
        TokenAuth::None => "none (public client with PKCE)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Guards case-insensitive auth-scheme matching (Bearer at userinfo, Basic at token).
    #[test]
    fn the_scheme_is_matched_case_insensitively() {
        assert_eq!(credentials("Bearer abc", "Bearer"), Some("abc"));
        assert_eq!(credentials("bearer abc", "Bearer"), Some("abc"));
        assert_eq!(credentials("BEARER  abc ", "Bearer"), Some("abc"));
        assert_eq!(credentials("Basic abc", "Bearer"), None);
        assert_eq!(credentials("Bearerabc", "Bearer"), None);
        let p = presented(Some("basic YTpi"), &HashMap::new()).unwrap();
        assert_eq!(
            (p.client_id.as_str(), p.secret.as_deref()),
            ("a", Some("b"))
        );
    }
}
