//! Client authentication at the token, revocation and introspection endpoints (RFC 6749 2.3.1):
//! `client_secret_basic`, `client_secret_post`, `client_secret_jwt` and `private_key_jwt` (a
//! client assertion, RFC 7523 §2.2, OIDC Core §9: `super::assertion`), or `none` for public
//! clients. One function for the three endpoints, as Okta applies the app's method to each.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::assertion::{self, AssertionError, Verified, Verifying};
use super::error::{ErrorCode, OAuthError};
use crate::config::{OidcApp, TokenAuth};

/// The credentials a request presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presented {
    pub client_id: String,
    pub secret: Option<String>,
    /// A JWT client assertion (`client_assertion`, its type checked).
    pub assertion: Option<String>,
    /// The method the request used; for an assertion, `client_secret_jwt` when its alg is an
    /// HMAC, else `private_key_jwt` (the registered method decides how it is checked).
    pub method: TokenAuth,
}

/// Where and when a client assertion is checked.
#[derive(Debug, Clone)]
pub struct Context {
    /// The URLs its `aud` may name.
    pub audiences: Vec<String>,
    /// Unix seconds.
    pub now: i64,
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
        if form.contains_key("client_assertion") {
            return Err(OAuthError::new(
                ErrorCode::InvalidRequest,
                "the client authenticated twice (Basic header and client_assertion)",
            ));
        }
        return Ok(Presented {
            client_id: dec(id),
            secret: Some(dec(secret)),
            assertion: None,
            method: TokenAuth::ClientSecretBasic,
        });
    }
    if form.contains_key("client_assertion") || form.contains_key("client_assertion_type") {
        return with_assertion(form);
    }
    let client_id = form
        .get("client_id")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| invalid("no client authentication and no client_id"))?;
    match form.get("client_secret") {
        Some(s) => Ok(Presented {
            client_id: client_id.clone(),
            secret: Some(s.clone()),
            assertion: None,
            method: TokenAuth::ClientSecretPost,
        }),
        None => Ok(Presented {
            client_id: client_id.clone(),
            secret: None,
            assertion: None,
            method: TokenAuth::None,
        }),
    }
}

/// A client assertion (RFC 7521 §4.2): `client_assertion_type` must be RFC 7523's, and the
/// client is the form's `client_id` or, without one, the assertion's `sub`.
fn with_assertion(form: &HashMap<String, String>) -> Result<Presented, OAuthError> {
    let fault = |e: AssertionError| invalid(format!("client assertion: {e}"));
    let assertion = match (
        form.get("client_assertion_type"),
        form.get("client_assertion"),
    ) {
        (None, _) => return Err(fault(AssertionError::MissingType)),
        (Some(t), _) if t != assertion::ASSERTION_TYPE => {
            return Err(fault(AssertionError::WrongType(t.clone())));
        }
        (Some(_), None) => return Err(fault(AssertionError::MissingAssertion)),
        (Some(_), Some(a)) => a.clone(),
    };
    if form.contains_key("client_secret") {
        return Err(OAuthError::new(
            ErrorCode::InvalidRequest,
            "the client authenticated twice (client_secret and client_assertion)",
        ));
    }
    let client_id = match form.get("client_id").filter(|c| !c.is_empty()) {
        Some(c) => c.clone(),
        None => assertion::named_client(&assertion).ok_or_else(|| {
            invalid("client assertion: no client_id, and the assertion names no client in `sub`")
        })?,
    };
    let hmac = crate::oidc::jwt::peek_part(&assertion, 0)
        .and_then(|h| h["alg"].as_str().map(|a| a.starts_with("HS")))
        .unwrap_or(false);
    Ok(Presented {
        client_id,
        secret: None,
        assertion: Some(assertion),
        method: if hmac {
            TokenAuth::ClientSecretJwt
        } else {
            TokenAuth::PrivateKeyJwt
        },
    })
}

/// Checks presented credentials against the registered client. A verified client assertion is
/// returned: the caller still has to see that its `jti` is new.
pub fn authenticate(
    app: &OidcApp,
    p: &Presented,
    ctx: &Context,
) -> Result<Option<Verified>, OAuthError> {
    let jwt_method = matches!(
        app.token_auth,
        TokenAuth::ClientSecretJwt | TokenAuth::PrivateKeyJwt
    );
    if let (true, Some(a)) = (jwt_method, &p.assertion) {
        let with = match (&app.client_secret, app.token_auth) {
            (Some(s), TokenAuth::ClientSecretJwt) => Verifying::Secret(s.expose()),
            _ => Verifying::Keys(&app.jwks),
        };
        return assertion::verify(
            a,
            &app.client_id,
            app.token_auth,
            with,
            &ctx.audiences,
            ctx.now,
        )
        .map(Some)
        .map_err(|e| invalid(format!("client assertion: {e}")));
    }
    if p.method != app.token_auth {
        return Err(invalid(format!(
            "client `{}` is registered for {} but authenticated with {}",
            app.client_id,
            method_name(app.token_auth),
            method_name(p.method)
        )));
    }
    match (&app.client_secret, &p.secret) {
        (Some(expected), Some(got)) if expected.matches(got) => Ok(None),
        (Some(_), _) => Err(invalid(format!(
            "the client secret of `{}` is wrong",
            app.client_id
        ))),
        (None, None) => Ok(None),
        (None, Some(_)) => Err(invalid("a public client has no secret")),
    }
}

pub fn method_name(m: TokenAuth) -> &'static str {
    match m {
        TokenAuth::None => "none (public client with PKCE)",
        m => m.name(),
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

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// RFC 7521 §4.2: the assertion needs RFC 7523's type, and one way of authenticating.
    #[test]
    fn an_assertion_needs_its_type_and_no_second_credential() {
        let a = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIwb2ExIn0.c2ln";
        let err = |f: &[(&str, &str)], basic: Option<&str>| {
            presented(basic, &form(f)).unwrap_err().to_string()
        };
        assert!(err(&[("client_assertion", a)], None).contains("no client_assertion_type"));
        assert!(
            err(
                &[("client_assertion", a), ("client_assertion_type", "jwt")],
                None
            )
            .contains("client_assertion_type `jwt` is not")
        );
        assert!(
            err(
                &[("client_assertion_type", assertion::ASSERTION_TYPE)],
                None
            )
            .contains("no client_assertion")
        );
        let typed = [
            ("client_assertion", a),
            ("client_assertion_type", assertion::ASSERTION_TYPE),
        ];
        assert!(
            err(&[typed[0], typed[1], ("client_secret", "s")], None)
                .contains("authenticated twice")
        );
        assert!(err(&typed, Some("Basic YTpi")).contains("authenticated twice"));
        // The client is the assertion's sub when the form has no client_id.
        let p = presented(None, &form(&typed)).unwrap();
        assert_eq!(p.client_id, "0oa1");
        assert_eq!(p.method, TokenAuth::ClientSecretJwt);
        assert_eq!(p.assertion.as_deref(), Some(a));
    }
}
