//! How an authorization answer reaches the client: the response-mode dispatch (`to_client`)
//! and error redirects (`redirect_error`), shared by authorize and end_session.

use axum::http::header::LOCATION;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use crate::oidc::authorize::ResponseMode;
use crate::oidc::error::OAuthError;
use crate::saml::binding::post_form_fields;

/// Sends `fields` to the client's redirect_uri as the response mode says.
pub(super) fn to_client(
    redirect_uri: &str,
    mode: ResponseMode,
    fields: &[(&str, &str)],
) -> Response {
    to_client_via(
        redirect_uri,
        mode,
        fields,
        &crate::idp::post_message::Target::RedirectOrigin,
    )
}

/// [`to_client`], with where an `okta_post_message` page posts from and to (O25's fault).
pub(super) fn to_client_via(
    redirect_uri: &str,
    mode: ResponseMode,
    fields: &[(&str, &str)],
    post: &crate::idp::post_message::Target,
) -> Response {
    match mode {
        ResponseMode::Query | ResponseMode::Fragment => {
            let mut url = redirect_uri.to_owned();
            let q = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(fields)
                .finish();
            // A registered redirect_uri has no fragment (RFC 6749 §3.1.2), so the answer's is
            // the only one.
            url.push(match mode {
                ResponseMode::Fragment => '#',
                _ if url.contains('?') => '&',
                _ => '?',
            });
            url.push_str(&q);
            let mut resp = StatusCode::FOUND.into_response();
            if let Ok(v) = HeaderValue::from_str(&url) {
                resp.headers_mut().insert(LOCATION, v);
            }
            resp
        }
        ResponseMode::FormPost => Html(post_form_fields(redirect_uri, fields)).into_response(),
        ResponseMode::OktaPostMessage => {
            match crate::idp::post_message::page(redirect_uri, fields, post) {
                Some(page) => Html(page).into_response(),
                None => crate::idp::IdpError::Authorize(format!(
                    "response_mode okta_post_message needs a web origin to post to; redirect_uri `{redirect_uri}` has none"
                ))
                .into_response(),
            }
        }
    }
}

pub(super) fn redirect_error(
    redirect_uri: &str,
    mode: ResponseMode,
    st: Option<&str>,
    error: &OAuthError,
) -> Response {
    tracing::info!("authorize error sent to the client: {error}");
    let mut fields = vec![
        ("error", error.error.as_str()),
        ("error_description", error.error_description.as_str()),
    ];
    if let Some(s) = st {
        fields.push(("state", s));
    }
    to_client(redirect_uri, mode, &fields)
}
