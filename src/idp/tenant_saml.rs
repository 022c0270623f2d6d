//! The SAML endpoint a whole tenant shares, for the flavors that have one (Entra's
//! `/{tenant}/saml2`, a Keycloak realm's `/realms/{realm}/protocol/saml`; `crate::flavor`
//! cites both): one URL for SSO and SLO of every app, so the message says which app it is for
//! (its `Issuer`, the SP's entity id) and which handler takes it (its root element). Also the
//! tenant's metadata (Entra's federation metadata with `?appid=`, Keycloak's realm descriptor)
//! and Keycloak's IdP-initiated URL. The handlers behind are Okta's per-app ones, unchanged.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Form, Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};

use super::IdpError;
use super::state::IdpState;
use crate::config::App;
use crate::saml::binding::{self, raw_param};
use crate::saml::{ns, untrusted};

/// What a message on the shared endpoint is, by its root element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Message {
    AuthnRequest,
    /// A LogoutRequest or a LogoutResponse: the SLO handler tells them apart.
    Logout,
}

/// `GET` on the shared endpoint: HTTP-Redirect binding.
pub async fn shared_get(
    State(state): State<Arc<IdpState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, IdpError> {
    super::off_the_workers(move || {
        let query = query.unwrap_or_default();
        let raw = raw_param(&query, "SAMLRequest")
            .or_else(|| raw_param(&query, "SAMLResponse"))
            .ok_or(IdpError::NoSamlMessage)?;
        let xml = binding::decode_redirect(&binding::percent_decode(raw))?;
        let (message, app) = addressed(&state, &xml)?;
        let (name, id) = (app.name.clone(), app.id.clone());
        match message {
            Message::AuthnRequest => super::sso::sso_redirect(&state, &name, &id, query, &headers),
            Message::Logout => super::slo::slo_redirect(&state, &name, &id, query, &headers),
        }
    })
    .await
}

/// `POST` on the shared endpoint: HTTP-POST binding.
pub async fn shared_post(
    State(state): State<Arc<IdpState>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, IdpError> {
    super::off_the_workers(move || {
        let raw = form
            .get("SAMLRequest")
            .or_else(|| form.get("SAMLResponse"))
            .ok_or(IdpError::NoSamlMessage)?;
        let xml = binding::decode_post(raw)?;
        let (message, app) = addressed(&state, &xml)?;
        let (name, id) = (app.name.clone(), app.id.clone());
        match message {
            Message::AuthnRequest => super::sso::sso_form(&state, &name, &id, &form, &headers),
            Message::Logout => super::slo::slo_form(&state, &name, &id, &form, &headers),
        }
    })
    .await
}

/// Keycloak's IdP-initiated URL, `/realms/{realm}/protocol/saml/clients/{client-url-name}`
/// (fakta's app id is the URL name): the app's tile.
pub async fn idp_initiated(
    State(state): State<Arc<IdpState>>,
    Path(client): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, IdpError> {
    super::off_the_workers(move || {
        let app = state
            .app(&client)
            .ok_or_else(|| IdpError::UnknownApp(client.clone()))?;
        let (name, id) = (app.name.clone(), app.id.clone());
        super::sso::sso_redirect(&state, &name, &id, query.unwrap_or_default(), &headers)
    })
    .await
}

/// The tenant's metadata: the app an Entra `?appid=` names, or the tenant's only SAML app
/// (the first, for a Keycloak realm, whose descriptor has no app parameter).
pub async fn metadata(
    State(state): State<Arc<IdpState>>,
    RawQuery(query): RawQuery,
) -> Result<Response, IdpError> {
    let query = query.unwrap_or_default();
    let saml_apps: Vec<&App> = state
        .conn
        .apps
        .iter()
        .filter(|a| a.saml().is_some())
        .collect();
    let app = match raw_param(&query, "appid").map(binding::percent_decode) {
        Some(id) => *saml_apps
            .iter()
            .find(|a| a.id == id)
            .ok_or(IdpError::UnknownApp(id))?,
        None => match (state.conn.idp.flavor, saml_apps.as_slice()) {
            (crate::flavor::Flavor::Entra, [_, _, ..]) => {
                return Err(IdpError::WhichSamlApp {
                    known: saml_apps.iter().map(|a| a.id.clone()).collect(),
                });
            }
            (_, [first, ..]) => first,
            (_, []) => return Err(IdpError::NoSamlApp),
        },
    };
    let (app, saml) = super::sso::saml_app(&state, None, &app.id)?;
    let xml = super::export::saml_metadata(&state, app, saml);
    Ok(([(CONTENT_TYPE, super::export::METADATA_CONTENT_TYPE)], xml).into_response())
}

/// Which kind of message `xml` is and which SAML app sent it: the app whose SP entity id is
/// the message's `Issuer` (Entra and Keycloak match the request's Issuer to the app), or the
/// only SAML app when the message names none (the Issuer is optional in SAML Core §3.2.1).
fn addressed<'s>(state: &'s IdpState, xml: &str) -> Result<(Message, &'s App), IdpError> {
    let doc = untrusted::parse(xml, false)?;
    let root = doc.root_element();
    let name = root.tag_name();
    let message = match (name.namespace(), name.name()) {
        (Some(ns::PROTOCOL), "AuthnRequest") => Message::AuthnRequest,
        (Some(ns::PROTOCOL), "LogoutRequest" | "LogoutResponse") => Message::Logout,
        (_, other) => {
            return Err(IdpError::UnexpectedSamlMessage(other.to_owned()));
        }
    };
    let issuer = root
        .children()
        .find(|n| {
            n.tag_name().namespace() == Some(ns::ASSERTION) && n.tag_name().name() == "Issuer"
        })
        .and_then(|n| n.text())
        .map(str::trim);
    let mut saml_apps = state.conn.apps.iter().filter(|a| a.saml().is_some());
    let app = match issuer {
        Some(issuer) => saml_apps
            .find(|a| a.saml().is_some_and(|s| s.audience == issuer))
            .ok_or_else(|| IdpError::UnknownSpIssuer {
                issuer: issuer.to_owned(),
                known: state
                    .conn
                    .apps
                    .iter()
                    .filter_map(|a| a.saml().map(|s| s.audience.clone()))
                    .collect(),
            })?,
        None => {
            let first = saml_apps.next().ok_or(IdpError::NoSamlApp)?;
            if saml_apps.next().is_some() {
                return Err(IdpError::NoIssuer(name.name().to_owned()));
            }
            first
        }
    };
    Ok((message, app))
}
