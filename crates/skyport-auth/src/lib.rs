//! Identity verification and quotas for skyport (being built up): so far, reading the
//! credential in an `Authorization` header and the error type every check returns.

mod error;
mod header;

pub use error::AuthError;
pub use header::{parse_authorization, parse_authorization_str, Credential, MAX_HEADER_BYTES};
