//! UWS 1.1 for skyport: job phases, the job model and its XML, and the [`JobManager`] that
//! persists jobs in the store, runs them on a bounded pool of workers in arrival order,
//! enforces execution durations and destruction times, and recovers after a restart.
//!
//! The service that a job runs (a TAP query) is a [`Runner`]; this crate knows nothing of HTTP.
//!
//! A job belongs to the caller who created it: [`Job::reachable_by`] and [`Job::listed_for`]
//! are the one access rule, applied by [`JobManager::get_for`], [`JobManager::list`] and
//! [`JobManager::delete_for`].

mod job;
mod manager;
mod phase;
pub mod xml;

pub use job::{format_time, parse_time, Job, JobResult, Parameter, Progress, ADMIN_SCOPE};
pub use manager::{
    JobFilter, JobManager, ManagerSettings, ProgressReporter, Runner, UwsError, ORPHAN_GRACE,
};
pub use phase::{Phase, UnknownPhase};
pub use skyport_store::Caller;
