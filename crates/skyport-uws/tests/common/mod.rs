//! Shared by the job-manager tests.

use std::time::Duration;

use skyport_uws::{Job, JobManager};

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
