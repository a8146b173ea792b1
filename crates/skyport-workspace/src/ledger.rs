//! Quotas: how many bytes and entries each user's tree holds, against their limits.
//!
//! A tree is measured by walking it (at most every [`REMEASURE`], and after anything changed
//! it); uploads in progress are counted as they arrive, before they reach the tree, so that
//! several at once cannot together pass the limit. The measure is per server: servers sharing
//! one workspace directory each measure it, and may together overshoot by what is in flight.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use dav_server::fs::FsError;
use serde::Serialize;

/// How long a measure of a tree is trusted when nothing changed it through this server.
pub const REMEASURE: Duration = Duration::from_secs(30);

/// Every user's account.
pub struct Ledger {
    quota_bytes: u64,
    quota_entries: u64,
    users: Mutex<HashMap<String, Arc<UserLedger>>>,
}

/// What a user keeps, against their quota (0: no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// Bytes of files, with uploads in progress.
    pub bytes: u64,
    /// Files and directories.
    pub entries: u64,
    /// The most bytes they may keep.
    pub quota_bytes: u64,
    /// The most entries they may keep.
    pub quota_entries: u64,
}

impl Ledger {
    /// Accounts held to these limits (0: none).
    pub fn new(quota_bytes: u64, quota_entries: u64) -> Ledger {
        Ledger {
            quota_bytes,
            quota_entries,
            users: Mutex::new(HashMap::new()),
        }
    }

    /// `owner`'s account.
    pub fn user(&self, owner: &str) -> Arc<UserLedger> {
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(users.entry(owner.to_string()).or_insert_with(|| {
            Arc::new(UserLedger {
                quota_bytes: self.quota_bytes,
                quota_entries: self.quota_entries,
                state: Mutex::new(State::default()),
            })
        }))
    }
}

/// One user's account.
pub struct UserLedger {
    quota_bytes: u64,
    quota_entries: u64,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    measured: Option<Measured>,
    /// Bytes of uploads in progress.
    pending: u64,
    /// Entries made since the last measure.
    created: u64,
}

#[derive(Clone, Copy)]
struct Measured {
    bytes: u64,
    entries: u64,
    at: Instant,
}

impl UserLedger {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn measured(state: &mut State, tree: &Path) -> std::io::Result<Measured> {
        match state.measured {
            Some(m) if m.at.elapsed() < REMEASURE => Ok(m),
            _ => {
                let (bytes, entries) = measure(tree)?;
                let m = Measured {
                    bytes,
                    entries,
                    at: Instant::now(),
                };
                state.measured = Some(m);
                state.created = 0;
                Ok(m)
            }
        }
    }

    /// What the tree at `tree` holds now.
    pub fn usage(&self, tree: &Path) -> std::io::Result<Usage> {
        let mut state = self.lock();
        let m = Self::measured(&mut state, tree)?;
        Ok(Usage {
            bytes: m.bytes + state.pending,
            entries: m.entries + state.created,
            quota_bytes: self.quota_bytes,
            quota_entries: self.quota_entries,
        })
    }

    /// Whether `bytes` more fit (nothing is counted).
    pub(crate) fn check(&self, tree: &Path, bytes: u64) -> Result<(), FsError> {
        let mut state = self.lock();
        let m = Self::measured(&mut state, tree).map_err(|_| FsError::GeneralFailure)?;
        if self.quota_bytes > 0 && m.bytes + state.pending + bytes > self.quota_bytes {
            return Err(FsError::InsufficientStorage);
        }
        Ok(())
    }

    /// Counts `bytes` of an upload in progress, if they fit.
    pub(crate) fn reserve(&self, tree: &Path, bytes: u64) -> Result<(), FsError> {
        let mut state = self.lock();
        let m = Self::measured(&mut state, tree).map_err(|_| FsError::GeneralFailure)?;
        if self.quota_bytes > 0 && m.bytes + state.pending + bytes > self.quota_bytes {
            return Err(FsError::InsufficientStorage);
        }
        state.pending += bytes;
        Ok(())
    }

    /// Counts one new file or directory, if it fits.
    pub(crate) fn add_entry(&self, tree: &Path) -> Result<(), FsError> {
        let mut state = self.lock();
        let m = Self::measured(&mut state, tree).map_err(|_| FsError::GeneralFailure)?;
        if self.quota_entries > 0 && m.entries + state.created + 1 > self.quota_entries {
            return Err(FsError::InsufficientStorage);
        }
        state.created += 1;
        Ok(())
    }

    /// An upload of `bytes` counted by [`UserLedger::reserve`] ended (in the tree, or not).
    pub(crate) fn release(&self, bytes: u64) {
        let mut state = self.lock();
        state.pending = state.pending.saturating_sub(bytes);
    }

    /// The tree changed: measure it again before the next decision.
    pub(crate) fn changed(&self) {
        self.lock().measured = None;
    }
}

/// The most entries a measure walks: beyond it the tree counts as full.
const MEASURE_CAP: u64 = 10_000_000;

/// Bytes of the regular files under `tree` and the number of its entries (symbolic links are
/// not followed). A missing tree holds nothing.
fn measure(tree: &Path) -> std::io::Result<(u64, u64)> {
    let mut bytes = 0u64;
    let mut entries = 0u64;
    let mut stack = vec![tree.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let listing = match std::fs::read_dir(&dir) {
            Ok(l) => l,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in listing {
            let entry = entry?;
            let meta = match entry.path().symlink_metadata() {
                Ok(m) => m,
                // Gone since the listing.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            entries += 1;
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() {
                bytes += meta.len();
            }
            if entries >= MEASURE_CAP {
                return Ok((u64::MAX / 2, entries));
            }
        }
    }
    Ok((bytes, entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_in_flight_count_against_the_quota() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("a"), vec![0u8; 300]).expect("write");
        let ledger = Ledger::new(1000, 3);
        let user = ledger.user("u");
        assert_eq!(user.usage(dir.path()).expect("usage").bytes, 300);
        user.reserve(dir.path(), 600).expect("fits");
        assert_eq!(
            user.reserve(dir.path(), 200),
            Err(FsError::InsufficientStorage)
        );
        user.release(600);
        user.reserve(dir.path(), 700).expect("fits again");
        user.release(700);
        user.add_entry(dir.path()).expect("second entry");
        user.add_entry(dir.path()).expect("third entry");
        assert_eq!(
            user.add_entry(dir.path()),
            Err(FsError::InsufficientStorage)
        );
        std::fs::remove_file(dir.path().join("a")).expect("rm");
        user.changed();
        assert_eq!(user.usage(dir.path()).expect("usage").entries, 0);
    }
}
