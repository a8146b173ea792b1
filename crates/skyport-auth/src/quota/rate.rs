//! Requests per minute, per key, with the generic cell rate algorithm (GCRA).
//!
//! GCRA keeps one instant per key, the "theoretical arrival time" (TAT): when the key's
//! allowance would be fully used up if requests had come evenly. Each request moves it one
//! emission interval (a minute divided by the limit) later, and is allowed if that leaves it
//! no more than a minute ahead of now. A fresh key can thus burst its whole limit, then gets
//! one more request each interval: no edge at a window boundary where twice the limit passes.
//! A key whose TAT has passed is in the same state as an unknown one, so it can be forgotten;
//! that is what keeps memory bounded.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::lock;

/// The window every limit is counted over.
const PERIOD: Duration = Duration::from_secs(60);
/// Shards, so concurrent requests for different keys rarely wait on the same lock.
const SHARDS: usize = 16;
/// Every this many calls a shard forgets its keys whose allowance has fully come back.
const PURGE_EVERY: u32 = 1024;
/// After a purge that freed nothing for a shard at its cap, do not scan again for this long:
/// a flood of new keys must not make every call scan the whole shard.
const PURGE_BACKOFF: Duration = Duration::from_secs(1);
/// The furthest behind a lowered limit can leave a key: refused for ten minutes at most.
const MAX_BACKLOG: Duration = Duration::from_secs(600);
/// How many keys a [`RateLimiter`] tracks by default.
pub const DEFAULT_MAX_KEYS: usize = 100_000;

/// The outcome of one [`RateLimiter::check`], with what the `Retry-After` and
/// `X-RateLimit-*` response headers need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    /// Whether the request may go ahead (it has been counted if so).
    pub allowed: bool,
    /// The limit this decision was made against, per minute (`X-RateLimit-Limit`).
    pub limit: u32,
    /// How many more requests would be allowed right now (`X-RateLimit-Remaining`).
    pub remaining: u32,
    /// Seconds until the whole allowance has come back (`X-RateLimit-Reset`, as a delta).
    pub reset_seconds: u64,
    /// When refused, seconds until one request will be allowed again (`Retry-After`, at
    /// least 1).
    pub retry_after_seconds: Option<u64>,
}

/// Counts requests per key against a per-minute limit given with each call.
///
/// Memory is bounded: keys whose allowance has fully come back are purged every
/// 1,024 calls per shard, and at most `max_keys` are tracked. When the cap is
/// reached and a purge frees nothing, a *new* key is not tracked on its own: all such keys in
/// a shard share one overflow allowance, against the limit of each call. That is the
/// conservative choice — under a flood of distinct keys (spoofed addresses, invented user
/// names) newcomers are throttled together rather than each getting a full allowance — while
/// keys already tracked keep theirs.
///
/// Cost: one hash of the key and one short lock per call, no allocation for a key already
/// tracked; the purge scan is amortised to a few entries per call (see the
/// `a_check_is_cheap` test).
#[derive(Debug)]
pub struct RateLimiter {
    shards: Vec<Mutex<Shard>>,
    hasher: RandomState,
    shard_cap: usize,
}

/// A key's state: its theoretical arrival time, and the limit it was computed under.
#[derive(Debug, Clone, Copy)]
struct Tat {
    at: Instant,
    limit: u32,
}

#[derive(Debug, Default)]
struct Shard {
    tats: HashMap<String, Tat>,
    /// The shared allowance of new keys while the shard is full.
    overflow: Option<Tat>,
    calls: u32,
    no_purge_until: Option<Instant>,
}

impl Default for RateLimiter {
    fn default() -> Self {
        RateLimiter::new(DEFAULT_MAX_KEYS)
    }
}

impl RateLimiter {
    /// A limiter that tracks at most about `max_keys` keys (rounded to a multiple of the
    /// number of shards, at least one per shard).
    pub fn new(max_keys: usize) -> Self {
        RateLimiter {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            hasher: RandomState::new(),
            shard_cap: (max_keys / SHARDS).max(1),
        }
    }

    /// Counts a request for `key` now, against `limit` requests per minute.
    pub fn check(&self, key: &str, limit: u32) -> RateDecision {
        self.check_at(key, limit, Instant::now())
    }

    /// Counts a request for `key` at `now`, against `limit` requests per minute. A limit of
    /// zero refuses everything.
    pub fn check_at(&self, key: &str, limit: u32, now: Instant) -> RateDecision {
        if limit == 0 {
            return RateDecision {
                allowed: false,
                limit,
                remaining: 0,
                reset_seconds: PERIOD.as_secs(),
                retry_after_seconds: Some(PERIOD.as_secs()),
            };
        }
        let index = self.shard_index(key);
        let mut shard = lock(&self.shards[index]);
        shard.calls = shard.calls.wrapping_add(1);
        if shard.calls.is_multiple_of(PURGE_EVERY) {
            shard.purge(now);
        }
        if let Some(tat) = shard.tats.get_mut(key) {
            let (decision, next) = gcra(Some(*tat), limit, now);
            *tat = next;
            return decision;
        }
        if shard.tats.len() >= self.shard_cap && !shard.try_purge_when_full(now) {
            let (decision, next) = gcra(shard.overflow, limit, now);
            shard.overflow = Some(next);
            return decision;
        }
        let (decision, next) = gcra(None, limit, now);
        // A refused request changes nothing, and an allowed one always leaves the TAT in the
        // future, so a new key is only stored when it has used some allowance.
        if decision.allowed {
            shard.tats.insert(key.to_owned(), next);
        }
        decision
    }

    /// How many keys are tracked now (for tests and metrics).
    pub fn tracked_keys(&self) -> usize {
        self.shards.iter().map(|s| lock(s).tats.len()).sum()
    }

    fn shard_index(&self, key: &str) -> usize {
        // `SHARDS` is small, so the modulo fits in usize whatever the hash.
        (self.hasher.hash_one(key) % SHARDS as u64) as usize
    }
}

impl Shard {
    /// Forgets keys whose allowance has fully come back by `now`.
    fn purge(&mut self, now: Instant) {
        self.tats.retain(|_, tat| tat.at > now);
        if self.overflow.is_some_and(|tat| tat.at <= now) {
            self.overflow = None;
        }
    }

    /// Purges a full shard unless a recent purge freed nothing; tells whether there is now
    /// room for a new key.
    fn try_purge_when_full(&mut self, now: Instant) -> bool {
        if self.no_purge_until.is_some_and(|until| now < until) {
            return false;
        }
        let before = self.tats.len();
        self.purge(now);
        if self.tats.len() == before {
            self.no_purge_until = now.checked_add(PURGE_BACKOFF);
            false
        } else {
            self.no_purge_until = None;
            true
        }
    }
}

/// One GCRA step: the decision for a request at `now` given the key's state (`None` for a
/// new key), and the state to keep afterwards.
fn gcra(tat: Option<Tat>, limit: u32, now: Instant) -> (RateDecision, Tat) {
    let interval = PERIOD / limit;
    // How far ahead of now the allowance is used up; zero for a fresh or idle key.
    let mut backlog = tat.map_or(Duration::ZERO, |t| t.at.saturating_duration_since(now));
    if let Some(previous) = tat.filter(|t| t.limit != limit && t.limit != 0) {
        // The limit changed (a group raised it, say): keep the share of the allowance used,
        // not the time, or a raised limit would start out further behind.
        // Integer arithmetic cannot panic; a steep cut is capped at MAX_BACKLOG.
        let scaled = backlog.as_nanos() * u128::from(previous.limit) / u128::from(limit);
        backlog = Duration::from_nanos(u64::try_from(scaled).unwrap_or(u64::MAX)).min(MAX_BACKLOG);
    }
    let after = backlog + interval;
    if after <= PERIOD {
        let remaining = (PERIOD - after).as_nanos() / interval.as_nanos().max(1);
        let decision = RateDecision {
            allowed: true,
            limit,
            remaining: u32::try_from(remaining).unwrap_or(limit),
            reset_seconds: ceil_seconds(after),
            retry_after_seconds: None,
        };
        let at = now.checked_add(after).unwrap_or(now);
        (decision, Tat { at, limit })
    } else {
        let decision = RateDecision {
            allowed: false,
            limit,
            remaining: 0,
            reset_seconds: ceil_seconds(backlog),
            retry_after_seconds: Some(ceil_seconds(after - PERIOD).max(1)),
        };
        let at = now.checked_add(backlog).unwrap_or(now);
        (decision, Tat { at, limit })
    }
}

fn ceil_seconds(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn n_allowed_then_refused_with_retry_after() {
        let limiter = RateLimiter::default();
        let t0 = Instant::now();
        for i in 0..3 {
            let d = limiter.check_at("user:a|tap", 3, t0);
            assert!(d.allowed, "request {i}");
            assert_eq!(d.remaining, 2 - i);
            assert_eq!(d.limit, 3);
            assert_eq!(d.retry_after_seconds, None);
        }
        let refused = limiter.check_at("user:a|tap", 3, t0);
        assert!(!refused.allowed);
        assert_eq!(refused.remaining, 0);
        // One request comes back every 20 s; the whole allowance after a minute.
        assert_eq!(refused.retry_after_seconds, Some(20));
        assert_eq!(refused.reset_seconds, 60);
        // Just before the retry time: still refused; at it: allowed, and nothing more.
        let almost = limiter.check_at("user:a|tap", 3, t0 + Duration::from_millis(19_900));
        assert!(!almost.allowed);
        assert_eq!(almost.retry_after_seconds, Some(1));
        let later = t0 + Duration::from_secs(20);
        assert!(limiter.check_at("user:a|tap", 3, later).allowed);
        assert!(!limiter.check_at("user:a|tap", 3, later).allowed);
    }

    #[test]
    fn allowance_comes_back_after_a_minute() {
        let limiter = RateLimiter::default();
        let t0 = Instant::now();
        for _ in 0..60 {
            assert!(limiter.check_at("k", 60, t0).allowed);
        }
        assert!(!limiter.check_at("k", 60, t0).allowed);
        let t1 = t0 + Duration::from_secs(60);
        let fresh = limiter.check_at("k", 60, t1);
        assert!(fresh.allowed);
        assert_eq!(fresh.remaining, 59);
        for _ in 0..59 {
            assert!(limiter.check_at("k", 60, t1).allowed);
        }
        assert!(!limiter.check_at("k", 60, t1).allowed);
    }

    #[test]
    fn keys_are_independent_and_limits_per_call() {
        let limiter = RateLimiter::default();
        let t0 = Instant::now();
        assert!(limiter.check_at("addr:10.0.0.1|tap", 1, t0).allowed);
        assert!(!limiter.check_at("addr:10.0.0.1|tap", 1, t0).allowed);
        assert!(limiter.check_at("addr:10.0.0.2|tap", 1, t0).allowed);
        assert!(limiter.check_at("addr:10.0.0.1|sia", 1, t0).allowed);
        // A group raises the limit: the one request used is now a tenth of the allowance.
        let raised = limiter.check_at("addr:10.0.0.1|tap", 10, t0);
        assert!(raised.allowed);
        assert_eq!(raised.remaining, 8);
        // Lowered back, the two requests are twice the allowance: refused for two minutes.
        let lowered = limiter.check_at("addr:10.0.0.1|tap", 1, t0);
        assert!(!lowered.allowed);
        assert_eq!(lowered.retry_after_seconds, Some(120));
    }

    #[test]
    fn zero_limit_refuses() {
        let limiter = RateLimiter::default();
        let d = limiter.check("k", 0);
        assert!(!d.allowed);
        assert_eq!(d.retry_after_seconds, Some(60));
        assert_eq!(limiter.tracked_keys(), 0);
    }

    #[test]
    fn idle_keys_are_purged() {
        let limiter = RateLimiter::new(1_000_000);
        let t0 = Instant::now();
        for i in 0..5_000 {
            limiter.check_at(&format!("k{i}"), 10, t0);
        }
        assert_eq!(limiter.tracked_keys(), 5_000);
        // A minute on, every allowance is back. Traffic on enough keys to reach every shard
        // more than PURGE_EVERY times makes each forget the idle ones.
        let t1 = t0 + PERIOD;
        let busy: Vec<String> = (0..1_024).map(|i| format!("busy{i}")).collect();
        for _ in 0..(PURGE_EVERY as usize * SHARDS * 2 / busy.len()) {
            for key in &busy {
                limiter.check_at(key, 1_000_000, t1);
            }
        }
        assert!(
            limiter.tracked_keys() <= busy.len(),
            "{}",
            limiter.tracked_keys()
        );
    }

    #[test]
    fn a_full_limiter_throttles_newcomers_together() {
        let limiter = RateLimiter::new(SHARDS); // one key per shard
        let t0 = Instant::now();
        let mut allowed = 0;
        for i in 0..1_000 {
            if limiter.check_at(&format!("new{i}"), 5, t0).allowed {
                allowed += 1;
            }
        }
        assert!(limiter.tracked_keys() <= SHARDS);
        // Each shard tracks one key (its one request went through) and shares an allowance of
        // 5 among all later newcomers.
        assert!(allowed <= SHARDS * 6, "{allowed}");
        // Once the tracked keys' allowance is back, a purge makes room again.
        let t1 = t0 + PERIOD + PURGE_BACKOFF;
        assert!(limiter.check_at("late", 5, t1).allowed);
    }

    #[test]
    fn a_check_is_cheap() {
        let limiter = RateLimiter::default();
        let keys: Vec<String> = (0..1_000).map(|i| format!("user:u{i}|tap")).collect();
        let start = Instant::now();
        let rounds = 100;
        for _ in 0..rounds {
            for key in &keys {
                limiter.check(key, 1_000_000);
            }
        }
        let per_call = start.elapsed() / (rounds * keys.len() as u32);
        // About 0.1 µs in release and well under 2 µs in a debug build; the bound is loose
        // so a busy machine does not fail it, yet catches an accidental O(keys) step.
        assert!(
            per_call < Duration::from_micros(50),
            "{per_call:?} per check"
        );
    }
}
