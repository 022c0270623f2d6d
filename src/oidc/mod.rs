//! Pure OpenID Connect: discovery, authorization requests, PKCE, client authentication, token
//! claims, JWT signing, JWKS and OAuth error documents.
//!
//! Architecture invariant: nothing here does I/O or reads the clock or a random source; the
//! HTTP side is `crate::idp::oidc`.

pub mod assertion;
pub mod authorize;
pub mod client_auth;
pub mod discovery;
pub mod error;
pub mod faults;
pub mod jwks;
pub mod jwt;
pub mod logout;
pub mod params;
pub mod pkce;
pub mod tokens;

/// An app's grant types as the file spells them, for error messages.
pub fn grant_names(grants: &[crate::config::GrantType]) -> String {
    grants
        .iter()
        .map(|g| g.name())
        .collect::<Vec<_>>()
        .join(", ")
}
