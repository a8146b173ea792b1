//! SIAv2 (SIA 2.0): `/sia/query` over `ivoa.ObsCore`, with `/sia/capabilities` and
//! `/sia/availability`.
//!
//! The parameters become one ADQL query ([`query::adql`]) that runs through the TAP service,
//! so results stream in every TAP output format and carry the same DataLink and SODA
//! descriptors. `MAXREC=0` answers with the service's self-description: every input parameter,
//! with the values the archive holds for the enumerable ones.

pub mod http;
pub mod query;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use skyport_sky::{Region, Shape, SpaceMoc};
use skyport_store::coverage::Coverage;
use skyport_store::{Caller, Value};
use skyport_votable::{escape_xml, Chosen};

use crate::dali::format::maxrec;
use crate::dali::{shapes, DaliError, DaliParams};
use crate::descriptors::char_param;
use crate::tap::{QueryOutput, TapRequest, TapService};

/// standardID of SIA 2.0 queries.
pub const SIA_STANDARD_ID: &str = "ivo://ivoa.net/std/SIA#query-2.0";

/// The SIA service: image searches as ADQL over ObsCore, run by the TAP service.
pub struct Sia {
    tap: Arc<TapService>,
    public_url: String,
    bands: Vec<skyport_consdb::Band>,
    coverage: Arc<Coverage>,
}

impl Sia {
    /// A service whose queries `tap` runs; `public_url` (no trailing slash) goes into the
    /// self-description, which offers `bands` for `BAND`. A `POS` outside the archive's
    /// `coverage` is answered without reading ObsCore.
    pub fn new(
        tap: Arc<TapService>,
        public_url: &str,
        bands: Vec<skyport_consdb::Band>,
        coverage: Arc<Coverage>,
    ) -> Sia {
        Sia {
            tap,
            public_url: public_url.to_string(),
            bands,
            coverage,
        }
    }

    /// Whether every `POS` value lies where no image `caller` may see is (so the search finds
    /// nothing): each region's cells miss the caller's view of every collection's coverage,
    /// so that neither the answer nor its speed tells of hidden images. False when any region
    /// cannot be told (an unreadable value is reported by the query builder).
    async fn outside_coverage(
        &self,
        caller: &Caller,
        positions: &[&str],
    ) -> Result<bool, DaliError> {
        if positions.is_empty() {
            return Ok(false);
        }
        let now = chrono::Utc::now();
        let rights = Arc::clone(self.tap.rights());
        let view_of = |collection: &str| rights.coverage_view(caller, collection, now);
        for value in positions {
            let Ok(region) = shapes::pos(value.trim()) else {
                return Ok(false);
            };
            let meets = self
                .coverage
                .may_meet_visible(region.center(), || region_cells(&region), now, &view_of)
                .await
                .map_err(|e| DaliError::internal(format!("coverage maps: {e}")))?;
            if meets {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Runs a search: the rows in `format`, streamed; with MAXREC=0 the self-description.
    pub async fn query(
        &self,
        caller: &Caller,
        params: &DaliParams,
        format: &Chosen,
    ) -> Result<QueryOutput, DaliError> {
        let limits = self.tap.limits();
        let maxrec = maxrec(params, limits)?;
        let nothing_there = self.outside_coverage(caller, &params.all("POS")).await?;
        let adql = query::adql(
            &|name| params.all(name).into_iter().map(str::to_string).collect(),
            limits.query_max_bytes,
            nothing_there,
        )?;
        let self_description = if maxrec == 0 {
            self.describe(caller).await?
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
        self.tap
            .execute_with(
                caller,
                &request,
                &HashMap::new(),
                Some(timeout),
                self_description,
            )
            .await
    }
}

/// The cells a SIA region touches, at the order coverage is kept; `None` where the cover
/// could be wrong (regions of a hemisphere or more, where a polygon's inside is ambiguous).
fn region_cells(region: &Region) -> Option<SpaceMoc> {
    match region {
        Region::Circle { center, radius } => {
            crate::tap::early::region_cells(&Shape::circle(*center, *radius).ok()?)
        }
        Region::Polygon(p) => crate::tap::early::region_cells(&Shape::Polygon(p.clone())),
        Region::Range {
            lon_min,
            lon_span,
            lat_min,
            lat_max,
        } => SpaceMoc::of_zone(
            *lon_min,
            *lon_span,
            *lat_min,
            *lat_max,
            skyport_store::coverage::SPACE_ORDER,
        )
        .ok(),
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
    /// Where the values offered come from, for enumerable parameters.
    options: Offered,
}

/// The values the self-description offers for a parameter.
enum Offered {
    /// None.
    Nothing,
    /// ADQL listing the values the archive holds (run as the caller: hidden rows name none).
    Held(&'static str),
    /// The archive's named bands, each as its central wavelength (`BAND`).
    Bands,
}

/// The inputs, in alphabetical order as Rubin's SIA service lists them. Rubin's service
/// declares `POS` three times, with xtypes `circle`, `range` and `polygon` on a `char` PARAM;
/// VOTable validators call that an error (DALI's `circle` and `polygon` are arrays of doubles,
/// and `range` is not a DALI xtype) and the repeated name a problem, so `POS` is declared once
/// here, its three shapes in its description.
const INPUTS: &[Input] = &[
    Input { name: "BAND", datatype: "double", arraysize: Some("2"), xtype: Some("interval"), unit: Some("m"), ucd: "em.wl;stat.interval", description: "Wavelength interval (metres) that must overlap the image's band; the options name the archive's bands by their central wavelength", options: Offered::Bands },
    Input { name: "CALIB", datatype: "int", arraysize: None, xtype: None, unit: None, ucd: "meta.code;obs.calib", description: "Calibration level", options: Offered::Held("SELECT DISTINCT calib_level FROM ivoa.ObsCore") },
    Input { name: "COLLECTION", datatype: "char", arraysize: Some("*"), xtype: None, unit: None, ucd: "meta.id", description: "Collection", options: Offered::Held("SELECT DISTINCT obs_collection FROM ivoa.ObsCore") },
    Input { name: "DPSUBTYPE", datatype: "char", arraysize: Some("*"), xtype: None, unit: None, ucd: "meta.code.class", description: "Data product subtype (an extension of SIA 2.0, as Rubin's SIA service offers it)", options: Offered::Held("SELECT DISTINCT dataproduct_subtype FROM ivoa.ObsCore") },
    Input { name: "DPTYPE", datatype: "char", arraysize: Some("*"), xtype: None, unit: None, ucd: "meta.code.class", description: "Data product type", options: Offered::Held("SELECT DISTINCT dataproduct_type FROM ivoa.ObsCore") },
    Input { name: "EXPTIME", datatype: "double", arraysize: Some("2"), xtype: Some("interval"), unit: Some("s"), ucd: "time.duration;obs.exposure", description: "Range holding the exposure time", options: Offered::Nothing },
    Input { name: "FACILITY", datatype: "char", arraysize: Some("*"), xtype: None, unit: None, ucd: "meta.id;instr.tel", description: "Facility (telescope)", options: Offered::Held("SELECT DISTINCT facility_name FROM ivoa.ObsCore") },
    Input { name: "FORMAT", datatype: "char", arraysize: Some("*"), xtype: None, unit: None, ucd: "meta.code.mime", description: "MIME type of access_url", options: Offered::Held("SELECT DISTINCT access_format FROM ivoa.ObsCore") },
    Input { name: "FOV", datatype: "double", arraysize: Some("2"), xtype: Some("interval"), unit: Some("deg"), ucd: "phys.angSize;instr.fov", description: "Range holding the field of view (diameter)", options: Offered::Nothing },
    Input { name: "ID", datatype: "char", arraysize: Some("*"), xtype: None, unit: None, ucd: "meta.ref.ivoid", description: "Publisher DID (compared case-insensitively)", options: Offered::Nothing },
    Input { name: "INSTRUMENT", datatype: "char", arraysize: Some("*"), xtype: None, unit: None, ucd: "meta.id;instr", description: "Instrument", options: Offered::Held("SELECT DISTINCT instrument_name FROM ivoa.ObsCore") },
    Input { name: "MAXREC", datatype: "int", arraysize: None, xtype: None, unit: None, ucd: "meta.number", description: "Most records to return (0: this description only)", options: Offered::Nothing },
    Input { name: "POL", datatype: "char", arraysize: Some("*"), xtype: None, unit: None, ucd: "meta.code;phys.polarization", description: "A polarization state the data must contain", options: Offered::Nothing },
    Input { name: "POS", datatype: "char", arraysize: Some("*"), xtype: None, unit: Some("deg"), ucd: "pos.outline;obs", description: "Region that must intersect the image footprint: CIRCLE ra dec r, RANGE ra1 ra2 dec1 dec2 or POLYGON ra1 dec1 ra2 dec2 ra3 dec3 … (ICRS degrees)", options: Offered::Nothing },
    Input { name: "RESPONSEFORMAT", datatype: "char", arraysize: Some("*"), xtype: None, unit: None, ucd: "meta.code.mime", description: "Output format: votable (default), votable/b2, csv, tsv, json, parquet or a MIME type", options: Offered::Nothing },
    Input { name: "SPATRES", datatype: "double", arraysize: Some("2"), xtype: Some("interval"), unit: Some("arcsec"), ucd: "pos.angResolution", description: "Range holding the spatial resolution", options: Offered::Nothing },
    Input { name: "SPECRP", datatype: "double", arraysize: Some("2"), xtype: Some("interval"), unit: None, ucd: "spect.resolution", description: "Range holding the spectral resolving power", options: Offered::Nothing },
    Input { name: "TARGET", datatype: "char", arraysize: Some("*"), xtype: None, unit: None, ucd: "meta.id;src", description: "Target name", options: Offered::Nothing },
    Input { name: "TIME", datatype: "double", arraysize: Some("2"), xtype: Some("interval"), unit: Some("d"), ucd: "time.interval;obs.exposure", description: "Time interval (MJD, UTC) that must overlap the exposure", options: Offered::Nothing },
    Input { name: "TIMERES", datatype: "double", arraysize: Some("2"), xtype: Some("interval"), unit: Some("s"), ucd: "time.resolution", description: "Range holding the time resolution", options: Offered::Nothing },
];

/// The self-description (SIA 2.0 §3.3), laid out as Rubin's SIA service lays it out: a
/// `RESOURCE type="meta" utype="adhoc:this"` before the results, listing every input
/// parameter with the values the archive holds for the enumerable ones, then the service's
/// standardID and accessURL.
impl Sia {
    async fn describe(&self, caller: &Caller) -> Result<String, DaliError> {
        let base = &self.public_url;
        let mut out = String::from(
            "<RESOURCE type=\"meta\" utype=\"adhoc:this\" name=\"this\">\n\
             <DESCRIPTION>Self description and list of supported parameters: SIA 2.0 image search over ivoa.ObsCore</DESCRIPTION>\n\
             <GROUP name=\"inputParams\">\n",
        );
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
            let options: Vec<(Option<String>, String)> = match input.options {
                Offered::Nothing => Vec::new(),
                Offered::Bands => self
                    .bands
                    .iter()
                    .map(|b| {
                        (
                            Some(b.name.clone()),
                            format!("{:e}", (b.em_min + b.em_max) / 2.0),
                        )
                    })
                    .collect(),
                Offered::Held(adql) => self
                    .tap
                    .rows(caller, adql)
                    .await?
                    .iter()
                    .filter_map(|r| match r.first() {
                        Some(Value::Text(t)) => Some((None, t.clone())),
                        Some(Value::Int(i)) => Some((None, i.to_string())),
                        _ => None,
                    })
                    .collect(),
            };
            if !options.is_empty() {
                out.push_str("<VALUES>");
                for (name, value) in options {
                    let name =
                        name.map_or(String::new(), |n| format!(" name=\"{}\"", escape_xml(&n)));
                    out.push_str(&format!("<OPTION{name} value=\"{}\"/>", escape_xml(&value)));
                }
                out.push_str("</VALUES>");
            }
            out.push_str("</PARAM>\n");
        }
        out.push_str("</GROUP>\n");
        out.push_str(&char_param("standardID", SIA_STANDARD_ID));
        out.push_str(&char_param("accessURL", &format!("{base}/sia/query")));
        out.push_str("</RESOURCE>\n");
        Ok(out)
    }
}
