//! The conformance runner: a browser that drives the SP as a person would, the role oracle, the
//! trials of a connection file (its scenarios and the generated role matrix), failure
//! transcripts, libtest output and JUnit.
//!
//! Architecture invariant: only this module knows reqwest and scraper (`transport` drives
//! `crate::browser` for `--browser chromium`); it never calls an SP's
//! internals, only its URLs; its role oracle shares no code with `refsp`.

pub mod binding;
pub mod browser;
pub mod exec;
pub mod fetch;
pub mod handover;
pub mod logout;
pub mod oracle;
pub mod partition;
pub mod plan;
pub mod report;
pub mod revoke;
pub mod sp;
pub mod transcript;
pub mod transport;
pub mod verdict;

pub use report::{Bound, Options, Pack, RunError, run};
