//! Deletions of jobs are logged with who deleted whose job. Alone in its test binary: the log
//! is caught by a thread-local subscriber, and tests running at the same time on other threads
//! could settle the log call's interest without it (it then missed the line now and then).

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{admin, open, start, user};
use skyport_uws::Caller;

/// Collects what the log says.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut log) = self.0.lock() {
            log.extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Log {
    type Writer = Log;
    fn make_writer(&'a self) -> Log {
        self.clone()
    }
}

impl Log {
    fn lines_with(&self, needle: &str) -> Vec<String> {
        let text = String::from_utf8_lossy(&self.0.lock().expect("log")).into_owned();
        text.lines()
            .filter(|l| l.contains(needle))
            .map(str::to_string)
            .collect()
    }
}

// The subscriber is this thread's: the test's runtime must not move work to other threads.
#[tokio::test(flavor = "current_thread")]
async fn deletions_say_who_deleted_whose_job() {
    let log = Log::default();
    let _subscriber = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_writer(log.clone())
            .with_ansi(false)
            .finish(),
    );
    let dir = tempfile::tempdir().expect("dir");
    let m = start(open(dir.path()).await, dir.path()).await;
    let own = m.create(&user("alice"), vec![], vec![]).await.expect("job");
    let other = m.create(&user("alice"), vec![], vec![]).await.expect("job");
    let open_job = m
        .create(&Caller::anonymous(), vec![], vec![])
        .await
        .expect("job");
    m.delete_for(&own.id, &user("alice")).await.expect("own");
    m.delete_for(&other.id, &admin("root"))
        .await
        .expect("admin");
    m.delete_for(&open_job.id, &Caller::anonymous())
        .await
        .expect("anonymous");
    let lines = |id: &str| log.lines_with(id);
    let own_line = lines(&own.id);
    assert_eq!(own_line.len(), 1, "{own_line:?}");
    assert!(
        own_line[0].contains("job deleted")
            && own_line[0].contains("owner=alice")
            && own_line[0].contains("by=alice")
            && own_line[0].contains("by_admin=false"),
        "{own_line:?}"
    );
    let admin_line = lines(&other.id);
    assert!(
        admin_line.len() == 1
            && admin_line[0].contains("owner=alice")
            && admin_line[0].contains("by=root")
            && admin_line[0].contains("by_admin=true"),
        "{admin_line:?}"
    );
    let anonymous_line = lines(&open_job.id);
    assert!(
        anonymous_line.len() == 1
            && anonymous_line[0].contains("owner=anonymous")
            && anonymous_line[0].contains("by=anonymous"),
        "{anonymous_line:?}"
    );
}
