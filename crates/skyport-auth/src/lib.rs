//! Identity verification and quotas for skyport (being built up): so far, reading the
//! credential in an `Authorization` header, the error type every check returns, identities
//! with the scope policy that gives them rights, and skyport's own API tokens.

mod error;
mod header;
pub mod identity;
mod token;

pub use error::AuthError;
pub use header::{parse_authorization, parse_authorization_str, Credential, MAX_HEADER_BYTES};
pub use identity::{Identity, Membership, ScopePolicy};
pub use token::{parse_duration, ApiToken, NewToken, TokenError, PREFIX as API_TOKEN_PREFIX};
