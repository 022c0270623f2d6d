//! The parts of Okta's management API a browser app calls: `GET /api/v1/sessions/me` (is there
//! an Okta session in this browser, and whose) and `DELETE /api/v1/sessions/me` (end it), with
//! Okta's JSON shapes and its error body (`errorCode`, `errorSummary`, `errorLink`, `errorId`,
//! `errorCauses`). Okta's browser SDK uses them for `session.exists()`, `session.get()` and
//! `closeSession()` (<https://developer.okta.com/docs/reference/api/sessions/#get-current-session>).
//! Both read the IdP session cookie `sid`, as Okta does.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use serde_json::json;

use super::sso::current_session;
use super::state::IdpState;

/// Okta's error body: `E0000007` "Not found" for a missing session, with a fresh `errorId`.
pub fn okta_error(status: StatusCode, code: &str, summary: &str) -> Response {
    let id: u64 = rand::random();
    (
        status,
        Json(json!({
            "errorCode": code,
            "errorSummary": summary,
            "errorLink": code,
            "errorId": format!("oae{id:016x}"),
            "errorCauses": [],
        })),
    )
        .into_response()
}

fn no_session() -> Response {
    okta_error(
        StatusCode::NOT_FOUND,
        "E0000007",
        "Not found: Resource not found: me (Session)",
    )
}

/// `GET /api/v1/sessions/me`: the session of the `sid` cookie, in Okta's shape.
pub async fn get_me(State(state): State<Arc<IdpState>>, headers: HeaderMap) -> Response {
    let Some((session, user)) = current_session(&state, &headers) else {
        return no_session();
    };
    let at = crate::saml::xml::instant;
    let me = state.url("/api/v1/sessions/me");
    Json(json!({
        "id": session.session_index,
        "userId": user.id,
        "login": user.login,
        "createdAt": at(session.authn_instant),
        "expiresAt": at(session.expires),
        "status": "ACTIVE",
        "lastPasswordVerification": at(session.authn_instant),
        "lastFactorVerification": null,
        "amr": ["pwd"],
        "idp": { "id": "00o1fakta", "type": "OKTA" },
        "mfaActive": false,
        "_links": {
            "self": { "href": me, "hints": { "allow": ["GET", "DELETE"] } },
            "refresh": {
                "href": format!("{me}/lifecycle/refresh"),
                "hints": { "allow": ["POST"] }
            },
            "user": {
                "name": user.name.clone().unwrap_or_else(|| user.login.clone()),
                "href": state.url(&format!("/api/v1/users/{}", user.id)),
                "hints": { "allow": ["GET"] }
            }
        }
    }))
    .into_response()
}

/// `DELETE /api/v1/sessions/me`: ends this browser's IdP session (204), as signing out would.
pub async fn delete_me(State(state): State<Arc<IdpState>>, headers: HeaderMap) -> Response {
    let Some((session, user)) = current_session(&state, &headers) else {
        return no_session();
    };
    state.end_session_by_index(&session.session_index);
    tracing::info!(user = %user.id, "IdP session ended by DELETE /api/v1/sessions/me");
    let expire = super::expired_session_cookie();
    (StatusCode::NO_CONTENT, [(SET_COOKIE, expire)]).into_response()
}

/// Any other `/api/v1/...` path: Okta's 404 body, naming what fakta does not emulate.
pub async fn not_emulated(uri: axum::http::Uri) -> Response {
    okta_error(
        StatusCode::NOT_FOUND,
        "E0000007",
        &format!(
            "Not found: Resource not found: {} (fakta emulates /api/v1/sessions/me only)",
            uri.path()
        ),
    )
}
