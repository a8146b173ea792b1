//! Several job managers — several servers — on one PostgreSQL database: a job created on one
//! is run exactly once by whichever claims it, an abort sent to one stops the job where it
//! runs, a blocking wait sees changes made elsewhere, and a job whose server stopped ends in
//! ERROR once its heartbeat is stale. Needs `SKYPORT_PG_URL` (scripts/test starts a server).

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use common::{admin, finish, user};
use skyport_store::postgres::scratch::{test_url, ScratchDatabase};
use skyport_store::{JobRow, PostgresStore, Store};
use skyport_uws::{
    Caller, Job, JobManager, JobResult, ManagerSettings, Parameter, Phase, ProgressReporter, Runner,
};

/// Sleeps QUERY milliseconds, counting which server ran which job; notes when a run is
/// dropped before it ends (an abort).
struct Worker {
    name: &'static str,
    runs: Arc<Mutex<HashMap<String, Vec<&'static str>>>>,
    dropped: Arc<AtomicBool>,
}

struct DropFlag(Arc<AtomicBool>, bool);

impl Drop for DropFlag {
    fn drop(&mut self) {
        if !self.1 {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}

#[async_trait]
impl Runner for Worker {
    async fn run(
        &self,
        job: &Job,
        dir: &Path,
        _: ProgressReporter,
    ) -> Result<Vec<JobResult>, String> {
        if let Ok(mut runs) = self.runs.lock() {
            runs.entry(job.id.clone()).or_default().push(self.name);
        }
        let ms: u64 = job
            .parameter_values("QUERY")
            .first()
            .and_then(|q| q.parse().ok())
            .ok_or("QUERY must be a number")?;
        let mut flag = DropFlag(Arc::clone(&self.dropped), false);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        flag.1 = true;
        std::fs::write(dir.join("out.txt"), self.name).map_err(|e| e.to_string())?;
        Ok(vec![JobResult {
            id: "result".into(),
            file: "out.txt".into(),
            mime: "text/plain".into(),
            size: 1,
        }])
    }
}

fn settings(dir: &Path) -> ManagerSettings {
    ManagerSettings {
        workers: 2,
        max_wait: Duration::from_secs(10),
        sweep_every: Duration::from_millis(200),
        poll: Duration::from_millis(50),
        lease: Duration::from_secs(2),
        ..ManagerSettings::new("tap", dir.join("jobs"))
    }
}

struct Cluster {
    _db: ScratchDatabase,
    dir: tempfile::TempDir,
    url: String,
    runs: Arc<Mutex<HashMap<String, Vec<&'static str>>>>,
    dropped: Arc<AtomicBool>,
}

impl Cluster {
    async fn new(label: &str) -> Option<Cluster> {
        let url = test_url(label)?;
        let db = ScratchDatabase::create(&url, label).await.expect("db");
        let url = db.url.clone();
        Some(Cluster {
            _db: db,
            dir: tempfile::tempdir().expect("dir"),
            url,
            runs: Arc::default(),
            dropped: Arc::default(),
        })
    }

    /// A server: its own connections to the database, the shared job directory.
    async fn server(&self, name: &'static str) -> (Arc<dyn Store>, JobManager) {
        let store: Arc<dyn Store> =
            Arc::new(PostgresStore::connect(&self.url, 2).await.expect("connect"));
        store
            .migrate(&skyport_schema::builtin_schemas())
            .await
            .expect("migrate");
        let worker = Worker {
            name,
            runs: Arc::clone(&self.runs),
            dropped: Arc::clone(&self.dropped),
        };
        let m = JobManager::start(
            Arc::clone(&store),
            Arc::new(worker),
            settings(self.dir.path()),
        )
        .await
        .expect("start");
        (store, m)
    }
}

fn query(ms: u64) -> Vec<Parameter> {
    vec![Parameter {
        name: "QUERY".into(),
        value: ms.to_string(),
    }]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_created_on_one_server_run_once_on_either() {
    let Some(c) = Cluster::new("uws_share").await else {
        return;
    };
    let (_sa, a) = c.server("A").await;
    let (_sb, b) = c.server("B").await;
    let mut ids = Vec::new();
    for _ in 0..16 {
        let job = a
            .create(&Caller::anonymous(), query(150), vec![])
            .await
            .expect("create");
        ids.push(job.id.clone());
    }
    // Queue them all on A; B has to find them in the database.
    for id in &ids {
        a.run(id).await.expect("run");
    }
    for id in &ids {
        // Waiting through B sees A's (or B's) progress.
        let job = finish(&b, id).await;
        assert_eq!(job.phase(), Phase::Completed, "{id}: {:?}", job.error);
        let who = std::fs::read_to_string(c.dir.path().join("jobs").join(id).join("out.txt"))
            .expect("result");
        assert!(who == "A" || who == "B");
    }
    let runs = c.runs.lock().expect("runs").clone();
    for id in &ids {
        assert_eq!(
            runs.get(id).map(Vec::len),
            Some(1),
            "{id} ran exactly once: {runs:?}"
        );
    }
    let by_b = runs.values().filter(|v| v[0] == "B").count();
    assert!(
        by_b > 0 && by_b < ids.len(),
        "both servers took jobs: B ran {by_b} of {}",
        ids.len()
    );
    // Both servers list the same jobs in the same phases.
    let list = |m: &JobManager| {
        let m = m.clone();
        async move {
            m.list(&admin("root"), &skyport_uws::JobFilter::default())
                .await
                .expect("list")
                .into_iter()
                .map(|j| (j.id, j.phase))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list(&a).await, list(&b).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_sent_to_one_server_stops_the_job_where_it_runs() {
    let Some(c) = Cluster::new("uws_abort").await else {
        return;
    };
    let (_sa, a) = c.server("A").await;
    let (_sb, b) = c.server("B").await;
    let job = a
        .create(&Caller::anonymous(), query(60_000), vec![])
        .await
        .expect("create");
    a.run(&job.id).await.expect("run");
    let running = a
        .wait(&job.id, Some(Duration::from_secs(5)), Some(Phase::Queued))
        .await
        .expect("wait");
    assert_eq!(running.phase(), Phase::Executing);
    let runner = c
        .runs
        .lock()
        .expect("runs")
        .get(&job.id)
        .cloned()
        .unwrap_or_default();
    // Abort through whichever server is not running it, if we can tell; B otherwise.
    let other = if runner == ["B"] { &a } else { &b };
    other.abort(&job.id).await.expect("abort");
    let mut stopped = false;
    for _ in 0..100 {
        if c.dropped.load(Ordering::SeqCst) {
            stopped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(stopped, "the running job was stopped on its server");
    assert_eq!(a.get(&job.id).await.expect("get").phase(), Phase::Aborted);
    assert_eq!(b.get(&job.id).await.expect("get").phase(), Phase::Aborted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_server_stopped_ends_in_error_after_the_lease() {
    let Some(c) = Cluster::new("uws_lease").await else {
        return;
    };
    let (store, a) = c.server("A").await;
    let now = chrono::Utc::now().timestamp_millis();
    // Two jobs another server had been running: one heard from just now, one long silent.
    for (id, heartbeat) in [("fresh", now), ("stale", now - 3_600_000)] {
        let mut job = a
            .create(&Caller::anonymous(), query(1), vec![])
            .await
            .expect("create");
        job.id = id.into();
        job.set_phase(Phase::Executing);
        job.started_ms = Some(heartbeat);
        job.heartbeat_ms = Some(heartbeat);
        job.runner = Some("gone".into());
        store
            .save_job(JobRow {
                id: id.into(),
                created: job.creation_time(),
                phase: job.phase.clone(),
                service: "tap".into(),
                document: serde_json::to_string(&job).expect("json"),
            })
            .await
            .expect("save");
    }
    let stale = finish(&a, "stale").await;
    assert_eq!(stale.phase(), Phase::Error);
    assert!(stale.error.unwrap_or_default().contains("server stopped"));
    // The fresh one is left alone while its lease runs (2 s), then ends the same way.
    assert_eq!(a.get("fresh").await.expect("get").phase(), Phase::Executing);
    let fresh = finish(&a, "fresh").await;
    assert_eq!(fresh.phase(), Phase::Error);
    let after = fresh.ended_ms.unwrap_or(0) - now;
    assert!(after >= 2_000, "ended {after} ms after its last heartbeat");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jobs_owner_is_stored_and_every_server_applies_it() {
    let Some(c) = Cluster::new("uws_owner").await else {
        return;
    };
    let (_sa, a) = c.server("A").await;
    let (_sb, b) = c.server("B").await;
    let job = a
        .create(&user("alice"), query(1), vec![])
        .await
        .expect("create");
    // B learns the owner from the database alone.
    let seen = b.get_for(&job.id, &user("alice")).await.expect("alice's");
    assert_eq!(seen.owner.as_deref(), Some("alice"));
    assert!(matches!(
        b.get_for(&job.id, &user("bob")).await,
        Err(skyport_uws::UwsError::NotFound(_))
    ));
    let all = skyport_uws::JobFilter::default();
    let listed = |jobs: Vec<Job>| jobs.into_iter().map(|j| j.id).collect::<Vec<_>>();
    assert_eq!(
        listed(b.list(&user("alice"), &all).await.expect("list")),
        [job.id.as_str()]
    );
    assert!(b.list(&user("bob"), &all).await.expect("list").is_empty());
    assert!(b.delete_for(&job.id, &user("bob")).await.is_err());
    b.delete_for(&job.id, &admin("root")).await.expect("admin");
    assert!(a.get(&job.id).await.is_err(), "gone for A too");
}
