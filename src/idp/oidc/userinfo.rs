//! The userinfo endpoint: the claims of a Bearer access token's user.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header::WWW_AUTHENTICATE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{ServerId, bearer, find_client, no_store};
use crate::idp::state::{IdpState, lock};
use crate::idp::tokens::TokenKind;
use crate::oidc::tokens::{self, Grant};

fn invalid_token(msg: &str) -> Response {
    let challenge = format!(
        "Bearer error=\"invalid_token\", error_description=\"{}\"",
        msg.replace('"', "'")
    );
    let mut resp = (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": "invalid_token", "error_description": msg})),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        resp.headers_mut().insert(WWW_AUTHENTICATE, v);
    }
    resp
}

/// `GET|POST .../v1/userinfo` with a Bearer access token.
pub async fn userinfo(
    State(state): State<Arc<IdpState>>,
    ServerId(server): ServerId,
    headers: HeaderMap,
) -> Response {
    let Some(token) = bearer(&headers) else {
        return invalid_token("no Bearer access token in the Authorization header");
    };
    let info = lock(&state.tokens).token(token).cloned();
    let Some(info) = info.filter(|i| i.kind == TokenKind::Access) else {
        return invalid_token("the access token is unknown");
    };
    if !info.active(state.now()) {
        return invalid_token("the access token has expired or was revoked");
    }
    let Some((app, oidc)) = find_client(&state, &server, &info.client_id) else {
        return invalid_token("the access token was issued by another authorization server");
    };
    let Some(user) = state.user_view(info.trial.as_deref(), &info.user_id) else {
        return invalid_token("the user no longer exists");
    };
    let issuer = state.conn.idp.oidc_issuer(&server);
    let emit = state.emit_view(info.trial.as_deref(), &user.id);
    let grant = Grant {
        conn: &state.conn,
        issuer: &issuer,
        app,
        oidc,
        user: &user,
        scopes: &info.scopes,
        nonce: None,
        auth_time: info.auth_time,
        sid: &info.sid,
        omit: &emit.omit_attributes,
        full_group_paths: emit.full_group_paths,
    };
    let mut claims = tokens::userinfo_claims(&grant);
    if let Some(fault) = state.trial_oidc_fault(info.trial.as_deref()) {
        let honest = Value::Object(claims.clone());
        if let Some(altered) = crate::oidc::faults::forge_userinfo(fault, &mut claims) {
            let trial = info.trial.as_deref();
            state.note_altered(
                trial,
                format!("{} {}: {altered}", fault.case(), fault.name()),
            );
            state.note_document(
                trial,
                "forged userinfo answer".into(),
                crate::oidc::faults::show_json(&honest, &Value::Object(claims.clone())),
            );
        }
    }
    crate::idp::inspect::userinfo(&state, app, &claims);
    (no_store(), Json(claims)).into_response()
}
