//! Jobs belong to their owner, against a real SQLite store: a user reaches and lists their own
//! jobs, an administrator (`admin:jobs`) every job, an anonymous job is reachable by its id but
//! listed to nobody else; any other job answers like an id that was never given out. Jobs of
//! an older archive (18-digit ids, no owner) keep working, and (tests/deletion_log.rs) deletions are logged.

mod common;

use std::sync::Arc;

use common::{admin, finish, open, start, user};
use skyport_store::JobRow;
use skyport_uws::{Caller, Job, JobFilter, JobManager, Phase, UwsError};

fn ids(jobs: Vec<Job>) -> Vec<String> {
    jobs.into_iter().map(|j| j.id).collect()
}

/// The error and its message for `id` asked by `caller`, which must be "not found".
async fn not_found(m: &JobManager, id: &str, caller: &Caller) -> String {
    match m.get_for(id, caller).await {
        Err(e @ UwsError::NotFound(_)) => e.to_string(),
        other => panic!("{id} for {caller:?}: {other:?}"),
    }
}

#[tokio::test]
async fn a_users_job_is_theirs_and_an_administrators() {
    let dir = tempfile::tempdir().expect("dir");
    let store = open(dir.path()).await;
    let m = start(Arc::clone(&store), dir.path()).await;
    let (alice, bob, root, nobody) = (
        user("alice"),
        user("bob"),
        admin("root"),
        Caller::anonymous(),
    );
    let a = m
        .create(&alice, vec![], vec![("t1".into(), b"<VOTABLE/>".to_vec())])
        .await
        .expect("alice's job");
    let n = m
        .create(&nobody, vec![], vec![])
        .await
        .expect("anonymous job");
    let b = m.create(&bob, vec![], vec![]).await.expect("bob's job");
    assert_eq!(a.owner.as_deref(), Some("alice"));
    assert_eq!(b.owner.as_deref(), Some("bob"));
    assert_eq!(n.owner, None);
    assert!(skyport_uws::xml::job(&a, "http://h/tap/async/x")
        .contains("<uws:ownerId>alice</uws:ownerId>"));

    // Alice and an administrator reach her job; bob and an anonymous caller are told exactly
    // what they are told of an id that was never given out.
    assert_eq!(m.get_for(&a.id, &alice).await.expect("alice").id, a.id);
    assert_eq!(m.get_for(&a.id, &root).await.expect("admin").id, a.id);
    let never = "0123456789abcdef0123456789abcdef";
    let unknown = not_found(&m, never, &bob).await;
    assert_eq!(unknown, format!("no job {never}"));
    for stranger in [&bob, &nobody, &user("Alice"), &user("")] {
        assert_eq!(
            not_found(&m, &a.id, stranger).await.replace(&a.id, never),
            unknown
        );
    }
    // A scope other than admin:jobs gives nothing.
    let reader = Caller {
        scopes: ["read:tap".to_string()].into(),
        ..user("carol")
    };
    not_found(&m, &a.id, &reader).await;
    // The anonymous job is reachable by anyone who has its id.
    for caller in [&nobody, &alice, &bob, &root] {
        assert_eq!(m.get_for(&n.id, caller).await.expect("by id").id, n.id);
    }

    // Lists: one's own jobs; an administrator's, all; an anonymous caller's, none.
    let all = JobFilter::default();
    assert_eq!(
        ids(m.list(&alice, &all).await.expect("list")),
        [a.id.as_str()]
    );
    assert_eq!(
        ids(m.list(&bob, &all).await.expect("list")),
        [b.id.as_str()]
    );
    assert!(m.list(&nobody, &all).await.expect("list").is_empty());
    assert!(m.list(&reader, &all).await.expect("list").is_empty());
    assert_eq!(
        ids(m.list(&root, &all).await.expect("list")),
        [a.id.as_str(), n.id.as_str(), b.id.as_str()],
        "every job, oldest first"
    );
    // The filters still apply, after the owner's.
    m.run(&a.id).await.expect("run");
    assert_eq!(finish(&m, &a.id).await.phase(), Phase::Completed);
    let pending = JobFilter {
        phases: vec![Phase::Pending],
        ..JobFilter::default()
    };
    assert!(m.list(&alice, &pending).await.expect("list").is_empty());
    assert_eq!(
        ids(m.list(&root, &pending).await.expect("list")),
        [n.id.as_str(), b.id.as_str()]
    );
    let last = JobFilter {
        last: Some(1),
        ..JobFilter::default()
    };
    assert_eq!(
        ids(m.list(&alice, &last).await.expect("list")),
        [a.id.as_str()]
    );
    assert_eq!(
        ids(m.list(&root, &last).await.expect("list")),
        [b.id.as_str()]
    );
    let after = JobFilter {
        after_ms: Some(a.created_ms),
        ..JobFilter::default()
    };
    assert!(m.list(&alice, &after).await.expect("list").is_empty());
    assert_eq!(
        ids(m.list(&root, &after).await.expect("list")),
        [n.id.as_str(), b.id.as_str()]
    );

    // The owner is stored: a server started later on the same database knows it.
    let again = start(store, dir.path()).await;
    let stored = again.get_for(&a.id, &alice).await.expect("after a restart");
    assert_eq!(stored.owner.as_deref(), Some("alice"));
    not_found(&again, &a.id, &bob).await;

    // Deleting: a stranger's attempt is "not found" and leaves the job and its files.
    for stranger in [&bob, &nobody] {
        match m.delete_for(&a.id, stranger).await {
            Err(e @ UwsError::NotFound(_)) => {
                assert_eq!(e.to_string().replace(&a.id, never), unknown)
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(m.get(&a.id).await.is_ok(), "still there");
    assert!(m.job_dir(&a.id).join("out.txt").is_file());
    m.delete_for(&a.id, &alice).await.expect("her own");
    assert!(m.get(&a.id).await.is_err());
    assert!(!m.job_dir(&a.id).exists());
    m.delete_for(&b.id, &root)
        .await
        .expect("an administrator's");
    m.delete_for(&n.id, &nobody)
        .await
        .expect("an anonymous job, by id");
    assert!(m.list(&root, &all).await.expect("list").is_empty());
}

/// A job stored before jobs had owners and random ids: an 18-digit id, no owner.
#[tokio::test]
async fn jobs_of_an_older_archive_keep_working() {
    let dir = tempfile::tempdir().expect("dir");
    let store = open(dir.path()).await;
    let old_id = "0006177a2c3d41b2f3";
    let now = chrono::Utc::now().timestamp_millis();
    // The document as the previous version wrote it (`owner` always null).
    let document = serde_json::json!({
        "id": old_id, "service": "tap", "run_id": null, "owner": null, "phase": "PENDING",
        "created_ms": now, "started_ms": null, "ended_ms": null, "execution_duration": 60,
        "destruction_ms": now + 3_600_000, "parameters": [], "results": [], "error": null,
    });
    let created = skyport_uws::format_time(now);
    store
        .save_job(JobRow {
            id: old_id.into(),
            created,
            phase: "PENDING".into(),
            service: "tap".into(),
            document: document.to_string(),
        })
        .await
        .expect("save");
    // Its directory is older than the orphan grace period, but a job owns it.
    let jobs = dir.path().join("jobs");
    std::fs::create_dir_all(jobs.join(old_id)).expect("mkdir");
    std::fs::write(jobs.join(old_id).join("param-t"), b"x").expect("write");
    let long_ago = std::time::SystemTime::now() - skyport_uws::ORPHAN_GRACE * 2;
    std::fs::File::open(jobs.join(old_id))
        .and_then(|f| f.set_modified(long_ago))
        .expect("age");
    let m = start(store, dir.path()).await;
    m.sweep().await;
    assert!(m.parameter_file(old_id, "t").is_some(), "kept by the sweep");

    let job = m
        .get_for(old_id, &user("bob"))
        .await
        .expect("reachable by id");
    assert_eq!(job.owner, None);
    assert!(m
        .list(&user("bob"), &JobFilter::default())
        .await
        .expect("list")
        .is_empty());
    assert_eq!(
        ids(m
            .list(&admin("root"), &JobFilter::default())
            .await
            .expect("list")),
        [old_id]
    );
    m.run(old_id).await.expect("run");
    assert_eq!(finish(&m, old_id).await.phase(), Phase::Completed);
}
