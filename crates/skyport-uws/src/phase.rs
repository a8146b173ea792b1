//! UWS 1.1 execution phases and the transitions UWS 1.1 §2.1.3 allows.

use std::fmt;
use std::str::FromStr;

/// A UWS execution phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Accepting parameters; not yet queued.
    Pending,
    /// Waiting for a worker.
    Queued,
    /// Running.
    Executing,
    /// Finished with results.
    Completed,
    /// Finished with an error.
    Error,
    /// Stopped by the client or the server.
    Aborted,
    /// The server does not know.
    Unknown,
    /// Waiting for an external event before running again.
    Held,
    /// Suspended by the server.
    Suspended,
    /// Destroyed; kept only as a tombstone.
    Archived,
}

impl Phase {
    /// Every phase, in the order of the UWS schema.
    pub const ALL: [Phase; 10] = [
        Phase::Pending,
        Phase::Queued,
        Phase::Executing,
        Phase::Completed,
        Phase::Error,
        Phase::Aborted,
        Phase::Unknown,
        Phase::Held,
        Phase::Suspended,
        Phase::Archived,
    ];

    /// The UWS spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "PENDING",
            Phase::Queued => "QUEUED",
            Phase::Executing => "EXECUTING",
            Phase::Completed => "COMPLETED",
            Phase::Error => "ERROR",
            Phase::Aborted => "ABORTED",
            Phase::Unknown => "UNKNOWN",
            Phase::Held => "HELD",
            Phase::Suspended => "SUSPENDED",
            Phase::Archived => "ARCHIVED",
        }
    }

    /// True for phases a job never leaves by running (COMPLETED, ERROR, ABORTED, ARCHIVED).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Phase::Completed | Phase::Error | Phase::Aborted | Phase::Archived
        )
    }

    /// Whether UWS 1.1 lets a job go from `self` to `next`.
    pub fn can_become(self, next: Phase) -> bool {
        use Phase::*;
        match (self, next) {
            // Anything not yet final may be aborted; anything may be destroyed (archived).
            (from, Aborted) => !from.is_final(),
            (_, Archived) => self != Archived,
            (Pending, Queued | Held) => true,
            (Queued, Executing | Held) => true,
            (Held, Queued | Pending) => true,
            (Executing, Completed | Error | Suspended) => true,
            (Suspended, Executing) => true,
            _ => false,
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text is not a UWS phase.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a UWS phase")]
pub struct UnknownPhase(pub String);

impl FromStr for Phase {
    type Err = UnknownPhase;

    /// Parses the UWS spelling (upper case, as the standard writes it).
    fn from_str(s: &str) -> Result<Phase, UnknownPhase> {
        Phase::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownPhase(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spelling_round_trips() {
        for p in Phase::ALL {
            assert_eq!(p.as_str().parse::<Phase>(), Ok(p));
        }
        assert!("running".parse::<Phase>().is_err());
    }

    #[test]
    fn the_normal_life_of_a_job() {
        let path = [
            Phase::Pending,
            Phase::Queued,
            Phase::Executing,
            Phase::Completed,
            Phase::Archived,
        ];
        assert!(path.windows(2).all(|w| w[0].can_become(w[1])), "{path:?}");
    }

    #[test]
    fn final_phases_stay_final() {
        for from in [Phase::Completed, Phase::Error, Phase::Aborted] {
            for to in Phase::ALL {
                let allowed = from.can_become(to);
                assert_eq!(allowed, to == Phase::Archived, "{from} -> {to}");
            }
        }
        assert!(
            !Phase::Pending.can_become(Phase::Executing),
            "a job is queued before it runs"
        );
        assert!(Phase::Executing.can_become(Phase::Aborted));
    }
}
