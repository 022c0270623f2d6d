//! The OIDC Back-Channel Logout receiver.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::*;
use crate::refsp::flaws::Flaw;
use crate::refsp::jwt::{self};
use crate::refsp::oidc::{self};
use crate::refsp::state::{SpState, Trust};

/// `POST {backchannel_logout_uri}` with `logout_token` (OIDC Back-Channel Logout 1.0).
pub(super) async fn backchannel(
    State(st): State<Arc<SpState>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let bad = |why: String| {
        tracing::info!("back-channel logout refused: {why}");
        (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_request", "error_description": why})),
        )
            .into_response()
    };
    let Some(token) = form.get("logout_token") else {
        return bad("no logout_token".into());
    };
    let Some(o) = st.app.oidc() else {
        return bad("not an OIDC app".into());
    };
    let Ok(Trust::Oidc { issuer, keys, .. }) = trust(&st, false).await else {
        return bad("the IdP is unknown".into());
    };
    let claims = if st.flaws.on(Flaw::BackchannelUnsigned) {
        match jwt::peek(token) {
            Some((_, c)) => c,
            None => return bad("the logout_token is not a JWT".into()),
        }
    } else {
        let token = token.clone();
        let verified = off_the_workers(move || {
            jwt::verify(&token, &keys, &["RS256", "ES256"], &Default::default())
        })
        .await;
        match verified {
            Ok(Ok((_, c))) => c,
            Ok(Err(e)) => return bad(format!("the logout_token is not valid: {e}")),
            Err(e) => return bad(e),
        }
    };
    let unchecked = st.flaws.on(Flaw::BackchannelClaimsUnchecked);
    if claims["iss"].as_str() != Some(&issuer) && !unchecked {
        return bad(format!("iss {} is not {issuer}", claims["iss"]));
    }
    let aud_ok = unchecked || oidc::aud_contains(&claims["aud"], &o.client_id);
    if !aud_ok {
        return bad(format!("aud {} is not this client", claims["aud"]));
    }
    let now = st.now().unix_timestamp();
    if claims["iat"].as_i64().is_none() {
        return bad("no iat".into());
    }
    if claims["exp"].as_i64().is_some_and(|e| now - 30 >= e) {
        return bad("the logout_token has expired".into());
    }
    if claims["jti"].as_str().is_none() {
        return bad("no jti".into());
    }
    let event = "http://schemas.openid.net/event/backchannel-logout";
    if !claims["events"].get(event).is_some_and(Value::is_object) && !unchecked {
        return bad(format!("events does not contain {event}"));
    }
    if claims.get("nonce").is_some() && !unchecked {
        return bad("a logout_token must not contain a nonce".into());
    }
    let sub = claims["sub"].as_str().map(str::to_owned);
    let sid = claims["sid"].as_str().map(str::to_owned);
    if sub.is_none() && sid.is_none() {
        return bad("neither sub nor sid".into());
    }
    if st.flaws.on(Flaw::BackchannelKeepsSession) {
        return (StatusCode::OK, [(CONTENT_TYPE, "text/plain")], "").into_response();
    }
    let ended = st.end_sessions(|s| {
        s.protocol == "oidc"
            && sid
                .as_ref()
                .is_none_or(|x| s.session_index.as_deref() == Some(x))
            && sub.as_ref().is_none_or(|x| s.subject == *x)
    });
    tracing::info!(ended, "back-channel logout");
    (StatusCode::OK, [(CONTENT_TYPE, "text/plain")], "").into_response()
}
