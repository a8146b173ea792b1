//! Shared by the job-manager tests.
// Each test binary uses a part of this module.
#![allow(dead_code)]

use std::time::Duration;

use skyport_uws::{Caller, Job, JobManager, ADMIN_SCOPE};

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
