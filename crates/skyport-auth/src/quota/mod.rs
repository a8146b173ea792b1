//! Request quotas after Gafaelfawr's model: a rate per minute and a number of requests in
//! flight, each per key.
//!
//! The server builds the keys (`"user:NAME|service"` for a signed-in user, `"addr:IP|service"`
//! for an anonymous one) and passes the limit with each call, since group membership can raise
//! it. Both limiters are pure bookkeeping: they take the time as an argument where it matters
//! (with wrappers that read the clock), and know nothing of HTTP.

mod concurrency;
mod rate;

pub use concurrency::{ConcurrencyGuard, ConcurrencyLimiter};
pub use rate::{RateDecision, RateLimiter, DEFAULT_MAX_KEYS};

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Takes a lock even if a thread panicked while holding it: the maps hold plain counters and
/// times that are consistent after any single update, so refusing service would help no one.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
