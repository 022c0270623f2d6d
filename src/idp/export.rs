//! The document an SP is configured from, for `fakta export` and the HTTP handlers alike: a
//! SAML app's IdP metadata, an OIDC app's discovery document (of the authorization server it
//! uses). One function per document, so what `export` prints is byte for byte what `serve`
//! serves at the metadata or discovery URL, and an SP can be set up before fakta runs.

use super::state::IdpState;
use crate::config::{App, Protocol, SamlApp};
use crate::oidc::discovery::{self, Server};
use crate::saml::metadata;

/// A published document and the URL `fakta serve` serves it at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub url: String,
    pub content_type: &'static str,
    pub body: String,
}

/// Why `fakta export` has nothing to print.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    #[error("no app `{asked}` in the file; its apps are: {}", known.join(", "))]
    UnknownApp { asked: String, known: Vec<String> },
    #[error("the file has {} apps ({}): say which with --app", known.len(), known.join(", "))]
    WhichApp { known: Vec<String> },
}

/// The published document of the app `app_id` (or of the only app when `None`).
pub fn export(state: &IdpState, app_id: Option<&str>) -> Result<Published, ExportError> {
    let apps = &state.conn.apps;
    let known = || apps.iter().map(|a| a.id.clone()).collect::<Vec<_>>();
    let app = match app_id {
        Some(id) => state.app(id).ok_or_else(|| ExportError::UnknownApp {
            asked: id.to_owned(),
            known: known(),
        })?,
        None => match apps.as_slice() {
            [only] => only,
            _ => return Err(ExportError::WhichApp { known: known() }),
        },
    };
    Ok(match &app.protocol {
        Protocol::Saml(saml) => Published {
            url: state.url(&state.metadata_path(app)),
            content_type: METADATA_CONTENT_TYPE,
            body: saml_metadata(state, app, saml),
        },
        Protocol::Oidc(o) => Published {
            url: state.url(&state.conn.idp.discovery_path(&o.server)),
            content_type: "application/json",
            // The handler serializes the same value through axum's `Json` (serde_json).
            body: discovery_document(state, &o.server).to_string(),
        },
    })
}

pub const METADATA_CONTENT_TYPE: &str = "application/xml; charset=utf-8";

/// A SAML app's IdP metadata, as its metadata URL serves it (`crate::flavor::SamlPaths`:
/// Okta's `/app/{id}/sso/saml/metadata`, an Entra tenant's federation metadata with
/// `?appid=`, a Keycloak realm's descriptor).
pub fn saml_metadata(state: &IdpState, app: &App, saml: &SamlApp) -> String {
    let sso = state.url(&state.sso_path(app));
    let slo = app
        .logout
        .as_ref()
        .map(|_| state.url(&super::slo::slo_path(&state.conn.idp, app)));
    metadata::build(&metadata::MetadataParams {
        entity_id: &saml.issuer,
        sso_url: &sso,
        slo_url: slo.as_deref(),
        certificates: state.keys.published().iter().map(|c| c.base64()).collect(),
        want_authn_requests_signed: saml.requires_signed(crate::config::SpMessage::AuthnRequests),
        redirect_binding_only: state.conn.idp.vendor().saml_redirect_binding_only(),
    })
}

/// An authorization server's honest discovery document (the handler may swap in the O13
/// trial's forgery: `IdpState::discovery_document`).
pub fn discovery_document(state: &IdpState, server: &Server) -> serde_json::Value {
    serde_json::to_value(discovery::metadata(&state.conn.idp, server)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::ExportError;

    /// The errors name every app id, so the user can pick one without opening the file.
    #[test]
    fn the_errors_name_the_apps() {
        let known = vec!["a".to_owned(), "b".to_owned()];
        assert_eq!(
            ExportError::UnknownApp {
                asked: "c".into(),
                known: known.clone()
            }
            .to_string(),
            "no app `c` in the file; its apps are: a, b"
        );
        assert_eq!(
            ExportError::WhichApp { known }.to_string(),
            "the file has 2 apps (a, b): say which with --app"
        );
    }
}
