//! The windows of the transformation and their state, in `efd_<instrument>.efd_scheduler`.
//!
//! Time is cut into windows of a fixed length aligned on the Unix epoch (5 minutes by
//! default). `plan` adds the windows of a range that are not recorded yet, as `pending` — so a
//! run after downtime catches up on everything it missed. A window is run by summarising the
//! exposures and visits that start in it; its summaries and its `completed` state are written
//! in one transaction. A failure records `failed`, the error, one more retry and the time
//! before which it is not tried again (backoff doubling from the base per retry); a window
//! left `running` by a process that died becomes `stale` after the stale timeout and is run
//! again. Running a completed window again is harmless: the same values are upserted, and
//! history records only what changed.

use std::sync::Arc;

use skyport_store::ddl::{placeholder, table_name};
use skyport_store::{Statement, Store, Value};

use super::config::EfdConfig;
use super::schema::SCHEDULER;
use super::source::Source;
use super::transform::{self, Interval};
use super::{ns_to_utc_text, utc_text_to_ns, EfdError};

/// A window's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Not run yet.
    Pending,
    /// Being run.
    Running,
    /// Done.
    Completed,
    /// The last attempt failed.
    Failed,
    /// Left running by a process that stopped.
    Stale,
}

impl Status {
    /// Every state, for reports.
    pub const ALL: [Status; 5] = [
        Status::Pending,
        Status::Running,
        Status::Completed,
        Status::Failed,
        Status::Stale,
    ];

    /// Its name in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Running => "running",
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::Stale => "stale",
        }
    }
}

/// One recorded window.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// Start, ns UTC (inclusive).
    pub start: i64,
    /// End, ns UTC (exclusive).
    pub end: i64,
    /// State.
    pub status: String,
    /// Failed attempts so far.
    pub retries: i64,
    /// The last error.
    pub error: Option<String>,
}

/// How windows are cut and retried.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Window length, ns.
    pub window_ns: i64,
    /// Failed attempts after which a window is left alone (until `--retry-failed`).
    pub max_retries: i64,
    /// Wait after the first failure, ns; doubles with each further failure.
    pub backoff_ns: i64,
    /// A `running` window older than this is stale, ns.
    pub stale_after_ns: i64,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            window_ns: 5 * 60 * 1_000_000_000,
            max_retries: 5,
            backoff_ns: 60 * 1_000_000_000,
            stale_after_ns: 3600 * 1_000_000_000,
        }
    }
}

/// The windows of one instrument.
pub struct Scheduler {
    store: Arc<dyn Store>,
    instrument: String,
    policy: Policy,
}

fn now_ns() -> i64 {
    chrono::Utc::now()
        .timestamp_nanos_opt()
        .unwrap_or(i64::MAX / 2)
}

/// What a run did.
#[derive(Debug, Default, Clone)]
pub struct RunReport {
    /// Windows completed.
    pub completed: usize,
    /// Windows that failed (with their start and error).
    pub failed: Vec<(i64, String)>,
    /// Exposures and visits summarised.
    pub exposures: usize,
    /// Visits summarised.
    pub visits: usize,
    /// Samples read.
    pub samples: usize,
    /// Topic fetches.
    pub fetches: usize,
}

/// A window summarised (or failed), waiting to be written.
struct Summarised {
    window: Window,
    started: i64,
    ended: i64,
    result: Result<WindowRows, EfdError>,
}

/// A window's rows to write, and what they came from.
struct WindowRows {
    statements: Vec<Statement>,
    exposures: usize,
    visits: usize,
    samples: usize,
    fetches: usize,
}

impl Scheduler {
    /// The scheduler of `instrument` with `policy`.
    pub fn new(store: Arc<dyn Store>, instrument: &str, policy: Policy) -> Scheduler {
        Scheduler {
            store,
            instrument: instrument.to_string(),
            policy,
        }
    }

    fn table(&self) -> String {
        table_name(
            self.store.dialect(),
            &format!("efd_{}", self.instrument),
            SCHEDULER,
        )
    }

    fn p(&self, i: usize) -> String {
        placeholder(self.store.dialect(), i)
    }

    /// The start of the window holding `t`.
    pub fn align(&self, t: i64) -> i64 {
        t.div_euclid(self.policy.window_ns) * self.policy.window_ns
    }

    /// Every recorded window, by start.
    pub async fn windows(&self) -> Result<Vec<Window>, EfdError> {
        self.select_windows("", Vec::new()).await
    }

    /// The windows satisfying `condition` (SQL after WHERE; empty: all), by start.
    async fn select_windows(
        &self,
        condition: &str,
        params: Vec<Value>,
    ) -> Result<Vec<Window>, EfdError> {
        let filter = if condition.is_empty() {
            String::new()
        } else {
            format!(" WHERE {condition}")
        };
        let rows = self
            .store
            .query(
                format!(
                    "SELECT start_time, end_time, status, retries, error FROM {}{filter} ORDER BY start_time",
                    self.table()
                ),
                params,
            )
            .await?;
        Ok(rows
            .rows
            .iter()
            .filter_map(|r| {
                Some(Window {
                    start: utc_text_to_ns(r.first()?.as_str()?)?,
                    end: utc_text_to_ns(r.get(1)?.as_str()?)?,
                    status: r.get(2)?.as_str()?.to_string(),
                    retries: r.get(3).and_then(Value::as_i64).unwrap_or(0),
                    error: r.get(4).and_then(Value::as_str).map(str::to_string),
                })
            })
            .collect())
    }

    /// The start of the first exposure of the instrument (ns UTC), if any.
    pub async fn first_exposure(&self) -> Result<Option<i64>, EfdError> {
        let d = self.store.dialect();
        let rows = self
            .store
            .query(
                format!(
                    "SELECT MIN(obs_start) FROM {}",
                    table_name(d, &format!("cdb_{}", self.instrument), "exposure")
                ),
                Vec::new(),
            )
            .await?;
        Ok(rows
            .rows
            .first()
            .and_then(|r| r.first())
            .and_then(Value::as_str)
            .and_then(super::tai_text_to_utc_ns))
    }

    /// Records as `pending` every window of `[since, until)` not recorded yet; their number.
    pub async fn plan(&self, since: i64, until: i64) -> Result<usize, EfdError> {
        let known: std::collections::HashSet<i64> =
            self.windows().await?.iter().map(|w| w.start).collect();
        let mut statements = Vec::new();
        let mut start = self.align(since);
        let minutes = self.policy.window_ns / 60_000_000_000;
        while start < until {
            if !known.contains(&start) {
                statements.push(Statement::new(
                    format!(
                        "INSERT INTO {} (start_time, end_time, timewindow, status, retries) VALUES ({}, {}, {}, 'pending', 0)",
                        self.table(),
                        self.p(1),
                        self.p(2),
                        self.p(3)
                    ),
                    vec![
                        Value::Text(ns_to_utc_text(start)),
                        Value::Text(ns_to_utc_text(start + self.policy.window_ns)),
                        Value::Int(minutes),
                    ],
                ));
            }
            start += self.policy.window_ns;
        }
        let n = statements.len();
        if n > 0 {
            self.store.write("efd-scheduler", statements).await?;
        }
        Ok(n)
    }

    /// Makes the completed and failed windows of `[since, until)` pending again (to run them
    /// again); their number.
    pub async fn reopen(&self, since: i64, until: i64) -> Result<usize, EfdError> {
        self.write_one(Statement::new(
            format!(
                "UPDATE {} SET status = 'pending', retries = 0, next_attempt = NULL \
                 WHERE status IN ('completed', 'failed') AND end_time > {} AND start_time < {}",
                self.table(),
                self.p(1),
                self.p(2)
            ),
            vec![
                Value::Text(ns_to_utc_text(since)),
                Value::Text(ns_to_utc_text(until)),
            ],
        ))
        .await
    }

    /// Marks windows left `running` longer than the stale timeout as `stale`; their number.
    pub async fn mark_stale(&self) -> Result<usize, EfdError> {
        let limit = ns_to_utc_text(now_ns() - self.policy.stale_after_ns);
        self.write_one(Statement::new(
            format!(
                "UPDATE {} SET status = 'stale' WHERE status = 'running' \
                 AND (process_start_time IS NULL OR process_start_time < {})",
                self.table(),
                self.p(1)
            ),
            vec![Value::Text(limit)],
        ))
        .await
    }

    /// Runs one statement on the scheduler table; the rows it touched.
    async fn write_one(&self, statement: Statement) -> Result<usize, EfdError> {
        let counts = self.store.write("efd-scheduler", vec![statement]).await?;
        Ok(counts.first().copied().unwrap_or(0) as usize)
    }

    /// The windows to run now, by start: pending and stale ones, and failed ones whose
    /// backoff has passed and that have retries left.
    pub async fn due(&self) -> Result<Vec<Window>, EfdError> {
        let condition = format!(
            "status IN ('pending', 'stale') OR (status = 'failed' AND retries < {} \
             AND (next_attempt IS NULL OR next_attempt <= {}))",
            self.p(1),
            self.p(2)
        );
        let now = ns_to_utc_text(now_ns());
        self.select_windows(
            &condition,
            vec![Value::Int(self.policy.max_retries), Value::Text(now)],
        )
        .await
    }

    /// The statement updating `window`: `fixed` SQL assignments, then each (column, value).
    fn update(&self, window: &Window, fixed: &str, assignments: Vec<(&str, Value)>) -> Statement {
        let mut sets = vec![fixed.to_string()];
        let mut params = Vec::with_capacity(assignments.len() + 1);
        for (column, value) in assignments {
            params.push(value);
            sets.push(format!("{column} = {}", self.p(params.len())));
        }
        params.push(Value::Text(ns_to_utc_text(window.start)));
        Statement::new(
            format!(
                "UPDATE {} SET {} WHERE start_time = {}",
                self.table(),
                sets.join(", "),
                self.p(params.len())
            ),
            params,
        )
    }

    /// Runs `windows` in order: each window's exposures and visits are summarised from
    /// `source` and written with its `completed` state in one transaction (a failure is
    /// recorded instead). The writing of one window overlaps the summarising of the next —
    /// one waits on the database, the other on the source — so neither idles; `done` is told
    /// of each window as it ends.
    pub async fn run_windows(
        &self,
        config: &EfdConfig,
        source: &dyn Source,
        windows: &[Window],
        report: &mut RunReport,
        mut done: impl FnMut(&Window),
    ) -> Result<(), EfdError> {
        let mut summarised: Option<Summarised> = None;
        for window in windows {
            let finishing = async {
                match summarised.take() {
                    Some(previous) => {
                        let window = previous.window.clone();
                        self.finish(previous, report).await?;
                        Ok::<_, EfdError>(Some(window))
                    }
                    None => Ok(None),
                }
            };
            let (finished, next) =
                futures_util::future::join(finishing, self.start(config, source, window)).await;
            if let Some(w) = finished? {
                done(&w);
            }
            summarised = Some(next?);
        }
        if let Some(last) = summarised {
            let window = last.window.clone();
            self.finish(last, report).await?;
            done(&window);
        }
        Ok(())
    }

    /// Marks `window` running and summarises it.
    async fn start(
        &self,
        config: &EfdConfig,
        source: &dyn Source,
        window: &Window,
    ) -> Result<Summarised, EfdError> {
        let started = now_ns();
        let running = self.update(
            window,
            "status = 'running'",
            vec![("process_start_time", Value::Text(ns_to_utc_text(started)))],
        );
        self.write_one(running).await?;
        let result = self.summarise_window(config, source, window).await;
        Ok(Summarised {
            window: window.clone(),
            started,
            ended: now_ns(),
            result,
        })
    }

    /// Writes a summarised window with its `completed` state, or records its failure.
    async fn finish(&self, s: Summarised, report: &mut RunReport) -> Result<(), EfdError> {
        let Summarised {
            window,
            started,
            ended,
            result,
        } = s;
        let seconds = (ended - started) as f64 / 1e9;
        match result {
            Ok(mut w) => {
                w.statements.push(self.update(
                    &window,
                    "status = 'completed', error = NULL, next_attempt = NULL",
                    vec![
                        ("process_end_time", Value::Text(ns_to_utc_text(ended))),
                        ("process_exec_time", Value::Float(seconds)),
                        ("exposures", Value::Int(w.exposures as i64)),
                        ("visits1", Value::Int(w.visits as i64)),
                    ],
                ));
                let author = format!("efd-transform:{}", self.instrument);
                match self.store.write(&author, w.statements).await {
                    Ok(_) => {
                        report.completed += 1;
                        report.exposures += w.exposures;
                        report.visits += w.visits;
                        report.samples += w.samples;
                        report.fetches += w.fetches;
                        Ok(())
                    }
                    Err(e) => {
                        self.fail(&window, &e.to_string(), ended, seconds, report)
                            .await
                    }
                }
            }
            Err(e) => {
                self.fail(&window, &e.to_string(), ended, seconds, report)
                    .await
            }
        }
    }

    async fn fail(
        &self,
        window: &Window,
        error: &str,
        ended: i64,
        seconds: f64,
        report: &mut RunReport,
    ) -> Result<(), EfdError> {
        let retries = window.retries + 1;
        let wait = self
            .policy
            .backoff_ns
            .saturating_mul(1_i64 << (retries - 1).clamp(0, 20));
        let failed = self.update(
            window,
            "status = 'failed'",
            vec![
                ("process_end_time", Value::Text(ns_to_utc_text(ended))),
                ("process_exec_time", Value::Float(seconds)),
                ("retries", Value::Int(retries)),
                ("error", Value::Text(error.to_string())),
                (
                    "next_attempt",
                    Value::Text(ns_to_utc_text(ended.saturating_add(wait))),
                ),
            ],
        );
        self.write_one(failed).await?;
        tracing::warn!(instrument = %self.instrument, window = %ns_to_utc_text(window.start), %error, "EFD window failed");
        report.failed.push((window.start, error.to_string()));
        Ok(())
    }

    async fn summarise_window(
        &self,
        config: &EfdConfig,
        source: &dyn Source,
        window: &Window,
    ) -> Result<WindowRows, EfdError> {
        let store = self.store.as_ref();
        let exposures: Vec<Interval> =
            transform::intervals(store, &self.instrument, false, window.start, window.end).await?;
        let visits: Vec<Interval> =
            transform::intervals(store, &self.instrument, true, window.start, window.end).await?;
        let summaries = transform::summarise(config, &[], source, &exposures, &visits).await?;
        let statements =
            transform::statements(&self.store, &self.instrument, config, &[], &summaries);
        Ok(WindowRows {
            statements,
            exposures: exposures.len(),
            visits: visits.len(),
            samples: summaries.samples,
            fetches: summaries.fetches,
        })
    }

    /// Counts of windows per state, the oldest window not completed and the latest error.
    pub async fn status(&self) -> Result<StatusReport, EfdError> {
        let windows = self.windows().await?;
        let mut report = StatusReport::default();
        for s in Status::ALL {
            report.counts.push((
                s.as_str(),
                windows.iter().filter(|w| w.status == s.as_str()).count(),
            ));
        }
        report.oldest_open = windows
            .iter()
            .find(|w| w.status != Status::Completed.as_str())
            .map(|w| w.start);
        report.last_completed = windows
            .iter()
            .rev()
            .find(|w| w.status == Status::Completed.as_str())
            .map(|w| w.end);
        report.failures = windows
            .iter()
            .filter(|w| w.status == Status::Failed.as_str())
            .map(|w| (w.start, w.retries, w.error.clone().unwrap_or_default()))
            .collect();
        Ok(report)
    }
}

/// The backlog.
#[derive(Debug, Default, Clone)]
pub struct StatusReport {
    /// Windows per state.
    pub counts: Vec<(&'static str, usize)>,
    /// Start of the oldest window not completed.
    pub oldest_open: Option<i64>,
    /// End of the latest completed window.
    pub last_completed: Option<i64>,
    /// Failed windows: start, retries, error.
    pub failures: Vec<(i64, i64, String)>,
}

/// Recomputes `columns` for the exposures and visits starting in `[since, until)` and writes
/// only those columns (history keeps the values they replace); the windows' states are left
/// alone. Returns (exposures, visits).
pub async fn recompute(
    store: &Arc<dyn Store>,
    instrument: &str,
    config: &EfdConfig,
    columns: &[String],
    source: &dyn Source,
    since: i64,
    until: i64,
) -> Result<(usize, usize), EfdError> {
    for c in columns {
        if config.column(c).is_none() {
            return Err(EfdError::Usage(format!(
                "no column {c:?} in the transformed-EFD config of {instrument}"
            )));
        }
    }
    let exposures = transform::intervals(store.as_ref(), instrument, false, since, until).await?;
    let visits = transform::intervals(store.as_ref(), instrument, true, since, until).await?;
    let summaries = transform::summarise(config, columns, source, &exposures, &visits).await?;
    let statements = transform::statements(store, instrument, config, columns, &summaries);
    if !statements.is_empty() {
        store
            .write(&format!("efd-recompute:{instrument}"), statements)
            .await?;
    }
    Ok((exposures.len(), visits.len()))
}
