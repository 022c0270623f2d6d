//! A vendor's own per-app SAML endpoints, for the flavors whose layout is one set per app but
//! not Okta's (Auth0's SAML2 Web App add-on: `/samlp/{client_id}`, its `/logout`, and
//! `/samlp/metadata/{client_id}`; `crate::flavor::auth0` cites them). The app is the one the
//! path names by its id; the handlers behind are Okta's per-app ones, unchanged.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Form, Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};

use super::IdpError;
use super::state::IdpState;

/// The (name, id) of the SAML app whose id is `client`: the pair Okta's handlers address.
fn named(state: &IdpState, client: &str) -> Result<(String, String), IdpError> {
    let (app, _) = super::sso::saml_app(state, None, client)?;
    Ok((app.name.clone(), app.id.clone()))
}

/// `GET` on the app's SSO URL: HTTP-Redirect binding, or IdP-initiated without SAMLRequest.
pub async fn sso_get(
    State(state): State<Arc<IdpState>>,
    Path(client): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, IdpError> {
    super::off_the_workers(move || {
        let (name, id) = named(&state, &client)?;
        super::sso::sso_redirect(&state, &name, &id, query.unwrap_or_default(), &headers)
    })
    .await
}

/// `POST` on the app's SSO URL: HTTP-POST binding.
pub async fn sso_post(
    State(state): State<Arc<IdpState>>,
    Path(client): Path<String>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, IdpError> {
    super::off_the_workers(move || {
        let (name, id) = named(&state, &client)?;
        super::sso::sso_form(&state, &name, &id, &form, &headers)
    })
    .await
}

/// `GET` on the app's SLO URL: HTTP-Redirect binding.
pub async fn slo_get(
    State(state): State<Arc<IdpState>>,
    Path(client): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, IdpError> {
    super::off_the_workers(move || {
        let (name, id) = named(&state, &client)?;
        super::slo::slo_redirect(&state, &name, &id, query.unwrap_or_default(), &headers)
    })
    .await
}

/// `POST` on the app's SLO URL: HTTP-POST binding.
pub async fn slo_post(
    State(state): State<Arc<IdpState>>,
    Path(client): Path<String>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, IdpError> {
    super::off_the_workers(move || {
        let (name, id) = named(&state, &client)?;
        super::slo::slo_form(&state, &name, &id, &form, &headers)
    })
    .await
}

/// The app's IdP metadata.
pub async fn metadata(
    State(state): State<Arc<IdpState>>,
    Path(client): Path<String>,
) -> Result<Response, IdpError> {
    let (app, saml) = super::sso::saml_app(&state, None, &client)?;
    let xml = super::export::saml_metadata(&state, app, saml);
    Ok(([(CONTENT_TYPE, super::export::METADATA_CONTENT_TYPE)], xml).into_response())
}
