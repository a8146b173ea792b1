//! ObsLocTAP's observation plan, `ivoa.obsplan`: the scheduler's plan loaded (JSON or CSV, all
//! rows or none), and each planned observation moved to Performed or Aborted as ConsDB records
//! its exposures ([`reconcile`]). The table keeps every version of its rows
//! (`ivoa.obsplan_history`), so a replanned time or a status change never loses the old one.
//!
//! - [`parse`]: the scheduler's rows, checked against the standard (`row N: field: reason`).
//! - [`load`]: writes them in one transaction; a plan already Performed or Aborted keeps what
//!   the exposures made of it.
//! - [`reconcile`]: the status rules, documented in `docs/observing.md`.

mod input;
mod reconcile;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use skyport_store::{ddl, Statement, Store, StoreError, Value};

pub use input::{parse, Format, PlannedObservation};
pub use reconcile::{reconcile, Reconciled};

/// The values `execution_status` may take (ObsLocTAP 1.0).
pub const STATUSES: [&str; 5] = [
    "Planned",
    "Scheduled",
    "Unscheduled",
    "Performed",
    "Aborted",
];
/// The values `category` may take.
pub const CATEGORIES: [&str; 4] = ["Fixed", "Coordinated", "Window", "Other"];
/// The values `tracking_type` may take.
pub const TRACKING_TYPES: [&str; 3] = [
    "Sidereal",
    "Solar-system-object-tracking",
    "Fixed-az-el-transit",
];
/// Statuses the exposures decided: a load does not overwrite them.
pub const FINAL: [&str; 2] = ["Performed", "Aborted"];
/// At most this many rows in one load.
pub const MAX_ROWS: usize = 100_000;
/// At most this many bytes in one plan document (checked before it is parsed).
pub const MAX_BYTES: usize = 32 << 20;

/// Why a plan could not be loaded or reconciled.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// A row breaks a rule; nothing of the load is written.
    #[error("row {row}: {field}: {reason}")]
    Row {
        /// 1-based row number (the data row, after a CSV header).
        row: usize,
        /// The column.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// The document is not a plan at all.
    #[error("{0}")]
    Format(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a load did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Loaded {
    /// Rows written (new, or replacing a plan not yet performed).
    pub written: usize,
    /// Rows left as they were: their observation was already performed or aborted.
    pub kept: usize,
    /// What the reconciliation after the load did.
    pub reconciled: Reconciled,
}

/// Modified Julian Date of `t`.
pub fn mjd(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 86_400_000.0 + 40_587.0
}

fn table(store: &dyn Store) -> String {
    ddl::table_name(store.dialect(), "ivoa", skyport_schema::OBSPLAN)
}

/// Writes `rows` (from [`parse`]) into `ivoa.obsplan` in one transaction, as `author`, then
/// reconciles the plan with the exposures of `instruments` (ConsDB instrument names). A row
/// whose `obs_id` is planned already replaces it (the old version stays in the history),
/// unless that observation is Performed or Aborted: then it is kept and counted.
pub async fn load(
    store: &Arc<dyn Store>,
    rows: Vec<PlannedObservation>,
    instruments: &[String],
    author: &str,
    now: DateTime<Utc>,
) -> Result<Loaded, PlanError> {
    let finals = final_ids(store.as_ref()).await?;
    let d = store.dialect();
    let mut out = Loaded::default();
    let mut statements = Vec::with_capacity(rows.len());
    let target = table(store.as_ref());
    for mut row in rows {
        if finals.contains(row.obs_id()) {
            out.kept += 1;
            continue;
        }
        row.set("t_planning", Value::Float(mjd(now)));
        // Every column, NULL where the row gives none: a replanned row replaces the old one
        // whole, never keeping values the scheduler no longer sends.
        let given = row.into_pairs();
        let (columns, values): (Vec<&str>, Vec<Value>) = input::columns()
            .iter()
            .map(|c| {
                let value = given
                    .iter()
                    .find(|(n, _)| *n == c.name)
                    .map_or(Value::Null, |(_, v)| v.clone());
                (c.name.as_str(), value)
            })
            .unzip();
        let updates: Vec<String> = columns
            .iter()
            .filter(|c| **c != "obs_id")
            .map(|c| format!("{0} = excluded.{0}", ddl::quote_ident(c)))
            .collect();
        let sql = format!(
            "{} ON CONFLICT (obs_id) DO UPDATE SET {} WHERE {target}.execution_status NOT IN ('Performed', 'Aborted')",
            ddl::insert(d, "ivoa", skyport_schema::OBSPLAN, &columns),
            updates.join(", "),
        );
        statements.push(Statement::new(sql, values));
        out.written += 1;
    }
    if !statements.is_empty() {
        store.write(author, statements).await?;
    }
    // The plan is written whatever follows: a failed reconciliation is mended by the next
    // one (the next load, exposure or `skyport obsplan reconcile`), and must not make the
    // scheduler believe its plan was refused.
    out.reconciled = match reconcile(store, instruments, now).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "the plan was loaded but not reconciled");
            Reconciled::default()
        }
    };
    Ok(out)
}

/// The `obs_id`s whose observation is Performed or Aborted.
async fn final_ids(store: &dyn Store) -> Result<std::collections::HashSet<String>, StoreError> {
    let rows = store
        .query(
            format!(
                "SELECT obs_id FROM {} WHERE execution_status IN ('Performed', 'Aborted')",
                table(store)
            ),
            Vec::new(),
        )
        .await?;
    Ok(rows
        .rows
        .iter()
        .filter_map(|r| r.first().and_then(Value::as_str).map(str::to_string))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mjd_of_known_instants() {
        let t = DateTime::parse_from_rfc3339("1858-11-17T00:00:00Z")
            .expect("t")
            .with_timezone(&Utc);
        assert_eq!(mjd(t), 0.0);
        let t = DateTime::parse_from_rfc3339("2025-12-01T12:00:00Z")
            .expect("t")
            .with_timezone(&Utc);
        assert_eq!(mjd(t), 61010.5);
    }
}
