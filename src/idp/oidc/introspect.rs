//! Token revocation (RFC 7009) and introspection (RFC 7662).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{
    OAuthForm, OAuthResponse, ServerId, blocking, checked, client, invalid_request, no_store,
};
use crate::config::AuthServer;
use crate::idp::state::{IdpState, lock};
use crate::idp::tokens::TokenKind;
use crate::oidc::error::{ErrorCode, OAuthError};

/// `POST .../v1/revoke` (RFC 7009): 200 whether or not the token was known.
pub async fn revoke(
    State(state): State<Arc<IdpState>>,
    ServerId(server): ServerId,
    headers: HeaderMap,
    OAuthForm(form): OAuthForm,
) -> Result<Response, OAuthResponse> {
    checked(&form)?;
    blocking(move || revoke_now(&state, &server, &headers, &form.map)).await
}

fn revoke_now(
    state: &IdpState,
    server: &AuthServer,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<Response, OAuthResponse> {
    let (_, oidc) = client(state, server, "revoke", headers, form)?;
    let token = form
        .get("token")
        .ok_or_else(|| invalid_request("the request has no token"))?;
    if let Some(hint) = form.get("token_type_hint") {
        if hint != "access_token" && hint != "refresh_token" {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedTokenType,
                format!("token_type_hint `{hint}` is not supported"),
            )
            .into());
        }
    }
    let revoked = lock(&state.tokens).revoke(token, &oidc.client_id);
    tracing::info!(client = %oidc.client_id, revoked, "revocation request");
    Ok(StatusCode::OK.into_response())
}

/// `POST .../v1/introspect` (RFC 7662).
pub async fn introspect(
    State(state): State<Arc<IdpState>>,
    ServerId(server): ServerId,
    headers: HeaderMap,
    OAuthForm(form): OAuthForm,
) -> Result<Response, OAuthResponse> {
    checked(&form)?;
    blocking(move || introspect_now(&state, &server, &headers, &form.map)).await
}

fn introspect_now(
    state: &IdpState,
    server: &AuthServer,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<Response, OAuthResponse> {
    let (_, oidc) = client(state, server, "introspect", headers, form)?;
    let token = form
        .get("token")
        .ok_or_else(|| invalid_request("the request has no token"))?;
    let now = state.now();
    let info = lock(&state.tokens).token(token).cloned();
    let body = match info {
        Some(i) if i.active(now) && i.client_id == oidc.client_id => {
            let user = state.directory.find(&i.user_id);
            let mut b = json!({
                "active": true,
                "scope": i.scopes.join(" "),
                "client_id": i.client_id,
                "token_type": match i.kind { TokenKind::Access => "Bearer", TokenKind::Refresh => "refresh_token" },
                "iat": i.issued_at.unix_timestamp(),
                // A client_credentials token has no user: its subject is the client (Okta).
                "sub": user.as_ref().map_or_else(|| i.client_id.clone(), |u| u.login.clone()),
                "uid": i.user_id,
                "iss": state.conn.idp.oidc_issuer(server),
            });
            if let Some(exp) = i.expires {
                b["exp"] = json!(exp.unix_timestamp());
            }
            if let Some(jti) = i.jti {
                b["jti"] = json!(jti);
                b["aud"] = json!(server.access_token_audience(state.conn.idp.base()));
            }
            if let Some(u) = user {
                b["username"] = json!(u.login);
            }
            b
        }
        _ => json!({"active": false}),
    };
    Ok((no_store(), Json(body)).into_response())
}
