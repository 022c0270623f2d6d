//! Connection files: the YAML model of an IdP, its directory and apps, the SP under test, the
//! expectations and the scenarios.

mod diag;
mod lint;
mod load;
mod model;
mod reader;
mod yaml;

pub use diag::{Diagnostic, Diagnostics, Severity};
pub use load::{MAX_FILE_BYTES, load_file, load_str};
pub use model::*;
pub use reader::Pos;
