//! UWS 1.1 XML documents: the job, the job list, results and parameters (element order as
//! the UWS schema requires).

use crate::job::{format_time, Job};

const NS: &str = "xmlns:uws=\"http://www.ivoa.net/xml/UWS/v1.0\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"";

use skyport_schema::xml::escape_xml as esc;

fn optional_time(name: &str, ms: Option<i64>) -> String {
    match ms {
        Some(ms) => format!("  <uws:{name}>{}</uws:{name}>\n", format_time(ms)),
        None => format!("  <uws:{name} xsi:nil=\"true\"/>\n"),
    }
}

/// How parameter values that point into the job (inline uploads) are shown.
fn parameters_body(job: &Job, job_url: &str) -> String {
    let mut s = String::new();
    for p in &job.parameters {
        match p.value.split_once(",param:") {
            // UPLOAD=name,param:part: the content lives below the job's parameters.
            Some((name, part)) if p.name == "UPLOAD" => s.push_str(&format!(
                "    <uws:parameter id=\"UPLOAD\" byReference=\"true\">{}</uws:parameter>\n",
                esc(&format!("{name},{job_url}/parameters/{part}"))
            )),
            _ => s.push_str(&format!(
                "    <uws:parameter id=\"{}\">{}</uws:parameter>\n",
                esc(&p.name.to_ascii_lowercase()),
                esc(&p.value)
            )),
        }
    }
    s
}

fn results_body(job: &Job, job_url: &str) -> String {
    job.results
        .iter()
        .map(|r| {
            format!(
                "    <uws:result id=\"{}\" xlink:type=\"simple\" xlink:href=\"{}/results/{}\" mime-type=\"{}\" size=\"{}\"/>\n",
                esc(&r.id),
                esc(job_url),
                esc(&r.id),
                esc(&r.mime),
                r.size
            )
        })
        .collect()
}

/// The `<uws:job>` document. `job_url` is the job's absolute URL.
pub fn job(job: &Job, job_url: &str) -> String {
    let mut s =
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<uws:job {NS} version=\"1.1\">\n");
    s.push_str(&format!("  <uws:jobId>{}</uws:jobId>\n", esc(&job.id)));
    if let Some(r) = &job.run_id {
        s.push_str(&format!("  <uws:runId>{}</uws:runId>\n", esc(r)));
    }
    match &job.owner {
        Some(o) => s.push_str(&format!("  <uws:ownerId>{}</uws:ownerId>\n", esc(o))),
        None => s.push_str("  <uws:ownerId xsi:nil=\"true\"/>\n"),
    }
    s.push_str(&format!("  <uws:phase>{}</uws:phase>\n", job.phase));
    s.push_str("  <uws:quote xsi:nil=\"true\"/>\n");
    s.push_str(&format!(
        "  <uws:creationTime>{}</uws:creationTime>\n",
        job.creation_time()
    ));
    s.push_str(&optional_time("startTime", job.started_ms));
    s.push_str(&optional_time("endTime", job.ended_ms));
    s.push_str(&format!(
        "  <uws:executionDuration>{}</uws:executionDuration>\n",
        job.execution_duration
    ));
    s.push_str(&optional_time("destruction", Some(job.destruction_ms)));
    s.push_str("  <uws:parameters>\n");
    s.push_str(&parameters_body(job, job_url));
    s.push_str("  </uws:parameters>\n  <uws:results>\n");
    s.push_str(&results_body(job, job_url));
    s.push_str("  </uws:results>\n");
    if let Some(e) = &job.error {
        s.push_str(&format!(
            "  <uws:errorSummary type=\"fatal\" hasDetail=\"true\">\n    <uws:message>{}</uws:message>\n  </uws:errorSummary>\n",
            esc(e)
        ));
    }
    if let Some(p) = &job.progress {
        s.push_str(&format!(
            "  <uws:jobInfo><sp:progress xmlns:sp=\"urn:skyport:uws\" done=\"{}\" total=\"{}\"/></uws:jobInfo>\n",
            p.done, p.total
        ));
    }
    s.push_str("</uws:job>\n");
    s
}

/// The `<uws:jobs>` list. `jobs_url` is the job list's absolute URL.
pub fn job_list(jobs: &[Job], jobs_url: &str) -> String {
    let mut s =
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<uws:jobs {NS} version=\"1.1\">\n");
    for j in jobs {
        s.push_str(&format!(
            "  <uws:jobref id=\"{}\" xlink:type=\"simple\" xlink:href=\"{}/{}\">\n    <uws:phase>{}</uws:phase>\n",
            esc(&j.id),
            esc(jobs_url),
            esc(&j.id),
            j.phase
        ));
        if let Some(r) = &j.run_id {
            s.push_str(&format!("    <uws:runId>{}</uws:runId>\n", esc(r)));
        }
        s.push_str(&format!(
            "    <uws:creationTime>{}</uws:creationTime>\n  </uws:jobref>\n",
            j.creation_time()
        ));
    }
    s.push_str("</uws:jobs>\n");
    s
}

/// The `<uws:results>` document.
pub fn results(job: &Job, job_url: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<uws:results {NS}>\n{}</uws:results>\n",
        results_body(job, job_url)
    )
}

/// The `<uws:parameters>` document.
pub fn parameters(job: &Job, job_url: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<uws:parameters {NS}>\n{}</uws:parameters>\n",
        parameters_body(job, job_url)
    )
}
