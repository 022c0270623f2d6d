//! The identity provider over HTTP (axum): Okta-shaped URLs for SAML apps, the login page, the
//! IdP session cookie, metadata, and for people an index page (Okta's "Sign On" tab of every
//! app) and an inspector of the documents received and issued.
//!
//! Protocol documents are built by `crate::saml`; this module only moves them over HTTP and
//! keeps state (sessions, pending logins).

mod app_saml;
mod bounded;
pub mod control;
mod cors;
mod error;
pub mod export;
mod graph;
mod html;
pub mod index;
pub mod inspect;
mod login;
pub mod oidc;
mod okta_api;
pub mod post_message;
mod router;
pub mod slo;
mod sso;
mod state;
mod tenant_saml;
mod tokens;

pub use error::IdpError;
pub use router::app;
pub use state::{
    ForgedDiscovery, IdpSession, IdpState, InResponseToProblem, Issued, IssuedKind,
    MAX_SEEN_REQUESTS, REQUEST_LIFETIME, REQUEST_SKEW, RefreshUse, RequestUse, StateError,
    TRIAL_COOKIE, TrialOverrides, trial_of,
};
pub use tokens::TokenStore;

/// Serves the IdP on `listener` until `shutdown` completes, within `limits` (timeouts,
/// connection cap, bounded graceful shutdown: `crate::serving`). axum stays inside `idp/`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: std::sync::Arc<IdpState>,
    limits: crate::serving::Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    crate::serving::serve(listener, app(state), limits, shutdown).await
}

/// [`serve`], over TLS when `tls` is given (an `https` base URL: `crate::tls`).
pub async fn serve_maybe_tls(
    listener: tokio::net::TcpListener,
    state: std::sync::Arc<IdpState>,
    tls: Option<std::sync::Arc<openssl::ssl::SslAcceptor>>,
    limits: crate::serving::Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    crate::serving::serve_maybe_tls(listener, tls, app(state), limits, shutdown).await
}

/// Runs a handler's work on tokio's blocking pool: signature checks (RSA, libxmlsec1) and
/// signing never hold one of the few async workers, so slow or many of them cannot stall the
/// IdP's other requests.
async fn off_the_workers<F>(work: F) -> Result<axum::response::Response, IdpError>
where
    F: FnOnce() -> Result<axum::response::Response, IdpError> + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| IdpError::Internal(e.to_string()))?
}

/// The IdP session cookie (Okta's is also called `sid`).
pub const SESSION_COOKIE: &str = "sid";

/// The `Set-Cookie` value that ends the IdP session cookie in the browser (sign-out, SLO,
/// end_session, `DELETE /api/v1/sessions/me`).
fn expired_session_cookie() -> String {
    format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")
}
