//! CORS on the OAuth and discovery endpoints, as Okta's Trusted Origins (CORS scope) give it.
//!
//! A single-page app calls discovery, the JWKS, the token, userinfo, revocation, introspection
//! and logout endpoints, and `/api/v1/sessions/me`, from its own origin with `fetch`. The
//! browser lets it read an answer only when the answer names that origin in
//! `Access-Control-Allow-Origin`, and sends a preflight
//! `OPTIONS` before a `POST` with a non-simple header (`Authorization`, a JSON body). Okta answers
//! both for the origins an admin listed as Trusted Origins and for nobody else
//! (<https://developer.okta.com/docs/guides/enable-cors/main/>: "Every website origin must be
//! explicitly permitted"); fakta does the same with `idp.trusted_origins`, or by default the
//! origins of the OIDC apps' redirect and post-logout URIs (what Okta's app wizard adds).
//!
//! An untrusted Origin is never reflected and never answered with `*`: its preflight gets a 403
//! naming the origin and the key to list it under, its other requests are served without CORS
//! headers (the browser then hides the answer from the page), and both are logged.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS,
    ACCESS_CONTROL_REQUEST_METHOD, CONTENT_TYPE, ORIGIN, VARY,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::state::IdpState;

/// The methods the endpoints behind this layer answer.
const METHODS: &str = "GET, POST, DELETE, OPTIONS";

/// Request headers a page may send (the CORS-safelisted ones need no mention): what OAuth and
/// OIDC client libraries send, and Okta's SDK header.
const HEADERS: &[&str] = &[
    "accept",
    "authorization",
    "content-type",
    "x-okta-user-agent-extended",
    "x-requested-with",
];

/// How long a browser may cache a preflight answer, in seconds.
const MAX_AGE: &str = "600";

/// The middleware: see the module documentation.
pub async fn cors(State(state): State<Arc<IdpState>>, req: Request, next: Next) -> Response {
    let Some(origin) = req.headers().get(ORIGIN).cloned() else {
        return next.run(req).await;
    };
    let trusted = origin
        .to_str()
        .is_ok_and(|o| state.trusted_origins.iter().any(|t| t == o));
    if req.method() == Method::OPTIONS && req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD)
    {
        return preflight(req.headers(), &origin, trusted, req.uri().path());
    }
    if !trusted {
        tracing::warn!(
            origin = %String::from_utf8_lossy(origin.as_bytes()),
            path = req.uri().path(),
            "a page from an origin not in idp.trusted_origins called the IdP; served without CORS headers, so the browser hides the answer from it"
        );
    }
    let mut resp = next.run(req).await;
    let headers = resp.headers_mut();
    headers.append(VARY, HeaderValue::from_static("Origin"));
    if trusted {
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    resp
}

/// The answer to a preflight: 204 with the grant for a trusted origin asking for a method and
/// headers the endpoint takes; otherwise 403 saying what was refused.
fn preflight(headers: &HeaderMap, origin: &HeaderValue, trusted: bool, path: &str) -> Response {
    let shown = String::from_utf8_lossy(origin.as_bytes()).into_owned();
    let refuse = |why: String| {
        tracing::warn!(origin = %shown, path, "CORS preflight refused: {why}");
        (
            StatusCode::FORBIDDEN,
            [
                (
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                ),
                (VARY, HeaderValue::from_static("Origin")),
            ],
            format!("fakta: CORS preflight refused: {why}\n"),
        )
            .into_response()
    };
    if !trusted {
        return refuse(format!(
            "origin `{}` is not a trusted origin; list it under idp.trusted_origins (Okta: Security > API > Trusted Origins, CORS)",
            shown.escape_debug()
        ));
    }
    let method = headers
        .get(ACCESS_CONTROL_REQUEST_METHOD)
        .and_then(|m| m.to_str().ok())
        .unwrap_or("");
    if !matches!(method, "GET" | "POST" | "DELETE") {
        return refuse(format!(
            "method `{}` is not answered here ({METHODS})",
            method.escape_debug()
        ));
    }
    let asked = headers
        .get(ACCESS_CONTROL_REQUEST_HEADERS)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if let Some(other) = asked
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .find(|h| !h.is_empty() && !HEADERS.contains(&h.as_str()))
    {
        return refuse(format!(
            "request header `{}` is not allowed (allowed: {})",
            other.escape_debug(),
            HEADERS.join(", ")
        ));
    }
    (
        StatusCode::NO_CONTENT,
        [
            (ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone()),
            (
                ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            ),
            (
                ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static(METHODS),
            ),
            (
                ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_str(&HEADERS.join(", "))
                    .unwrap_or(HeaderValue::from_static("content-type")),
            ),
            (ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(MAX_AGE)),
            (VARY, HeaderValue::from_static("Origin")),
        ],
    )
        .into_response()
}
