//! How a planned observation becomes Performed or Aborted: from the exposures ConsDB records.
//!
//! A plan that is Planned or Scheduled, whose `instrument_name` is a ConsDB instrument of this
//! archive (compared by letters and digits, ignoring case: `LSSTCam` is `lsstcam`), matches
//! that instrument's exposures that
//! - overlap its interval `[t_min, t_max]`, widened by [`SLACK_DAYS`] on each side (a
//!   scheduler's predicted times are not exact), and
//! - are of its target: the same `target_name` (ignoring case and surrounding space), or a
//!   pointing within the plan's field radius (`s_fov / 2`, or [`DEFAULT_RADIUS_DEG`] without
//!   one) of its `s_ra`, `s_dec`.
//!
//! With matching exposures, the observation is **Performed** when their exposure times add up
//! to at least [`COMPLETE_FRACTION`] of the planned time (`t_plan_exptime`, else `t_exptime`),
//! otherwise **Aborted**. Either way `t_min`, `t_max` and `t_exptime` become the exposures'
//! (their first start, last end, summed time), and `t_planning` the time of the change. Plans
//! without matching exposures stay as they are; Unscheduled ones are not matched.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use skyport_store::{ddl, Statement, Store, Value};

use super::{mjd, table, PlanError};

/// How far (in days: 10 minutes) an exposure may lie outside the planned interval.
pub const SLACK_DAYS: f64 = 10.0 / 1440.0;
/// The field radius assumed for a plan without `s_fov` (degrees).
pub const DEFAULT_RADIUS_DEG: f64 = 1.0;
/// The share of the planned exposure time that makes an observation performed.
pub const COMPLETE_FRACTION: f64 = 0.9;

/// What a reconciliation changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Plans now Performed.
    pub performed: usize,
    /// Plans now Aborted.
    pub aborted: usize,
}

struct Pending {
    obs_id: String,
    target: Option<String>,
    position: Option<(f64, f64)>,
    radius: f64,
    window: (f64, f64),
    planned_seconds: f64,
}

struct Exposure {
    target: Option<String>,
    position: Option<(f64, f64)>,
    span: (f64, f64),
    seconds: f64,
}

/// The ConsDB instrument name of an `instrument_name`.
fn instrument_key(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase()
}

fn same_target(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// Angular separation in degrees.
fn separation((ra1, dec1): (f64, f64), (ra2, dec2): (f64, f64)) -> f64 {
    let (d1, d2) = (dec1.to_radians(), dec2.to_radians());
    let dra = (ra2 - ra1).to_radians();
    let a = ((d2 - d1) / 2.0).sin().powi(2) + d1.cos() * d2.cos() * (dra / 2.0).sin().powi(2);
    (2.0 * a.sqrt().min(1.0).asin()).to_degrees()
}

impl Pending {
    fn matches(&self, e: &Exposure) -> bool {
        let overlaps =
            e.span.1 >= self.window.0 - SLACK_DAYS && e.span.0 <= self.window.1 + SLACK_DAYS;
        let by_name = matches!((&self.target, &e.target), (Some(a), Some(b)) if same_target(a, b));
        let by_position = matches!((self.position, e.position),
            (Some(p), Some(q)) if separation(p, q) <= self.radius);
        overlaps && (by_name || by_position)
    }
}

/// Moves the Planned and Scheduled observations of `instruments` (ConsDB instrument names)
/// whose exposures ConsDB holds to Performed or Aborted (rules in the module text), in one
/// transaction.
pub async fn reconcile(
    store: &Arc<dyn Store>,
    instruments: &[String],
    now: DateTime<Utc>,
) -> Result<Reconciled, PlanError> {
    let d = store.dialect();
    let rows = store
        .query(
            format!(
                "SELECT obs_id, target_name, s_ra, s_dec, s_fov, t_min, t_max, t_exptime, \
                 t_plan_exptime, instrument_name FROM {} \
                 WHERE execution_status IN ('Planned', 'Scheduled')",
                table(store.as_ref())
            ),
            Vec::new(),
        )
        .await?;
    let mut by_instrument: BTreeMap<String, Vec<Pending>> = BTreeMap::new();
    for r in &rows.rows {
        let text = |i: usize| r.get(i).and_then(Value::as_str).map(str::to_string);
        let num = |i: usize| r.get(i).and_then(Value::as_f64);
        let (Some(obs_id), Some(t_min), Some(t_max), Some(instrument)) =
            (text(0), num(5), num(6), text(9))
        else {
            continue;
        };
        let key = instrument_key(&instrument);
        if !instruments.contains(&key) {
            continue;
        }
        by_instrument.entry(key).or_default().push(Pending {
            obs_id,
            target: text(1).filter(|t| !t.trim().is_empty()),
            position: num(2).zip(num(3)),
            radius: num(4).map_or(DEFAULT_RADIUS_DEG, |f| f / 2.0),
            window: (t_min, t_max),
            planned_seconds: num(8).or(num(7)).unwrap_or(0.0),
        });
    }
    let mut out = Reconciled::default();
    let mut statements = Vec::new();
    let changed = mjd(now);
    for (instrument, plans) in by_instrument {
        let from = plans
            .iter()
            .map(|p| p.window.0)
            .fold(f64::INFINITY, f64::min)
            - SLACK_DAYS;
        let to = plans
            .iter()
            .map(|p| p.window.1)
            .fold(f64::NEG_INFINITY, f64::max)
            + SLACK_DAYS;
        let exposures = store
            .query(
                format!(
                    "SELECT target_name, s_ra, s_dec, obs_start_mjd, obs_end_mjd, exp_time FROM {} \
                     WHERE obs_end_mjd >= {} AND obs_start_mjd <= {}",
                    ddl::table_name(d, &format!("cdb_{instrument}"), "exposure"),
                    ddl::placeholder(d, 1),
                    ddl::placeholder(d, 2)
                ),
                vec![Value::Float(from), Value::Float(to)],
            )
            .await?;
        let exposures: Vec<Exposure> = exposures
            .rows
            .iter()
            .filter_map(|r| {
                let num = |i: usize| r.get(i).and_then(Value::as_f64);
                Some(Exposure {
                    target: r.first().and_then(Value::as_str).map(str::to_string),
                    position: num(1).zip(num(2)),
                    span: (num(3)?, num(4)?),
                    seconds: num(5).unwrap_or(0.0),
                })
            })
            .collect();
        for plan in &plans {
            let taken: Vec<&Exposure> = exposures.iter().filter(|e| plan.matches(e)).collect();
            if taken.is_empty() {
                continue;
            }
            let seconds: f64 = taken.iter().map(|e| e.seconds).sum();
            let start = taken.iter().map(|e| e.span.0).fold(f64::INFINITY, f64::min);
            let end = taken
                .iter()
                .map(|e| e.span.1)
                .fold(f64::NEG_INFINITY, f64::max);
            let status = if seconds >= COMPLETE_FRACTION * plan.planned_seconds {
                out.performed += 1;
                "Performed"
            } else {
                out.aborted += 1;
                "Aborted"
            };
            let p = |n| ddl::placeholder(d, n);
            statements.push(Statement::new(
                format!(
                    "UPDATE {} SET execution_status = {}, t_min = {}, t_max = {}, t_exptime = {}, \
                     t_planning = {} WHERE obs_id = {} AND execution_status IN ('Planned', 'Scheduled')",
                    table(store.as_ref()),
                    p(1),
                    p(2),
                    p(3),
                    p(4),
                    p(5),
                    p(6)
                ),
                vec![
                    Value::Text(status.into()),
                    Value::Float(start),
                    Value::Float(end),
                    Value::Float(seconds),
                    Value::Float(changed),
                    Value::Text(plan.obs_id.clone()),
                ],
            ));
        }
    }
    if !statements.is_empty() {
        store.write("obsplan-reconcile", statements).await?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Pending {
        Pending {
            obs_id: "p".into(),
            target: Some("ECDFS".into()),
            position: Some((53.16, -28.1)),
            radius: 1.75,
            window: (61010.20, 61010.21),
            planned_seconds: 30.0,
        }
    }

    fn exposure(target: Option<&str>, position: (f64, f64), start: f64) -> Exposure {
        Exposure {
            target: target.map(String::from),
            position: Some(position),
            span: (start, start + 30.0 / 86_400.0),
            seconds: 30.0,
        }
    }

    #[test]
    fn exposures_match_by_time_and_target() {
        let p = plan();
        assert!(p.matches(&exposure(Some(" ecdfs "), (0.0, 0.0), 61010.205)));
        // Another name, but in the field.
        assert!(p.matches(&exposure(Some("other"), (53.5, -28.5), 61010.205)));
        // Neither the name nor the field.
        assert!(!p.matches(&exposure(Some("COSMOS"), (150.1, 2.2), 61010.205)));
        // Within the slack before the interval, and beyond it.
        assert!(p.matches(&exposure(Some("ECDFS"), (0.0, 0.0), 61010.20 - 0.005)));
        assert!(!p.matches(&exposure(Some("ECDFS"), (0.0, 0.0), 61010.21 + 0.01)));
        assert_eq!(instrument_key("LSST-Cam"), "lsstcam");
        assert!((separation((0.0, 89.0), (180.0, 89.0)) - 2.0).abs() < 1e-9);
    }
}
