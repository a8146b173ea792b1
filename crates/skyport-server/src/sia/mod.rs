//! SIAv2 (SIA 2.0): `/sia/query` over `ivoa.ObsCore`, with `/sia/capabilities` and
//! `/sia/availability`.
//!
//! The parameters become one ADQL query ([`query::adql`]) that runs through the TAP service,
//! so results stream in every TAP output format and carry the same DataLink and SODA
//! descriptors. `MAXREC=0` answers with the service's self-description: every input parameter,
//! with the values the archive holds for the enumerable ones.

pub mod query;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use skyport_store::Value;
use skyport_votable::{escape_xml, Chosen, Format};

use crate::descriptors::char_param;
use crate::tap::request::{maxrec, output_format};
use crate::tap::TapRequest;
use crate::{AppState, DaliError, DaliParams};

/// standardID of SIA 2.0 queries.
pub const SIA_STANDARD_ID: &str = "ivo://ivoa.net/std/SIA#query-2.0";

/// `/sia/query` (GET and POST).
pub async fn query(State(state): State<Arc<AppState>>, params: DaliParams) -> Response {
    let format = match params
        .single("RESPONSEFORMAT")
        .and_then(|f| output_format("RESPONSEFORMAT", f))
    {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    match run(&state, &params, &format).await {
        Ok(response) => response,
        Err(e) => error_response(&format, e),
    }
}

async fn run(
    state: &AppState,
    params: &DaliParams,
    format: &Chosen,
) -> Result<Response, DaliError> {
    let limits = state.tap.limits();
    let maxrec = maxrec(params, limits)?;
    let adql = query::adql(&|name| params.all(name).into_iter().map(str::to_string).collect())?;
    let self_description = if maxrec == 0 {
        describe(state).await?
    } else {
        String::new()
    };
    let request = TapRequest {
        query: adql,
        maxrec,
        format: format.clone(),
        uploads: Vec::new(),
        run_id: None,
    };
    let timeout = Duration::from_secs(limits.execution_seconds_default.max(1));
    let out = state
        .tap
        .execute_with(&request, &HashMap::new(), Some(timeout), self_description)
        .await?;
    Ok((
        [(header::CONTENT_TYPE, out.content_type)],
        Body::from_stream(out.body.map(Ok::<_, Infallible>)),
    )
        .into_response())
}

/// SIA 2.0 §2.3: an error is a VOTable, except for CSV and TSV requests, which get plain text.
fn error_response(format: &Chosen, e: DaliError) -> Response {
    match format.format {
        Format::Csv | Format::Tsv => (
            e.status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{}\n", e.message()),
        )
            .into_response(),
        _ => e.into_response(),
    }
}

/// One input parameter of the self-description.
struct Input {
    name: &'static str,
    datatype: &'static str,
    arraysize: Option<&'static str>,
    xtype: Option<&'static str>,
    unit: Option<&'static str>,
    ucd: &'static str,
    description: &'static str,
    /// ADQL listing the values the archive holds, for enumerable parameters.
    options: Option<&'static str>,
}

const INPUTS: &[Input] = &[
    Input { name: "POS", datatype: "char", arraysize: Some("*"), xtype: None, unit: Some("deg"), ucd: "pos.outline;obs", description: "Region that must intersect the image footprint: CIRCLE ra dec r, RANGE ra1 ra2 dec1 dec2 or POLYGON ra1 dec1 ra2 dec2 ra3 dec3 … (ICRS degrees)", options: None },
    Input { name: "BAND", datatype: "double", arraysize: Some("2"), xtype: Some("interval"), unit: Some("m"), ucd: "em.wl;stat.interval", description: "Wavelength interval (metres) that must overlap the image's band", options: None },
    Input { name: "TIME", datatype: "double", arraysize: Some("2"), xtype: Some("interval"), unit: Some("d"), ucd: "time.interval;obs.exposure", description: "Time interval (MJD, UTC) that must overlap the exposure", options: None },
    Input { name: "POL", datatype: "char", arraysize: Some("*"), xtype: None, unit: None, ucd: "meta.code;phys.polarization", description: "A polarization state the data must contain", options: None },
    Input { name: "FOV", datatype: "double", arraysize: Some("2"), xtype: Some("interval"), unit: Some("deg"), ucd: "phys.angSize;instr.fov", description: "Range holding the field of view (diameter)", options: None },
    Input { name: "SPATRES", datatype: "double", arraysize: Some("2"), xtype: Some("interval"), unit: Some("arcsec"), ucd: "pos.angResolution", description: "Range holding the spatial resolution", options: None },
    Input { name: "EXPTIME", datatype: "double", arraysize: Some("2"), xtype: Some("interval"), unit: Some("s"), ucd: "time.duration;obs.exposure", description: "Range holding the exposure time", options: None },
    Input { name: "TIMERES", datatype: "double", arraysize: Some("2"), xtype: Some("interval"), unit: Some("s"), ucd: "time.resolution", description: "Range holding the time resolution", options: None },
    Input { name: "SPECRP", datatype: "double", arraysize: Some("2"), xtype: Some("interval"), unit: None, ucd: "spect.resolution", description: "Range holding the spectral resolving power", options: None },
    Input { name: "ID", datatype: "char", arraysize: Some("*"), xtype: None, unit: None, ucd: "meta.ref.ivoid", description: "Publisher DID (compared case-insensitively)", options: None },
    Input { name: "COLLECTION", datatype: "char", arraysize: Some("*"), xtype: None, unit: None, ucd: "meta.id", description: "Collection", options: Some("SELECT DISTINCT obs_collection FROM ivoa.ObsCore") },
    Input { name: "FACILITY", datatype: "char", arraysize: Some("*"), xtype: None, unit: None, ucd: "meta.id;instr.tel", description: "Facility (telescope)", options: Some("SELECT DISTINCT facility_name FROM ivoa.ObsCore") },
    Input { name: "INSTRUMENT", datatype: "char", arraysize: Some("*"), xtype: None, unit: None, ucd: "meta.id;instr", description: "Instrument", options: Some("SELECT DISTINCT instrument_name FROM ivoa.ObsCore") },
    Input { name: "DPTYPE", datatype: "char", arraysize: Some("*"), xtype: None, unit: None, ucd: "meta.code.class", description: "Data product type", options: Some("SELECT DISTINCT dataproduct_type FROM ivoa.ObsCore") },
    Input { name: "CALIB", datatype: "int", arraysize: None, xtype: None, unit: None, ucd: "meta.code;obs.calib", description: "Calibration level", options: Some("SELECT DISTINCT calib_level FROM ivoa.ObsCore") },
    Input { name: "TARGET", datatype: "char", arraysize: Some("*"), xtype: None, unit: None, ucd: "meta.id;src", description: "Target name", options: None },
    Input { name: "FORMAT", datatype: "char", arraysize: Some("*"), xtype: None, unit: None, ucd: "meta.code.mime", description: "MIME type of access_url", options: Some("SELECT DISTINCT access_format FROM ivoa.ObsCore") },
    Input { name: "MAXREC", datatype: "int", arraysize: None, xtype: None, unit: None, ucd: "meta.number", description: "Most records to return (0: this description only)", options: None },
    Input { name: "RESPONSEFORMAT", datatype: "char", arraysize: Some("*"), xtype: None, unit: None, ucd: "meta.code.mime", description: "Output format: votable (default), votable/b2, csv, tsv, json, parquet or a MIME type", options: None },
];

/// The self-description (SIA 2.0 §3.3): `RESOURCE type="meta" utype="adhoc:service"
/// name="this"` listing every input parameter.
async fn describe(state: &AppState) -> Result<String, DaliError> {
    let base = &state.settings.public_url;
    let mut out = String::from(
        "<RESOURCE type=\"meta\" utype=\"adhoc:service\" name=\"this\">\n\
         <DESCRIPTION>SIA 2.0 image search over ivoa.ObsCore</DESCRIPTION>\n",
    );
    out.push_str(&char_param("standardID", SIA_STANDARD_ID));
    out.push_str(&char_param("accessURL", &format!("{base}/sia/query")));
    out.push_str("<GROUP name=\"inputParams\">\n");
    for input in INPUTS {
        out.push_str(&format!(
            "<PARAM name=\"{}\" datatype=\"{}\" ucd=\"{}\" value=\"\"",
            input.name, input.datatype, input.ucd
        ));
        for (attr, v) in [
            ("arraysize", input.arraysize),
            ("xtype", input.xtype),
            ("unit", input.unit),
        ] {
            if let Some(v) = v {
                out.push_str(&format!(" {attr}=\"{v}\""));
            }
        }
        out.push_str(&format!(
            "><DESCRIPTION>{}</DESCRIPTION>",
            escape_xml(input.description)
        ));
        if let Some(adql) = input.options {
            let rows = state.tap.rows(adql).await?;
            let values: Vec<String> = rows
                .iter()
                .filter_map(|r| match r.first() {
                    Some(Value::Text(t)) => Some(t.clone()),
                    Some(Value::Int(i)) => Some(i.to_string()),
                    _ => None,
                })
                .collect();
            if !values.is_empty() {
                out.push_str("<VALUES>");
                for v in values {
                    out.push_str(&format!("<OPTION value=\"{}\"/>", escape_xml(&v)));
                }
                out.push_str("</VALUES>");
            }
        }
        out.push_str("</PARAM>\n");
    }
    out.push_str("</GROUP>\n</RESOURCE>\n");
    Ok(out)
}

/// `/sia/capabilities`.
pub async fn capabilities(State(state): State<Arc<AppState>>) -> Response {
    crate::xml(crate::vosi::service_capabilities(
        &format!("{}/sia", state.settings.public_url),
        SIA_STANDARD_ID,
        "2.0",
        "query",
    ))
}
