//! Identity verification and quotas for skyport.
//!
//! What this crate does:
//!
//! - reads the credential in an `Authorization` header, `Bearer` or `Basic` with the token as
//!   the password ([`parse_authorization`]);
//! - verifies JWTs from an OpenID Connect issuer against its published keys (JWKS), which it
//!   fetches, caches and refreshes, and turns their claims into an [`Identity`] with Rubin
//!   Gafaelfawr's group memberships and scopes ([`JwtVerifier`]);
//! - decides which scopes an identity has under a configured [`ScopePolicy`];
//! - makes and checks skyport's own API tokens for robots, `skp_<key>.<secret>`
//!   ([`ApiToken`]), and reads their lifetimes ([`parse_duration`]);
//! - counts requests per minute and requests in flight per key ([`RateLimiter`],
//!   [`ConcurrencyLimiter`]);
//! - with the `testing` feature, plays a real issuer for test suites (the `testing` module).
//!
//! What it deliberately does not do, because it is the server's:
//!
//! - store API tokens: the server keeps each token's key, secret hash, owner, scopes and
//!   expiry in its database and calls [`ApiToken::verify_secret`];
//! - speak HTTP: there is no web framework here. Errors say which status they mean
//!   ([`AuthError::http_status`]) and rate decisions carry the numbers for `Retry-After` and
//!   `X-RateLimit-*`, but writing responses, challenges and headers is the server's job;
//! - decide which keys quotas are counted under, or what limits apply to whom.
//!
//! Nothing in here panics on input from a request; sizes are bounded before anything is
//! decoded, and every map that grows with client input is capped.

mod claims;
mod error;
mod header;
pub mod identity;
mod jwks;
mod jwt;
pub mod quota;
#[cfg(feature = "testing")]
pub mod testing;
mod token;

pub use claims::{MAX_GROUPS, MAX_NAME_CHARS};
pub use error::AuthError;
pub use header::{parse_authorization, parse_authorization_str, Credential, MAX_HEADER_BYTES};
pub use identity::{Identity, Membership, ScopePolicy};
pub use jwks::{JwksSource, MAX_JWKS_BYTES};
pub use jwt::{JwtSettings, JwtVerifier, SettingsError, MAX_LEEWAY_SECONDS, MAX_TOKEN_BYTES};
pub use quota::{ConcurrencyGuard, ConcurrencyLimiter, RateDecision, RateLimiter};
pub use token::{parse_duration, ApiToken, NewToken, TokenError, PREFIX as API_TOKEN_PREFIX};
