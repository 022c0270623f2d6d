//! The IdP's control API for live use: `POST /api/v1/fakta/revoke` makes the IdP send a Global
//! Token Revocation request to an app's endpoint (honest, or with one fault of T3-T8) and end
//! the user's IdP sessions, as Okta's Universal Logout does. `fakta revoke` calls it.
//!
//! JSON only (a browser page on another origin cannot send it without a CORS preflight, which
//! this IdP never answers), and only to requests whose `Host` is the base URL's host and port:
//! a page that rebinds its own name to 127.0.0.1 (DNS rebinding) is same-origin with itself,
//! not with the IdP, and its requests carry its own name in `Host`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::state::IdpState;
use crate::config::SubjectFormat;
use crate::revocation::Fault;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// User id, login or email.
    pub user: String,
    /// The app; the target app, or the only app with an endpoint, unless given.
    pub app: Option<String>,
    pub fault: Option<String>,
    pub format: Option<String>,
}

fn bad(status: StatusCode, msg: String) -> Response {
    (status, Json(json!({"error": msg}))).into_response()
}

/// Whether a `Host` header value names the host and port of `base` (the port may be left out
/// when it is the scheme's default; host names compare case-insensitively).
pub fn host_is_base(host: &str, base: &url::Url) -> bool {
    // Host is `host[:port]`: anything that would make it a longer URL is not one.
    if host.is_empty() || host.contains(['/', '?', '#', '@', '\\']) {
        return false;
    }
    let Ok(seen) = url::Url::parse(&format!("{}://{host}/", base.scheme())) else {
        return false;
    };
    seen.username().is_empty()
        && seen.password().is_none()
        && seen.host() == base.host()
        && seen.port_or_known_default() == base.port_or_known_default()
}

/// `POST /api/v1/fakta/revoke`
pub async fn revoke(
    State(state): State<Arc<IdpState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let base = &state.conn.idp.base_url;
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok());
    if !host.is_some_and(|h| host_is_base(h, base)) {
        let expected = match base.port() {
            Some(p) => format!("{}:{p}", base.host_str().unwrap_or("")),
            None => base.host_str().unwrap_or("").to_owned(),
        };
        return bad(
            StatusCode::FORBIDDEN,
            format!(
                "the control endpoint answers only requests addressed to {expected} (the base URL); this one has Host {}",
                host.map(|h| format!("`{}`", h.chars().take(100).collect::<String>()))
                    .unwrap_or_else(|| "missing".into())
            ),
        );
    }
    let json_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json_type {
        return bad(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send JSON (Content-Type: application/json)".into(),
        );
    }
    let req: RevokeRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return bad(
                StatusCode::BAD_REQUEST,
                format!("the body is not a revoke request: {e}"),
            );
        }
    };
    let Some(user) = state.directory.find(&req.user) else {
        return bad(
            StatusCode::NOT_FOUND,
            format!("no user `{}` in the directory", req.user),
        );
    };
    let conn = &state.conn;
    let app = match &req.app {
        Some(id) => conn.app(id),
        None => conn
            .target
            .as_ref()
            .and_then(|t| conn.app(&t.app))
            .filter(|a| a.global_token_revocation.is_some())
            .or_else(|| {
                let with: Vec<_> = conn
                    .apps
                    .iter()
                    .filter(|a| a.global_token_revocation.is_some())
                    .collect();
                (with.len() == 1).then(|| with[0])
            }),
    };
    let Some(app) = app else {
        return bad(
            StatusCode::NOT_FOUND,
            "name the app (`app`): none or several have a global_token_revocation endpoint".into(),
        );
    };
    let fault = match &req.fault {
        Some(f) => match Fault::parse(f) {
            Some(x) => Some(x),
            None => {
                let names: Vec<&str> = Fault::ALL.iter().map(|f| f.name()).collect();
                return bad(
                    StatusCode::BAD_REQUEST,
                    format!("unknown fault `{f}`; expected one of: {}", names.join(", ")),
                );
            }
        },
        None => None,
    };
    let format = match req.format.as_deref() {
        None => None,
        Some("iss_sub") => Some(SubjectFormat::IssSub),
        Some("email") => Some(SubjectFormat::Email),
        Some(other) => {
            return bad(
                StatusCode::BAD_REQUEST,
                format!("unknown format `{other}`; expected iss_sub or email"),
            );
        }
    };
    if fault == Some(Fault::ReplayedJti) {
        return bad(StatusCode::BAD_REQUEST, "replayed_jti is a runner trial (it replays an earlier request); send the same request twice instead".into());
    }
    let jti = state.new_token();
    let (endpoint, honest) =
        match crate::runner::revoke::request_for(conn, app, &user, state.now(), &jti, format) {
            Ok(x) => x,
            Err(e) => return bad(StatusCode::BAD_REQUEST, e),
        };
    let outgoing = match fault {
        Some(f) => crate::revocation::apply(f, honest),
        None => honest,
    };
    let sent =
        match crate::runner::revoke::post(&endpoint, &outgoing, &state.keys, &state.rsa_kid, fault)
            .await
        {
            Ok(s) => s,
            Err(e) => return bad(StatusCode::BAD_GATEWAY, e),
        };
    let ended = if fault.is_none() {
        state.end_sessions_of(&user.id)
    } else {
        0
    };
    super::inspect::revocation(
        &state,
        app,
        &super::inspect::Revocation {
            endpoint: &sent.endpoint,
            header: &sent.header,
            claims: &sent.claims,
            body: &sent.body,
            status: sent.status,
            answer: &sent.answer,
        },
    );
    tracing::info!(user = %user.id, app = %app.id, status = sent.status, "revocation request sent");
    Json(json!({
        "endpoint": sent.endpoint,
        "fault": fault.map(|f| f.name()),
        "jwt_header": sent.header,
        "jwt_claims": sent.claims,
        "body": sent.body,
        "status": sent.status,
        "answer": sent.answer,
        "idp_sessions_ended": ended,
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 13: the control endpoint's DNS-rebinding guard.
    #[test]
    fn only_the_base_urls_host_and_port_are_accepted() {
        let base = url::Url::parse("http://127.0.0.1:7000").unwrap();
        assert!(host_is_base("127.0.0.1:7000", &base));
        assert!(!host_is_base("127.0.0.1", &base));
        assert!(!host_is_base("localhost:7000", &base));
        assert!(!host_is_base("evil.test:7000", &base));
        assert!(!host_is_base("127.0.0.1:7000@evil.test", &base));
        assert!(!host_is_base("127.0.0.1:7000/x", &base));
        assert!(!host_is_base("", &base));
        let named = url::Url::parse("http://IdP.Local").unwrap();
        assert!(host_is_base("idp.local", &named));
        assert!(host_is_base("idp.local:80", &named));
        assert!(!host_is_base("idp.local:8080", &named));
    }
}
