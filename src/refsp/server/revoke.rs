//! The Global Token Revocation receiver.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::*;
use crate::config::SubjectFormat;
use crate::refsp::flaws::Flaw;
use crate::refsp::revocation;
use crate::refsp::state::{SpSession, SpState, Trust, lock};

/// `POST {global_token_revocation.endpoint}`
pub(super) async fn revoke(
    State(st): State<Arc<SpState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(g) = st.app.global_token_revocation.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let t = match trust(&st, false).await {
        Ok(t) => t,
        Err(e) => return (StatusCode::UNPROCESSABLE_ENTITY, e).into_response(),
    };
    let base = st.conn.idp.base().to_owned();
    let (keys, subject_issuer, app) = match (&t, st.app.oidc()) {
        (
            Trust::Saml {
                keys, entity_id, ..
            },
            _,
        ) => (keys.clone(), entity_id.clone(), st.app.id.clone()),
        (Trust::Oidc { keys, issuer, .. }, Some(o)) => {
            (keys.clone(), issuer.clone(), o.client_id.clone())
        }
        _ => return StatusCode::UNPROCESSABLE_ENTITY.into_response(),
    };
    let settings = revocation::Settings {
        endpoint: g.endpoint.to_string(),
        idp_issuer: base,
        app,
        subject_issuer,
        email_supported: g.subject_format == SubjectFormat::Email,
    };
    let now = st.now();
    let auth = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // The JWT's signature check: off the async workers.
    let checker = Arc::clone(&st);
    let checked = off_the_workers(move || {
        let mut seen = |jti: &str, exp: i64| {
            let mut jtis = lock(&checker.jtis);
            let t = now.unix_timestamp();
            jtis.retain(|_, e| *e + 60 > t);
            jtis.insert(jti.to_owned(), exp).is_none()
        };
        revocation::check(
            auth.as_deref(),
            &body,
            &keys,
            &settings,
            now,
            &mut seen,
            &checker.flaws,
        )
    })
    .await
    .unwrap_or_else(|e| {
        Err(revocation::Refused {
            status: 500,
            reason: e,
        })
    });
    let subject = match checked {
        Ok(s) => s,
        Err(r) => {
            tracing::info!(status = r.status, "revocation refused: {}", r.reason);
            let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST);
            return (status, axum::Json(json!({"error": r.reason}))).into_response();
        }
    };
    let matches = |s: &SpSession| match &subject {
        revocation::Subject::IssSub { sub, .. } => s.subject == *sub,
        revocation::Subject::Email(e) => s.email.eq_ignore_ascii_case(e),
        revocation::Subject::Nobody => false,
    };
    if matches!(subject, revocation::Subject::Nobody) {
        // The `revocation-lenient-body` defect: a body it could not read, answered 204.
        return StatusCode::NO_CONTENT.into_response();
    }
    let known = lock(&st.sessions).values().any(matches);
    if !known && st.flaws.on(Flaw::RevocationUnknownUser204) {
        return StatusCode::NO_CONTENT.into_response();
    }
    if !known {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": "no such user has a session"})),
        )
            .into_response();
    }
    let ended = if st.flaws.on(Flaw::RevocationKeepsSession) {
        0
    } else if st.flaws.on(Flaw::RevocationEndsEveryone) {
        st.end_sessions(|_| true)
    } else {
        st.end_sessions(matches)
    };
    tracing::info!(ended, "revocation accepted");
    StatusCode::NO_CONTENT.into_response()
}
