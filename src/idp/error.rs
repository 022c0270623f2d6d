//! The IdP's one HTTP error type: every bad request becomes a page that names the problem.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::html;
use crate::saml::authn_request::AuthnRequestError;
use crate::saml::binding::BindingError;
use crate::saml::signature::{ReferenceError, SignError};
use crate::saml::untrusted::XmlError;

#[derive(Debug, thiserror::Error)]
pub enum IdpError {
    #[error("no app with id `{0}` in this IdP")]
    UnknownApp(String),
    #[error("app `{app_id}` is named `{expected}` in its URLs, not `{got}`")]
    AppNameMismatch {
        app_id: String,
        got: String,
        expected: String,
    },
    #[error("app `{0}` is not a SAML app")]
    NotSaml(String),
    #[error(
        "no SAML app has the SP entity id `{issuer}` (the message's Issuer) on this tenant's shared SAML endpoint; the SAML apps' entity ids are: {}",
        known.join(", ")
    )]
    UnknownSpIssuer { issuer: String, known: Vec<String> },
    #[error(
        "the {0} names no Issuer, and this tenant's shared SAML endpoint serves several SAML apps: the Issuer says which"
    )]
    NoIssuer(String),
    #[error(
        "the shared SAML endpoint takes an AuthnRequest, a LogoutRequest or a LogoutResponse, not a `{0}`"
    )]
    UnexpectedSamlMessage(String),
    #[error("the file has no SAML app")]
    NoSamlApp,
    #[error("the tenant has several SAML apps ({}): add `?appid=` naming one", known.join(", "))]
    WhichSamlApp { known: Vec<String> },
    #[error("{0}")]
    Binding(#[from] BindingError),
    #[error("{0}")]
    Request(#[from] AuthnRequestError),
    #[error("{0}")]
    Xml(#[from] XmlError),
    #[error("the POSTed {message} is not signed, but app `{app}` requires signed requests")]
    UnsignedPost { message: &'static str, app: String },
    #[error("the POSTed {message}'s signature does not verify with app `{app}`'s SP certificate")]
    BadPostSignature { message: &'static str, app: String },
    #[error("the POSTed {message}'s signature is refused before it is checked: {source}")]
    SignatureShape {
        message: &'static str,
        source: ReferenceError,
    },
    #[error(
        "the signed {message} `{id}` was received before; a signed request is answered once (replay)"
    )]
    Replayed { message: &'static str, id: String },
    #[error("the signed {message} has no IssueInstant; a signed request must say when it was made")]
    NoIssueInstant { message: &'static str },
    #[error("the signed {message}'s IssueInstant `{instant}` is not a valid instant")]
    BadIssueInstant {
        message: &'static str,
        instant: String,
    },
    #[error(
        "the signed {message} was issued at {issued}, outside the {lifetime_secs} s it is valid for (now {now})"
    )]
    RequestOutsideWindow {
        message: &'static str,
        issued: String,
        now: String,
        lifetime_secs: i64,
    },
    #[error(
        "{0} signed requests are waiting out their validity window; try again in a few minutes"
    )]
    TooManyRequests(usize),
    #[error("the IdP failed while answering: {0}")]
    Internal(String),
    #[error("IdP-initiated login is turned off for app `{0}` (allow_idp_initiated: false)")]
    IdpInitiatedOff(String),
    #[error(
        "app `{0}` is not launched from the IdP: it has no `initiate_login_uri` (Okta's \"Login initiated by: App Only\")"
    )]
    NotLaunchable(String),
    #[error("the launch URL's `{param}` is {len} bytes; fakta passes on at most {max}")]
    LaunchParamTooLong {
        param: &'static str,
        len: usize,
        max: usize,
    },
    #[error("the form has no `{0}` field")]
    MissingField(&'static str),
    #[error(
        "this login attempt is unknown or has expired; start the login again from the service provider"
    )]
    LoginExpired,
    #[error("{0}")]
    Authorize(String),
    #[error("{0}")]
    Logout(String),
    #[error("{0}")]
    LogoutResponse(#[from] crate::saml::logout::LogoutError),
    #[error("app `{app}` has an SP certificate, and {problem}")]
    LogoutResponseSignature {
        app: String,
        problem: crate::saml::logout::SignatureProblem,
    },
    #[error("app `{app}`: the LogoutResponse's InResponseTo `{in_response_to}` {problem}")]
    LogoutResponseInResponseTo {
        app: String,
        in_response_to: String,
        problem: super::state::InResponseToProblem,
    },
    #[error("the SLO request carries neither `SAMLRequest` nor `SAMLResponse`")]
    NoSamlMessage,
    #[error("the Response could not be signed: {0}")]
    Sign(#[from] SignError),
    #[error(
        "the RelayState is {0} bytes; fakta accepts at most {max} (SAML Bindings §3.4.3 and §3.5.3 say 80; fakta allows more, as SPs often exceed it)",
        max = super::sso::MAX_RELAY_STATE_BYTES
    )]
    RelayStateTooLong(usize),
}

impl IdpError {
    pub fn status(&self) -> StatusCode {
        match self {
            IdpError::UnknownApp(_)
            | IdpError::AppNameMismatch { .. }
            | IdpError::UnknownSpIssuer { .. }
            | IdpError::NoSamlApp => StatusCode::NOT_FOUND,
            IdpError::IdpInitiatedOff(_) | IdpError::NotLaunchable(_) => StatusCode::FORBIDDEN,
            IdpError::Sign(_) | IdpError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            IdpError::TooManyRequests(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl IntoResponse for IdpError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!("{self}");
        } else {
            tracing::info!("refused: {self}");
        }
        let title = match (&self, status) {
            (IdpError::Authorize(_), _) => "Bad authorization request",
            (IdpError::Logout(_), _) => "Bad logout request",
            (
                IdpError::LogoutResponse(_)
                | IdpError::LogoutResponseSignature { .. }
                | IdpError::LogoutResponseInResponseTo { .. },
                _,
            ) => "Bad logout response",
            _ => match status {
                StatusCode::NOT_FOUND => "Not found",
                StatusCode::FORBIDDEN => "Not allowed",
                StatusCode::INTERNAL_SERVER_ERROR => "IdP error",
                StatusCode::SERVICE_UNAVAILABLE => "IdP busy",
                _ => "Bad SAML request",
            },
        };
        let body = format!("<p class=\"error\">{}</p>", html::e(&self.to_string()));
        (status, Html(html::page(title, &body))).into_response()
    }
}
