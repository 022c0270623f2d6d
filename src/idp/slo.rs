//! SAML Single Logout at the IdP (G1): the SP's LogoutRequest over HTTP-Redirect or HTTP-POST
//! (its signature checked when the app has an SP certificate) ends the IdP session, and a
//! signed LogoutResponse goes back to the SP's SLO URL.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Form, Path, RawQuery, State};
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::sso::{current_session, saml_app, verify_post};
use super::state::IdpState;
use super::{IdpError, SESSION_COOKIE};
use crate::saml::binding::{self, raw_param};
use crate::saml::logout;

pub fn slo_path(app: &crate::config::App) -> String {
    format!("/app/{}/{}/slo/saml", app.name, app.id)
}

/// `GET /app/{name}/{id}/slo/saml`
pub async fn slo_get(
    State(state): State<Arc<IdpState>>,
    Path((app_name, app_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, IdpError> {
    // Signature checks and signing: off the async workers.
    super::off_the_workers(move || {
        slo_redirect(
            &state,
            &app_name,
            &app_id,
            query.unwrap_or_default(),
            &headers,
        )
    })
    .await
}

fn slo_redirect(
    state: &IdpState,
    app_name: &str,
    app_id: &str,
    query: String,
    headers: &HeaderMap,
) -> Result<Response, IdpError> {
    let (app, _) = saml_app(state, Some(app_name), app_id)?;
    let raw = raw_param(&query, "SAMLRequest").ok_or(IdpError::MissingField("SAMLRequest"))?;
    if let Some(cert) = state.sp_certs.get(&app.id) {
        binding::verify_redirect_signature(&query, "SAMLRequest", cert, true)?;
    }
    let xml = binding::decode_redirect(&binding::percent_decode(raw))?;
    let relay = raw_param(&query, "RelayState").map(binding::percent_decode);
    finish(state, app, &xml, relay, headers)
}

/// `POST /app/{name}/{id}/slo/saml`
pub async fn slo_post(
    State(state): State<Arc<IdpState>>,
    Path((app_name, app_id)): Path<(String, String)>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, IdpError> {
    // Signature checks and signing: off the async workers.
    super::off_the_workers(move || slo_form(&state, &app_name, &app_id, &form, &headers)).await
}

fn slo_form(
    state: &IdpState,
    app_name: &str,
    app_id: &str,
    form: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Response, IdpError> {
    let (app, _) = saml_app(state, Some(app_name), app_id)?;
    let raw = form
        .get("SAMLRequest")
        .ok_or(IdpError::MissingField("SAMLRequest"))?;
    let xml = binding::decode_post(raw)?;
    if let Some(cert) = state.sp_certs.get(&app.id) {
        verify_post(&xml, cert, "LogoutRequest", &app.id)?;
    }
    finish(state, app, &xml, form.get("RelayState").cloned(), headers)
}

fn finish(
    state: &IdpState,
    app: &crate::config::App,
    xml: &str,
    relay: Option<String>,
    headers: &HeaderMap,
) -> Result<Response, IdpError> {
    let saml = app
        .saml()
        .ok_or_else(|| IdpError::NotSaml(app.id.clone()))?;
    let req = logout::parse_request(xml).map_err(|e| IdpError::Logout(e.to_string()))?;
    if req.issuer != saml.audience {
        return Err(IdpError::Logout(format!(
            "the LogoutRequest's Issuer `{}` is not this app's SP entity id `{}`",
            req.issuer, saml.audience
        )));
    }
    let slo_url = state.url(&slo_path(app));
    if let Some(d) = &req.destination {
        if *d != slo_url {
            return Err(IdpError::Logout(format!(
                "the LogoutRequest's Destination `{d}` is not this SLO URL `{slo_url}`"
            )));
        }
    }
    let sp_slo = app
        .logout
        .as_ref()
        .map(|l| l.slo_url.to_string())
        .ok_or_else(|| {
            IdpError::Logout(format!(
                "app `{}` has no logout.slo_url to answer to",
                app.id
            ))
        })?;
    // End the session the request names, and this browser's.
    if let Some(index) = &req.session_index {
        state.end_session_by_index(index);
    }
    if let Some((session, _)) = current_session(state, headers) {
        state.end_session_by_index(&session.session_index);
    }
    tracing::info!(app = %app.id, name_id = %req.name_id, "SP-initiated logout");
    let response = logout::response(&state.new_id(), &req.id, state.now(), &saml.issuer, &sp_slo);
    let query =
        logout::redirect_response_query(&response, relay.as_deref(), state.keys.current.pkey())
            .map_err(|e| IdpError::Logout(format!("cannot sign the LogoutResponse: {e}")))?;
    let sep = if sp_slo.contains('?') { '&' } else { '?' };
    let mut resp = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("{sp_slo}{sep}{query}")) {
        resp.headers_mut().insert(LOCATION, v);
    }
    let expire = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    if let Ok(v) = expire.parse() {
        resp.headers_mut().insert(SET_COOKIE, v);
    }
    Ok(resp)
}
