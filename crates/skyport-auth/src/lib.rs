//! Identity verification and quotas for skyport (being built up): so far, reading the
//! credential in an `Authorization` header, the error type every check returns, identities
//! with the scope policy that gives them rights, skyport's own API tokens, and request quotas.

mod error;
mod header;
pub mod identity;
pub mod quota;
mod token;

pub use error::AuthError;
pub use header::{parse_authorization, parse_authorization_str, Credential, MAX_HEADER_BYTES};
pub use identity::{Identity, Membership, ScopePolicy};
pub use quota::{ConcurrencyGuard, ConcurrencyLimiter, RateDecision, RateLimiter};
pub use token::{parse_duration, ApiToken, NewToken, TokenError, PREFIX as API_TOKEN_PREFIX};
