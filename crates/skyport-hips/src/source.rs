//! The images a HiPS is made of: those of one collection and band whose metadata is released
//! (a HiPS is served to everyone the collection's data are open to, so an image still under
//! embargo stays out until its release date has passed and the HiPS is updated).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use skyport_sky::Shape;
use skyport_store::{ddl, Store, StoreError, Value};

/// One image as a HiPS build needs it.
#[derive(Debug, Clone)]
pub struct SourceEntry {
    /// Publisher DID.
    pub did: String,
    /// SHA-256 of the file: a changed file is a changed image.
    pub sha256: String,
    /// The file.
    pub path: PathBuf,
    /// Its science HDU.
    pub science_hdu: usize,
    /// Its mask HDU, if it has one.
    pub mask_hdu: Option<usize>,
    /// Its footprint.
    pub footprint: Shape,
    /// Pixel scale (arcsec), when known.
    pub pixel_arcsec: Option<f64>,
    /// Exposure start and end (MJD).
    pub time: (Option<f64>, Option<f64>),
    /// Wavelength range (m).
    pub em: (Option<f64>, Option<f64>),
}

/// A HiPS's identity: its collection and band (`None`: images of no known band).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct HipsKey {
    /// ObsCore collection.
    pub collection: String,
    /// Band name.
    pub band: Option<String>,
}

impl HipsKey {
    /// The HiPS's id in URLs and on disk: the collection, then `-` and the band, with every
    /// character outside `A–Z a–z 0–9 . _` written as `_`.
    pub fn id(&self) -> String {
        let clean = |s: &str| -> String {
            s.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect()
        };
        let mut id = clean(&self.collection);
        if id.starts_with('.') {
            id.replace_range(0..1, "_");
        }
        match &self.band {
            Some(b) => format!("{id}-{}", clean(b)),
            None => id,
        }
    }
}

/// The released images of every collection and band with coverage, grouped by HiPS; only
/// `collection` (and `band`) when given. `roots` maps data-root names to directories.
pub async fn released_images(
    store: &Arc<dyn Store>,
    roots: &[(String, PathBuf)],
    collection: Option<&str>,
    band: Option<&str>,
    now: DateTime<Utc>,
) -> Result<BTreeMap<HipsKey, Vec<SourceEntry>>, StoreError> {
    let d = store.dialect();
    let mut sql = format!(
        "SELECT c.obs_publisher_did, c.obs_collection, c.band, c.obs_release_date, f.root_name, \
         f.rel_path, f.science_hdu, f.content_sha256, o.s_region, o.s_pixel_scale, o.t_min, \
         o.t_max, o.em_min, o.em_max, \
         (SELECT MIN(h.hdu_index) FROM {hdus} h WHERE h.obs_publisher_did = c.obs_publisher_did \
          AND h.role = 'mask' AND h.hdu_index <> f.science_hdu) \
         FROM {coverage} c JOIN {files} f ON f.obs_publisher_did = c.obs_publisher_did \
         JOIN {obscore} o ON o.obs_publisher_did = c.obs_publisher_did",
        hdus = ddl::table_name(d, "skyport", "image_hdu"),
        coverage = ddl::table_name(d, "skyport", "image_coverage"),
        files = ddl::table_name(d, "skyport", "image_file"),
        obscore = ddl::table_name(d, "ivoa", "ObsCore"),
    );
    let mut params = Vec::new();
    if let Some(c) = collection {
        params.push(Value::Text(c.to_string()));
        sql.push_str(&format!(
            " WHERE c.obs_collection = {}",
            ddl::placeholder(d, 1)
        ));
    }
    sql.push_str(" ORDER BY c.obs_publisher_did");
    let rows = store.query(sql, params).await?;
    let mut out: BTreeMap<HipsKey, Vec<SourceEntry>> = BTreeMap::new();
    for r in &rows.rows {
        let text = |i: usize| r.get(i).and_then(Value::as_str);
        let float = |i: usize| r.get(i).and_then(Value::as_f64);
        let int = |i: usize| r.get(i).and_then(Value::as_i64);
        let (Some(did), Some(coll), Some(root), Some(rel), Some(sha), Some(region)) =
            (text(0), text(1), text(4), text(5), text(7), text(8))
        else {
            continue;
        };
        let row_band = text(2).map(str::to_string);
        if band.is_some_and(|b| {
            row_band
                .as_deref()
                .is_none_or(|rb| !rb.eq_ignore_ascii_case(b))
        }) {
            continue;
        }
        let released = match text(3) {
            None => true,
            Some(t) => skyport_store::coverage::parse_time(t).is_some_and(|at| at <= now),
        };
        if !released {
            continue;
        }
        let Some(dir) = roots.iter().find(|(name, _)| name == root).map(|(_, p)| p) else {
            tracing::warn!(
                did,
                root,
                "image of a data root this archive does not serve: left out"
            );
            continue;
        };
        let Ok(footprint) = skyport_sky::parse_stcs(region) else {
            continue;
        };
        out.entry(HipsKey {
            collection: coll.to_string(),
            band: row_band,
        })
        .or_default()
        .push(SourceEntry {
            did: did.to_string(),
            sha256: sha.to_string(),
            path: dir.join(rel),
            science_hdu: int(6).unwrap_or(0).max(0) as usize,
            mask_hdu: int(14).and_then(|m| usize::try_from(m).ok()),
            footprint,
            pixel_arcsec: float(9).filter(|s| *s > 0.0),
            time: (float(10), float(11)),
            em: (float(12), float(13)),
        });
    }
    Ok(out)
}

/// The release dates (`obs_release_date`) the archive's images have, each once, earliest
/// first: the moments a HiPS may gain images without any ingest.
pub async fn release_dates(store: &Arc<dyn Store>) -> Result<Vec<DateTime<Utc>>, StoreError> {
    let sql = format!(
        "SELECT DISTINCT obs_release_date FROM {} WHERE obs_release_date IS NOT NULL",
        ddl::table_name(store.dialect(), "skyport", "image_coverage")
    );
    let rows = store.query(sql, Vec::new()).await?;
    let mut dates: Vec<DateTime<Utc>> = rows
        .rows
        .iter()
        .filter_map(|r| r.first().and_then(Value::as_str))
        .filter_map(skyport_store::coverage::parse_time)
        .collect();
    dates.sort();
    dates.dedup();
    Ok(dates)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_safe_in_urls_and_paths() {
        let key = |c: &str, b: Option<&str>| HipsKey {
            collection: c.into(),
            band: b.map(String::from),
        };
        assert_eq!(key("LSSTCam/raw", Some("r")).id(), "LSSTCam_raw-r");
        assert_eq!(key("../etc", None).id(), "_._etc");
        assert_eq!(key("demo", None).id(), "demo");
    }
}
