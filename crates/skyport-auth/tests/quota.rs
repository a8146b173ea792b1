//! Quotas under hostile load, with an injected clock so nothing sleeps.

use std::fmt::Write;
use std::time::{Duration, Instant};

use skyport_auth::{ConcurrencyLimiter, RateLimiter};

#[test]
fn a_million_distinct_keys_stay_under_the_cap() {
    let cap = 10_000;
    let limiter = RateLimiter::new(cap);
    let t0 = Instant::now();
    // A key tracked before the flood.
    assert!(limiter.check_at("user:alice|tap", 2, t0).allowed);
    let mut key = String::new();
    let mut allowed = 0usize;
    for i in 0..1_000_000u32 {
        key.clear();
        let _ = write!(key, "addr:{i}|tap");
        // A second for the whole flood, and a limit of one a minute: no key expires during
        // it, so only the cap keeps the map small.
        let now = t0 + Duration::from_micros(u64::from(i));
        if limiter.check_at(&key, 1, now).allowed {
            allowed += 1;
        }
        if i % 100_000 == 0 {
            assert!(
                limiter.tracked_keys() <= cap,
                "{} keys at {i}",
                limiter.tracked_keys()
            );
        }
    }
    assert!(
        limiter.tracked_keys() <= cap,
        "{} keys",
        limiter.tracked_keys()
    );
    // Beyond the tracked keys, newcomers shared one request a minute per shard (16 shards).
    assert!(allowed <= cap + 16, "{allowed} allowed");
    // The key tracked before the flood kept its own allowance: one more request.
    let end = t0 + Duration::from_secs(1);
    assert!(limiter.check_at("user:alice|tap", 2, end).allowed);
    assert!(!limiter.check_at("user:alice|tap", 2, end).allowed);
}

#[test]
fn a_flood_at_one_instant_shares_the_overflow_allowance() {
    let cap = 1_600;
    let limiter = RateLimiter::new(cap);
    let now = Instant::now();
    let mut allowed = 0usize;
    for i in 0..200_000u32 {
        if limiter.check_at(&format!("addr:{i}|tap"), 5, now).allowed {
            allowed += 1;
        }
    }
    assert!(limiter.tracked_keys() <= cap);
    // The tracked keys got one request each; all others shared 5 per shard (16 shards).
    assert!(allowed <= cap + 16 * 5, "{allowed}");
}

#[test]
fn concurrency_slots_free_and_the_map_empties() {
    let limiter = ConcurrencyLimiter::new();
    let guards: Vec<_> = (0..1_000)
        .map(|i| {
            limiter
                .try_acquire(&format!("addr:{i}|tap"), 1)
                .expect("slot")
        })
        .collect();
    assert_eq!(limiter.tracked_keys(), 1_000);
    assert!(limiter.try_acquire("addr:0|tap", 1).is_none());
    drop(guards);
    assert_eq!(limiter.tracked_keys(), 0);
}
