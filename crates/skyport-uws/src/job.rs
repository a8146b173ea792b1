//! The job model, as persisted (JSON) and rendered (XML).

use chrono::{SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use skyport_store::Caller;

use crate::Phase;

/// The scope of a job administrator: a caller holding it sees, lists and acts on every job.
pub const ADMIN_SCOPE: &str = "admin:jobs";

/// One job parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parameter {
    /// Name in upper case (parameter names are case-insensitive).
    pub name: String,
    /// Value as sent.
    pub value: String,
}

/// One result of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobResult {
    /// Result id (`result` for TAP).
    pub id: String,
    /// File name inside the job's directory.
    pub file: String,
    /// MIME type.
    pub mime: String,
    /// Size in bytes.
    pub size: u64,
}

/// How far a running job has got (shown in `<uws:jobInfo>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Items done.
    pub done: u64,
    /// Items in all.
    pub total: u64,
}

fn default_service() -> String {
    "tap".into()
}

/// A UWS job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// Job id (the last segment of the job URL).
    pub id: String,
    /// The service whose job list holds it (`tap`, `soda`); jobs stored before services were
    /// told apart are TAP's.
    #[serde(default = "default_service")]
    pub service: String,
    /// RUNID, if given.
    pub run_id: Option<String>,
    /// Owner (anonymous jobs have none).
    pub owner: Option<String>,
    /// The owner's group memberships when the job was made (name, end in ms since 1970):
    /// the job reads with the data rights its owner had when asking.
    #[serde(default)]
    pub owner_groups: Vec<(String, Option<i64>)>,
    /// Phase, as a UWS string.
    pub phase: String,
    /// Creation time, milliseconds since 1970 (UTC).
    pub created_ms: i64,
    /// When it started executing.
    pub started_ms: Option<i64>,
    /// When it ended.
    pub ended_ms: Option<i64>,
    /// Execution duration limit, seconds (0 = none).
    pub execution_duration: u64,
    /// When the job and its results are destroyed.
    pub destruction_ms: i64,
    /// Parameters, in the order given.
    pub parameters: Vec<Parameter>,
    /// Results of a completed job.
    pub results: Vec<JobResult>,
    /// Error message of a failed job.
    pub error: Option<String>,
    /// Progress reported by the runner.
    #[serde(default)]
    pub progress: Option<Progress>,
    /// The server (job manager instance) running the job.
    #[serde(default)]
    pub runner: Option<String>,
    /// When that server last said it is still running the job (ms since 1970).
    #[serde(default)]
    pub heartbeat_ms: Option<i64>,
}

impl Job {
    /// The phase as an enum (an unknown stored phase reads as UNKNOWN).
    pub fn phase(&self) -> Phase {
        self.phase.parse().unwrap_or(Phase::Unknown)
    }

    /// Sets the phase.
    pub fn set_phase(&mut self, phase: Phase) {
        self.phase = phase.as_str().to_string();
    }

    /// Every value of a parameter (name case-insensitive).
    pub fn parameter_values(&self, name: &str) -> Vec<&str> {
        self.parameters
            .iter()
            .filter(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| p.value.as_str())
            .collect()
    }

    /// The creation time as ISO 8601.
    pub fn creation_time(&self) -> String {
        format_time(self.created_ms)
    }

    /// Whether `caller` may read and act on this job (every route below the job's URL).
    ///
    /// This and [`Job::listed_for`] are the whole access rule for jobs. A named owner's job is
    /// reachable by that user and by an administrator ([`ADMIN_SCOPE`]); anybody else must be
    /// answered exactly as for a job that does not exist, so its existence does not leak. A
    /// job without owner (created anonymously) is reachable by whoever has its URL: its id,
    /// random and unguessable, is the secret.
    pub fn reachable_by(&self, caller: &Caller) -> bool {
        match &self.owner {
            None => true,
            Some(owner) => caller.is_user(Some(owner)) || caller.has_scope(ADMIN_SCOPE),
        }
    }

    /// Whether this job appears in `caller`'s job list: a named user's own jobs, and every
    /// job for an administrator. A job without owner is listed to administrators only: a list
    /// shown to everybody would hand out the ids that are its only protection.
    pub fn listed_for(&self, caller: &Caller) -> bool {
        caller.has_scope(ADMIN_SCOPE)
            || (self.owner.is_some() && caller.is_user(self.owner.as_deref()))
    }
}

/// Formats milliseconds since 1970 as UWS wants: ISO 8601, UTC, `T` and a trailing `Z`.
pub fn format_time(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses an ISO 8601 time (with or without zone; none means UTC) to milliseconds since 1970.
pub fn parse_time(text: &str) -> Option<i64> {
    skyport_schema::time::parse_utc_millis(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_in_uws_form() {
        let t = format_time(1_714_564_800_123);
        assert_eq!(t, "2024-05-01T12:00:00.123Z");
        assert_eq!(parse_time(&t), Some(1_714_564_800_123));
        assert_eq!(parse_time("2024-05-01T12:00:00"), Some(1_714_564_800_000));
        assert_eq!(parse_time("2024-05-01"), Some(1_714_521_600_000));
        assert_eq!(
            parse_time("2024-05-01T14:00:00+02:00"),
            Some(1_714_564_800_000)
        );
        assert_eq!(parse_time("yesterday"), None);
    }
}
