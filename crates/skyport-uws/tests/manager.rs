//! The job manager against a real SQLite store, with a runner that sleeps for the number of
//! milliseconds in its QUERY parameter and then writes a result file.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::{finish, user};
use skyport_store::{JobRow, SqliteStore, Store};
use skyport_uws::{
    Caller, Job, JobFilter, JobManager, JobResult, ManagerSettings, Parameter, Phase, Progress,
    ProgressReporter, Runner,
};

struct Sleeper;

#[async_trait]
impl Runner for Sleeper {
    async fn run(
        &self,
        job: &Job,
        dir: &Path,
        progress: ProgressReporter,
    ) -> Result<Vec<JobResult>, String> {
        if let Some(steps) = job.parameter_values("STEPS").first() {
            return steps_then_hang(steps, dir, &progress).await;
        }
        let ms: u64 = job
            .parameter_values("QUERY")
            .first()
            .and_then(|q| q.parse().ok())
            .ok_or("QUERY must be a number of milliseconds")?;
        progress.report(1, 2).await;
        tokio::time::sleep(Duration::from_millis(ms)).await;
        std::fs::write(dir.join("out.txt"), b"done").map_err(|e| e.to_string())?;
        Ok(vec![JobResult {
            id: "result".into(),
            file: "out.txt".into(),
            mime: "text/plain".into(),
            size: 4,
        }])
    }
}

/// Finishes `steps` results (`step-N.txt`, each reported as it is finished), then starts a
/// file it never finishes and waits for good: what a SODA job cutting many images does when it
/// is stopped in the middle.
async fn steps_then_hang(
    steps: &str,
    dir: &Path,
    progress: &ProgressReporter,
) -> Result<Vec<JobResult>, String> {
    let steps: usize = steps.parse().map_err(|_| "STEPS must be a number")?;
    for k in 1..=steps {
        let file = format!("step-{k}.txt");
        std::fs::write(dir.join(&file), b"done").map_err(|e| e.to_string())?;
        progress
            .result(JobResult {
                id: format!("step-{k}"),
                file,
                mime: "text/plain".into(),
                size: 4,
            })
            .await;
    }
    std::fs::write(dir.join("unfinished.txt"), b"half").map_err(|e| e.to_string())?;
    tokio::time::sleep(Duration::from_secs(600)).await;
    Err("not reached".into())
}

fn settings(dir: &Path) -> ManagerSettings {
    ManagerSettings {
        service: "tap".into(),
        dir: dir.join("jobs"),
        workers: 1,
        execution_default: 2,
        execution_hard: 5,
        retention: 3600,
        max_wait: Duration::from_secs(5),
        sweep_every: Duration::from_millis(100),
        poll: Duration::from_millis(50),
        lease: Duration::from_secs(2),
    }
}

async fn open(dir: &Path) -> Arc<dyn Store> {
    let store = SqliteStore::open(&dir.join("a.sqlite"), 1).expect("open");
    store
        .migrate(&skyport_schema::builtin_schemas())
        .await
        .expect("migrate");
    Arc::new(store)
}

async fn start(dir: &Path) -> JobManager {
    JobManager::start(open(dir).await, Arc::new(Sleeper), settings(dir))
        .await
        .expect("start")
}

fn p(name: &str, value: &str) -> Parameter {
    Parameter {
        name: name.into(),
        value: value.into(),
    }
}

#[tokio::test]
async fn a_job_runs_to_completion_and_parameters_replace() {
    let dir = tempfile::tempdir().expect("dir");
    let m = start(dir.path()).await;
    let job = m
        .create(
            &Caller::anonymous(),
            vec![p("query", "10"), p("runid", "a")],
            vec![],
        )
        .await
        .expect("create");
    assert_eq!(job.phase(), Phase::Pending);
    let job = m
        .set_parameters(
            &job.id,
            vec![
                p("RUNID", "b"),
                p("UPLOAD", "t1,param:t1"),
                p("upload", "t2,http://x"),
            ],
            vec![],
        )
        .await
        .expect("set");
    assert_eq!(job.run_id.as_deref(), Some("b"));
    assert_eq!(
        job.parameter_values("runid"),
        ["b"],
        "replaced, not duplicated"
    );
    assert_eq!(
        job.parameter_values("UPLOAD").len(),
        2,
        "uploads accumulate"
    );
    m.run(&job.id).await.expect("run");
    let done = finish(&m, &job.id).await;
    assert_eq!(done.phase(), Phase::Completed, "{done:?}");
    assert!(done.started_ms.is_some() && done.ended_ms >= done.started_ms);
    assert!(m.job_dir(&job.id).join("out.txt").is_file());
    let err = m
        .set_parameters(&job.id, vec![p("QUERY", "1")], vec![])
        .await
        .expect_err("not pending");
    assert!(err.to_string().contains("PENDING"), "{err}");
    m.delete(&job.id).await.expect("delete");
    assert!(m.get(&job.id).await.is_err());
    assert!(!m.job_dir(&job.id).exists(), "files removed");
}

#[tokio::test]
async fn abort_and_execution_duration_stop_running_jobs() {
    let dir = tempfile::tempdir().expect("dir");
    let m = start(dir.path()).await;
    let long = m
        .create(&Caller::anonymous(), vec![p("QUERY", "60000")], vec![])
        .await
        .expect("create");
    m.run(&long.id).await.expect("run");
    let waiting = m
        .create(&Caller::anonymous(), vec![p("QUERY", "1")], vec![])
        .await
        .expect("create");
    m.run(&waiting.id).await.expect("run");
    // One worker: the second job waits behind the first.
    let j = m
        .wait(&long.id, Some(Duration::from_secs(2)), Some(Phase::Queued))
        .await
        .expect("wait");
    assert_eq!(j.phase(), Phase::Executing);
    assert_eq!(
        m.get(&waiting.id).await.expect("get").phase(),
        Phase::Queued
    );
    m.abort(&long.id).await.expect("abort");
    assert_eq!(finish(&m, &long.id).await.phase(), Phase::Aborted);
    assert_eq!(
        finish(&m, &waiting.id).await.phase(),
        Phase::Completed,
        "the queue moves on"
    );

    let slow = m
        .create(&Caller::anonymous(), vec![p("QUERY", "60000")], vec![])
        .await
        .expect("create");
    let slow = m
        .set_execution_duration(&slow.id, 1)
        .await
        .expect("duration");
    assert_eq!(slow.execution_duration, 1);
    m.run(&slow.id).await.expect("run");
    let started = std::time::Instant::now();
    let end = finish(&m, &slow.id).await;
    assert_eq!(end.phase(), Phase::Aborted);
    assert!(
        end.error
            .as_deref()
            .unwrap_or("")
            .contains("execution duration"),
        "{end:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    let clamped = m
        .create(&Caller::anonymous(), vec![], vec![])
        .await
        .expect("create");
    assert_eq!(
        m.set_execution_duration(&clamped.id, 10_000)
            .await
            .expect("set")
            .execution_duration,
        5
    );
}

#[tokio::test]
async fn after_a_restart_no_job_is_left_executing() {
    let dir = tempfile::tempdir().expect("dir");
    let store = open(dir.path()).await;
    let mut interrupted = None;
    for (id, phase) in [("running", "EXECUTING"), ("waiting", "QUEUED")] {
        let job = Job {
            id: id.into(),
            service: "tap".into(),
            run_id: None,
            owner: None,
            owner_groups: Vec::new(),
            phase: phase.into(),
            created_ms: chrono::Utc::now().timestamp_millis(),
            started_ms: None,
            ended_ms: None,
            execution_duration: 2,
            destruction_ms: chrono::Utc::now().timestamp_millis() + 3_600_000,
            parameters: vec![p("QUERY", "1")],
            // The interrupted job had recorded one finished result.
            results: if phase == "EXECUTING" {
                vec![JobResult {
                    id: "step-1".into(),
                    file: "step-1.txt".into(),
                    mime: "text/plain".into(),
                    size: 4,
                }]
            } else {
                vec![]
            },
            error: None,
            progress: None,
            runner: None,
            heartbeat_ms: None,
        };
        store
            .save_job(JobRow {
                id: id.into(),
                created: job.creation_time(),
                phase: phase.into(),
                service: "tap".into(),
                document: serde_json::to_string(&job).expect("json"),
            })
            .await
            .expect("save");
        interrupted.get_or_insert(job);
    }
    // What the interrupted job had written: its upload (kept) and half a result (removed).
    let running_dir = dir.path().join("jobs").join("running");
    std::fs::create_dir_all(&running_dir).expect("mkdir");
    std::fs::write(running_dir.join("param-t"), b"<VOTABLE/>").expect("param");
    std::fs::write(running_dir.join("result.vot"), vec![b'x'; 4096]).expect("partial");
    std::fs::write(running_dir.join("step-1.txt"), b"done").expect("finished");
    let m = JobManager::start(store, Arc::new(Sleeper), settings(dir.path()))
        .await
        .expect("start");
    let r = m.get("running").await.expect("get");
    assert_eq!(r.phase(), Phase::Error);
    assert!(r.error.as_deref().unwrap_or("").contains("submit it again"));
    assert!(r
        .error
        .as_deref()
        .unwrap_or("")
        .contains("1 results finished before are kept"));
    assert_eq!(r.results.len(), 1, "its finished result stays listed");
    assert!(
        running_dir.join("step-1.txt").exists(),
        "and its file stays"
    );
    assert!(running_dir.join("param-t").exists(), "its parameters stay");
    assert!(
        !running_dir.join("result.vot").exists(),
        "its partial result is gone"
    );
    assert_eq!(
        finish(&m, "waiting").await.phase(),
        Phase::Completed,
        "queued jobs run after a restart"
    );
}

#[tokio::test]
async fn destruction_time_removes_the_job_and_the_list_filters() {
    let dir = tempfile::tempdir().expect("dir");
    let m = start(dir.path()).await;
    let alice = user("alice");
    let a = m
        .create(&alice, vec![], vec![("t1".into(), b"<VOTABLE/>".to_vec())])
        .await
        .expect("a");
    assert!(m.parameter_file(&a.id, "t1").is_some());
    assert!(
        m.create(&alice, vec![], vec![("../x".into(), vec![])])
            .await
            .is_err(),
        "unsafe part name"
    );
    tokio::time::sleep(Duration::from_millis(5)).await;
    let b = m
        .create(&alice, vec![p("QUERY", "1")], vec![])
        .await
        .expect("b");
    m.run(&b.id).await.expect("run");
    finish(&m, &b.id).await;
    let last = m
        .list(
            &alice,
            &JobFilter {
                last: Some(1),
                ..Default::default()
            },
        )
        .await
        .expect("list");
    assert_eq!(
        last.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
        [b.id.as_str()]
    );
    let pending = m
        .list(
            &alice,
            &JobFilter {
                phases: vec![Phase::Pending],
                ..Default::default()
            },
        )
        .await
        .expect("list");
    assert_eq!(
        pending.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
        [a.id.as_str()]
    );
    let after = m
        .list(
            &alice,
            &JobFilter {
                after_ms: Some(a.created_ms),
                ..Default::default()
            },
        )
        .await
        .expect("list");
    assert_eq!(after.len(), 1);
    m.set_destruction(&a.id, chrono::Utc::now().timestamp_millis())
        .await
        .expect("destruction");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(m.get(&a.id).await.is_err(), "destroyed by the sweeper");
    assert!(!m.job_dir(&a.id).exists());
}

#[tokio::test]
async fn services_sharing_a_store_see_only_their_own_jobs_and_progress_shows() {
    let dir = tempfile::tempdir().expect("dir");
    let store = open(dir.path()).await;
    let tap = JobManager::start(Arc::clone(&store), Arc::new(Sleeper), settings(dir.path()))
        .await
        .expect("start");
    let soda = JobManager::start(
        store,
        Arc::new(Sleeper),
        ManagerSettings {
            service: "soda".into(),
            dir: dir.path().join("soda-jobs"),
            ..settings(dir.path())
        },
    )
    .await
    .expect("start");
    let alice = user("alice");
    let t = tap
        .create(&alice, vec![p("QUERY", "1")], vec![])
        .await
        .expect("create");
    let s = soda
        .create(&alice, vec![p("QUERY", "1500")], vec![])
        .await
        .expect("create");
    assert!(soda.get(&t.id).await.is_err(), "TAP job seen by SODA");
    assert!(tap.get(&s.id).await.is_err(), "SODA job seen by TAP");
    assert!(soda.delete(&t.id).await.is_err(), "SODA deleted a TAP job");
    assert!(tap.get(&t.id).await.is_ok());
    let listed = |jobs: Vec<Job>| jobs.into_iter().map(|j| j.id).collect::<Vec<_>>();
    assert_eq!(
        listed(tap.list(&alice, &JobFilter::default()).await.expect("list")),
        [t.id.as_str()]
    );
    assert_eq!(
        listed(
            soda.list(&alice, &JobFilter::default())
                .await
                .expect("list")
        ),
        [s.id.as_str()]
    );

    soda.run(&s.id).await.expect("run");
    let mut seen = None;
    for _ in 0..100 {
        let j = soda.get(&s.id).await.expect("get");
        if j.progress.is_some() {
            seen = j.progress;
            let xml = skyport_uws::xml::job(&j, "http://h/soda/async/x");
            assert!(xml.contains("done=\"1\" total=\"2\""), "{xml}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(seen, Some(Progress { done: 1, total: 2 }));
    assert_eq!(finish(&soda, &s.id).await.phase(), Phase::Completed);
}

#[tokio::test]
async fn no_job_directory_is_left_without_a_job() {
    let dir = tempfile::tempdir().expect("tmp");
    let jobs = dir.path().join("jobs");
    std::fs::create_dir_all(&jobs).expect("mkdir");
    // Left by a crash between writing a job's files and recording it, long ago …
    let orphan = jobs.join("0000000000001abcde");
    std::fs::create_dir_all(&orphan).expect("orphan");
    std::fs::write(orphan.join("param-t"), b"<VOTABLE/>").expect("write");
    let long_ago = std::time::SystemTime::now() - skyport_uws::ORPHAN_GRACE * 2;
    std::fs::File::open(&orphan)
        .and_then(|f| f.set_modified(long_ago))
        .expect("age the orphan");
    // … one being written just now, and a directory that is not a job's (another service's).
    let fresh = jobs.join("0000000000002abcde");
    std::fs::create_dir_all(&fresh).expect("fresh");
    std::fs::create_dir_all(jobs.join("soda")).expect("soda");

    let m = start(dir.path()).await;
    assert!(!orphan.exists(), "the old orphan is swept away");
    assert!(
        fresh.exists(),
        "a directory younger than the grace period stays"
    );
    assert!(jobs.join("soda").exists(), "other directories stay");

    // A refused create leaves nothing behind.
    let before = std::fs::read_dir(&jobs).expect("list").flatten().count();
    let e = m
        .create(
            &Caller::anonymous(),
            vec![p("UPLOAD", "t,param:t")],
            vec![
                ("t".into(), b"x".to_vec()),
                ("bad name".into(), b"y".to_vec()),
            ],
        )
        .await
        .expect_err("a bad part name");
    assert!(e.to_string().contains("bad name"), "{e}");
    assert_eq!(
        std::fs::read_dir(&jobs).expect("list").flatten().count(),
        before
    );
    // A good one keeps its directory, owned by its job, through a sweep.
    let job = m
        .create(
            &Caller::anonymous(),
            vec![p("UPLOAD", "t,param:t")],
            vec![("t".into(), b"x".to_vec())],
        )
        .await
        .expect("created");
    m.sweep().await;
    assert!(m.job_dir(&job.id).join("param-t").exists());
}

#[tokio::test]
async fn stopped_jobs_keep_the_results_they_finished_and_nothing_else() {
    let dir = tempfile::tempdir().expect("dir");
    let m = start(dir.path()).await;
    // Stopped by an abort, and by its execution duration (2 s here).
    for abort in [true, false] {
        let job = m
            .create(&Caller::anonymous(), vec![p("STEPS", "3")], vec![])
            .await
            .expect("create");
        m.run(&job.id).await.expect("run");
        let unfinished = m.job_dir(&job.id).join("unfinished.txt");
        let started = std::time::Instant::now();
        while !unfinished.exists() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "never got going"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Finished results are listed while the job still runs.
        assert_eq!(m.get(&job.id).await.expect("get").results.len(), 3);
        if abort {
            m.abort(&job.id).await.expect("abort");
        }
        let end = finish(&m, &job.id).await;
        assert_eq!(end.phase(), Phase::Aborted, "abort {abort}");
        let kept: Vec<&str> = end.results.iter().map(|r| r.file.as_str()).collect();
        assert_eq!(kept, ["step-1.txt", "step-2.txt", "step-3.txt"]);
        for file in kept {
            assert!(m.job_dir(&job.id).join(file).exists(), "{file} kept");
        }
        // The worker tidies up just after the phase changes.
        let ended = std::time::Instant::now();
        while unfinished.exists() && ended.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(!unfinished.exists(), "the unfinished file is removed");
        let listed = m.get(&job.id).await.expect("get").results;
        assert_eq!(listed, end.results, "the kept results stay listed");
    }
}
