//! Identity verification and quotas for skyport (being built up): so far, reading the
//! credential in an `Authorization` header, the error type every check returns, and
//! identities with the scope policy that gives them rights.

mod error;
mod header;
pub mod identity;

pub use error::AuthError;
pub use header::{parse_authorization, parse_authorization_str, Credential, MAX_HEADER_BYTES};
pub use identity::{Identity, Membership, ScopePolicy};
