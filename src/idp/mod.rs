//! The identity provider over HTTP (axum): Okta-shaped URLs for SAML apps, the login page, the
//! IdP session cookie, metadata and an index page for people.
//!
//! Protocol documents are built by `crate::saml`; this module only moves them over HTTP and
//! keeps state (sessions, pending logins).

pub mod control;
mod error;
mod html;
mod login;
pub mod oidc;
mod router;
pub mod slo;
mod sso;
mod state;
mod tokens;

pub use error::IdpError;
pub use router::app;
pub use state::{
    ForgedDiscovery, IdpSession, IdpState, InResponseToProblem, Issued, IssuedKind, StateError,
    TRIAL_COOKIE, TrialOverrides, trial_of,
};
pub use tokens::TokenStore;

/// Serves the IdP on `listener` until `shutdown` completes (axum stays inside `idp/`).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: std::sync::Arc<IdpState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// The IdP session cookie (Okta's is also called `sid`).
pub const SESSION_COOKIE: &str = "sid";
