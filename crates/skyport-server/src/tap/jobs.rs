//! `/tap/async`: the UWS 1.1 resource tree over the [`JobManager`], and the [`Runner`] that
//! executes a TAP job into a result file.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use skyport_uws::{Job, JobResult, ProgressReporter, Runner};
use tokio::io::AsyncWriteExt;

use super::{request, TapService};
use crate::dali::DaliParams;

/// Runs TAP jobs.
pub struct TapRunner {
    /// The query service.
    pub tap: Arc<TapService>,
}

#[async_trait]
impl Runner for TapRunner {
    async fn run(
        &self,
        job: &Job,
        dir: &Path,
        _progress: ProgressReporter,
    ) -> Result<Vec<JobResult>, String> {
        let params = DaliParams::from_pairs(
            job.parameters
                .iter()
                .map(|p| (p.name.clone(), p.value.clone())),
        );
        let req = request::parse(&params, self.tap.limits()).map_err(|e| e.message())?;
        let mut inline = HashMap::new();
        for u in &req.uploads {
            if let Some(part) = u.uri.strip_prefix("param:") {
                let path = dir.join(format!("param-{part}"));
                if let Ok(bytes) = tokio::fs::read(&path).await {
                    inline.insert(part.to_string(), Bytes::from(bytes));
                }
            }
        }
        // The job manager stops the job at its execution duration and ends it ABORTED (UWS 1.1
        // §2.2.3.3); the query's own limit is a little longer, a backstop only, so that the
        // job does not end in ERROR with advice meant for synchronous queries.
        let timeout = (job.execution_duration > 0)
            .then(|| Duration::from_secs(job.execution_duration.saturating_add(5)));
        tracing::info!(job = %job.id, runid = ?req.run_id, "async TAP query");
        let mut out = self
            .tap
            .execute(&crate::caller::job_caller(job), &req, &inline, timeout)
            .await
            .map_err(|e| e.message())?;
        let name = format!("result.{}", req.format.format.extension());
        let path = dir.join(&name);
        let write = async {
            let mut file = tokio::fs::File::create(&path).await?;
            let mut size = 0u64;
            while let Some(chunk) = out.body.next().await {
                file.write_all(&chunk).await?;
                size += chunk.len() as u64;
            }
            file.flush().await?;
            Ok::<u64, std::io::Error>(size)
        };
        let size = write
            .await
            .map_err(|e| format!("Error: cannot write the result: {e}"))?;
        if let Some(message) = out.failure.lock().ok().and_then(|mut f| f.take()) {
            return Err(message);
        }
        Ok(vec![JobResult {
            id: "result".into(),
            file: name,
            mime: out.content_type,
            size,
        }])
    }
}
