//! fakta: a fake Okta. A mock SAML 2.0 / OpenID Connect identity provider driven by YAML
//! connection files, with Okta-shaped URLs and documents, and a conformance suite for service
//! providers (`fakta test`).
//!
//! From Rust tests, two entry points:
//!
//! - [`MockIdp`]: a fake Okta started in-process on a free loopback port, from a connection file
//!   ([`MockIdp::from_file`]) or a builder ([`MockIdp::builder`]); log a chosen user in without
//!   the login page ([`MockIdp::login_as`]), change the directory between logins
//!   ([`MockIdp::set_groups`]), send a Global Token Revocation ([`MockIdp::revoke`]). Dropped,
//!   it stops.
//! - [`Suite`]: the conformance trials of a connection file against your SP, with each
//!   trial's verdict and transcript ([`SuiteResults`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), fakta::Error> {
//! let idp = fakta::MockIdp::builder()
//!     .user(fakta::User::new("alice@acme.test").name("Alice").groups(["Qovery-Admins"]))
//!     .oidc_app(
//!         fakta::OidcApp::new("web", "0oa1web")
//!             .client_secret("test-secret")
//!             .redirect_uri("http://127.0.0.1:7100/callback"),
//!     )
//!     .start()
//!     .await?;
//! idp.login_as("alice@acme.test")?;
//! // Point the SP under test at idp.discovery_url(), log in through it, check its session.
//! # Ok(()) }
//! ```
//!
//! The other modules are the binary's and the crate's own tests': hidden, and not a stable
//! interface. See ARCHITECTURE.md for the map of the crate and its invariants.
#![deny(unsafe_code)]
#![warn(missing_docs)]
// Library code handles every failure; tests may unwrap.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod mock;
mod suite;

pub use config::{Diagnostic, Diagnostics, Severity};
pub use mock::{Error, MockIdp, MockIdpBuilder, OidcApp, Revoked, SamlApp, User};
pub use suite::{FailureKind, Suite, SuiteResults, TrialResult, Verdict};

// The crate's internals: public for the binary, the benches and the integration tests in
// tests/, which reach into them; not part of the documented interface.
#[doc(hidden)]
pub mod browser;
#[doc(hidden)]
pub mod catalogue;
#[doc(hidden)]
pub mod cli;
#[doc(hidden)]
pub mod clock;
#[doc(hidden)]
pub mod config;
#[doc(hidden)]
pub mod directory;
pub(crate) mod ffi;
#[doc(hidden)]
pub mod flavor;
#[doc(hidden)]
pub mod idp;
#[doc(hidden)]
pub mod keys;
#[doc(hidden)]
pub mod oidc;
#[doc(hidden)]
pub mod redact;
#[doc(hidden)]
pub mod refsp;
#[doc(hidden)]
pub mod revocation;
#[doc(hidden)]
pub mod runner;
#[doc(hidden)]
pub mod saml;
#[doc(hidden)]
pub mod serving;
#[doc(hidden)]
pub mod tls;
