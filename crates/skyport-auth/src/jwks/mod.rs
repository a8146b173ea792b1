//! The issuer's signing keys (a JSON Web Key Set), fetched from a URL or read from a file,
//! and cached.
//!
//! Keys are fetched at the first verification (or [`crate::JwtVerifier::prefetch`]), again
//! in the background once they are older than the refresh interval, and at once when a token
//! names a key id the cache does not hold — at most once per cool-down, so tokens with made-up
//! key ids cannot make us hammer the issuer. Only one fetch runs at a time; callers that need
//! its result wait for it (never longer than the fetch timeout), the others go on with the
//! cached keys. A failed or garbled fetch keeps the cached keys and logs a warning.
//!
//! Keys named in a token's own header (`jku`, `x5u`, `jwk`) are never used: only the
//! configured source is trusted.

mod cache;
mod keys;

use std::path::PathBuf;

pub(crate) use cache::{CachePolicy, JwksCache};
pub(crate) use keys::accepted_algorithm;

/// The largest key set read, from a URL or a file.
pub const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// Where the issuer's key set is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    /// An `http` or `https` URL (the issuer's `jwks_uri`).
    Url(String),
    /// A local file, re-read as a URL would be re-fetched.
    File(PathBuf),
}
