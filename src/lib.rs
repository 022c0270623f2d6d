//! fakta: a fake Okta. A mock SAML 2.0 identity provider driven by YAML connection files, with
//! Okta-shaped URLs and documents, signing keys that survive restarts, and the checks a
//! conformance suite needs.
//!
//! See ARCHITECTURE.md for the map of the crate and its invariants.
#![deny(unsafe_code)]
// Library code handles every failure; tests may unwrap.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub mod browser;
pub mod catalogue;
pub mod cli;
pub mod clock;
pub mod config;
pub mod directory;
pub(crate) mod ffi;
pub mod idp;
pub mod keys;
pub mod oidc;
pub mod redact;
pub mod refsp;
pub mod revocation;
pub mod runner;
pub mod saml;
pub mod serving;
pub mod tls;
