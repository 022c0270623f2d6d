//! An OIDC app's tile, for an app whose login may be initiated by "Either Okta or App": the
//! browser is sent to the app's `initiate_login_uri` with `iss` (and `login_hint`,
//! `target_link_uri` when the launch URL carries them), and the client starts its own
//! authorization request (OpenID Connect Core §4, "Initiating Login from a Third Party"; Okta
//! help, "Create OpenID Connect app integrations": "When end users click an Okta tile, they're
//! redirected to the initiate_login_uri of the client app").

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::idp::IdpError;
use crate::idp::state::IdpState;

/// The most a passed-on parameter may be: a login hint or a URL, not a document.
pub const MAX_LAUNCH_PARAM_BYTES: usize = 2048;

/// `GET /home/{app_id}/launch`: redirects to the app's initiate login URI.
pub async fn launch(
    State(state): State<Arc<IdpState>>,
    Path(app_id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, IdpError> {
    let app = state
        .conn
        .app(&app_id)
        .ok_or_else(|| IdpError::UnknownApp(app_id.clone()))?;
    let (oidc, uri) = app
        .oidc()
        .and_then(|o| o.initiate_login_uri.as_ref().map(|u| (o, u)))
        .ok_or_else(|| IdpError::NotLaunchable(app_id.clone()))?;
    let honest = state.conn.idp.oidc_issuer(&oidc.server);
    // A runner trial's forged launch: an issuer the RP does not know (OIDC Core §4).
    let trial = crate::idp::state::trial_of(&headers);
    let issuer = match state.trial_oidc_fault(trial.as_deref()) {
        Some(f) if f.at_launch() => {
            let forged = crate::oidc::faults::UNKNOWN_ISSUER;
            state.note_altered(
                trial.as_deref(),
                format!(
                    "{} {}: the launch sends iss {forged} (not {honest}) to {uri}",
                    f.case(),
                    f.name()
                ),
            );
            forged.to_owned()
        }
        _ => honest,
    };
    let target = launch_url(uri, &issuer, &q)?;
    tracing::info!(app = %app.id, "launched an OIDC app: third-party-initiated login");
    let mut resp = StatusCode::FOUND.into_response();
    let v = HeaderValue::from_str(target.as_str())
        .map_err(|e| IdpError::Internal(format!("the launch URL is not a header value: {e}")))?;
    resp.headers_mut().insert(LOCATION, v);
    Ok(resp)
}

/// The initiate login URI with `iss` (OIDC Core §4: REQUIRED) and the optional `login_hint` and
/// `target_link_uri` the launch URL carried, added to whatever query the URI already has.
pub fn launch_url(
    uri: &url::Url,
    issuer: &str,
    q: &HashMap<String, String>,
) -> Result<url::Url, IdpError> {
    let mut out = uri.clone();
    let mut pairs = vec![("iss", issuer)];
    for param in ["login_hint", "target_link_uri"] {
        if let Some(v) = q.get(param).filter(|v| !v.is_empty()) {
            if v.len() > MAX_LAUNCH_PARAM_BYTES {
                return Err(IdpError::LaunchParamTooLong {
                    param,
                    len: v.len(),
                    max: MAX_LAUNCH_PARAM_BYTES,
                });
            }
            pairs.push((param, v.as_str()));
        }
    }
    out.query_pairs_mut().extend_pairs(pairs);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn iss_is_added_to_the_uris_own_query() {
        let uri = url::Url::parse("https://app.test/start?tenant=a").unwrap();
        let got = launch_url(&uri, "https://idp.test", &q(&[])).unwrap();
        assert_eq!(
            got.as_str(),
            "https://app.test/start?tenant=a&iss=https%3A%2F%2Fidp.test"
        );
    }

    #[test]
    fn login_hint_and_target_link_uri_are_passed_on_and_nothing_else() {
        let uri = url::Url::parse("https://app.test/start").unwrap();
        let got = launch_url(
            &uri,
            "https://idp.test",
            &q(&[
                ("login_hint", "alice@acme.test"),
                ("target_link_uri", "https://app.test/deep"),
                ("other", "x"),
            ]),
        )
        .unwrap();
        let pairs: Vec<(String, String)> = got.query_pairs().into_owned().collect();
        assert_eq!(
            pairs,
            vec![
                ("iss".into(), "https://idp.test".into()),
                ("login_hint".into(), "alice@acme.test".into()),
                ("target_link_uri".into(), "https://app.test/deep".into()),
            ]
        );
    }

    #[test]
    fn an_oversized_parameter_is_refused_naming_it() {
        let uri = url::Url::parse("https://app.test/start").unwrap();
        let long = "a".repeat(MAX_LAUNCH_PARAM_BYTES + 1);
        let err = launch_url(&uri, "https://idp.test", &q(&[("login_hint", &long)])).unwrap_err();
        assert!(
            err.to_string().contains("`login_hint` is 2049 bytes"),
            "{err}"
        );
    }
}
