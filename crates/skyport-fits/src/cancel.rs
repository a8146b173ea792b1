//! Stopping long work from outside: a [`Cancel`] token is handed to the loops of cutout work
//! (outline tracing, pixel copying), which look at it between pieces of work — every few
//! thousand outline steps, every strip of rows, every plane — and return [`Cancelled`] once
//! it is set or its deadline has passed. The token knows nothing of threads or runtimes: the
//! server sets it when a client goes away, a request's time is up or a job is aborted.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Why work was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Cancelled {
    /// The token was cancelled: nobody waits for the result any more (the client went away,
    /// the job was aborted).
    #[error("the work was stopped: nobody waits for it any more")]
    Stopped,
    /// The token's deadline passed.
    #[error("the work was stopped: its time limit passed")]
    DeadlinePassed,
}

#[derive(Debug)]
struct Inner {
    stopped: AtomicBool,
    deadline: Option<Instant>,
}

/// A cancellation token: cheap to clone (every clone is the same token), cancelled once for
/// all by [`Cancel::cancel`] or when its deadline passes.
#[derive(Debug, Clone)]
pub struct Cancel {
    inner: Arc<Inner>,
}

impl Default for Cancel {
    fn default() -> Self {
        Cancel::new()
    }
}

impl Cancel {
    /// A token without a deadline, cancelled only by [`Cancel::cancel`].
    pub fn new() -> Cancel {
        Cancel::with_deadline(None)
    }

    /// A token that is also cancelled once `deadline` (if any) has passed.
    pub fn with_deadline(deadline: Option<Instant>) -> Cancel {
        Cancel {
            inner: Arc::new(Inner {
                stopped: AtomicBool::new(false),
                deadline,
            }),
        }
    }

    /// The deadline, if the token has one.
    pub fn deadline(&self) -> Option<Instant> {
        self.inner.deadline
    }

    /// Cancels the token (and every clone of it).
    pub fn cancel(&self) {
        self.inner.stopped.store(true, Ordering::Relaxed);
    }

    /// Why the work must stop, if it must: [`Cancelled::Stopped`] once cancelled,
    /// [`Cancelled::DeadlinePassed`] once the deadline has passed.
    pub fn check(&self) -> Result<(), Cancelled> {
        if self.inner.stopped.load(Ordering::Relaxed) {
            return Err(Cancelled::Stopped);
        }
        match self.inner.deadline {
            Some(d) if Instant::now() >= d => Err(Cancelled::DeadlinePassed),
            _ => Ok(()),
        }
    }

    /// Whether the work must stop (see [`Cancel::check`]).
    pub fn is_cancelled(&self) -> bool {
        self.check().is_err()
    }

    /// A guard that cancels the token when it is dropped, unless [`CancelOnDrop::disarm`]ed:
    /// held by the future or response body whose dropping means nobody waits any more.
    pub fn on_drop(&self) -> CancelOnDrop {
        CancelOnDrop(Some(self.clone()))
    }
}

/// Cancels its token when dropped; see [`Cancel::on_drop`].
#[derive(Debug)]
pub struct CancelOnDrop(Option<Cancel>);

impl CancelOnDrop {
    /// Lets the guard go without cancelling.
    pub fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            c.cancel();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn clones_share_one_state_and_deadlines_pass() {
        let c = Cancel::new();
        let d = c.clone();
        assert_eq!(d.check(), Ok(()));
        c.cancel();
        assert_eq!(d.check(), Err(Cancelled::Stopped));

        let past = Cancel::with_deadline(Instant::now().checked_sub(Duration::from_millis(1)));
        assert_eq!(past.check(), Err(Cancelled::DeadlinePassed));
        let later = Cancel::with_deadline(Some(Instant::now() + Duration::from_secs(3600)));
        assert!(!later.is_cancelled());

        let g = Cancel::new();
        g.on_drop().disarm();
        assert!(!g.is_cancelled());
        drop(g.on_drop());
        assert!(g.is_cancelled());
    }
}
