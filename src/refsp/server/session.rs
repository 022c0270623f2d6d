//! The SP's session: starting one, the home page, the probe, and local logout (which goes on to
//! the IdP's SLO or end_session endpoint).

use std::sync::Arc;

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;

use super::*;
use crate::refsp::flaws::Flaw;
use crate::refsp::state::{SpSession, SpState, Trust, lock};
use crate::saml::xml::escape;

/// The user's attributes mapped to the SP's needs, and the refusal for R7/R8.
pub(super) fn profile(
    st: &SpState,
    email: Option<String>,
    name: Option<String>,
) -> Result<(String, Option<String>), String> {
    let email = match email.filter(|e| !e.is_empty()) {
        Some(e) => e,
        None if st.flaws.on(Flaw::AcceptMissingEmail) => String::new(),
        None => return Err("the IdP sent no email: an email is required to sign in".into()),
    };
    let name = name.filter(|n| !n.is_empty());
    if name.is_none() && st.settings.require_name && !st.flaws.on(Flaw::AcceptMissingName) {
        return Err("the IdP sent no name: a name is required to sign in".into());
    }
    Ok((email, name))
}

/// Starts the session and sets its cookie: a new id, never one the browser brought (unless the
/// `session-fixation` defect keeps the pre-login one). Then on to `return_to` (a RelayState or
/// return URL) when it is a path on this site: never to another site (an open redirect),
/// unless the `open-redirect` defect follows any.
pub(super) fn signed_in(
    st: &SpState,
    headers: &HeaderMap,
    s: SpSession,
    return_to: Option<&str>,
) -> Response {
    let text = format!(
        "<p>Signed in as <b>{}</b> with role <b id=\"role\">{}</b>.</p>",
        escape(&s.email),
        escape(&s.role)
    );
    tracing::info!(subject = %s.subject, role = %s.role, "reference SP session started");
    let kept = session_id(headers).filter(|_| st.flaws.on(Flaw::SessionFixation));
    let id = st.start_session(kept, s);
    let mut r = match return_to {
        Some(to) if local_path(to) || st.flaws.on(Flaw::OpenRedirect) => redirect(to),
        _ => Html(page("Signed in", &text)).into_response(),
    };
    set_cookie(&mut r, COOKIE_NAME, &id);
    r
}

/// A path on this site: `/...`, not `//host` or `/\\host` (which browsers read as another
/// site), no control characters.
fn local_path(to: &str) -> bool {
    to.starts_with('/')
        && !to.starts_with("//")
        && !to.contains('\\')
        && !to.chars().any(char::is_control)
}

pub(super) async fn home(State(st): State<Arc<SpState>>, headers: HeaderMap) -> Html<String> {
    let who = session_id(&headers)
        .and_then(|id| st.session(&id))
        .map(|s| {
            format!(
                "<p>Signed in as {} with role <b>{}</b>.</p>",
                escape(&s.email),
                escape(&s.role)
            )
        })
        .unwrap_or_else(|| format!("<p><a href=\"{}\">Sign in</a></p>", escape(&st.paths.login)));
    Html(page("fakta reference SP", &who))
}

/// `GET {probe}`: the session as JSON, or 401.
pub(super) async fn me(State(st): State<Arc<SpState>>, headers: HeaderMap) -> Response {
    match session_id(&headers).and_then(|id| st.session(&id)) {
        Some(s) => axum::Json(json!({
            "email": s.email,
            "name": s.name,
            "role": s.role,
            "groups": s.groups,
            "protocol": s.protocol,
            "subject": s.subject,
        }))
        .into_response(),
        None => (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "not signed in"})),
        )
            .into_response(),
    }
}

/// `GET {logout_url}`: ends the local session; an OIDC app then sends the browser to the IdP's
/// end_session endpoint (RP-initiated logout) with the id_token as hint.
pub(super) async fn logout(State(st): State<Arc<SpState>>, headers: HeaderMap) -> Response {
    let session = session_id(&headers).and_then(|id| st.session(&id).map(|s| (id, s)));
    if let Some((id, _)) = &session {
        st.end_session(id);
    }
    let end_session = match (st.app.oidc(), &session) {
        _ if st.flaws.on(Flaw::LocalLogoutOnly) => None,
        // SAML: SP-initiated Single Logout through the IdP's SLO endpoint.
        (None, Some((_, s))) if s.protocol == "saml" => match trust(&st, false).await {
            Ok(Trust::Saml {
                slo_url: Some(idp_slo),
                ..
            }) if st.app.logout.is_some() => {
                let id = format!("_{}", st.token());
                lock(&st.saml_memory).add_request(id.clone(), st.now());
                let xml = crate::saml::logout::build(&crate::saml::logout::LogoutRequest {
                    id,
                    issue_instant: st.now(),
                    issuer: st
                        .app
                        .saml()
                        .map(|a| a.audience.clone())
                        .unwrap_or_default(),
                    destination: idp_slo.clone(),
                    name_id: s.subject.clone(),
                    name_id_format: "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified".into(),
                    session_index: s.session_index.clone(),
                });
                let signer = Arc::clone(&st);
                off_the_workers(move || {
                    crate::saml::logout::redirect_query(&xml, None, signer.sp_key.as_ref()).ok()
                })
                .await
                .ok()
                .flatten()
                .map(|q| {
                    format!(
                        "{idp_slo}{}{q}",
                        if idp_slo.contains('?') { '&' } else { '?' }
                    )
                })
            }
            _ => None,
        },
        (Some(o), Some((_, s))) => match (trust(&st, false).await, &s.id_token) {
            (
                Ok(Trust::Oidc {
                    end_session_endpoint: Some(ep),
                    ..
                }),
                Some(hint),
            ) => {
                let mut q = url::form_urlencoded::Serializer::new(String::new());
                q.append_pair("id_token_hint", hint);
                if let Some(back) = o.post_logout_redirect_uris.first() {
                    q.append_pair("post_logout_redirect_uri", back.as_str());
                    q.append_pair("state", &st.token());
                }
                Some(format!("{ep}?{}", q.finish()))
            }
            _ => None,
        },
        _ => None,
    };
    let mut r = match end_session {
        Some(url) => redirect(&url),
        None => Html(page(
            "Signed out",
            if session.is_some() {
                "<p>Signed out.</p>"
            } else {
                "<p>There was no session.</p>"
            },
        ))
        .into_response(),
    };
    if let Ok(v) = HeaderValue::from_str(&format!("{COOKIE_NAME}=; Path=/; Max-Age=0")) {
        r.headers_mut().insert(SET_COOKIE, v);
    }
    r
}
