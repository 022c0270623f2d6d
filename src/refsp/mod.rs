//! The reference service provider: Qovery-style role rules, strict SAML and OIDC validation,
//! Global Token Revocation, SLO and back-channel logout receivers, and switchable flaws.
//!
//! Architecture invariant: nothing here imports `crate::runner` (in particular not its role
//! oracle): the reference SP is an independent implementation of the SP rules.

pub mod flaws;
pub mod http;
pub mod jwt;
pub mod oidc;
pub mod revocation;
pub mod roles;
pub mod saml;
pub mod server;
pub mod state;

pub use flaws::{Flaw, Flaws};
pub use server::{Restartable, app};
pub use state::{SpError, SpState};

/// Serves the reference SP on `listener` until `shutdown` completes, within `limits`
/// (`crate::serving`). axum stays inside `refsp/`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: std::sync::Arc<SpState>,
    limits: crate::serving::Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    crate::serving::serve(listener, app(state), limits, shutdown).await
}
