//! Shared by the job-manager tests.
// Each test binary uses a part of this module.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use skyport_store::{SqliteStore, Store};
use skyport_uws::{
    Caller, Job, JobManager, JobResult, ManagerSettings, ProgressReporter, Runner, ADMIN_SCOPE,
};

/// A caller named `name`, with no scopes.
pub fn user(name: &str) -> Caller {
    Caller {
        user: Some(name.into()),
        ..Caller::default()
    }
}

/// A job administrator (scope `admin:jobs`) named `name`.
pub fn admin(name: &str) -> Caller {
    Caller {
        scopes: [ADMIN_SCOPE.to_string()].into(),
        ..user(name)
    }
}

/// Waits (through `m`) until job `id` is in a final phase, for at most 200 s.
pub async fn finish(m: &JobManager, id: &str) -> Job {
    for _ in 0..100 {
        let j = m
            .wait(id, Some(Duration::from_secs(2)), None)
            .await
            .expect("wait");
        if j.phase().is_final() {
            return j;
        }
    }
    panic!("job {id} never finished")
}

/// Writes one small result at once.
pub struct Instant;

#[async_trait]
impl Runner for Instant {
    async fn run(
        &self,
        _: &Job,
        dir: &Path,
        _: ProgressReporter,
    ) -> Result<Vec<JobResult>, String> {
        std::fs::write(dir.join("out.txt"), b"done").map_err(|e| e.to_string())?;
        Ok(vec![JobResult {
            id: "result".into(),
            file: "out.txt".into(),
            mime: "text/plain".into(),
            size: 4,
        }])
    }
}

pub async fn open(dir: &Path) -> Arc<dyn Store> {
    let store = SqliteStore::open(&dir.join("a.sqlite"), 1).expect("open");
    store
        .migrate(&skyport_schema::builtin_schemas())
        .await
        .expect("migrate");
    Arc::new(store)
}

pub async fn start(store: Arc<dyn Store>, dir: &Path) -> JobManager {
    let settings = ManagerSettings {
        workers: 1,
        sweep_every: Duration::from_secs(3600),
        poll: Duration::from_millis(50),
        ..ManagerSettings::new("tap", dir.join("jobs"))
    };
    JobManager::start(store, Arc::new(Instant), settings)
        .await
        .expect("start")
}
