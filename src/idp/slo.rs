//! SAML Single Logout at the IdP, both directions, on one endpoint per app:
//! - SP-initiated (G1): the SP's LogoutRequest over HTTP-Redirect or HTTP-POST (its signature
//!   checked when the app has an SP certificate) ends the IdP session, and a signed
//!   LogoutResponse goes back to the SP's SLO URL;
//! - IdP-initiated (G2): the SP's LogoutResponse to a LogoutRequest fakta sent (the runner
//!   registers its ID with `IdpState::remember_logout_request`) comes back here; it is checked
//!   (InResponseTo names an unanswered request sent for this app, Issuer is the app's SP entity
//!   id, signature when the app has an SP certificate) and its status shown on a page.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Form, Path, RawQuery, State};
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use super::IdpError;
use super::html;
use super::sso::{current_session, saml_app, verify_post};
use super::state::IdpState;
use crate::config::SpMessage;
use crate::saml::binding::{self, raw_param};
use crate::saml::logout::{self, SignatureProblem};
use crate::saml::ns;

/// A SAML app's SLO endpoint, in the flavor's layout (`crate::flavor::SamlPaths`).
pub fn slo_path(idp: &crate::config::Idp, app: &crate::config::App) -> String {
    idp.saml_paths(app).slo
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

pub(super) fn slo_redirect(
    state: &IdpState,
    app_name: &str,
    app_id: &str,
    query: String,
    headers: &HeaderMap,
) -> Result<Response, IdpError> {
    let (app, saml) = saml_app(state, Some(app_name), app_id)?;
    // A signature is verified whenever there is a certificate; `sp_signs` only says whether
    // one must be there.
    if let Some(raw) = raw_param(&query, "SAMLResponse") {
        let xml = binding::decode_redirect(&binding::percent_decode(raw))?;
        let parsed = logout::parse_response(&xml)?;
        if let Some(cert) = state.sp_certs.get(&app.id) {
            let required = saml.requires_signed(SpMessage::LogoutResponses);
            binding::verify_redirect_signature(&query, "SAMLResponse", cert, required).map_err(
                |e| IdpError::LogoutResponseSignature {
                    app: app.id.clone(),
                    problem: e.into(),
                },
            )?;
        }
        return logout_response(state, app, &parsed, &xml);
    }
    let raw = raw_param(&query, "SAMLRequest").ok_or(IdpError::NoSamlMessage)?;
    let signed = match state.sp_certs.get(&app.id) {
        Some(cert) => {
            let required = saml.requires_signed(SpMessage::LogoutRequests);
            binding::verify_redirect_signature(&query, "SAMLRequest", cert, required)?
        }
        None => false,
    };
    let xml = binding::decode_redirect(&binding::percent_decode(raw))?;
    let relay = raw_param(&query, "RelayState").map(binding::percent_decode);
    finish(state, app, &xml, relay, headers, signed)
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

pub(super) fn slo_form(
    state: &IdpState,
    app_name: &str,
    app_id: &str,
    form: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Response, IdpError> {
    let (app, saml) = saml_app(state, Some(app_name), app_id)?;
    if let Some(raw) = form.get("SAMLResponse") {
        let xml = binding::decode_post(raw)?;
        // Parsed (no DTD, nesting bounded) before xmlsec sees it.
        let parsed = logout::parse_response(&xml)?;
        // Checked when required, and whenever a signature is there: an optional signature
        // that does not verify is still a forgery.
        let checked =
            saml.requires_signed(SpMessage::LogoutResponses) || parsed.signatures.count > 0;
        if let (Some(cert), true) = (state.sp_certs.get(&app.id), checked) {
            let refuse = |problem| IdpError::LogoutResponseSignature {
                app: app.id.clone(),
                problem,
            };
            logout::check_enveloped(&parsed).map_err(refuse)?;
            let der = cert
                .to_der()
                .map_err(|_| refuse(SignatureProblem::DoesNotVerify))?;
            if !crate::saml::signature::verify_first(&xml, &der) {
                return Err(refuse(SignatureProblem::DoesNotVerify));
            }
        }
        return logout_response(state, app, &parsed, &xml);
    }
    let raw = form.get("SAMLRequest").ok_or(IdpError::NoSamlMessage)?;
    let xml = binding::decode_post(raw)?;
    // Parsed (roxmltree, no DTD) before xmlsec sees it.
    logout::parse_request(&xml).map_err(|e| IdpError::Logout(e.to_string()))?;
    let signed = match state.sp_certs.get(&app.id) {
        Some(cert) => {
            let required = saml.requires_signed(SpMessage::LogoutRequests);
            verify_post(&xml, cert, "LogoutRequest", &app.id, required)?
        }
        None => false,
    };
    finish(
        state,
        app,
        &xml,
        form.get("RelayState").cloned(),
        headers,
        signed,
    )
}

/// The SP's LogoutResponse to an IdP-initiated LogoutRequest, its signature already checked:
/// Issuer, Destination, InResponseTo (spent here), then a page with the SP's status. A
/// non-Success status is still a proper answer (200): the page reports what the SP said.
fn logout_response(
    state: &IdpState,
    app: &crate::config::App,
    r: &logout::ParsedResponse,
    xml: &str,
) -> Result<Response, IdpError> {
    let saml = app
        .saml()
        .ok_or_else(|| IdpError::NotSaml(app.id.clone()))?;
    super::inspect::logout_message(
        state,
        app,
        super::inspect::Direction::Received,
        super::inspect::Kind::LogoutResponse,
        &format!(
            "the SP's answer to an IdP-initiated logout: status {}",
            r.status
        ),
        xml,
    );
    let in_response_to = logout::check_response(
        r,
        &saml.audience,
        &state.url(&slo_path(&state.conn.idp, app)),
    )?;
    state
        .take_logout_request(in_response_to, &app.id)
        .map_err(|problem| IdpError::LogoutResponseInResponseTo {
            app: app.id.clone(),
            in_response_to: in_response_to.to_owned(),
            problem,
        })?;
    tracing::info!(app = %app.id, status = %r.status, "LogoutResponse to an IdP-initiated logout");
    let page = if r.status == ns::STATUS_SUCCESS {
        html::page(
            &format!("Signed out of {}", app.id),
            &format!(
                "<p id=\"slo-result\" data-status=\"{st}\">The service provider confirmed the logout: LogoutResponse <code>{id}</code> to <code>{irt}</code>, status <code>{st}</code>.</p>",
                st = html::e(&r.status),
                id = html::e(&r.id),
                irt = html::e(in_response_to),
            ),
        )
    } else {
        let detail = [r.sub_status.as_deref(), r.status_message.as_deref()]
            .into_iter()
            .flatten()
            .map(|d| format!(" (<code>{}</code>)", html::e(d)))
            .collect::<String>();
        html::page(
            &format!("Sign-out of {} not confirmed", app.id),
            &format!(
                "<p id=\"slo-result\" data-status=\"{st}\">The service provider answered the logout with status <code>{st}</code>{detail}: LogoutResponse <code>{id}</code> to <code>{irt}</code>.</p>",
                st = html::e(&r.status),
                id = html::e(&r.id),
                irt = html::e(in_response_to),
            ),
        )
    };
    Ok(Html(page).into_response())
}

/// An SP-initiated LogoutRequest, its signature (if any) already checked: `signed` when it
/// verified, and then it is answered only within its window and once (a captured signed
/// LogoutRequest replayed into a victim's browser would end their IdP session: logout CSRF).
fn finish(
    state: &IdpState,
    app: &crate::config::App,
    xml: &str,
    relay: Option<String>,
    headers: &HeaderMap,
    signed: bool,
) -> Result<Response, IdpError> {
    let saml = app
        .saml()
        .ok_or_else(|| IdpError::NotSaml(app.id.clone()))?;
    let req = logout::parse_request(xml).map_err(|e| IdpError::Logout(e.to_string()))?;
    super::inspect::logout_message(
        state,
        app,
        super::inspect::Direction::Received,
        super::inspect::Kind::LogoutRequest,
        "SP-initiated logout",
        xml,
    );
    if req.issuer != saml.audience {
        return Err(IdpError::Logout(format!(
            "the LogoutRequest's Issuer `{}` is not this app's SP entity id `{}`",
            req.issuer, saml.audience
        )));
    }
    let slo_url = state.url(&slo_path(&state.conn.idp, app));
    if let Some(d) = &req.destination {
        if *d != slo_url {
            return Err(IdpError::Logout(format!(
                "the LogoutRequest's Destination `{d}` is not this SLO URL `{slo_url}`"
            )));
        }
    }
    if signed {
        super::sso::once_within_window(
            state,
            &app.id,
            "LogoutRequest",
            &req.id,
            req.issue_instant.as_deref(),
        )?;
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
    super::inspect::logout_message(
        state,
        app,
        super::inspect::Direction::Issued,
        super::inspect::Kind::LogoutResponse,
        "to the SP's SLO URL, HTTP-Redirect binding, the query string signed with the IdP's key",
        &response,
    );
    let query = logout::redirect_response_query(
        &response,
        relay.as_deref(),
        Some(state.keys.current.pkey()),
    )
    .map_err(|e| IdpError::Logout(format!("cannot sign the LogoutResponse: {e}")))?;
    let sep = if sp_slo.contains('?') { '&' } else { '?' };
    let mut resp = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("{sp_slo}{sep}{query}")) {
        resp.headers_mut().insert(LOCATION, v);
    }
    let expire = super::expired_session_cookie();
    if let Ok(v) = expire.parse() {
        resp.headers_mut().insert(SET_COOKIE, v);
    }
    Ok(resp)
}
