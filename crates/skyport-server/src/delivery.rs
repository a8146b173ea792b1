//! `DEST`: an async TAP or SODA job whose parameters name a place in the user's own files
//! (`/webdav/<user>/results/`, or a file there) has its results copied there when it ends —
//! for the job's owner, through the workspace's grants and quota, as a WebDAV upload would be.
//! A TAP job may name one of the owner's tables instead (`user_<name>.<table>`): its result
//! (a VOTable) is kept as that new table, queryable at once. The results stay at the job too.
//! A delivery that cannot be made ends the job in ERROR, saying why.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use skyport_uws::{Job, JobResult, ProgressReporter, Runner};
use skyport_workspace::{Destination, Workspace, WorkspaceError};

use crate::dali::{DaliError, DaliParams};

/// The parameter naming where results go.
pub const PARAMETER: &str = "DEST";

/// Whether a `DEST` names a user table (`user_<name>.<table>`) rather than a place in files.
fn names_table(value: &str) -> bool {
    !value.contains('/') && value.starts_with("user_") && value.contains('.')
}

/// Checks a new job's `DEST` (its form only: whether the owner may write there is known when
/// the job runs).
pub fn check(params: &DaliParams, workspace: bool) -> Result<(), DaliError> {
    let Some(value) = params.single(PARAMETER)? else {
        return Ok(());
    };
    if !workspace {
        return Err(DaliError::usage(
            "DEST: this server keeps no user files or tables to deliver results to",
        ));
    }
    if names_table(value) {
        return Ok(());
    }
    Destination::parse(value)
        .map(|_| ())
        .map_err(|e| DaliError::usage(e.to_string()))
}

/// A job runner that delivers the results of `inner` to the job's `DEST`.
pub struct Delivering {
    /// What runs the job.
    pub inner: Arc<dyn Runner>,
    /// The users' files, where the server keeps them.
    pub workspace: Option<Arc<Workspace>>,
    /// The users' tables, where the server keeps them.
    pub tables: Option<Arc<crate::tap::user_tables::UserTableService>>,
    /// The archive's data rights (a result kept as a table keeps its owner's).
    pub rights: Arc<skyport_store::Rights>,
}

impl Delivering {
    /// Keeps a TAP job's one VOTable result as the owner's table `dest`.
    async fn keep_as_table(
        &self,
        job: &Job,
        dir: &Path,
        dest: &str,
        results: Vec<JobResult>,
    ) -> Result<Vec<JobResult>, String> {
        let Some(tables) = self.tables.clone() else {
            return Err("Error: DEST: this server keeps no user tables".into());
        };
        let [result] = &results[..] else {
            return Err("Error: DEST names a table, for the one result of a query".into());
        };
        if !result.mime.contains("votable") {
            return Err(
                "Error: DEST names a table: the result must be a VOTable (FORMAT=votable)".into(),
            );
        }
        tables
            .keep_result(
                &crate::caller::job_caller(job),
                dest,
                dir.join(&result.file),
                &self.rights,
            )
            .await
            .map_err(|e| format!("Error: DEST: {}", e.detail))?;
        tracing::info!(job = %job.id, table = %dest, "result kept as a user table");
        Ok(results)
    }
}

#[async_trait]
impl Runner for Delivering {
    async fn run(
        &self,
        job: &Job,
        dir: &Path,
        progress: ProgressReporter,
    ) -> Result<Vec<JobResult>, String> {
        let dest = job
            .parameters
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(PARAMETER))
            .map(|p| p.value.clone());
        let results = self.inner.run(job, dir, progress).await?;
        let Some(dest) = dest else {
            return Ok(results);
        };
        if names_table(&dest) {
            return self.keep_as_table(job, dir, &dest, results).await;
        }
        let Some(workspace) = self.workspace.clone() else {
            return Err("Error: DEST: this server keeps no user files".into());
        };
        let Some(owner) = job.owner.clone() else {
            return Err("Error: DEST: only a job made with credentials can keep its results in a user's files".into());
        };
        let groups = crate::caller::current_groups(&crate::caller::job_caller(job));
        let dest = Destination::parse(&dest).map_err(|e| format!("Error: {e}"))?;
        if !dest.directory && results.len() > 1 {
            return Err(format!(
                "Error: DEST names one file but the job has {} results; end DEST with / to keep them all in a directory",
                results.len()
            ));
        }
        let job_id = job.id.clone();
        let files: Vec<(String, std::path::PathBuf)> = results
            .iter()
            .map(|r| (format!("{job_id}-{}", r.file), dir.join(&r.file)))
            .collect();
        let delivered = tokio::task::spawn_blocking(move || {
            files
                .iter()
                .map(|(name, source)| workspace.deliver(&owner, &groups, &dest, name, source))
                .collect::<Result<Vec<String>, WorkspaceError>>()
        })
        .await
        .map_err(|_| "Error: the delivery to DEST failed".to_string())?;
        match delivered {
            Ok(paths) => {
                tracing::info!(job = %job.id, to = ?paths, "results delivered to the owner's files");
                Ok(results)
            }
            Err(WorkspaceError::NotFound) => Err(
                "Error: DEST: no such place in the files you may write (shared with you read-write, or your own)".into(),
            ),
            Err(WorkspaceError::Io(e)) => {
                tracing::error!(job = %job.id, error = %e, "delivering results to DEST");
                Err("Error: DEST: the results could not be written to the user files (logged)".into())
            }
            Err(e) => Err(format!("Error: {e}")),
        }
    }
}
