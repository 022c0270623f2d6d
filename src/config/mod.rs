//! Connection files: the YAML model of an IdP, its directory and apps, the SP under test, the
//! expectations and the scenarios.

mod chars;
mod diag;
mod files;
mod lint;
mod load;
mod model;
mod reader;
mod schema;
mod tree;
mod yaml;

pub use diag::{Diagnostic, Diagnostics, Severity};
pub use files::{
    FETCH_TIMEOUT, FetchError, FileError, MAX_REFERENCED_FILE_BYTES, fetch_http, read_capped,
    read_certificate, read_private_key,
};
pub(crate) use load::drop_aside;
pub use load::{MAX_FILE_BYTES, load_file, load_str, read_sp_metadata};
pub use model::*;
pub use reader::Pos;
pub use schema::SCHEMA;
pub use yaml::MAX_BLOCK_DEPTH;
