//! The UWS 1.1 resource tree of an async service (`/tap/async`, `/soda/async`) over its
//! [`JobManager`]: the same handlers serve every service, each with its own job list.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path as UrlPath, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use skyport_uws::{Job, JobFilter, JobManager, Parameter, Phase, UwsError};
use tower::ServiceExt;

use crate::dali::{DaliError, DaliParams};
use crate::routes::Routes;

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
pub fn routes<S: Clone + Send + Sync + 'static>(
    prefix: &str,
    endpoint: Arc<UwsEndpoint>,
) -> Routes<S> {
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
        .route(&at("/{id}/quote"), get(empty_text))
        .route(&at("/{id}/owner"), get(empty_text))
        .route(&at("/{id}/error"), get(error))
        .route(&at("/{id}/results"), get(results))
        .route(&at("/{id}/results/{result}"), get(result))
        .route(
            &at("/{id}/parameters"),
            get(parameters).post(set_parameters),
        )
        .route(&at("/{id}/parameters/{name}"), get(parameter_file))
        .with_state(endpoint)
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
    let control = ["PHASE", "ACTION"];
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

/// `GET {jobs}`: the job list, with the PHASE, AFTER and LAST filters.
pub async fn list(
    State(state): State<Arc<UwsEndpoint>>,
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
    let jobs = state.jobs.list(&filter).await?;
    Ok(xml(skyport_uws::xml::job_list(&jobs, &jobs_url(&state))))
}

/// `POST {jobs}`: creates a job (and runs it with PHASE=RUN).
pub async fn create(
    State(state): State<Arc<UwsEndpoint>>,
    params: DaliParams,
) -> Result<Response, DaliError> {
    let run = params.single("PHASE")?;
    if let Some(p) = run.filter(|p| !p.eq_ignore_ascii_case("RUN")) {
        return Err(DaliError::usage(format!(
            "PHASE={p:?} cannot be given when creating a job; use RUN"
        )));
    }
    (state.check)(&params)?;
    let (parameters, files) = job_parameters(&params);
    let job = state.jobs.create(parameters, files).await?;
    if run.is_some() {
        state.jobs.run(&job.id).await?;
    }
    Ok(see_other(&job_url(&state, &job.id)))
}

/// `GET {jobs}/{id}`, with UWS 1.1 blocking (`WAIT`, optionally with `PHASE`).
pub async fn show(
    State(state): State<Arc<UwsEndpoint>>,
    UrlPath(id): UrlPath<String>,
    params: DaliParams,
) -> Result<Response, DaliError> {
    let job = match params.integer("WAIT", -1, i64::from(u32::MAX))? {
        None => state.jobs.get(&id).await?,
        Some(w) => {
            let phase = params.single("PHASE")?.map(phase_of).transpose()?;
            let limit = (w >= 0).then(|| Duration::from_secs(w as u64));
            state.jobs.wait(&id, limit, phase).await?
        }
    };
    Ok(xml(skyport_uws::xml::job(&job, &job_url(&state, &id))))
}

/// `POST {jobs}/{id}`: only ACTION=DELETE (DALI forbids parameters here).
pub async fn post_job(
    State(state): State<Arc<UwsEndpoint>>,
    UrlPath(id): UrlPath<String>,
    params: DaliParams,
) -> Result<Response, DaliError> {
    match params.single("ACTION")? {
        Some(a) if a.eq_ignore_ascii_case("DELETE") => delete(State(state), UrlPath(id)).await,
        Some(a) => Err(DaliError::usage(format!(
            "ACTION={a:?} is not known; only DELETE is"
        ))),
        None => Err(DaliError::usage(
            "POST to a job takes only ACTION=DELETE; post parameters to the job's /parameters",
        )),
    }
}

/// `DELETE {jobs}/{id}`.
pub async fn delete(
    State(state): State<Arc<UwsEndpoint>>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, DaliError> {
    state.jobs.delete(&id).await?;
    Ok(see_other(&jobs_url(&state)))
}

/// `GET {jobs}/{id}/phase`.
pub async fn phase(
    State(state): State<Arc<UwsEndpoint>>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, DaliError> {
    Ok(text(state.jobs.get(&id).await?.phase))
}

/// `POST {jobs}/{id}/phase`: PHASE=RUN or PHASE=ABORT.
pub async fn set_phase(
    State(state): State<Arc<UwsEndpoint>>,
    UrlPath(id): UrlPath<String>,
    params: DaliParams,
) -> Result<Response, DaliError> {
    match params.single("PHASE")? {
        Some(p) if p.eq_ignore_ascii_case("RUN") => state.jobs.run(&id).await?,
        Some(p) if p.eq_ignore_ascii_case("ABORT") => state.jobs.abort(&id).await?,
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
    Ok(see_other(&job_url(&state, &id)))
}

/// `GET {jobs}/{id}/executionduration`.
pub async fn execution_duration(
    State(state): State<Arc<UwsEndpoint>>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, DaliError> {
    Ok(text(
        state.jobs.get(&id).await?.execution_duration.to_string(),
    ))
}

/// `POST {jobs}/{id}/executionduration`.
pub async fn set_execution_duration(
    State(state): State<Arc<UwsEndpoint>>,
    UrlPath(id): UrlPath<String>,
    params: DaliParams,
) -> Result<Response, DaliError> {
    let seconds = params
        .integer("EXECUTIONDURATION", 0, i64::MAX)?
        .ok_or_else(|| DaliError::usage("parameter EXECUTIONDURATION is missing"))?;
    state.jobs.set_execution_duration(&id, seconds).await?;
    Ok(see_other(&job_url(&state, &id)))
}

/// `GET {jobs}/{id}/destruction`.
pub async fn destruction(
    State(state): State<Arc<UwsEndpoint>>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, DaliError> {
    let job = state.jobs.get(&id).await?;
    Ok(text(skyport_uws::format_time(job.destruction_ms)))
}

/// `POST {jobs}/{id}/destruction`.
pub async fn set_destruction(
    State(state): State<Arc<UwsEndpoint>>,
    UrlPath(id): UrlPath<String>,
    params: DaliParams,
) -> Result<Response, DaliError> {
    let at = time_param(&params, "DESTRUCTION")?
        .ok_or_else(|| DaliError::usage("parameter DESTRUCTION is missing"))?;
    state.jobs.set_destruction(&id, at).await?;
    Ok(see_other(&job_url(&state, &id)))
}

/// `GET {jobs}/{id}/quote` and `/owner`: empty (no estimate, anonymous jobs).
pub async fn empty_text(
    State(state): State<Arc<UwsEndpoint>>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, DaliError> {
    state.jobs.get(&id).await?;
    Ok(text(String::new()))
}

/// `GET {jobs}/{id}/error`: the error document of a failed job, with status 200.
pub async fn error(
    State(state): State<Arc<UwsEndpoint>>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, DaliError> {
    match state.jobs.get(&id).await? {
        Job {
            error: Some(message),
            ..
        } => Ok((
            [(header::CONTENT_TYPE, "application/x-votable+xml")],
            skyport_votable::error_document(&message),
        )
            .into_response()),
        _ => Err(DaliError::not_found(format!("job {id} has no error"))),
    }
}

/// `GET {jobs}/{id}/results`.
pub async fn results(
    State(state): State<Arc<UwsEndpoint>>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, DaliError> {
    let job = state.jobs.get(&id).await?;
    Ok(xml(skyport_uws::xml::results(&job, &job_url(&state, &id))))
}

/// `GET {jobs}/{id}/results/{result}`: the result file, streamed from disk.
pub async fn result(
    State(state): State<Arc<UwsEndpoint>>,
    UrlPath((id, result_id)): UrlPath<(String, String)>,
    request: Request,
) -> Result<Response, DaliError> {
    let job = state.jobs.get(&id).await?;
    let Some(r) = job.results.iter().find(|r| r.id == result_id) else {
        return Err(DaliError::not_found(format!(
            "job {id} has no result {result_id:?} (it is {})",
            job.phase
        )));
    };
    let path = state.jobs.job_dir(&id).join(&r.file);
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
pub async fn parameters(
    State(state): State<Arc<UwsEndpoint>>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, DaliError> {
    let job = state.jobs.get(&id).await?;
    Ok(xml(skyport_uws::xml::parameters(
        &job,
        &job_url(&state, &id),
    )))
}

/// `POST {jobs}/{id}/parameters`: replaces parameters of a PENDING job.
pub async fn set_parameters(
    State(state): State<Arc<UwsEndpoint>>,
    UrlPath(id): UrlPath<String>,
    params: DaliParams,
) -> Result<Response, DaliError> {
    (state.check)(&params)?;
    let (parameters, files) = job_parameters(&params);
    state.jobs.set_parameters(&id, parameters, files).await?;
    Ok(see_other(&job_url(&state, &id)))
}

/// `GET {jobs}/{id}/parameters/{name}`: an inline upload's content.
pub async fn parameter_file(
    State(state): State<Arc<UwsEndpoint>>,
    UrlPath((id, name)): UrlPath<(String, String)>,
) -> Result<Response, DaliError> {
    state.jobs.get(&id).await?;
    let path = state
        .jobs
        .parameter_file(&id, &name)
        .ok_or_else(|| DaliError::not_found(format!("job {id} has no inline parameter {name}")))?;
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|e| DaliError::internal(format!("cannot read {name}: {e}")))?;
    Ok(([(header::CONTENT_TYPE, "application/x-votable+xml")], bytes).into_response())
}
