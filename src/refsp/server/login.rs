//! `GET {login_url}`: an SP-initiated login, SAML (a signed AuthnRequest by HTTP-Redirect) or
//! OIDC (an authorization request with state, nonce and PKCE).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::*;
use crate::refsp::saml::{self};
use crate::refsp::state::{OidcPending, SpState, Trust, lock};
use crate::saml::xml::escape;

/// `GET {login_url}`: starts an SP-initiated login.
pub(super) async fn login(
    State(st): State<Arc<SpState>>,
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
    match t {
        Trust::Saml {
            entity_id,
            sso_url,
            certs,
            ..
        } => {
            let Some(sp) = saml_settings(&st, &entity_id, &certs) else {
                return refused("the app is not a SAML app");
            };
            let id = format!("_{}", st.token());
            let now = st.now();
            lock(&st.saml_memory).add_request(id.clone(), now);
            let xml = saml::authn_request(&id, now, &sp, &sso_url);
            // Signed (SAML Bindings 3.4.4.1) when the SP has a key.
            let (signer, relay) = (Arc::clone(&st), q.get("RelayState").cloned());
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
        Trust::Oidc {
            authorization_endpoint,
            ..
        } => {
            let Some(o) = st.app.oidc() else {
                return refused("the app is not an OIDC app");
            };
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
                    state_param.clone(),
                    OidcPending {
                        nonce: nonce.clone(),
                        verifier,
                        created: st.now(),
                    },
                );
            }
            let q = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("client_id", &o.client_id)
                .append_pair("redirect_uri", o.redirect_uris[0].as_str())
                .append_pair("response_type", "code")
                .append_pair("scope", "openid email profile groups")
                .append_pair("state", &state_param)
                .append_pair("nonce", &nonce)
                .append_pair("code_challenge", &challenge)
                .append_pair("code_challenge_method", "S256")
                .finish();
            redirect(&format!("{authorization_endpoint}?{q}"))
        }
    }
}
