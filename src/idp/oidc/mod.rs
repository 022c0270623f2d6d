//! OpenID Connect over HTTP, one module per endpoint: discovery and JWKS, authorize (code flow
//! with PKCE, the shared login page and IdP session), the answer to the client in the response
//! mode it asked for (`response`), token (one function per grant type), userinfo, end_session,
//! revocation (RFC 7009) and introspection (RFC 7662), for the org server and custom servers;
//! and an app's tile (`launch`, third-party-initiated login).
//! This module holds what the endpoints share: the server a request names, OAuth error
//! answers, form bodies and client lookup/authentication.

mod authorize;
mod discovery;
mod end_session;
mod introspect;
mod launch;
mod response;
mod token;
mod userinfo;

pub use authorize::{answer_with_code, authorize_get, authorize_post};
pub use discovery::{discovery, keys};
pub use end_session::end_session;
pub use introspect::{introspect, revoke};
pub use launch::launch;
pub use token::token;
pub use userinfo::userinfo;

use std::collections::HashMap;
use std::convert::Infallible;

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, PRAGMA, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::html::e;
use super::state::{IdpState, lock};
use super::tokens::JtiUse;
use crate::config::{App, AuthServer, OidcApp};
use crate::oidc::client_auth;
use crate::oidc::error::{ErrorCode, OAuthError};
use crate::oidc::params::{self, Params};

/// The authorization server a request is addressed to, from the `{server}` path segment.
#[derive(Debug, Clone)]
pub struct ServerId(pub AuthServer);

impl<S: Send + Sync> FromRequestParts<S> for ServerId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let server = RawPathParams::from_request_parts(parts, state)
            .await
            .ok()
            .and_then(|p| {
                p.iter()
                    .find(|(k, _)| *k == "server")
                    .map(|(_, v)| v.to_owned())
            });
        Ok(ServerId(match server {
            Some(id) => AuthServer::Custom(id),
            None => AuthServer::Org,
        }))
    }
}

/// An OAuth error as a JSON answer (RFC 6749 5.2).
#[derive(Debug)]
pub struct OAuthResponse {
    pub error: OAuthError,
    /// The client tried Basic authentication (a 401 then carries WWW-Authenticate: Basic).
    pub basic: bool,
}

impl From<OAuthError> for OAuthResponse {
    fn from(error: OAuthError) -> Self {
        OAuthResponse {
            error,
            basic: false,
        }
    }
}

impl IntoResponse for OAuthResponse {
    fn into_response(self) -> Response {
        let status = match self.error.error {
            ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
            _ => StatusCode::BAD_REQUEST,
        };
        tracing::info!("OAuth error: {}", self.error);
        let mut resp = (status, no_store(), Json(&self.error)).into_response();
        if status == StatusCode::UNAUTHORIZED && self.basic {
            resp.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"fakta\""),
            );
        }
        resp
    }
}

/// An OAuth error document with another status than RFC 6749 §5.2's 400/401 (413, 415): a
/// client reading `error` finds one whatever went wrong.
fn oauth_status(status: StatusCode, error: OAuthError) -> Response {
    tracing::info!("OAuth error ({status}): {error}");
    (status, no_store(), Json(&error)).into_response()
}

/// The parameters of a form body (token, revocation, introspection). A body that is too large
/// or not a form is refused with an OAuth JSON error (413 or 415) rather than axum's text.
#[derive(Debug)]
pub struct OAuthForm(pub Params);

impl<S: Send + Sync> FromRequest<S> for OAuthForm {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let is_form = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !is_form {
            return Err(oauth_status(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                OAuthError::new(
                    ErrorCode::InvalidRequest,
                    "send the parameters as application/x-www-form-urlencoded (RFC 6749 §3.2)",
                ),
            ));
        }
        let body = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| {
                let msg = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    format!(
                        "the request body is larger than {} bytes",
                        crate::idp::router::MAX_BODY_BYTES
                    )
                } else {
                    format!("the request body could not be read: {}", e.body_text())
                };
                oauth_status(e.status(), OAuthError::new(ErrorCode::InvalidRequest, msg))
            })?;
        Ok(OAuthForm(params::parse(&body)))
    }
}

/// Runs an endpoint's work off the async workers: client authentication may verify a client
/// assertion's signature, and token endpoints sign (RSA, ECDSA).
pub(super) async fn blocking(
    f: impl FnOnce() -> Result<Response, OAuthResponse> + Send + 'static,
) -> Result<Response, OAuthResponse> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        tracing::error!("the request failed: {e}");
        Err(OAuthError::new(ErrorCode::InvalidRequest, "the IdP failed while answering").into())
    })
}

/// The parameters, each present once and within its size limit (RFC 6749 §3.1, §3.2).
fn checked(p: &Params) -> Result<&HashMap<String, String>, OAuthResponse> {
    p.checked().map_err(|e| invalid_request(e.to_string()))
}

fn no_store() -> [(axum::http::HeaderName, &'static str); 2] {
    [(CACHE_CONTROL, "no-store"), (PRAGMA, "no-cache")]
}

fn apps_on<'s>(
    state: &'s IdpState,
    server: &'s AuthServer,
) -> impl Iterator<Item = (&'s App, &'s OidcApp)> + 's {
    state
        .conn
        .apps
        .iter()
        .filter_map(|a| a.oidc().map(|o| (a, o)))
        .filter(move |(_, o)| &o.server == server)
}

fn find_client<'s>(
    state: &'s IdpState,
    server: &'s AuthServer,
    client_id: &str,
) -> Option<(&'s App, &'s OidcApp)> {
    apps_on(state, server).find(|(_, o)| o.client_id == client_id)
}

fn server_exists(state: &IdpState, server: &AuthServer) -> bool {
    *server == AuthServer::Org || apps_on(state, server).next().is_some()
}

fn not_found_server(server: &AuthServer) -> Response {
    let id = match server {
        AuthServer::Org => "org",
        AuthServer::Custom(id) => id,
    };
    crate::idp::okta_api::okta_error(
        StatusCode::NOT_FOUND,
        "E0000007",
        &format!("Not found: authorization server `{id}` (no app uses it)"),
    )
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    client_auth::credentials(headers.get(AUTHORIZATION)?.to_str().ok()?, "Bearer")
}

/// Authenticates the client of a token/revoke/introspect request (`endpoint`: `token`,
/// `revoke` or `introspect`). A client assertion's `aud` is the endpoint's full URL (Okta),
/// or the token endpoint's (RFC 7523 §3: "The token endpoint URL of the authorization server
/// MAY be used"); its `jti` may be used once. Verifying an assertion is public-key crypto:
/// callers run this off the async workers.
fn client<'s>(
    state: &'s IdpState,
    server: &'s AuthServer,
    endpoint: &str,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<(&'s App, &'s OidcApp), OAuthResponse> {
    let auth = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    let basic = auth.is_some_and(|a| client_auth::credentials(a, "Basic").is_some());
    let wrap = |error| OAuthResponse { error, basic };
    let presented = client_auth::presented(auth, form).map_err(wrap)?;
    let (app, oidc) = find_client(state, server, &presented.client_id).ok_or_else(|| {
        wrap(OAuthError::new(
            ErrorCode::InvalidClient,
            format!(
                "there is no client `{}` on this authorization server",
                presented.client_id
            ),
        ))
    })?;
    let url = |name: &str| {
        let e = match name {
            "revoke" => crate::flavor::Endpoint::Revoke,
            "introspect" => crate::flavor::Endpoint::Introspect,
            _ => crate::flavor::Endpoint::Token,
        };
        state.conn.idp.oidc_endpoint(server, e).unwrap_or_default()
    };
    let mut audiences = vec![url(endpoint)];
    if endpoint != "token" {
        audiences.push(url("token"));
    }
    let now = state.now();
    let ctx = client_auth::Context {
        audiences,
        now: now.unix_timestamp(),
    };
    let verified = client_auth::authenticate(oidc, &presented, &ctx).map_err(wrap)?;
    if let Some(crate::oidc::assertion::Verified {
        jti: Some(jti),
        exp,
    }) = verified
    {
        let exp = time::OffsetDateTime::from_unix_timestamp(exp).unwrap_or(now);
        let refusal = match lock(&state.assertion_jtis).first_use(&oidc.client_id, &jti, exp, now) {
            JtiUse::First => None,
            JtiUse::Replayed => Some(format!(
                "client assertion: {}",
                crate::oidc::assertion::AssertionError::Replayed(jti)
            )),
            JtiUse::Full => Some(format!(
                "client assertion: the IdP already holds {} unexpired jtis; retry when some expire",
                crate::idp::tokens::MAX_JTIS
            )),
        };
        if let Some(msg) = refusal {
            return Err(wrap(OAuthError::new(ErrorCode::InvalidClient, msg)));
        }
    }
    Ok((app, oidc))
}

fn invalid_grant(msg: impl Into<String>) -> OAuthResponse {
    OAuthError::new(ErrorCode::InvalidGrant, msg).into()
}

fn invalid_request(msg: impl Into<String>) -> OAuthResponse {
    OAuthError::new(ErrorCode::InvalidRequest, msg).into()
}

/// An HTML note for errors shown on `/oauth2` pages.
pub fn describe(msg: &str) -> String {
    format!("<p class=\"error\">{}</p>", e(msg))
}
