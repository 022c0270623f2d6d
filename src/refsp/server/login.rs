//! `GET {login_url}`: an SP-initiated login, SAML (a signed AuthnRequest by HTTP-Redirect) or
//! OIDC (an authorization request with state, nonce and PKCE, answered by form_post, for a code,
//! the hybrid flow's code and id_token, or the implicit flow's id_token (and access token)
//! without PKCE); and
//! `GET {initiate_login_uri}`, the same OIDC login started by the IdP's tile (OIDC Core §4).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::*;
use crate::refsp::flaws::Flaw;
use crate::refsp::saml::{self};
use crate::refsp::state::{OidcPending, SpState, Trust, lock};
use crate::saml::xml::escape;

/// `GET {login_url}`: starts an SP-initiated login, in the browser that asked (the OIDC
/// request's state, nonce and PKCE verifier are kept under the login cookie).
pub(super) async fn login(
    State(st): State<Arc<SpState>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let t = match trust(&st, false).await {
        Ok(t) => t,
        Err(e) => {
            return (
                StatusCode::BAD_GATEWAY,
                Html(page("IdP unreachable", &escape(&e))),
            )
                .into_response();
        }
    };
    let mut r = match t {
        Trust::Saml {
            entity_id,
            sso_url,
            certs,
            ..
        } => saml_login(&st, &entity_id, &sso_url, &certs, q.get("RelayState")).await,
        Trust::Oidc {
            authorization_endpoint,
            ..
        } => {
            let return_to = st.target.return_param.as_ref().and_then(|p| q.get(p));
            oidc_login_start(&st, &authorization_endpoint, return_to.cloned())
        }
    };
    // The `session-fixation` defect: a session cookie handed out before the login, whose value
    // the login then keeps.
    if st.flaws.on(Flaw::SessionFixation) && session_id(&headers).is_none() {
        set_cookie(&mut r, COOKIE_NAME, &st.token());
    }
    r
}

/// `GET {initiate_login_uri}?iss=..`: third-party-initiated login (OpenID Connect Core §4). The
/// SP starts its own authorization request, the same as an SP-initiated one, but only towards
/// the issuer it trusts: `iss` is REQUIRED, and a login started for another issuer would send
/// the user to an IdP this SP does not know. `target_link_uri` is followed only within this SP
/// (§4: "the Client MUST verify the value of the target_link_uri to prevent being used as an
/// open redirector").
pub(super) async fn initiate(
    State(st): State<Arc<SpState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(iss) = q.get("iss").filter(|i| !i.is_empty()) else {
        return refused("the initiate-login request has no `iss` (OpenID Connect Core section 4)");
    };
    let (issuer, authorization_endpoint) = match trust(&st, false).await {
        Ok(Trust::Oidc {
            issuer,
            authorization_endpoint,
            ..
        }) => (issuer, authorization_endpoint),
        Ok(Trust::Saml { .. }) => return refused("the app is not an OIDC app"),
        Err(e) => {
            return (
                StatusCode::BAD_GATEWAY,
                Html(page("IdP unreachable", &escape(&e))),
            )
                .into_response();
        }
    };
    // The `launch-any-issuer` defect: a login is started whatever issuer `iss` names.
    if *iss != issuer && !st.flaws.on(Flaw::LaunchAnyIssuer) {
        return refused(&format!(
            "the initiate-login request names issuer `{iss}`, not `{issuer}`, the one this SP trusts: no login is started for an unknown issuer"
        ));
    }
    let return_to = q
        .get("target_link_uri")
        .and_then(|t| url::Url::parse(t).ok())
        .filter(|t| crate::refsp::state::origin(t) == st.origin)
        .map(|t| t[url::Position::BeforePath..].to_owned());
    oidc_login_start(&st, &authorization_endpoint, return_to)
}

/// A signed AuthnRequest by HTTP-Redirect.
async fn saml_login(
    st: &Arc<SpState>,
    entity_id: &str,
    sso_url: &str,
    certs: &[Vec<u8>],
    relay: Option<&String>,
) -> Response {
    let Some(sp) = saml_settings(st, entity_id, certs) else {
        return refused("the app is not a SAML app");
    };
    let id = format!("_{}", st.token());
    let now = st.now();
    lock(&st.saml_memory).add_request(id.clone(), now);
    let xml = saml::authn_request(&id, now, &sp, sso_url);
    // Signed (SAML Bindings 3.4.4.1) when the SP has a key.
    let (signer, relay) = (Arc::clone(st), relay.cloned());
    let signed = off_the_workers(move || {
        crate::saml::logout::redirect_query(&xml, relay.as_deref(), signer.sp_key.as_ref())
            .map_err(|e| e.to_string())
    })
    .await;
    let query = match signed.and_then(|r| r) {
        Ok(q) => q,
        Err(e) => return refused(&format!("cannot sign the AuthnRequest: {e}")),
    };
    let sep = if sso_url.contains('?') { '&' } else { '?' };
    redirect(&format!("{sso_url}{sep}{query}"))
}

/// An authorization request with state, nonce and a PKCE challenge, remembered under a login
/// cookie of this browser: the callback is taken only from the browser that started the login
/// (RFC 6749 §10.12).
fn oidc_login_start(
    st: &SpState,
    authorization_endpoint: &str,
    return_to: Option<String>,
) -> Response {
    let Some(o) = st.app.oidc() else {
        return refused("the app is not an OIDC app");
    };
    let login_id = st.token();
    let state_param = st.token();
    let nonce = st.token();
    let verifier = format!("{}{}", st.token(), st.token());
    let challenge = crate::oidc::jwt::b64(&openssl::sha::sha256(verifier.as_bytes()));
    {
        let mut pending = lock(&st.oidc_pending);
        if pending.len() >= crate::refsp::state::MAX_ENTRIES {
            pending.clear();
        }
        pending.insert(
            login_id.clone(),
            OidcPending {
                state: state_param.clone(),
                nonce: nonce.clone(),
                verifier,
                return_to,
                created: st.now(),
            },
        );
    }
    // A refresh token only when the SP is to refresh (`target.refresh_url`) and redeems a code:
    // the implicit flow has no token response to carry one.
    let code_flow = st.target.response_type.has_code();
    let scope = if st.target.refresh_url.is_some() && code_flow {
        "openid email profile groups offline_access"
    } else {
        "openid email profile groups"
    };
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("client_id", &o.client_id)
        .append_pair("redirect_uri", o.redirect_uris[0].as_str())
        // `code` unless the file says otherwise (target.response_type): the hybrid flow's id_token
        // from the authorization endpoint is then checked too (OIDC Core §3.3.2.8).
        .append_pair("response_type", st.target.response_type.name())
        .append_pair("scope", scope)
        .append_pair("state", &state_param)
        .append_pair("nonce", &nonce)
        // The answer (a code, or an error: O22) comes as a POST form (OAuth 2.0 Form Post
        // Response Mode), so the demo runs that path; the independent Authlib app takes query.
        // Its cookies are SameSite=Lax: the IdP is the same site (loopback) here.
        .append_pair("response_mode", "form_post");
    // The `no-pkce-nonce-any-pending` defect sends no challenge; without a code there is
    // nothing for PKCE to bind (the nonce binds the implicit flow's id_token).
    if code_flow && !st.flaws.on(Flaw::NoPkceNonceAnyPending) {
        q.append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
    }
    let mut r = redirect(&format!("{authorization_endpoint}?{}", q.finish()));
    set_cookie(&mut r, LOGIN_COOKIE, &login_id);
    r
}
