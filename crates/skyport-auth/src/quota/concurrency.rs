//! Requests in flight, per key.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::lock;

/// Allows at most a given number of requests at once per key.
///
/// A key's entry exists only while it has requests in flight — it is removed when the last
/// guard is dropped — so memory is bounded by the number of requests the server is serving,
/// whatever keys clients invent. Cloning gives another handle on the same counts.
#[derive(Debug, Clone, Default)]
pub struct ConcurrencyLimiter {
    counts: Arc<Mutex<HashMap<String, u32>>>,
}

/// One request in flight; dropping it (when the response is done) frees the slot.
#[derive(Debug)]
#[must_use = "the slot is freed as soon as the guard is dropped"]
pub struct ConcurrencyGuard {
    counts: Arc<Mutex<HashMap<String, u32>>>,
    key: String,
}

impl ConcurrencyLimiter {
    /// A limiter with nothing in flight.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes a slot for `key` if fewer than `limit` are taken, or `None` if the key is at its
    /// limit (a limit of zero refuses everything).
    pub fn try_acquire(&self, key: &str, limit: u32) -> Option<ConcurrencyGuard> {
        let mut counts = lock(&self.counts);
        match counts.get_mut(key) {
            Some(count) if *count >= limit => return None,
            Some(count) => *count += 1,
            None if limit == 0 => return None,
            None => {
                counts.insert(key.to_owned(), 1);
            }
        }
        Some(ConcurrencyGuard {
            counts: Arc::clone(&self.counts),
            key: key.to_owned(),
        })
    }

    /// How many requests for `key` are in flight.
    pub fn in_flight(&self, key: &str) -> u32 {
        lock(&self.counts).get(key).copied().unwrap_or(0)
    }

    /// How many keys have requests in flight (for tests and metrics).
    pub fn tracked_keys(&self) -> usize {
        lock(&self.counts).len()
    }
}

impl ConcurrencyGuard {
    /// The key this slot counts against.
    pub fn key(&self) -> &str {
        &self.key
    }
}

impl Drop for ConcurrencyGuard {
    fn drop(&mut self) {
        let mut counts = lock(&self.counts);
        if let Some(count) = counts.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn n_slots_then_refused_and_drop_frees() {
        let limiter = ConcurrencyLimiter::new();
        let guards: Vec<_> = (0..3)
            .map(|_| limiter.try_acquire("user:a|tap", 3).expect("slot"))
            .collect();
        assert!(limiter.try_acquire("user:a|tap", 3).is_none());
        assert_eq!(limiter.in_flight("user:a|tap"), 3);
        // Another key is not affected.
        let other = limiter.try_acquire("user:b|tap", 1).expect("slot");
        assert_eq!(other.key(), "user:b|tap");
        let mut guards = guards.into_iter();
        drop(guards.next());
        assert!(limiter.try_acquire("user:a|tap", 3).is_some());
        drop(guards);
        drop(other);
        assert_eq!(limiter.tracked_keys(), 0);
        assert_eq!(limiter.in_flight("user:a|tap"), 0);
    }

    #[test]
    fn zero_limit_and_lowered_limit() {
        let limiter = ConcurrencyLimiter::new();
        assert!(limiter.try_acquire("k", 0).is_none());
        assert_eq!(limiter.tracked_keys(), 0);
        let _a = limiter.try_acquire("k", 5).expect("slot");
        let _b = limiter.try_acquire("k", 5).expect("slot");
        // A lower limit on the next call counts the slots already taken.
        assert!(limiter.try_acquire("k", 2).is_none());
    }

    #[test]
    fn guards_work_across_threads() {
        let limiter = ConcurrencyLimiter::new();
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let limiter = limiter.clone();
                std::thread::spawn(move || {
                    for _ in 0..1_000 {
                        if let Some(guard) = limiter.try_acquire("shared", 4) {
                            assert!(limiter.in_flight("shared") <= 4);
                            drop(guard);
                        }
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().expect("thread");
        }
        assert_eq!(limiter.tracked_keys(), 0);
    }
}
