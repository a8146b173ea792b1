//! The job manager: persistence, the worker pool, limits and restart recovery.
//!
//! The store is the only state: every change to a job is a read-modify-write of its stored row
//! under the store's row lock ([`Store::edit_job`]), so a worker finishing a job and a client
//! aborting it cannot both win, even on different servers. Workers claim QUEUED jobs from the
//! store ([`Store::claim_job`]: `FOR UPDATE SKIP LOCKED` on PostgreSQL), oldest first, so any
//! server sharing the database may run a job another created. On a shared store a server
//! also polls for work queued elsewhere, re-reads a running job every `poll` (an abort or
//! delete sent to another server stops it) and records a heartbeat. Job files live in `dir`,
//! which servers sharing a database must share too.
//!
//! A job left EXECUTING by a server that stopped ends in ERROR with a message saying so (a
//! query may be expensive; re-running it unasked could surprise the owner): at start-up on a
//! database of our own, and once its heartbeat is older than `lease` on a shared one (another
//! server may be running it).
//!
//! A job that does not complete (error, abort, execution duration, server stop) keeps the
//! results its runner reported as finished ([`ProgressReporter::result`]: a SODA job's
//! finished cutouts) and loses every other file it wrote, except its parameters. Reported
//! results are recorded in the store as they come (beyond the first hundred, at most once a
//! second), so a server killed outright keeps all but at most the last few of them; the files
//! of results it never recorded are removed when the job is recovered.
//!
//! Access: a client's job is loaded with [`JobManager::get_for`] (the caller may reach it, or
//! it is [`UwsError::NotFound`]), listed with [`JobManager::list`] and deleted with
//! [`JobManager::delete_for`]. The other operations take a bare id and check nothing: they
//! are for the server itself and for a job already loaded with `get_for` (an owner never
//! changes, so the check stays true).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use skyport_store::{Caller, JobEdit, JobRow, Store, StoreError};
use tokio::sync::{watch, Notify};

use crate::job::{Job, JobResult, Parameter, Progress};
use crate::Phase;

/// What a job runs.
#[async_trait]
pub trait Runner: Send + Sync + 'static {
    /// Runs `job`, writing its result files into `dir`; returns the results, or the error
    /// message for the job's error document. Dropping the future must stop the work.
    /// `progress` shows how far it has got in the job document, and takes the results that are
    /// finished before the whole job is: those stay if the job then does not complete.
    async fn run(
        &self,
        job: &Job,
        dir: &Path,
        progress: ProgressReporter,
    ) -> Result<Vec<JobResult>, String>;
}

/// Records a running job's progress and the results it has finished.
#[derive(Clone)]
pub struct ProgressReporter {
    manager: Option<JobManager>,
    id: String,
    finished: Arc<std::sync::Mutex<Finished>>,
}

/// The results a running job has finished, and when they were last stored.
#[derive(Default)]
struct Finished {
    results: Vec<JobResult>,
    stored_at: Option<std::time::Instant>,
}

/// A job's first finished results are recorded in the store one by one; beyond these (each
/// record rewrites the whole job document) at most once every [`RESULTS_STORED_EVERY`].
const RESULTS_ALWAYS_STORED: usize = 100;

/// See [`RESULTS_ALWAYS_STORED`].
const RESULTS_STORED_EVERY: Duration = Duration::from_secs(1);

fn lock_finished(f: &std::sync::Mutex<Finished>) -> std::sync::MutexGuard<'_, Finished> {
    match f.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl ProgressReporter {
    /// A reporter that records nothing (for running a job's work outside the manager).
    pub fn none() -> ProgressReporter {
        ProgressReporter {
            manager: None,
            id: String::new(),
            finished: Default::default(),
        }
    }

    /// Records a result whose file is complete in the job directory before the job is: if
    /// the job then does not complete (an error, an abort, its execution duration, a server
    /// stop), this result and its file are kept, and listed with the job. The results a
    /// completed job returns replace these.
    pub async fn result(&self, result: JobResult) {
        let due = {
            let mut f = lock_finished(&self.finished);
            f.results.push(result);
            let due = f.results.len() <= RESULTS_ALWAYS_STORED
                || f.stored_at
                    .is_none_or(|t| t.elapsed() >= RESULTS_STORED_EVERY);
            if due {
                f.stored_at = Some(std::time::Instant::now());
                Some(f.results.clone())
            } else {
                None
            }
        };
        let (Some(manager), Some(results)) = (&self.manager, due) else {
            return;
        };
        let stored = manager
            .edit(&self.id, move |job| {
                if job.phase() == Phase::Executing {
                    job.results = results;
                }
                Ok(())
            })
            .await;
        if let Err(e) = stored {
            tracing::warn!(job = %self.id, "cannot record a finished result: {e}");
        }
    }

    /// Every result reported with [`ProgressReporter::result`] so far.
    fn finished(&self) -> Vec<JobResult> {
        lock_finished(&self.finished).results.clone()
    }

    /// Sets the progress shown while the job is EXECUTING.
    pub async fn report(&self, done: u64, total: u64) {
        let Some(manager) = &self.manager else {
            return;
        };
        let result = manager
            .edit(&self.id, move |job| {
                if job.phase() == Phase::Executing {
                    job.progress = Some(Progress { done, total });
                }
                Ok(())
            })
            .await;
        if let Err(e) = result {
            tracing::warn!(job = %self.id, "cannot record progress: {e}");
        }
    }
}

/// Limits and places.
#[derive(Debug, Clone)]
pub struct ManagerSettings {
    /// The service whose jobs this manager keeps (`tap`, `soda`): jobs of other services in
    /// the same store are invisible to it.
    pub service: String,
    /// Directory holding one subdirectory per job (uploads, results).
    pub dir: PathBuf,
    /// Jobs executing at once.
    pub workers: usize,
    /// Execution duration of a new job, seconds.
    pub execution_default: u64,
    /// Largest execution duration a client may ask for, seconds.
    pub execution_hard: u64,
    /// How long a job lives after creation, seconds.
    pub retention: u64,
    /// Longest a blocking `WAIT` holds the request.
    pub max_wait: Duration,
    /// How often destruction times (and, on a shared store, stale jobs) are checked.
    pub sweep_every: Duration,
    /// How often the store is re-read for work queued by other servers, for aborts of a
    /// running job, and by blocking waits.
    pub poll: Duration,
    /// On a shared store, how old a running job's heartbeat may get before the job is taken
    /// for lost (its server stopped) and ends in ERROR.
    pub lease: Duration,
}

impl ManagerSettings {
    /// Settings with the usual timings for `service`, keeping job files in `dir`.
    pub fn new(service: &str, dir: PathBuf) -> ManagerSettings {
        ManagerSettings {
            service: service.into(),
            dir,
            workers: 2,
            execution_default: 600,
            execution_hard: 3600,
            retention: 7 * 86_400,
            max_wait: Duration::from_secs(60),
            sweep_every: Duration::from_secs(30),
            poll: Duration::from_millis(500),
            lease: Duration::from_secs(30),
        }
    }
}

/// Why a job operation failed.
#[derive(Debug, thiserror::Error)]
pub enum UwsError {
    /// No such job.
    #[error("no job {0}")]
    NotFound(String),
    /// Not allowed in the job's current phase.
    #[error("{0}")]
    Forbidden(String),
    /// A malformed value.
    #[error("{0}")]
    BadRequest(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file could not be written or removed.
    #[error("job files: {0}")]
    Io(#[from] std::io::Error),
    /// The operating system gave no random bytes for a job id.
    #[error("cannot make a job id: no randomness from the operating system: {0}")]
    Random(String),
}

/// Filters of the job list (UWS 1.1 §2.2.1.1).
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Only these phases (any of them); empty means all but ARCHIVED.
    pub phases: Vec<Phase>,
    /// Only jobs created after this time (ms since 1970).
    pub after_ms: Option<i64>,
    /// Only the `n` most recent, newest first.
    pub last: Option<usize>,
}

struct Inner {
    store: Arc<dyn Store>,
    runner: Arc<dyn Runner>,
    settings: ManagerSettings,
    /// This manager's name in the jobs it runs.
    instance: String,
    /// Wakes an idle worker when this server queues a job.
    work: Notify,
    changes: watch::Sender<u64>,
    running: std::sync::Mutex<HashMap<String, Arc<Notify>>>,
}

/// Creates, stores, runs and destroys jobs.
#[derive(Clone)]
pub struct JobManager {
    inner: Arc<Inner>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// How long a job directory must stand untouched before a sweep may remove it as orphaned.
pub const ORPHAN_GRACE: Duration = Duration::from_secs(600);

/// Whether a directory name has the form of a job id: 32 lower-case hex digits as [`new_id`]
/// makes them, or 18 as it made them before ids became random (an archive's older jobs and
/// their directories must still be recognised).
fn looks_like_job_id(name: &str) -> bool {
    matches!(name.len(), 18 | 32)
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A new job id: 128 bits from the operating system's random source, as 32 lower-case hex
/// digits. The id is all that protects a job created anonymously (whoever knows its URL may
/// read and delete it), so nothing predictable goes into it: no time, no counter. Ids of
/// servers sharing a store cannot collide in practice.
fn new_id() -> Result<String, UwsError> {
    use rand::TryRng;
    let mut bytes = [0u8; 16];
    rand::rngs::SysRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| UwsError::Random(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The creation time of a new job, in milliseconds: the clock, but strictly increasing within
/// this process. Ids no longer sort in creation order, and the queue runs jobs by creation
/// time; so jobs created by one server within the same millisecond still run in the order
/// they were created, and the job list's order and its AFTER filter are unambiguous.
fn creation_ms() -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = now_ms();
    match LAST.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
        Some(now.max(last + 1))
    }) {
        Ok(last) | Err(last) => now.max(last + 1),
    }
}

enum Outcome {
    Done(Result<Vec<JobResult>, String>),
    Aborted,
    TimedOut,
}

impl JobManager {
    /// Starts the manager: recovers jobs left by a previous run, then starts the workers and
    /// the destruction sweeper. Must be called inside a tokio runtime.
    pub async fn start(
        store: Arc<dyn Store>,
        runner: Arc<dyn Runner>,
        settings: ManagerSettings,
    ) -> Result<JobManager, UwsError> {
        std::fs::create_dir_all(&settings.dir)?;
        let manager = JobManager {
            inner: Arc::new(Inner {
                store,
                runner,
                settings,
                instance: format!("{}-{:08x}", std::process::id(), rand::random::<u32>()),
                work: Notify::new(),
                changes: watch::channel(0).0,
                running: std::sync::Mutex::new(HashMap::new()),
            }),
        };
        manager.recover().await?;
        manager.sweep().await;
        for _ in 0..manager.inner.settings.workers.max(1) {
            let worker = manager.clone();
            tokio::spawn(async move {
                loop {
                    match worker.claim().await {
                        Ok(Some(job)) => worker.execute(job).await,
                        // Jobs queued here wake a worker; on a shared store, jobs queued
                        // by another server are found at the next poll.
                        Ok(None) => {
                            let shared = worker.inner.store.is_shared();
                            tokio::select! {
                                () = worker.inner.work.notified() => {}
                                () = tokio::time::sleep(worker.inner.settings.poll), if shared => {}
                            }
                        }
                        Err(e) => {
                            tracing::warn!("cannot look for queued jobs: {e}");
                            tokio::time::sleep(worker.inner.settings.poll).await;
                        }
                    }
                }
            });
        }
        let sweeper = manager.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(sweeper.inner.settings.sweep_every).await;
                sweeper.sweep().await;
            }
        });
        Ok(manager)
    }

    /// Ends in ERROR the jobs left EXECUTING by a server that stopped: on a database of our own
    /// every such job (we are the only server and just started); on a shared one those whose
    /// heartbeat is older than the lease.
    async fn recover(&self) -> Result<(), UwsError> {
        let shared = self.inner.store.is_shared();
        let stale_before = now_ms() - self.inner.settings.lease.as_millis() as i64;
        for row in self.inner.store.load_jobs().await? {
            let Some(job) = self.decode(&row) else {
                continue;
            };
            let lost = move |job: &Job| {
                job.phase() == Phase::Executing
                    && (!shared
                        || job
                            .heartbeat_ms
                            .or(job.started_ms)
                            .is_none_or(|t| t < stale_before))
            };
            if !lost(&job) {
                continue;
            }
            let ended = self
                .edit(&job.id, move |job| {
                    if lost(job) {
                        job.set_phase(Phase::Error);
                        job.ended_ms = Some(now_ms());
                        job.error = Some(if job.results.is_empty() {
                            "the server stopped while this job was running; submit it again"
                                .into()
                        } else {
                            format!(
                                "the server stopped while this job was running; the {} results finished before are kept; submit it again for the rest",
                                job.results.len()
                            )
                        });
                    }
                    Ok(())
                })
                .await;
            match ended {
                Ok((ended, ())) => {
                    tracing::warn!(
                        job = %job.id,
                        kept = ended.results.len(),
                        "job interrupted by a server stop ends in ERROR"
                    );
                    self.remove_partial(&job.id, &ended.results);
                }
                Err(e) => tracing::warn!(job = %job.id, "cannot end an interrupted job: {e}"),
            }
        }
        Ok(())
    }

    /// Removes what a job that did not complete left in its directory (a result file half
    /// written when it failed, was aborted or the server stopped), keeping its parameter files
    /// and the files of the results it finished (`kept`): disk is not held by output nobody
    /// can fetch.
    fn remove_partial(&self, id: &str, kept: &[JobResult]) {
        let Ok(entries) = std::fs::read_dir(self.job_dir(id)) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with("param-") || kept.iter().any(|r| r.file == name) {
                continue;
            }
            let path = entry.path();
            let removed = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            if let Err(e) = removed {
                tracing::warn!(
                    job = id,
                    "cannot remove the partial output {}: {e}",
                    path.display()
                );
            }
        }
    }

    /// The directory of a job's files.
    pub fn job_dir(&self, id: &str) -> PathBuf {
        self.inner.settings.dir.join(id)
    }

    async fn put(&self, job: &Job) -> Result<(), UwsError> {
        self.inner.store.save_job(encode(job)?).await?;
        self.inner.changes.send_modify(|n| *n += 1);
        Ok(())
    }

    /// A job by id, whoever owns it (no access check; see [`JobManager::get_for`]).
    pub async fn get(&self, id: &str) -> Result<Job, UwsError> {
        let row = self.inner.store.load_job(id).await?;
        row.as_ref()
            .and_then(|r| self.decode(r))
            .ok_or_else(|| UwsError::NotFound(id.to_string()))
    }

    /// A job by id for `caller`: a job the caller may not reach ([`Job::reachable_by`]) is
    /// [`UwsError::NotFound`], the very error of an id that was never given out, so that a
    /// client cannot tell another user's job from no job.
    pub async fn get_for(&self, id: &str, caller: &Caller) -> Result<Job, UwsError> {
        let job = self.get(id).await?;
        if job.reachable_by(caller) {
            Ok(job)
        } else {
            Err(UwsError::NotFound(id.to_string()))
        }
    }

    /// The jobs in `caller`'s list ([`Job::listed_for`]: their own; every job for an
    /// administrator) that a filter selects, oldest first (newest first with `last`).
    pub async fn list(&self, caller: &Caller, filter: &JobFilter) -> Result<Vec<Job>, UwsError> {
        let mut jobs: Vec<Job> = self
            .inner
            .store
            .load_jobs()
            .await?
            .iter()
            .filter_map(|r| self.decode(r))
            .filter(|j| j.listed_for(caller))
            .filter(|j| {
                if filter.phases.is_empty() {
                    j.phase() != Phase::Archived
                } else {
                    filter.phases.contains(&j.phase())
                }
            })
            .filter(|j| filter.after_ms.is_none_or(|t| j.created_ms > t))
            .collect();
        jobs.sort_by_key(|j| j.created_ms);
        if let Some(n) = filter.last {
            jobs.reverse();
            jobs.truncate(n);
        }
        Ok(jobs)
    }

    /// Creates a PENDING job owned by `owner` (the caller's user; none for an anonymous
    /// caller) with parameters and inline files (`(name, content)`, kept in the job's
    /// directory as `param-<name>`).
    pub async fn create(
        &self,
        owner: &Caller,
        parameters: Vec<Parameter>,
        files: Vec<(String, Vec<u8>)>,
    ) -> Result<Job, UwsError> {
        let now = creation_ms();
        let mut job = Job {
            id: new_id()?,
            service: self.inner.settings.service.clone(),
            run_id: None,
            owner: owner.user.clone(),
            owner_groups: owner
                .groups
                .iter()
                .map(|m| (m.group.clone(), m.ends.map(|e| e.timestamp_millis())))
                .collect(),
            phase: Phase::Pending.as_str().into(),
            created_ms: now,
            started_ms: None,
            ended_ms: None,
            execution_duration: self.inner.settings.execution_default,
            destruction_ms: now + (self.inner.settings.retention as i64) * 1000,
            parameters: Vec::new(),
            results: Vec::new(),
            error: None,
            progress: None,
            runner: None,
            heartbeat_ms: None,
        };
        self.write_files(&job.id, &files)?;
        merge_parameters(&mut job, parameters);
        if let Err(e) = self.put(&job).await {
            let _ = std::fs::remove_dir_all(self.job_dir(&job.id));
            return Err(e);
        }
        Ok(job)
    }

    /// Writes a job's uploaded parts into its directory: all of them, or (on any error) none
    /// and no directory.
    fn write_files(&self, id: &str, files: &[(String, Vec<u8>)]) -> Result<(), UwsError> {
        if files.is_empty() {
            return Ok(());
        }
        if let Some((name, _)) = files.iter().find(|(name, _)| !is_safe_name(name)) {
            return Err(UwsError::BadRequest(format!(
                "upload part name {name:?} must be letters, digits and underscores"
            )));
        }
        let dir = self.job_dir(id);
        let written = std::fs::create_dir_all(&dir).and_then(|()| {
            files.iter().try_for_each(|(name, content)| {
                std::fs::write(dir.join(format!("param-{name}")), content)
            })
        });
        if let Err(e) = written {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e.into());
        }
        Ok(())
    }

    /// Removes the directories in the jobs directory that no stored job owns (left when the
    /// process died between writing a job's files and recording it). Only names of the job-id
    /// form are touched, and only when unchanged for [`ORPHAN_GRACE`], so a job being created
    /// by this or another server is never swept away.
    fn remove_orphans(&self, known: &std::collections::HashSet<String>) {
        let Ok(entries) = std::fs::read_dir(&self.inner.settings.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age >= ORPHAN_GRACE);
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if is_dir && old && looks_like_job_id(&name) && !known.contains(&name) {
                match std::fs::remove_dir_all(entry.path()) {
                    Ok(()) => tracing::info!(dir = %name, "removed a job directory no job owns"),
                    Err(e) => {
                        tracing::warn!(dir = %name, "cannot remove an orphaned job directory: {e}")
                    }
                }
            }
        }
    }

    /// The path of an inline file of a job, when it exists.
    pub fn parameter_file(&self, id: &str, name: &str) -> Option<PathBuf> {
        let path = self.job_dir(id).join(format!("param-{name}"));
        (is_safe_name(name) && path.is_file()).then_some(path)
    }

    /// Reads-modifies-writes one job while the store holds its row locked. `change` may
    /// refuse with an error, and then nothing is written.
    async fn edit<T: Send + 'static>(
        &self,
        id: &str,
        change: impl FnOnce(&mut Job) -> Result<T, UwsError> + Send + 'static,
    ) -> Result<(Job, T), UwsError> {
        type Slot<T> = Arc<std::sync::Mutex<Option<Result<(Job, T), UwsError>>>>;
        let slot: Slot<T> = Arc::new(std::sync::Mutex::new(None));
        let out = Arc::clone(&slot);
        let service = self.inner.settings.service.clone();
        let edit: JobEdit = Box::new(move |row: &JobRow| {
            let decided = (|| {
                let mut job =
                    decode_for(row, &service).ok_or_else(|| UwsError::NotFound(row.id.clone()))?;
                let value = change(&mut job)?;
                let changed = encode(&job)?;
                Ok((job, value, changed))
            })();
            let (result, write) = match decided {
                Ok((job, value, changed)) => (Ok((job, value)), Some(changed)),
                Err(e) => (Err(e), None),
            };
            match out.lock() {
                Ok(mut o) => *o = Some(result),
                Err(p) => *p.into_inner() = Some(result),
            }
            write
        });
        let stored = self.inner.store.edit_job(id, edit).await?;
        let result = match slot.lock() {
            Ok(mut o) => o.take(),
            Err(p) => p.into_inner().take(),
        };
        match (stored, result) {
            (Some(_), Some(result)) => {
                if result.is_ok() {
                    self.inner.changes.send_modify(|n| *n += 1);
                }
                result
            }
            _ => Err(UwsError::NotFound(id.to_string())),
        }
    }

    /// Takes the oldest QUEUED job of this service for this server and marks it EXECUTING.
    async fn claim(&self) -> Result<Option<Job>, UwsError> {
        let service = self.inner.settings.service.clone();
        let instance = self.inner.instance.clone();
        let claim: JobEdit = Box::new(move |row: &JobRow| {
            let mut job = decode_for(row, &service)?;
            let now = now_ms();
            job.set_phase(Phase::Executing);
            job.started_ms = Some(now);
            job.heartbeat_ms = Some(now);
            job.runner = Some(instance);
            encode(&job).ok()
        });
        let Some(row) = self
            .inner
            .store
            .claim_job(&self.inner.settings.service, claim)
            .await?
        else {
            return Ok(None);
        };
        let job = self.decode(&row);
        match job {
            Some(job) if job.phase() == Phase::Executing => {
                self.inner.changes.send_modify(|n| *n += 1);
                Ok(Some(job))
            }
            // A stored job we cannot read stays QUEUED; it would be claimed again and again.
            _ => {
                let id = row.id.clone();
                let _ = self
                    .inner
                    .store
                    .edit_job(
                        &row.id,
                        Box::new(|row: &JobRow| {
                            let mut broken = row.clone();
                            broken.phase = Phase::Error.as_str().into();
                            Some(broken)
                        }),
                    )
                    .await;
                tracing::error!(job = %id, "a queued job that cannot be read ends in ERROR");
                Ok(None)
            }
        }
    }

    /// Sets parameters of a PENDING job: a name given again replaces the old value, except
    /// UPLOAD, whose values accumulate.
    pub async fn set_parameters(
        &self,
        id: &str,
        parameters: Vec<Parameter>,
        files: Vec<(String, Vec<u8>)>,
    ) -> Result<Job, UwsError> {
        let current = self.get(id).await?;
        if current.phase() != Phase::Pending {
            return Err(not_pending(&current));
        }
        self.write_files(id, &files)?;
        self.edit(id, move |job| {
            if job.phase() != Phase::Pending {
                return Err(not_pending(job));
            }
            merge_parameters(job, parameters);
            Ok(())
        })
        .await
        .map(|(j, ())| j)
    }

    /// PHASE=RUN: a PENDING (or HELD) job is queued; running or finished jobs are left alone.
    pub async fn run(&self, id: &str) -> Result<Job, UwsError> {
        let (job, queued) = self
            .edit(id, move |job| {
                Ok(match job.phase() {
                    Phase::Pending | Phase::Held => {
                        job.set_phase(Phase::Queued);
                        true
                    }
                    _ => false,
                })
            })
            .await?;
        if queued {
            self.inner.work.notify_one();
        }
        Ok(job)
    }

    /// PHASE=ABORT: a job not yet finished ends ABORTED (a running query is stopped).
    pub async fn abort(&self, id: &str) -> Result<Job, UwsError> {
        let (job, ()) = self
            .edit(id, move |job| {
                if !job.phase().is_final() {
                    job.set_phase(Phase::Aborted);
                    job.ended_ms = Some(now_ms());
                }
                Ok(())
            })
            .await?;
        self.cancel_running(id);
        Ok(job)
    }

    fn cancel_running(&self, id: &str) {
        let running = match self.inner.running.lock() {
            Ok(r) => r.get(id).cloned(),
            Err(p) => p.into_inner().get(id).cloned(),
        };
        if let Some(n) = running {
            n.notify_one();
        }
    }

    /// Destroys a job at `caller`'s request, when the caller may reach it (else
    /// [`UwsError::NotFound`], as for [`JobManager::get_for`]), and logs who deleted whose job:
    /// a deletion is the one change a client cannot see afterwards, and an administrator may
    /// delete other users' jobs.
    pub async fn delete_for(&self, id: &str, caller: &Caller) -> Result<(), UwsError> {
        let job = self.get_for(id, caller).await?;
        self.delete(id).await?;
        let by_admin = job.owner.is_some() && !caller.is_user(job.owner.as_deref());
        tracing::info!(
            job = %id,
            service = %job.service,
            owner = %job.owner.as_deref().unwrap_or("anonymous"),
            by = %caller.user.as_deref().unwrap_or("anonymous"),
            by_admin,
            "job deleted"
        );
        Ok(())
    }

    /// Destroys a job: stops it, removes its files and its record. No access check: for the
    /// server's own housekeeping (destruction times) and for callers already checked with
    /// [`JobManager::get_for`]; a client's request goes through [`JobManager::delete_for`].
    pub async fn delete(&self, id: &str) -> Result<(), UwsError> {
        // Another service's job is not this manager's to delete.
        self.get(id).await?;
        if !self.inner.store.delete_job(id).await? {
            return Err(UwsError::NotFound(id.to_string()));
        }
        self.cancel_running(id);
        self.inner.changes.send_modify(|n| *n += 1);
        let dir = self.job_dir(id);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        Ok(())
    }

    /// Sets the execution duration of a PENDING job (seconds; clamped to the hard limit; 0,
    /// "unlimited", becomes the hard limit).
    pub async fn set_execution_duration(&self, id: &str, seconds: i64) -> Result<Job, UwsError> {
        if seconds < 0 {
            return Err(UwsError::BadRequest(format!(
                "EXECUTIONDURATION must be a non-negative number of seconds, got {seconds}"
            )));
        }
        let hard = self.inner.settings.execution_hard;
        self.edit(id, move |job| {
            if job.phase() != Phase::Pending {
                return Err(not_pending(job));
            }
            let asked = seconds as u64;
            job.execution_duration = if asked == 0 || asked > hard {
                hard
            } else {
                asked
            };
            Ok(())
        })
        .await
        .map(|(j, ())| j)
    }

    /// Sets the destruction time (no later than the retention period allows).
    pub async fn set_destruction(&self, id: &str, at_ms: i64) -> Result<Job, UwsError> {
        let retention = self.inner.settings.retention as i64 * 1000;
        self.edit(id, move |job| {
            job.destruction_ms = at_ms.min(job.created_ms + retention);
            Ok(())
        })
        .await
        .map(|(j, ())| j)
    }

    /// Blocks while the job is PENDING, QUEUED or EXECUTING (and, with `phase`, in that phase)
    /// until its phase changes or `wait` passes (`None` = as long as the server allows).
    pub async fn wait(
        &self,
        id: &str,
        wait: Option<Duration>,
        phase: Option<Phase>,
    ) -> Result<Job, UwsError> {
        let mut changes = self.inner.changes.subscribe();
        let job = self.get(id).await?;
        let active = matches!(
            job.phase(),
            Phase::Pending | Phase::Queued | Phase::Executing
        );
        if !active || phase.is_some_and(|p| p != job.phase()) {
            return Ok(job);
        }
        let limit = wait
            .unwrap_or(self.inner.settings.max_wait)
            .min(self.inner.settings.max_wait);
        let deadline = tokio::time::Instant::now() + limit;
        // Changes made here wake the wait at once; changes made by another server sharing
        // the store are seen at the next poll.
        loop {
            tokio::select! {
                changed = changes.changed() => {
                    let now = self.get(id).await?;
                    if changed.is_err() || now.phase != job.phase {
                        return Ok(now);
                    }
                }
                () = tokio::time::sleep(self.inner.settings.poll), if self.inner.store.is_shared() => {
                    let now = self.get(id).await?;
                    if now.phase != job.phase {
                        return Ok(now);
                    }
                }
                () = tokio::time::sleep_until(deadline) => return self.get(id).await,
            }
        }
    }

    async fn execute(&self, job: Job) {
        let id = job.id.as_str();
        let cancel = Arc::new(Notify::new());
        match self.inner.running.lock() {
            Ok(mut r) => r.insert(id.to_string(), Arc::clone(&cancel)),
            Err(p) => p.into_inner().insert(id.to_string(), Arc::clone(&cancel)),
        };
        let dir = self.job_dir(id);
        let reporter = ProgressReporter {
            manager: Some(self.clone()),
            id: id.to_string(),
            finished: Default::default(),
        };
        let outcome = match std::fs::create_dir_all(&dir) {
            Err(e) => Outcome::Done(Err(format!("cannot create the job directory: {e}"))),
            Ok(()) => {
                let limit = match job.execution_duration {
                    0 => Duration::from_secs(self.inner.settings.execution_hard.max(1)),
                    s => Duration::from_secs(s),
                };
                tokio::select! {
                    r = self.inner.runner.run(&job, &dir, reporter.clone()) => Outcome::Done(r),
                    () = cancel.notified() => Outcome::Aborted,
                    () = self.watch_running(id) => Outcome::Aborted,
                    () = tokio::time::sleep(limit) => Outcome::TimedOut,
                }
            }
        };
        match self.inner.running.lock() {
            Ok(mut r) => r.remove(id),
            Err(p) => p.into_inner().remove(id),
        };
        let completed = matches!(outcome, Outcome::Done(Ok(_)));
        // The results finished before the job stopped stay with a job that did not complete,
        // whoever ended it (an abort has set its phase already).
        let kept = if completed {
            Vec::new()
        } else {
            reporter.finished()
        };
        let kept_here = kept.clone();
        let finished = self
            .edit(id, move |job| {
                if job.phase() != Phase::Executing {
                    if !completed && job.phase() != Phase::Completed {
                        job.results = kept_here;
                    }
                    return Ok(());
                }
                job.ended_ms = Some(now_ms());
                if !completed {
                    job.results = kept_here;
                }
                match outcome {
                    Outcome::Done(Ok(results)) => {
                        job.set_phase(Phase::Completed);
                        job.results = results;
                    }
                    Outcome::Done(Err(message)) => {
                        job.set_phase(Phase::Error);
                        job.error = Some(message);
                    }
                    Outcome::Aborted => job.set_phase(Phase::Aborted),
                    Outcome::TimedOut => {
                        // UWS 1.1 §2.2.3.3: a job over its execution duration is aborted.
                        job.set_phase(Phase::Aborted);
                        job.error = Some(format!(
                            "the job ran longer than its execution duration of {} s and was stopped",
                            job.execution_duration
                        ));
                    }
                }
                Ok(())
            })
            .await;
        let kept = match finished {
            Ok((job, ())) => job.results,
            Err(e) => {
                tracing::warn!(job = id, "job finished but cannot be updated: {e}");
                kept
            }
        };
        if !completed {
            self.remove_partial(id, &kept);
        }
    }

    /// On a shared store, returns when the running job `id` is no longer EXECUTING there
    /// (aborted or deleted through another server), and meanwhile records heartbeats. On a
    /// store of our own it never returns: aborts and deletes cancel the job directly.
    async fn watch_running(&self, id: &str) {
        if !self.inner.store.is_shared() {
            // Only this server changes the job: an abort or delete cancels it directly.
            return std::future::pending().await;
        }
        let beat_every = (self.inner.settings.lease / 3).max(self.inner.settings.poll);
        let mut last_beat = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(self.inner.settings.poll).await;
            match self.get(id).await {
                Ok(job) if job.phase() == Phase::Executing => {}
                Ok(_) | Err(UwsError::NotFound(_)) => return,
                Err(e) => {
                    tracing::warn!(job = id, "cannot check a running job: {e}");
                    continue;
                }
            }
            if last_beat.elapsed() >= beat_every {
                last_beat = tokio::time::Instant::now();
                let beat = self
                    .edit(id, move |job| {
                        if job.phase() == Phase::Executing {
                            job.heartbeat_ms = Some(now_ms());
                        }
                        Ok(())
                    })
                    .await;
                if let Err(e) = beat {
                    tracing::warn!(job = id, "cannot record a heartbeat: {e}");
                }
            }
        }
    }

    /// Destroys every job whose destruction time has passed; on a shared store also ends the
    /// jobs whose server stopped.
    pub async fn sweep(&self) {
        if self.inner.store.is_shared() {
            if let Err(e) = self.recover().await {
                tracing::warn!("cannot look for interrupted jobs: {e}");
            }
        }
        let now = now_ms();
        let rows = match self.inner.store.load_jobs().await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!("cannot list jobs for destruction: {e}");
                return;
            }
        };
        self.remove_orphans(&rows.iter().map(|r| r.id.clone()).collect());
        let expired: Vec<String> = rows
            .iter()
            .filter_map(|r| self.decode(r))
            .filter(|j| j.destruction_ms <= now)
            .map(|j| j.id)
            .collect();
        for id in expired {
            match self.delete(&id).await {
                Ok(()) | Err(UwsError::NotFound(_)) => tracing::info!(job = %id, "job destroyed"),
                Err(e) => tracing::warn!(job = %id, "cannot destroy job: {e}"),
            }
        }
    }
}

impl JobManager {
    /// The stored job, when it is readable and belongs to this manager's service.
    fn decode(&self, row: &JobRow) -> Option<Job> {
        decode_for(row, &self.inner.settings.service)
    }
}

/// The stored job, when it is readable and belongs to `service`.
fn decode_for(row: &JobRow, service: &str) -> Option<Job> {
    match serde_json::from_str::<Job>(&row.document) {
        Ok(j) => (j.service == service).then_some(j),
        Err(e) => {
            tracing::error!(job = %row.id, "stored job is unreadable: {e}");
            None
        }
    }
}

/// The stored form of a job.
fn encode(job: &Job) -> Result<JobRow, UwsError> {
    Ok(JobRow {
        id: job.id.clone(),
        created: job.creation_time(),
        phase: job.phase.clone(),
        service: job.service.clone(),
        document: serde_json::to_string(job)
            .map_err(|e| UwsError::BadRequest(format!("cannot store job: {e}")))?,
    })
}

fn not_pending(job: &Job) -> UwsError {
    UwsError::Forbidden(format!(
        "job {} is {}; this can be changed only while it is PENDING",
        job.id, job.phase
    ))
}

fn is_safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Adds a batch of parameters: a name in the batch replaces that name's earlier values (all
/// the batch's values are kept: SODA's ID, POS, CIRCLE… repeat), except UPLOAD, whose values
/// accumulate.
fn merge_parameters(job: &mut Job, parameters: Vec<Parameter>) {
    let names: std::collections::HashSet<String> = parameters
        .iter()
        .map(|p| p.name.to_ascii_uppercase())
        .filter(|n| n != "UPLOAD")
        .collect();
    job.parameters.retain(|q| !names.contains(&q.name));
    for p in parameters {
        let name = p.name.to_ascii_uppercase();
        if name == "RUNID" {
            job.run_id = Some(p.value.clone());
        }
        job.parameters.push(Parameter {
            name,
            value: p.value,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::{creation_ms, looks_like_job_id, new_id};

    #[test]
    fn ids_are_128_random_bits_and_do_not_repeat() {
        let ids: Vec<String> = (0..10_000).map(|_| new_id().expect("id")).collect();
        assert!(ids.iter().all(|i| i.len() == 32
            && i.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))));
        let distinct: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len(), "an id repeated");
        // Nothing orders them: ids made one after another are not increasing (the old
        // time-prefixed ids always were; 10 000 random ones sorted by chance: p = 1/10000!).
        assert!(
            ids.windows(2).any(|w| w[0] > w[1]),
            "ids sort in creation order"
        );
        // Every hex digit position varies (no fixed or time-derived prefix).
        for pos in 0..32 {
            let digits: std::collections::HashSet<u8> =
                ids.iter().map(|i| i.as_bytes()[pos]).collect();
            assert_eq!(digits.len(), 16, "digit {pos} takes only {digits:?}");
        }
        assert!(ids.iter().all(|i| looks_like_job_id(i)));
    }

    #[test]
    fn creation_times_increase_strictly_so_the_queue_keeps_creation_order() {
        let times: Vec<i64> = (0..10_000).map(|_| creation_ms()).collect();
        assert!(times.windows(2).all(|w| w[0] < w[1]), "strictly increasing");
        let now = chrono::Utc::now().timestamp_millis();
        assert!(
            times[0] <= now && now - times[0] < 60_000,
            "close to the clock"
        );
    }

    #[test]
    fn the_orphan_sweep_knows_old_and_new_ids_and_nothing_else() {
        // An 18-digit id as skyport made them before ids were random.
        assert!(looks_like_job_id("0006177a2c3d41b2f3"));
        assert!(looks_like_job_id("3f9c0a7de21b4c58a06e9d1f7b2c8e40"));
        for other in [
            "soda",
            "tap",
            "0006177A2C3D41B2F3",
            "0006177a2c3d41b2f",
            "3f9c0a7de21b4c58a06e9d1f7b2c8e4",
            "3f9c0a7de21b4c58a06e9d1f7b2c8e400",
            "3f9c0a7de21b4c58a06e9d1f7b2c8e4g",
            "",
        ] {
            assert!(!looks_like_job_id(other), "{other:?}");
        }
    }
}
