//! `GET {target.refresh_url}`: the signed-in browser makes the SP refresh its tokens with the
//! session's refresh token. The refreshed id_token must name the same issuer and the same user
//! as the one the session began with (OpenID Connect Core 1.0 §12.2); otherwise it is refused
//! and the session is left as it was.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Response};

use super::callback::{token_request, verify};
use super::*;
use crate::refsp::flaws::Flaw;
use crate::refsp::oidc::{OidcRefusal, aud_contains};
use crate::refsp::state::{SpState, Trust, lock};

pub(super) async fn refresh(State(st): State<Arc<SpState>>, headers: HeaderMap) -> Response {
    let Some((id, session)) = session_id(&headers).and_then(|id| st.session(&id).map(|s| (id, s)))
    else {
        return refused("no session to refresh");
    };
    let Some(rt) = session.refresh_token.clone() else {
        return refused("the session has no refresh token");
    };
    let Ok(Trust::Oidc {
        issuer,
        token_endpoint,
        keys,
        ..
    }) = trust(&st, false).await
    else {
        return refused("the IdP is unknown");
    };
    let fields = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", rt.as_str()),
    ];
    let body = match token_request(&st, &token_endpoint, fields).await {
        Ok(b) => b,
        Err(e) => return refused(&e.to_string()),
    };
    let Some(id_token) = body["id_token"].as_str() else {
        return refused("the refresh answer has no id_token");
    };
    let claims = match verify(&st, id_token, keys).await {
        Ok(c) => c,
        Err(e) => return refused(&e.to_string()),
    };
    let client = st.app.oidc().map(|o| o.client_id.as_str()).unwrap_or("");
    let iss = claims["iss"].as_str().unwrap_or_default();
    let sub = claims["sub"].as_str().unwrap_or_default();
    let refusal = if iss != issuer && !st.flaws.on(Flaw::RefreshIgnoresIss) {
        Some(OidcRefusal::Issuer {
            got: iss.to_owned(),
            expected: issuer.clone(),
        })
    } else if sub != session.subject && !st.flaws.on(Flaw::RefreshIgnoresSub) {
        Some(OidcRefusal::RefreshSub {
            got: sub.to_owned(),
            expected: session.subject.clone(),
        })
    } else if !aud_contains(&claims["aud"], client) {
        Some(OidcRefusal::Audience {
            got: claims["aud"].to_string(),
            expected: client.to_owned(),
        })
    } else {
        None
    };
    if let Some(r) = refusal {
        return refused(&format!("the refreshed id_token is refused: {r}"));
    }
    // Accepted: the session now carries what the refreshed id_token says.
    if let Some(s) = lock(&st.sessions).get_mut(&id) {
        s.subject = sub.to_owned();
        if let Some(e) = claims["email"].as_str() {
            s.email = e.to_owned();
        }
        s.id_token = Some(id_token.to_owned());
        // RFC 6749 §6: a new refresh token replaces the old one, which the client MUST
        // discard. The `reuse-refresh-token` defect keeps the old one.
        if let Some(new) = body["refresh_token"]
            .as_str()
            .filter(|_| !st.flaws.on(Flaw::ReuseRefreshToken))
        {
            s.refresh_token = Some(new.to_owned());
        }
    }
    Html(page("Refreshed", "<p>The tokens were refreshed.</p>")).into_response()
}
