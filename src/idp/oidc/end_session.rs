//! RP-initiated logout (`v1/logout`, OpenID Connect RP-Initiated Logout 1.0).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use super::response::to_client;
use super::{ServerId, find_client};
use crate::idp::IdpError;
use crate::idp::html::page;
use crate::idp::sso::current_session;
use crate::idp::state::{IdpState, lock};
use crate::oidc::authorize::ResponseMode;
use crate::oidc::jwt;

/// `GET .../v1/logout`: RP-initiated logout (end_session).
pub async fn end_session(
    State(state): State<Arc<IdpState>>,
    ServerId(server): ServerId,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, IdpError> {
    let hint = q.get("id_token_hint").filter(|h| !h.is_empty());
    let redirect = q.get("post_logout_redirect_uri").filter(|r| !r.is_empty());
    let known = hint.and_then(|h| {
        let jti = jwt::peek_claims(h)?.get("jti")?.as_str()?.to_owned();
        lock(&state.tokens).id_token(&jti).cloned()
    });
    if hint.is_some() && known.is_none() {
        return Err(IdpError::Logout(
            "the id_token_hint is not an id_token this IdP issued".into(),
        ));
    }
    let mut target = None;
    if let Some(uri) = redirect {
        let Some((client_id, _, _)) = &known else {
            return Err(IdpError::Logout(
                "a post_logout_redirect_uri needs an id_token_hint naming the client".into(),
            ));
        };
        let Some((_, oidc)) = find_client(&state, &server, client_id) else {
            return Err(IdpError::Logout(
                "the id_token_hint's client is not on this authorization server".into(),
            ));
        };
        if !oidc
            .post_logout_redirect_uris
            .iter()
            .any(|u| u.as_str() == uri)
        {
            return Err(IdpError::Logout(format!(
                "post_logout_redirect_uri `{uri}` is not registered for client `{client_id}`"
            )));
        }
        target = Some(uri.clone());
    }
    if let Some((_, user_id, sid)) = &known {
        state.end_session_by_index(sid);
        tracing::info!(user = %user_id, "IdP session ended by end_session");
    }
    // This browser's IdP session ends; the user's sessions in other browsers do not.
    if let Some((session, _)) = current_session(&state, &headers) {
        state.end_session_by_index(&session.session_index);
    }
    let expire = crate::idp::expired_session_cookie();
    let trial = crate::idp::state::trial_of(&headers);
    let mut resp = match target {
        Some(uri) => {
            // A runner trial may change the state returned (G3's variants): applied to the
            // honest redirect, recorded for the runner.
            let returned = match (
                state.trial_post_logout_state(trial.as_deref()),
                q.get("state"),
            ) {
                (Some(change), Some(sent)) => {
                    state.note_altered(
                        trial.as_deref(),
                        format!(
                            "G3 {}: the redirect to {uri} carries {}",
                            change.name(),
                            change.describe()
                        ),
                    );
                    change.apply(sent)
                }
                (_, sent) => sent.cloned(),
            };
            let mut fields = Vec::new();
            if let Some(s) = &returned {
                fields.push(("state", s.as_str()));
            }
            if fields.is_empty() {
                let mut r = StatusCode::FOUND.into_response();
                if let Ok(v) = HeaderValue::from_str(&uri) {
                    r.headers_mut().insert(LOCATION, v);
                }
                r
            } else {
                to_client(&uri, ResponseMode::Query, &fields)
            }
        }
        None => Html(page("Signed out", "<p>You are signed out of the IdP.</p>")).into_response(),
    };
    if let Ok(v) = expire.parse() {
        resp.headers_mut().insert(axum::http::header::SET_COOKIE, v);
    }
    Ok(resp)
}
