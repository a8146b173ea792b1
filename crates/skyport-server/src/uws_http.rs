//! The UWS 1.1 resource tree of an async service (`/tap/async`, `/soda/async`) over its
//! [`JobManager`]: the same handlers serve every service, each with its own job list.
//!
//! Jobs belong to their owner (skyport-uws's [`Job::reachable_by`] and [`Job::listed_for`]).
//! Every route below a job's URL takes the job through the [`CallerJob`] extractor, which
//! loads it for the request's caller and answers a job the caller may not reach exactly like
//! one that does not exist; no handler reads the job id from the URL itself, so none can skip
//! the check.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{FromRequestParts, Path as UrlPath, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Extension;
use skyport_uws::{Job, JobFilter, JobManager, Parameter, Phase, UwsError};
use tower::ServiceExt;

use crate::caller::{Caller, RequestCaller};
use crate::dali::{DaliError, DaliParams};
use crate::routes::Routes;
use crate::state::AppState;

/// A check of a job's parameters, run before the job is created or changed.
pub type ParameterCheck = Box<dyn Fn(&DaliParams) -> Result<(), DaliError> + Send + Sync>;

/// One service's async job list: its manager, its URL and the check its new parameters pass.
pub struct UwsEndpoint {
    /// The jobs.
    pub jobs: JobManager,
    /// Absolute URL of the job list (`…/tap/async`).
    pub jobs_url: String,
    /// Checks the parameters of a new job or of a parameter update.
    pub check: ParameterCheck,
}

/// The UWS 1.1 resource tree of `endpoint` below `prefix` (`/tap/async`).
///
/// The endpoint travels as a request extension rather than as the router's state: the
/// handlers need the application's state to identify the caller ([`RequestCaller`]), and
/// each service's tree needs its own endpoint.
pub fn routes(prefix: &str, endpoint: Arc<UwsEndpoint>) -> Routes<Arc<AppState>> {
    let at = |tail: &str| format!("{prefix}{tail}");
    Routes::new()
        .route(&at(""), get(list).post(create))
        .route(&at("/{id}"), get(show).post(post_job).delete(delete))
        .route(&at("/{id}/phase"), get(phase).post(set_phase))
        .route(
            &at("/{id}/executionduration"),
            get(execution_duration).post(set_execution_duration),
        )
        .route(
            &at("/{id}/destruction"),
            get(destruction).post(set_destruction),
        )
        .route(&at("/{id}/quote"), get(quote))
        .route(&at("/{id}/owner"), get(owner))
        .route(&at("/{id}/error"), get(error))
        .route(&at("/{id}/results"), get(results))
        .route(&at("/{id}/results/{result}"), get(result))
        .route(
            &at("/{id}/parameters"),
            get(parameters).post(set_parameters),
        )
        .route(&at("/{id}/parameters/{name}"), get(parameter_file))
        .map_router(|r| r.layer(Extension(endpoint)))
}

/// The job of a request's URL (its `{id}`), loaded for the request's caller.
///
/// Extracting it is the access check: a job the caller may not reach is rejected with the
/// very response of an unknown id (404, `no job …`), before any parameter of the request is
/// looked at, so that neither the status nor the message tells another user's job from no job.
pub struct CallerJob {
    /// The service's job list.
    pub endpoint: Arc<UwsEndpoint>,
    /// Who asks.
    pub caller: Caller,
    /// The job as it was when checked (its owner never changes).
    pub job: Job,
}

/// The endpoint [`routes`] put into every request of its tree.
fn endpoint_of(parts: &Parts) -> Result<Arc<UwsEndpoint>, DaliError> {
    parts
        .extensions
        .get::<Arc<UwsEndpoint>>()
        .cloned()
        .ok_or_else(|| DaliError::internal("a UWS route without its job list"))
}

impl FromRequestParts<Arc<AppState>> for CallerJob {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let endpoint = endpoint_of(parts).map_err(IntoResponse::into_response)?;
        let RequestCaller(caller) = RequestCaller::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let UrlPath(path) = UrlPath::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Some(id) = path.get("id") else {
            return Err(DaliError::internal("a job route without a job id").into_response());
        };
        let job = endpoint
            .jobs
            .get_for(id, &caller)
            .await
            .map_err(|e| DaliError::from(e).into_response())?;
        Ok(CallerJob {
            endpoint,
            caller,
            job,
        })
    }
}

fn jobs_url(state: &UwsEndpoint) -> String {
    state.jobs_url.clone()
}

fn job_url(state: &UwsEndpoint, id: &str) -> String {
    format!("{}/{id}", state.jobs_url)
}

fn see_other(location: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, location.to_string())],
    )
        .into_response()
}

fn xml(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response()
}

fn text(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

impl From<UwsError> for DaliError {
    fn from(e: UwsError) -> DaliError {
        match e {
            UwsError::NotFound(id) => DaliError::not_found(format!("no job {id}")),
            UwsError::Forbidden(m) => DaliError::usage(m).with_status(StatusCode::FORBIDDEN),
            UwsError::BadRequest(m) => DaliError::usage(m),
            other => DaliError::internal(other.to_string()),
        }
    }
}

/// A UWS time parameter (ISO 8601), when given.
fn time_param(params: &DaliParams, name: &str) -> Result<Option<i64>, DaliError> {
    params
        .single(name)?
        .map(|t| {
            skyport_uws::parse_time(t).ok_or_else(|| {
                DaliError::usage(format!("{name} must be an ISO 8601 time, got {t:?}"))
            })
        })
        .transpose()
}

/// A PHASE value of a job list filter or a blocking wait.
fn phase_of(value: &str) -> Result<Phase, DaliError> {
    value
        .parse::<Phase>()
        .map_err(|e| DaliError::usage(format!("PHASE: {e}")))
}

fn job_parameters(params: &DaliParams) -> (Vec<Parameter>, Vec<(String, Vec<u8>)>) {
    // The job's own settings, not parameters of its work.
    let control = ["PHASE", "ACTION", "EXECUTIONDURATION", "DESTRUCTION"];
    let parameters = params
        .pairs()
        .filter(|(k, _)| !control.iter().any(|c| c.eq_ignore_ascii_case(k)))
        .map(|(k, v)| Parameter {
            name: k.to_ascii_uppercase(),
            value: v.to_string(),
        })
        .collect();
    let files = params
        .uploads
        .iter()
        .map(|u| (u.name.clone(), u.bytes.to_vec()))
        .collect();
    (parameters, files)
}

/// `GET {jobs}`: the caller's jobs (every job for an administrator; none for an anonymous
/// caller), with the PHASE, AFTER and LAST filters.
pub async fn list(
    Extension(state): Extension<Arc<UwsEndpoint>>,
    RequestCaller(caller): RequestCaller,
    params: DaliParams,
) -> Result<Response, DaliError> {
    let filter = JobFilter {
        phases: params
            .all("PHASE")
            .into_iter()
            .map(phase_of)
            .collect::<Result<_, _>>()?,
        after_ms: time_param(&params, "AFTER")?,
        last: params
            .integer("LAST", 1, i64::from(u32::MAX))?
            .map(|n| n as usize),
    };
    let jobs = state.jobs.list(&caller, &filter).await?;
    Ok(xml(skyport_uws::xml::job_list(&jobs, &jobs_url(&state))))
}

/// `POST {jobs}`: creates a job owned by the caller (and runs it with PHASE=RUN).
pub async fn create(
    axum::extract::State(app): axum::extract::State<Arc<AppState>>,
    Extension(state): Extension<Arc<UwsEndpoint>>,
    RequestCaller(caller): RequestCaller,
    params: DaliParams,
) -> Result<Response, DaliError> {
    let run = params.single("PHASE")?;
    if let Some(p) = run.filter(|p| !p.eq_ignore_ascii_case("RUN")) {
        return Err(DaliError::usage(format!(
            "PHASE={p:?} cannot be given when creating a job; use RUN"
        )));
    }
    (state.check)(&params)?;
    // UWS settings may come with the creation (as DaCHS and CADC take them): read them before
    // anything is made, so a bad value leaves no job behind.
    let duration = params.integer("EXECUTIONDURATION", 0, i64::MAX)?;
    let destruction = time_param(&params, "DESTRUCTION")?;
    within_job_quota(&app, &state, &caller).await?;
    let (parameters, files) = job_parameters(&params);
    let job = state.jobs.create(&caller, parameters, files).await?;
    if let Some(seconds) = duration {
        state.jobs.set_execution_duration(&job.id, seconds).await?;
    }
    if let Some(at) = destruction {
        state.jobs.set_destruction(&job.id, at).await?;
    }
    if run.is_some() {
        state.jobs.run(&job.id).await?;
    }
    Ok(see_other(&job_url(&state, &job.id)))
}

/// Refuses a new job of `caller` who has as many jobs queued or running as their quota
/// allows, or as many bytes of results stored. Counted per service; anonymous callers'
/// jobs have no owner to count them by (their requests are rate-limited by address).
async fn within_job_quota(
    app: &AppState,
    endpoint: &UwsEndpoint,
    caller: &Caller,
) -> Result<(), DaliError> {
    if caller.user.is_none() {
        return Ok(());
    }
    let limits = app.access.limits_for(caller);
    if limits.async_jobs == 0 && limits.job_result_bytes == 0 {
        return Ok(());
    }
    let jobs = endpoint
        .jobs
        .list(caller, &JobFilter::default())
        .await?
        .into_iter()
        .filter(|j| caller.is_user(j.owner.as_deref()))
        .collect::<Vec<_>>();
    let active = jobs
        .iter()
        .filter(|j| matches!(j.phase(), Phase::Queued | Phase::Executing | Phase::Pending))
        .count();
    let stored: u64 = jobs
        .iter()
        .flat_map(|j| j.results.iter())
        .map(|r| r.size)
        .sum();
    let refuse = |detail: String| {
        app.access
            .refused
            .jobs
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Err(DaliError::usage(detail).with_status(StatusCode::TOO_MANY_REQUESTS))
    };
    if limits.async_jobs > 0 && active >= limits.async_jobs as usize {
        return refuse(format!(
            "you have {active} jobs pending, queued or running here, as many as you may; wait for one to end or delete one"
        ));
    }
    if limits.job_result_bytes > 0 && stored >= limits.job_result_bytes {
        return refuse(format!(
            "your jobs' results take {stored} bytes, your quota is {} bytes; delete some jobs to make room",
            limits.job_result_bytes
        ));
    }
    Ok(())
}

/// `GET {jobs}/{id}`, with UWS 1.1 blocking (`WAIT`, optionally with `PHASE`).
pub async fn show(
    CallerJob { endpoint, job, .. }: CallerJob,
    params: DaliParams,
) -> Result<Response, DaliError> {
    let job = match params.integer("WAIT", -1, i64::from(u32::MAX))? {
        None => job,
        Some(w) => {
            let phase = params.single("PHASE")?.map(phase_of).transpose()?;
            let limit = (w >= 0).then(|| Duration::from_secs(w as u64));
            endpoint.jobs.wait(&job.id, limit, phase).await?
        }
    };
    Ok(xml(skyport_uws::xml::job(
        &job,
        &job_url(&endpoint, &job.id),
    )))
}

/// `POST {jobs}/{id}`: only ACTION=DELETE (DALI forbids parameters here).
pub async fn post_job(job: CallerJob, params: DaliParams) -> Result<Response, DaliError> {
    match params.single("ACTION")? {
        Some(a) if a.eq_ignore_ascii_case("DELETE") => delete(job).await,
        Some(a) => Err(DaliError::usage(format!(
            "ACTION={a:?} is not known; only DELETE is"
        ))),
        None => Err(DaliError::usage(
            "POST to a job takes only ACTION=DELETE; post parameters to the job's /parameters",
        )),
    }
}

/// `DELETE {jobs}/{id}` (logged with who deleted it).
pub async fn delete(
    CallerJob {
        endpoint,
        caller,
        job,
    }: CallerJob,
) -> Result<Response, DaliError> {
    endpoint.jobs.delete_for(&job.id, &caller).await?;
    Ok(see_other(&jobs_url(&endpoint)))
}

/// `GET {jobs}/{id}/phase`.
pub async fn phase(CallerJob { job, .. }: CallerJob) -> Result<Response, DaliError> {
    Ok(text(job.phase))
}

/// `POST {jobs}/{id}/phase`: PHASE=RUN or PHASE=ABORT.
pub async fn set_phase(
    CallerJob { endpoint, job, .. }: CallerJob,
    params: DaliParams,
) -> Result<Response, DaliError> {
    match params.single("PHASE")? {
        Some(p) if p.eq_ignore_ascii_case("RUN") => endpoint.jobs.run(&job.id).await?,
        Some(p) if p.eq_ignore_ascii_case("ABORT") => endpoint.jobs.abort(&job.id).await?,
        Some(p) => {
            return Err(DaliError::usage(format!(
                "PHASE={p:?}: a job's phase can be set to RUN or ABORT"
            )))
        }
        None => {
            return Err(DaliError::usage(
                "parameter PHASE (RUN or ABORT) is missing",
            ))
        }
    };
    Ok(see_other(&job_url(&endpoint, &job.id)))
}

/// `GET {jobs}/{id}/executionduration`.
pub async fn execution_duration(CallerJob { job, .. }: CallerJob) -> Result<Response, DaliError> {
    Ok(text(job.execution_duration.to_string()))
}

/// `POST {jobs}/{id}/executionduration`.
pub async fn set_execution_duration(
    CallerJob { endpoint, job, .. }: CallerJob,
    params: DaliParams,
) -> Result<Response, DaliError> {
    let seconds = params
        .integer("EXECUTIONDURATION", 0, i64::MAX)?
        .ok_or_else(|| DaliError::usage("parameter EXECUTIONDURATION is missing"))?;
    endpoint
        .jobs
        .set_execution_duration(&job.id, seconds)
        .await?;
    Ok(see_other(&job_url(&endpoint, &job.id)))
}

/// `GET {jobs}/{id}/destruction`.
pub async fn destruction(CallerJob { job, .. }: CallerJob) -> Result<Response, DaliError> {
    Ok(text(skyport_uws::format_time(job.destruction_ms)))
}

/// `POST {jobs}/{id}/destruction`.
pub async fn set_destruction(
    CallerJob { endpoint, job, .. }: CallerJob,
    params: DaliParams,
) -> Result<Response, DaliError> {
    let at = time_param(&params, "DESTRUCTION")?
        .ok_or_else(|| DaliError::usage("parameter DESTRUCTION is missing"))?;
    endpoint.jobs.set_destruction(&job.id, at).await?;
    Ok(see_other(&job_url(&endpoint, &job.id)))
}

/// `GET {jobs}/{id}/quote`: empty (no estimate is made).
pub async fn quote(_: CallerJob) -> Result<Response, DaliError> {
    Ok(text(String::new()))
}

/// `GET {jobs}/{id}/owner`: the owner's user name; empty for a job created anonymously.
pub async fn owner(CallerJob { job, .. }: CallerJob) -> Result<Response, DaliError> {
    Ok(text(job.owner.unwrap_or_default()))
}

/// `GET {jobs}/{id}/error`: the error document of a failed job, with status 200.
pub async fn error(CallerJob { job, .. }: CallerJob) -> Result<Response, DaliError> {
    match job {
        Job {
            error: Some(message),
            ..
        } => Ok((
            [(header::CONTENT_TYPE, "application/x-votable+xml")],
            skyport_votable::error_document(&message),
        )
            .into_response()),
        Job { id, .. } => Err(DaliError::not_found(format!("job {id} has no error"))),
    }
}

/// `GET {jobs}/{id}/results`.
pub async fn results(CallerJob { endpoint, job, .. }: CallerJob) -> Result<Response, DaliError> {
    Ok(xml(skyport_uws::xml::results(
        &job,
        &job_url(&endpoint, &job.id),
    )))
}

/// `GET {jobs}/{id}/results/{result}`: the result file, streamed from disk.
pub async fn result(
    CallerJob { endpoint, job, .. }: CallerJob,
    UrlPath((_, result_id)): UrlPath<(String, String)>,
    request: Request,
) -> Result<Response, DaliError> {
    let id = &job.id;
    let Some(r) = job.results.iter().find(|r| r.id == result_id) else {
        return Err(DaliError::not_found(format!(
            "job {id} has no result {result_id:?} (it is {})",
            job.phase
        )));
    };
    let path = endpoint.jobs.job_dir(id).join(&r.file);
    let resp = tower_http::services::ServeFile::new(&path)
        .oneshot(request)
        .await
        .map_err(|e| DaliError::internal(format!("cannot read the result: {e}")))?;
    if resp.status() == StatusCode::NOT_FOUND {
        return Err(DaliError::not_found(format!(
            "the result of job {id} is gone"
        )));
    }
    let mut resp = resp.map(Body::new);
    if let Ok(v) = header::HeaderValue::from_str(&r.mime) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    Ok(resp)
}

/// `GET {jobs}/{id}/parameters`.
pub async fn parameters(CallerJob { endpoint, job, .. }: CallerJob) -> Result<Response, DaliError> {
    Ok(xml(skyport_uws::xml::parameters(
        &job,
        &job_url(&endpoint, &job.id),
    )))
}

/// `POST {jobs}/{id}/parameters`: replaces parameters of a PENDING job.
pub async fn set_parameters(
    CallerJob { endpoint, job, .. }: CallerJob,
    params: DaliParams,
) -> Result<Response, DaliError> {
    (endpoint.check)(&params)?;
    let (parameters, files) = job_parameters(&params);
    endpoint
        .jobs
        .set_parameters(&job.id, parameters, files)
        .await?;
    Ok(see_other(&job_url(&endpoint, &job.id)))
}

/// `GET {jobs}/{id}/parameters/{name}`: an inline upload's content.
pub async fn parameter_file(
    CallerJob { endpoint, job, .. }: CallerJob,
    UrlPath((_, name)): UrlPath<(String, String)>,
) -> Result<Response, DaliError> {
    let id = &job.id;
    let path = endpoint
        .jobs
        .parameter_file(id, &name)
        .ok_or_else(|| DaliError::not_found(format!("job {id} has no inline parameter {name}")))?;
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|e| DaliError::internal(format!("cannot read {name}: {e}")))?;
    Ok(([(header::CONTENT_TYPE, "application/x-votable+xml")], bytes).into_response())
}
