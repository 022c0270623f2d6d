//! Pure SAML 2.0: AuthnRequest decoding and checking, Response/Assertion building and signing,
//! IdP metadata, the HTTP-Redirect and HTTP-POST bindings.
//!
//! Architecture invariant: nothing here does I/O or reads the clock or a random source; instants
//! and identifiers come in as arguments, so every document is reproducible in tests.

pub mod authn_request;
pub mod binding;
pub mod c14n;
pub mod encrypt;
pub mod faults;
pub mod logout;
pub mod metadata;
pub mod ns;
pub mod response;
pub mod signature;
pub mod sp_metadata;
pub mod untrusted;
pub mod xml;
