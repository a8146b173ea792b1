//! The UWS 1.1 resource tree of an async service (`/tap/async`, `/soda/async`) over its
//! [`JobManager`]: the same handlers serve every service, each with its own job list.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path as UrlPath, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use skyport_uws::{Job, JobFilter, JobManager, Parameter, Phase, UwsError};
use tower::ServiceExt;

use crate::{DaliError, DaliParams};

/// One service's async job list: its manager, its URL and the check its new parameters pass.
pub struct UwsEndpoint {
    /// The jobs.
    pub jobs: JobManager,
    /// Absolute URL of the job list (`…/tap/async`).
    pub jobs_url: String,
    /// Checks the parameters of a new job or of a parameter update.
    pub check: fn(&DaliParams) -> Result<(), DaliError>,
}

/// The UWS 1.1 resource tree of `endpoint` below `prefix` (`/tap/async`).
pub fn routes<S: Clone + Send + Sync + 'static>(
    prefix: &str,
    endpoint: Arc<UwsEndpoint>,
) -> Router<S> {
    let at = |tail: &str| format!("{prefix}{tail}");
    Router::new()
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

fn uws_error(e: UwsError) -> Response {
    match e {
        UwsError::NotFound(id) => DaliError::not_found(format!("no job {id}")).into_response(),
        UwsError::Forbidden(m) => DaliError {
            status: StatusCode::FORBIDDEN,
            message: format!("UsageFault: {m}"),
        }
        .into_response(),
        UwsError::BadRequest(m) => DaliError::usage(m).into_response(),
        other => DaliError::internal(other.to_string()).into_response(),
    }
}

/// Job parameters from a request: everything except the UWS control parameters.
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
pub async fn list(State(state): State<Arc<UwsEndpoint>>, params: DaliParams) -> Response {
    let mut filter = JobFilter::default();
    for p in params.all("PHASE") {
        match p.parse::<Phase>() {
            Ok(phase) => filter.phases.push(phase),
            Err(e) => return DaliError::usage(format!("PHASE: {e}")).into_response(),
        }
    }
    match params.single("AFTER") {
        Ok(Some(a)) => match skyport_uws::parse_time(a) {
            Some(ms) => filter.after_ms = Some(ms),
            None => {
                return DaliError::usage(format!("AFTER must be an ISO 8601 time, got {a:?}"))
                    .into_response()
            }
        },
        Ok(None) => {}
        Err(e) => return e.into_response(),
    }
    match params.integer("LAST", 1, i64::from(u32::MAX)) {
        Ok(n) => filter.last = n.map(|n| n as usize),
        Err(e) => return e.into_response(),
    }
    match state.jobs.list(&filter).await {
        Ok(jobs) => xml(skyport_uws::xml::job_list(&jobs, &jobs_url(&state))),
        Err(e) => uws_error(e),
    }
}

/// `POST {jobs}`: creates a job (and runs it with PHASE=RUN).
pub async fn create(State(state): State<Arc<UwsEndpoint>>, params: DaliParams) -> Response {
    let run = match params.single("PHASE") {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    if let Some(p) = run.filter(|p| !p.eq_ignore_ascii_case("RUN")) {
        return DaliError::usage(format!(
            "PHASE={p:?} cannot be given when creating a job; use RUN"
        ))
        .into_response();
    }
    if let Err(e) = (state.check)(&params) {
        return e.into_response();
    }
    let (parameters, files) = job_parameters(&params);
    let job = match state.jobs.create(parameters, files).await {
        Ok(j) => j,
        Err(e) => return uws_error(e),
    };
    if run.is_some() {
        if let Err(e) = state.jobs.run(&job.id).await {
            return uws_error(e);
        }
    }
    see_other(&job_url(&state, &job.id))
}

/// `GET {jobs}/{id}`, with UWS 1.1 blocking (`WAIT`, optionally with `PHASE`).
pub async fn show(
    State(state): State<Arc<UwsEndpoint>>,
    UrlPath(id): UrlPath<String>,
    params: DaliParams,
) -> Response {
    let wait = match params.integer("WAIT", -1, i64::from(u32::MAX)) {
        Ok(w) => w,
        Err(e) => return e.into_response(),
    };
    let job = match wait {
        None => state.jobs.get(&id).await,
        Some(w) => {
            let phase = match params.single("PHASE") {
                Ok(Some(p)) => match p.parse::<Phase>() {
                    Ok(p) => Some(p),
                    Err(e) => return DaliError::usage(format!("PHASE: {e}")).into_response(),
                },
                Ok(None) => None,
                Err(e) => return e.into_response(),
            };
            let limit = (w >= 0).then(|| Duration::from_secs(w as u64));
            state.jobs.wait(&id, limit, phase).await
        }
    };
    match job {
        Ok(job) => xml(skyport_uws::xml::job(&job, &job_url(&state, &id))),
        Err(e) => uws_error(e),
    }
}

/// `POST {jobs}/{id}`: only ACTION=DELETE (DALI forbids parameters here).
pub async fn post_job(
    State(state): State<Arc<UwsEndpoint>>,
    UrlPath(id): UrlPath<String>,
    params: DaliParams,
) -> Response {
    match params.single("ACTION") {
        Ok(Some(a)) if a.eq_ignore_ascii_case("DELETE") => delete(State(state), UrlPath(id)).await,
        Ok(Some(a)) => {
            DaliError::usage(format!("ACTION={a:?} is not known; only DELETE is")).into_response()
        }
        Ok(None) => DaliError::usage(
            "POST to a job takes only ACTION=DELETE; post parameters to the job's /parameters",
        )
        .into_response(),
        Err(e) => e.into_response(),
    }
}

/// `DELETE {jobs}/{id}`.
pub async fn delete(
    State(state): State<Arc<UwsEndpoint>>,
    UrlPath(id): UrlPath<String>,
) -> Response {
    match state.jobs.delete(&id).await {
        Ok(()) => see_other(&jobs_url(&state)),
        Err(e) => uws_error(e),
    }
}

/// `GET {jobs}/{id}/phase`.
pub async fn phase(
    State(state): State<Arc<UwsEndpoint>>,
    UrlPath(id): UrlPath<String>,
) -> Response {
    match state.jobs.get(&id).await {
        Ok(j) => text(j.phase),
        Err(e) => uws_error(e),
    }
}

/// `POST {jobs}/{id}/phase`: PHASE=RUN or PHASE=ABORT.
pub async fn set_phase(
    State(state): State<Arc<UwsEndpoint>>,
    UrlPath(id): UrlPath<String>,
    params: DaliParams,
) -> Response {
    let result = match params.single("PHASE") {
        Ok(Some(p)) if p.eq_ignore_ascii_case("RUN") => state.jobs.run(&id).await,
        Ok(Some(p)) if p.eq_ignore_ascii_case("ABORT") => state.jobs.abort(&id).await,
        Ok(Some(p)) => {
            return DaliError::usage(format!(
                "PHASE={p:?}: a job's phase can be set to RUN or ABORT"
            ))
            .into_response()
        }
        Ok(None) => {
            return DaliError::usage("parameter PHASE (RUN or ABORT) is missing").into_response()
        }
        Err(e) => return e.into_response(),
    };
    match result {
        Ok(_) => see_other(&job_url(&state, &id)),
        Err(e) => uws_error(e),
    }
}

/// `GET {jobs}/{id}/executionduration`.
pub async fn execution_duration(
    State(state): State<Arc<UwsEndpoint>>,
    UrlPath(id): UrlPath<String>,
) -> Response {
    match state.jobs.get(&id).await {
        Ok(j) => text(j.execution_duration.to_string()),
        Err(e) => uws_error(e),
    }
}

/// `POST {jobs}/{id}/executionduration`.
pub async fn set_execution_duration(
    State(state): State<Arc<UwsEndpoint>>,
    UrlPath(id): UrlPath<String>,
    params: DaliParams,
) -> Response {
    let seconds = match params.integer("EXECUTIONDURATION", 0, i64::MAX) {
        Ok(Some(s)) => s,
        Ok(None) => {
            return DaliError::usage("parameter EXECUTIONDURATION is missing").into_response()
        }
        Err(e) => return e.into_response(),
    };
    match state.jobs.set_execution_duration(&id, seconds).await {
        Ok(_) => see_other(&job_url(&state, &id)),
        Err(e) => uws_error(e),
    }
}

/// `GET {jobs}/{id}/destruction`.
pub async fn destruction(
    State(state): State<Arc<UwsEndpoint>>,
    UrlPath(id): UrlPath<String>,
) -> Response {
    match state.jobs.get(&id).await {
        Ok(j) => text(skyport_uws::format_time(j.destruction_ms)),
        Err(e) => uws_error(e),
    }
}

/// `POST {jobs}/{id}/destruction`.
pub async fn set_destruction(
    State(state): State<Arc<UwsEndpoint>>,
    UrlPath(id): UrlPath<String>,
    params: DaliParams,
) -> Response {
    let at = match params.single("DESTRUCTION") {
        Ok(Some(t)) => match skyport_uws::parse_time(t) {
            Some(ms) => ms,
            None => {
                return DaliError::usage(format!("DESTRUCTION must be an ISO 8601 time, got {t:?}"))
                    .into_response()
            }
        },
        Ok(None) => return DaliError::usage("parameter DESTRUCTION is missing").into_response(),
        Err(e) => return e.into_response(),
    };
    match state.jobs.set_destruction(&id, at).await {
        Ok(_) => see_other(&job_url(&state, &id)),
        Err(e) => uws_error(e),
    }
}

/// `GET {jobs}/{id}/quote` and `/owner`: empty (no estimate, anonymous jobs).
pub async fn empty_text(
    State(state): State<Arc<UwsEndpoint>>,
    UrlPath(id): UrlPath<String>,
) -> Response {
    match state.jobs.get(&id).await {
        Ok(_) => text(String::new()),
        Err(e) => uws_error(e),
    }
}

/// `GET {jobs}/{id}/error`: the error document of a failed job, with status 200.
pub async fn error(
    State(state): State<Arc<UwsEndpoint>>,
    UrlPath(id): UrlPath<String>,
) -> Response {
    match state.jobs.get(&id).await {
        Ok(Job {
            error: Some(message),
            ..
        }) => (
            [(header::CONTENT_TYPE, "application/x-votable+xml")],
            skyport_votable::error_document(&message),
        )
            .into_response(),
        Ok(_) => DaliError::not_found(format!("job {id} has no error")).into_response(),
        Err(e) => uws_error(e),
    }
}

/// `GET {jobs}/{id}/results`.
pub async fn results(
    State(state): State<Arc<UwsEndpoint>>,
    UrlPath(id): UrlPath<String>,
) -> Response {
    match state.jobs.get(&id).await {
        Ok(job) => xml(skyport_uws::xml::results(&job, &job_url(&state, &id))),
        Err(e) => uws_error(e),
    }
}

/// `GET {jobs}/{id}/results/{result}`: the result file, streamed from disk.
pub async fn result(
    State(state): State<Arc<UwsEndpoint>>,
    UrlPath((id, result_id)): UrlPath<(String, String)>,
    request: Request,
) -> Response {
    let job = match state.jobs.get(&id).await {
        Ok(j) => j,
        Err(e) => return uws_error(e),
    };
    let Some(r) = job.results.iter().find(|r| r.id == result_id) else {
        return DaliError::not_found(format!(
            "job {id} has no result {result_id:?} (it is {})",
            job.phase
        ))
        .into_response();
    };
    let path = state.jobs.job_dir(&id).join(&r.file);
    match tower_http::services::ServeFile::new(&path)
        .oneshot(request)
        .await
    {
        Ok(resp) if resp.status() == StatusCode::NOT_FOUND => {
            DaliError::not_found(format!("the result of job {id} is gone")).into_response()
        }
        Ok(resp) => {
            let mut resp = resp.map(Body::new);
            if let Ok(v) = header::HeaderValue::from_str(&r.mime) {
                resp.headers_mut().insert(header::CONTENT_TYPE, v);
            }
            resp
        }
        Err(e) => DaliError::internal(format!("cannot read the result: {e}")).into_response(),
    }
}

/// `GET {jobs}/{id}/parameters`.
pub async fn parameters(
    State(state): State<Arc<UwsEndpoint>>,
    UrlPath(id): UrlPath<String>,
) -> Response {
    match state.jobs.get(&id).await {
        Ok(job) => xml(skyport_uws::xml::parameters(&job, &job_url(&state, &id))),
        Err(e) => uws_error(e),
    }
}

/// `POST {jobs}/{id}/parameters`: replaces parameters of a PENDING job.
pub async fn set_parameters(
    State(state): State<Arc<UwsEndpoint>>,
    UrlPath(id): UrlPath<String>,
    params: DaliParams,
) -> Response {
    if let Err(e) = (state.check)(&params) {
        return e.into_response();
    }
    let (parameters, files) = job_parameters(&params);
    match state.jobs.set_parameters(&id, parameters, files).await {
        Ok(_) => see_other(&job_url(&state, &id)),
        Err(e) => uws_error(e),
    }
}

/// `GET {jobs}/{id}/parameters/{name}`: an inline upload's content.
pub async fn parameter_file(
    State(state): State<Arc<UwsEndpoint>>,
    UrlPath((id, name)): UrlPath<(String, String)>,
) -> Response {
    if let Err(e) = state.jobs.get(&id).await {
        return uws_error(e);
    }
    match state.jobs.parameter_file(&id, &name) {
        Some(path) => match tokio::fs::read(&path).await {
            Ok(bytes) => {
                ([(header::CONTENT_TYPE, "application/x-votable+xml")], bytes).into_response()
            }
            Err(e) => DaliError::internal(format!("cannot read {name}: {e}")).into_response(),
        },
        None => {
            DaliError::not_found(format!("job {id} has no inline parameter {name}")).into_response()
        }
    }
}
