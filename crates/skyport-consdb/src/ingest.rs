//! From a FITS file to the rows that describe it: the file, its HDUs with their headers, and
//! its `ivoa.ObsCore` row.
//!
//! Rules, in the order they are applied:
//! - The file must lie below a configured data root; its path below that root, without the
//!   FITS extensions, is the `obs_id`, and `ivo://<authority>/<collection>?<obs_id>` its DID.
//! - The science HDU is the first image HDU whose EXTNAME does not name a mask or variance
//!   plane; among several, the first with a celestial WCS wins.
//! - Extensions inherit the primary header's keywords they do not set (FITS INHERIT practice),
//!   except the WCS: it is read from the science HDU's own header, as astropy does, because a
//!   primary's WCS says nothing about, say, a distortion lookup table in an extension.
//! - Position: the WCS of the science HDU gives the centre (`s_ra`, `s_dec`), the footprint
//!   through the outer pixel edges (`s_region`, counter-clockwise), `s_fov` (diameter of the
//!   circle about the centre holding the footprint) and `s_pixel_scale`.
//! - Time: `MJD-OBS`, else `DATE-OBS` (with `TIME-OBS` when the date has no time), in the
//!   scale `TIMESYS` names (UTC by default), converted to UTC MJD; `t_max` from `MJD-END` /
//!   `DATE-END`, else start + `EXPTIME`. The old `DD/MM/YY` date form is read as 19YY, and the
//!   ISO basic form `YYYYMMDD` is accepted.
//! - Band: `FILTER`/`BAND`/`FILTNAM`/`FILTER1`, looked up in the configured band table (also
//!   by the part before `_` or `~`, as in LSST physical filters like `r_57`).

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use skyport_fits::{
    read_summary, FitsError, HduKind, HduSummary, Header, PlaneRole, Wcs, WcsError,
};
use skyport_store::coverage::ImageCoverage;
use skyport_store::{ImageRecord, Row, Value};

/// A directory whose FITS files form one collection.
#[derive(Debug, Clone)]
pub struct DataRoot {
    /// Short name, used in URLs (`/files/<name>/…`).
    pub name: String,
    /// The directory.
    pub path: PathBuf,
    /// ObsCore `obs_collection` of its files.
    pub collection: String,
    /// ObsCore `calib_level` of its files.
    pub calib_level: i64,
    /// ObsCore `obs_release_date` of its files (ISO 8601, UTC): until then they are
    /// proprietary, seen only by the collection's rights holders. `None`: public at once.
    pub release_date: Option<String>,
    /// The header translator of its files' instrument (ConsDB's, `lsstcam`…), whose exposure
    /// and detector fields the ObsCore templates may use.
    pub instrument: Option<String>,
    /// Values for ObsCore columns ingest leaves empty, from templates
    /// ([`crate::obscore_values`]).
    pub obscore: Vec<crate::obscore_values::ColumnTemplate>,
}

/// A band's wavelength range in metres.
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    /// Band name as it appears in headers (matched case-insensitively).
    pub name: String,
    /// Shortest wavelength, metres.
    pub em_min: f64,
    /// Longest wavelength, metres.
    pub em_max: f64,
}

/// What ingest needs to know about the archive.
#[derive(Debug, Clone)]
pub struct IngestSettings {
    /// Publisher authority for DIDs (`ivo://<authority>/…`).
    pub authority: String,
    /// The data roots.
    pub roots: Vec<DataRoot>,
    /// The band table.
    pub bands: Vec<Band>,
    /// Refuse images without a celestial WCS (default). When false they are ingested with
    /// NULL spatial columns.
    pub require_wcs: bool,
}

/// Why a file could not be ingested. Always names the file.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The file is not below any data root.
    #[error("{0}: not below any configured data root")]
    NotUnderRoot(PathBuf),
    /// The file cannot be read.
    #[error("{path}: cannot read: {reason}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// cfitsio or header problems.
    #[error(transparent)]
    Fits(#[from] FitsError),
    /// No HDU holds an image.
    #[error("{0}: no image HDU (only empty HDUs or tables)")]
    NoImage(PathBuf),
    /// The science HDU has no usable celestial WCS.
    #[error("{path}: HDU {hdu}: {source}")]
    NoWcs {
        /// The file.
        path: PathBuf,
        /// The science HDU.
        hdu: usize,
        /// The WCS problem.
        source: WcsError,
    },
    /// A configured ObsCore value cannot be made for the file.
    #[error("{path}: {source}")]
    ObsCoreValue {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: crate::obscore_values::TemplateError,
    },
    /// A time keyword cannot be read.
    #[error("{path}: {keyword} = {value:?} is not a date the archive understands ({reason})")]
    BadTime {
        /// The file.
        path: PathBuf,
        /// The keyword.
        keyword: &'static str,
        /// Its value.
        value: String,
        /// Why.
        reason: String,
    },
    /// The footprint's coverage map cannot be made.
    #[error("{path}: no coverage map for the footprint: {reason}")]
    Coverage {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// File name endings that mark FITS files (longest first).
pub const FITS_EXTENSIONS: [&str; 8] = [
    ".fits.gz", ".fits.fz", ".fit.gz", ".fits", ".fit", ".fts", ".fz", ".gz",
];

/// True when the path looks like a FITS file by its name.
pub fn is_fits_name(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    FITS_EXTENSIONS.iter().any(|e| name.ends_with(e))
}

fn strip_fits_extension(rel: &str) -> &str {
    let lower = rel.to_ascii_lowercase();
    for ext in FITS_EXTENSIONS {
        if lower.ends_with(ext) {
            return &rel[..rel.len() - ext.len()];
        }
    }
    rel
}

/// Finds the root holding `path` and the path relative to it (with `/` separators).
pub fn locate(settings: &IngestSettings, path: &Path) -> Result<(DataRoot, String), IngestError> {
    let canonical = path.canonicalize().map_err(|e| IngestError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    for root in &settings.roots {
        let Ok(root_dir) = root.path.canonicalize() else {
            continue;
        };
        if let Ok(rel) = canonical.strip_prefix(&root_dir) {
            let rel: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if !rel.is_empty() {
                return Ok((root.clone(), rel.join("/")));
            }
        }
    }
    Err(IngestError::NotUnderRoot(path.to_path_buf()))
}

/// How `content_sha256` of an object in a store begins: what follows is a fingerprint of its
/// ETag and size, not a checksum of its bytes.
pub const OBJECT_FINGERPRINT: &str = skyport_store::caom2::OBJECT_FINGERPRINT;

/// Reads one FITS file and builds its records. Reads the whole file once for its hash.
pub fn build_record(settings: &IngestSettings, path: &Path) -> Result<ImageRecord, IngestError> {
    let (root, rel_path) = locate(settings, path)?;
    build_record_of(settings, &root, rel_path, path, None)
}

/// Builds the records of file `rel_path` of `root`, read at `path` (a local path, or the
/// `skyobj://` name of an object). `fingerprint` stands for the content hash where reading the
/// whole file for one would cost too much (an object's ETag and size): a change of either
/// makes the image read again.
pub fn build_record_of(
    settings: &IngestSettings,
    root: &DataRoot,
    rel_path: String,
    path: &Path,
    fingerprint: Option<String>,
) -> Result<ImageRecord, IngestError> {
    let summary = read_summary(path)?;
    // Each HDU's WCS is parsed once; the science choice, the HDU rows and ObsCore share it.
    let mut wcs_by_hdu: Vec<Result<Wcs, WcsError>> = summary.hdus.iter().map(hdu_wcs).collect();
    let has_wcs: Vec<bool> = wcs_by_hdu.iter().map(Result::is_ok).collect();
    let science_index = choose_science_hdu(&summary.hdus, &has_wcs)
        .ok_or_else(|| IngestError::NoImage(path.to_path_buf()))?;
    let science = &summary.hdus[science_index];
    let mut header = science.header.clone();
    if science.index > 0 {
        header.inherit_from(&summary.hdus[0].header);
    }
    let science_wcs = std::mem::replace(
        &mut wcs_by_hdu[science_index],
        Err(WcsError::Missing(String::new())),
    );
    let wcs = match science_wcs {
        Ok(w) => Some(w),
        Err(source) if settings.require_wcs => {
            return Err(IngestError::NoWcs {
                path: path.to_path_buf(),
                hdu: science.index,
                source,
            })
        }
        Err(_) => None,
    };
    let content_sha256 = match fingerprint {
        // Marked, so that nothing publishes it as the content's checksum (CAOM2's
        // contentChecksum), and the column's 64 characters.
        Some(f) => {
            let hex: String = Sha256::digest(f.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            format!(
                "{OBJECT_FINGERPRINT}{}",
                &hex[..64 - OBJECT_FINGERPRINT.len()]
            )
        }
        None => sha256_file(path)?,
    };
    let obs_id = strip_fits_extension(&rel_path).to_string();
    let did = format!(
        "ivo://{}/{}?{}",
        settings.authority, root.collection, obs_id
    );
    let TimeSpan {
        t_min,
        t_max,
        t_exptime,
    } = times(path, &header)?;

    let mut obscore = Row::default();
    let text = |s: Option<String>| Value::opt_text(s);
    obscore.push("dataproduct_type", Value::Text("image".into()));
    obscore.push("calib_level", Value::Int(root.calib_level));
    obscore.push("obs_collection", Value::Text(root.collection.clone()));
    obscore.push(
        "obs_release_date",
        Value::opt_text(root.release_date.clone()),
    );
    obscore.push("obs_id", Value::Text(obs_id.clone()));
    obscore.push("obs_publisher_did", Value::Text(did.clone()));
    // The DataLink document, not the file: from it clients reach the file, previews, planes
    // and the cutout service (ObsCore 1.1 §4.7, SIA 2.0 §3.3). Stored relative to the
    // service: queries show it under the URL the server is reached at now.
    obscore.push(
        "access_url",
        Value::Text(format!(
            "{}{}",
            skyport_store::links::DATALINK_PATH,
            form_urlencoded::byte_serialize(did.as_bytes()).collect::<String>()
        )),
    );
    obscore.push(
        "access_format",
        Value::Text("application/x-votable+xml;content=datalink".into()),
    );
    obscore.push(
        "access_estsize",
        Value::Int(summary.file_size.div_ceil(1024) as i64),
    );
    obscore.push("target_name", text(header.str("OBJECT")));
    let (xel1, xel2) = (
        science.shape.first().copied(),
        science.shape.get(1).copied(),
    );
    obscore.push("s_xel1", Value::opt_int(xel1.map(|n| n as i64)));
    obscore.push("s_xel2", Value::opt_int(xel2.map(|n| n as i64)));
    match &wcs {
        Some(w) => {
            let centre = w.center();
            let footprint = w.footprint();
            obscore.push("s_ra", Value::opt_float(centre.map(|c| c.ra)));
            obscore.push("s_dec", Value::opt_float(centre.map(|c| c.dec)));
            let fov = match (centre, &footprint) {
                (Some(c), Some(f)) => f
                    .vertices()
                    .iter()
                    .map(|v| skyport_sky::angular_separation(c, *v))
                    .fold(None, |m: Option<f64>, d| Some(m.map_or(d, |m| m.max(d))))
                    .map(|r| 2.0 * r),
                _ => None,
            };
            obscore.push("s_fov", Value::opt_float(fov));
            obscore.push("s_region", text(footprint.map(|f| f.to_stcs())));
            obscore.push(
                "s_pixel_scale",
                Value::opt_float(Some(w.pixel_scale_arcsec())),
            );
        }
        None => {
            for c in ["s_ra", "s_dec", "s_fov", "s_region", "s_pixel_scale"] {
                obscore.push(c, Value::Null);
            }
        }
    }
    obscore.push(
        "s_resolution",
        Value::opt_float(header.f64("SEEING").filter(|s| *s > 0.0)),
    );
    obscore.push("t_min", Value::opt_float(t_min));
    obscore.push("t_max", Value::opt_float(t_max));
    obscore.push("t_exptime", Value::opt_float(t_exptime));
    let band = band_of(settings, &header);
    obscore.push("em_min", Value::opt_float(band.map(|b| b.em_min)));
    obscore.push("em_max", Value::opt_float(band.map(|b| b.em_max)));
    obscore.push("o_ucd", Value::Text("phot.count".into()));
    obscore.push(
        "facility_name",
        text(header.str("TELESCOP").or_else(|| header.str("OBSERVAT"))),
    );
    obscore.push("instrument_name", text(header.str("INSTRUME")));

    if !root.obscore.is_empty() {
        configured_values(root, band, &header, &mut obscore).map_err(|source| {
            IngestError::ObsCoreValue {
                path: path.to_path_buf(),
                source,
            }
        })?;
    }

    let coverage = image_coverage(&obscore, &did, &root.collection, band).map_err(|reason| {
        IngestError::Coverage {
            path: path.to_path_buf(),
            reason,
        }
    })?;

    let mut file = Row::default();
    file.push("obs_publisher_did", Value::Text(did.clone()));
    file.push("obs_collection", Value::Text(root.collection.clone()));
    file.push("obs_id", Value::Text(obs_id));
    file.push("root_name", Value::Text(root.name.clone()));
    file.push("rel_path", Value::Text(rel_path));
    file.push("file_size", Value::Int(summary.file_size as i64));
    file.push("content_sha256", Value::Text(content_sha256.clone()));
    file.push("science_hdu", Value::Int(science.index as i64));
    file.push("ingested_at", Value::Text(chrono_now()));

    let hdus = summary
        .hdus
        .iter()
        .zip(has_wcs)
        .map(|(h, wcs)| hdu_row(&did, h, wcs))
        .collect();
    Ok(ImageRecord {
        publisher_did: did,
        content_sha256,
        file,
        hdus,
        obscore,
        coverage,
    })
}

/// The cells the image's footprint touches, from its ObsCore row as written (configured values
/// included); none without a footprint.
fn image_coverage(
    obscore: &Row,
    did: &str,
    collection: &str,
    band: Option<&Band>,
) -> Result<Option<ImageCoverage>, String> {
    let Some(region) = obscore.get("s_region").and_then(Value::as_str) else {
        return Ok(None);
    };
    let footprint =
        skyport_sky::parse_stcs(region).map_err(|e| format!("footprint {region:?}: {e}"))?;
    let float = |c: &str| obscore.get(c).and_then(Value::as_f64);
    ImageCoverage::of_footprint(
        did,
        collection,
        band.map(|b| b.name.as_str()),
        obscore.get("obs_release_date").and_then(Value::as_str),
        float("t_min").zip(float("t_max")),
        &footprint,
    )
    .map(Some)
    .map_err(|e| e.to_string())
}

/// Fills the root's configured ObsCore columns of `row` (see [`crate::obscore_values`]).
fn configured_values(
    root: &DataRoot,
    band: Option<&Band>,
    header: &Header,
    row: &mut Row,
) -> Result<(), crate::obscore_values::TemplateError> {
    use crate::obscore_values::{apply, Fields};
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    let mut fields = Fields::new(header);
    if let Some(instrument) = &root.instrument {
        let set = crate::headers::read::HeaderSet {
            primary: header.clone(),
            detectors: Vec::new(),
        };
        // A file the translator cannot read gives no translated fields: templates naming
        // them give NULL, as for any field the file lacks.
        if let Ok(t) = crate::headers::translate_set(instrument, &set) {
            for (k, v) in &t.exposure {
                fields.offer(k, text(v));
            }
            if let [detector] = t.detectors.as_slice() {
                fields.offer("detector", Some(detector.detector.to_string()));
                fields.offer("ccdexposure_id", Some(detector.ccdexposure_id.to_string()));
            }
        }
    }
    for column in [
        "obs_id",
        "obs_collection",
        "calib_level",
        "dataproduct_type",
    ] {
        let value = match row.get(column) {
            Some(Value::Text(s)) => Some(s.clone()),
            Some(Value::Int(i)) => Some(i.to_string()),
            _ => None,
        };
        fields.offer(column, value);
    }
    fields.offer("band", band.map(|b| b.name.clone()));
    apply(&root.obscore, &fields, row)
}

fn chrono_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let epoch = hifitime::Epoch::from_unix_seconds(now.as_secs_f64());
    let (y, mo, d, h, mi, s, ns) = epoch.to_gregorian_utc();
    format!(
        "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:03}",
        ns / 1_000_000
    )
}

fn hdu_row(did: &str, h: &HduSummary, has_wcs: bool) -> Row {
    let mut r = Row::default();
    r.push("obs_publisher_did", Value::Text(did.to_string()));
    r.push("hdu_index", Value::Int(h.index as i64));
    r.push(
        "kind",
        Value::Text(
            match h.kind {
                HduKind::Image => "image",
                HduKind::Empty => "empty",
                HduKind::Table => "table",
            }
            .into(),
        ),
    );
    r.push("role", Value::Text(h.role.as_str().into()));
    r.push("extname", Value::opt_text(h.extname.clone()));
    r.push("naxis1", Value::opt_int(h.shape.first().map(|n| *n as i64)));
    r.push("naxis2", Value::opt_int(h.shape.get(1).map(|n| *n as i64)));
    r.push("bitpix", Value::Int(h.bitpix));
    r.push("compression", Value::opt_text(h.compression.clone()));
    r.push("has_wcs", Value::Bool(has_wcs));
    let cards: Vec<String> = h
        .header
        .cards()
        .iter()
        .map(skyport_fits::format_card)
        .collect();
    r.push("header", Value::Text(cards.join("\n")));
    r
}

/// The celestial WCS of an HDU, from its own header.
fn hdu_wcs(h: &HduSummary) -> Result<Wcs, WcsError> {
    if h.kind == HduKind::Image {
        Wcs::from_header(&h.header)
    } else {
        Err(WcsError::Missing(format!("HDU {} holds no image", h.index)))
    }
}

/// Index of the first image HDU that is not a mask or variance plane, preferring one with a
/// WCS (`has_wcs[i]` tells for HDU `i`).
pub fn choose_science_hdu(hdus: &[HduSummary], has_wcs: &[bool]) -> Option<usize> {
    let candidates: Vec<usize> = hdus
        .iter()
        .enumerate()
        .filter(|(_, h)| h.kind == HduKind::Image && h.shape.len() >= 2)
        .filter(|(_, h)| !matches!(h.role, PlaneRole::Mask | PlaneRole::Variance))
        .map(|(i, _)| i)
        .collect();
    candidates
        .iter()
        .find(|&&i| has_wcs.get(i).copied().unwrap_or(false))
        .or(candidates.first())
        .copied()
}

fn sha256_file(path: &Path) -> Result<String, IngestError> {
    let io = |e: std::io::Error| IngestError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// The time axis of an observation.
struct TimeSpan {
    /// Start, UTC MJD.
    t_min: Option<f64>,
    /// End, UTC MJD.
    t_max: Option<f64>,
    /// Exposure time, seconds.
    t_exptime: Option<f64>,
}

fn times(path: &Path, h: &Header) -> Result<TimeSpan, IngestError> {
    let scale = match h.str("TIMESYS").map(|s| s.to_ascii_uppercase()).as_deref() {
        Some("TAI") => hifitime::TimeScale::TAI,
        Some("TT") | Some("TDT") => hifitime::TimeScale::TT,
        _ => hifitime::TimeScale::UTC,
    };
    let exptime = h
        .f64("EXPTIME")
        .or_else(|| h.f64("EXPOSURE"))
        .filter(|e| e.is_finite() && *e >= 0.0);
    let start = epoch_of(path, h, "MJD-OBS", "DATE-OBS", scale)?;
    let end = epoch_of(path, h, "MJD-END", "DATE-END", scale)?;
    let t_min = start.map(|e| e.to_mjd_utc_days());
    let t_max = end
        .map(|e| e.to_mjd_utc_days())
        .or_else(|| Some(t_min? + exptime? / 86_400.0));
    Ok(TimeSpan {
        t_min,
        t_max,
        t_exptime: exptime,
    })
}

fn epoch_of(
    path: &Path,
    h: &Header,
    mjd_key: &'static str,
    date_key: &'static str,
    scale: hifitime::TimeScale,
) -> Result<Option<hifitime::Epoch>, IngestError> {
    if let Some(mjd) = h.f64(mjd_key).filter(|m| m.is_finite() && *m > 0.0) {
        return Ok(Some(hifitime::Epoch::from_mjd_in_time_scale(mjd, scale)));
    }
    let Some(mut value) = h.str(date_key) else {
        return Ok(None);
    };
    // The pre-1999 FITS form DD/MM/YY means 19YY (FITS 4.0 §4.4.2.1).
    if let [d, m, y] = value.split('/').collect::<Vec<_>>()[..] {
        if [d, m, y]
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit()))
        {
            value = format!("19{y}-{m}-{d}");
        }
    }
    // ISO 8601 basic form YYYYMMDD (seen in VLA FIRST cutouts).
    if value.len() == 8 && value.bytes().all(|b| b.is_ascii_digit()) {
        value = format!("{}-{}-{}", &value[..4], &value[4..6], &value[6..]);
    }
    if !value.contains('T') {
        if let Some(t) = h.str("TIME-OBS").filter(|_| date_key == "DATE-OBS") {
            value = format!("{value}T{t}");
        }
    }
    let bad = |reason: String| IngestError::BadTime {
        path: path.to_path_buf(),
        keyword: date_key,
        value: value.clone(),
        reason,
    };
    let iso = value.trim_end_matches('Z');
    let looks_iso = iso.len() >= 10 && iso.as_bytes()[4] == b'-' && iso.as_bytes()[7] == b'-';
    if !looks_iso {
        return Err(bad("expected YYYY-MM-DD[Thh:mm:ss[.sss]]".into()));
    }
    crate::headers::time::parse_iso(iso, scale)
        .map(Some)
        .ok_or_else(|| bad("not a valid date and time".into()))
}

fn band_of<'a>(settings: &'a IngestSettings, h: &Header) -> Option<&'a Band> {
    let value = ["FILTER", "BAND", "FILTNAM", "FILTER1"]
        .iter()
        .find_map(|k| h.str(k))?;
    let find = |name: &str| {
        settings
            .bands
            .iter()
            .find(|b| b.name.eq_ignore_ascii_case(name.trim()))
    };
    find(&value).or_else(|| value.split(['_', '~', ' ']).next().and_then(find))
}

/// The band of `bands` whose range ObsCore's `(em_min, em_max)` holds (as ingest writes them):
/// the one with the same ends, to a part in a million.
pub fn band_of_range(bands: &[Band], em_min: Option<f64>, em_max: Option<f64>) -> Option<String> {
    let (lo, hi) = (em_min?, em_max?);
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * a.abs().max(b.abs());
    bands
        .iter()
        .find(|b| close(b.em_min, lo) && close(b.em_max, hi))
        .map(|b| b.name.clone())
}

/// The LSST ugrizy bands (approximate full-width ranges of the filter curves, metres).
pub fn default_bands() -> Vec<Band> {
    [
        ("u", 320e-9, 400e-9),
        ("g", 400e-9, 552e-9),
        ("r", 552e-9, 691e-9),
        ("i", 691e-9, 818e-9),
        ("z", 818e-9, 922e-9),
        ("y", 948e-9, 1060e-9),
    ]
    .into_iter()
    .map(|(n, lo, hi)| Band {
        name: n.to_string(),
        em_min: lo,
        em_max: hi,
    })
    .collect()
}
