//! Turning a request into cutouts: every ID × region (or, without IDs, every image holding the
//! region's centre, found through ObsCore) becomes one [`Item`], resolved up front to a file,
//! its planes and a pixel box — or to the reason there is none. Nothing is written here, so a
//! sync request knows its status code before the first byte.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use axum::http::StatusCode;
use skyport_fits::{
    pixel_box_within, read_header, read_summary, Cancel, Cancelled, HduKind, PixelBox, Wcs,
};
use skyport_store::images::Image;
use skyport_store::Value;

use super::request::{Detail, SodaRequest, Target};
use super::Soda;
use crate::caller::Caller;
use crate::dali::interval::Interval;
use crate::dali::DaliError;

/// An image to cut from.
#[derive(Debug, Clone)]
pub struct Source {
    /// Publisher DID.
    pub did: String,
    /// The file on disk.
    pub path: PathBuf,
    /// HDU of the science image.
    pub science_hdu: usize,
    /// HDUs of the mask and variance planes, when the file has them.
    pub mask_hdu: Option<usize>,
    /// See `mask_hdu`.
    pub variance_hdu: Option<usize>,
    /// ObsCore `em_min`, `em_max` (m).
    pub em: (Option<f64>, Option<f64>),
    /// ObsCore `t_min`, `t_max` (MJD).
    pub t: (Option<f64>, Option<f64>),
}

/// What became of one combination.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Ready to cut.
    Ready {
        /// The image.
        source: Arc<Source>,
        /// Its planes to cut.
        planes: Vec<usize>,
        /// The box.
        pixels: PixelBox,
    },
    /// Nothing to cut: the region misses the image, or the image fails BAND/TIME.
    Empty(String),
    /// An error (unknown ID, cutout over the size limit, unreadable image).
    Failed {
        /// HTTP status for a single sync cutout.
        status: StatusCode,
        /// The message, starting with its SODA label (`UsageError: …`, `Error: …`).
        message: String,
    },
}

/// One combination of an image and a region.
#[derive(Debug, Clone)]
pub struct Item {
    /// 1-based position in the request.
    pub number: usize,
    /// The dataset ID (empty when no image holds the region).
    pub id: String,
    /// The region as asked for.
    pub label: String,
    /// The result.
    pub outcome: Outcome,
}

fn failed(status: StatusCode, message: String) -> Outcome {
    Outcome::Failed { status, message }
}

/// The pixels (all planes) every ready cutout of `items` holds.
pub fn output_pixels(items: &[Item]) -> u64 {
    items
        .iter()
        .map(|i| match &i.outcome {
            Outcome::Ready { pixels, planes, .. } => pixels
                .width()
                .saturating_mul(pixels.height())
                .saturating_mul(planes.len() as u64),
            _ => 0,
        })
        .fold(0u64, u64::saturating_add)
}

/// Refuses a plan whose cutouts together hold more than `budget` pixels (0: no budget);
/// `what` names the request kind for the message.
pub fn within_budget(items: &[Item], budget: u64, what: &str) -> Result<(), DaliError> {
    let total = output_pixels(items);
    if budget > 0 && total > budget {
        return Err(DaliError::usage(format!(
            "these cutouts hold {total} pixels in all; {what} may cut out at most {budget} (ask for fewer or smaller cutouts{})",
            if what.starts_with("a synchronous") {
                ", or use /soda/async"
            } else {
                ""
            }
        ))
        .with_status(StatusCode::PAYLOAD_TOO_LARGE));
    }
    Ok(())
}

/// Resolves every combination of `request` for `caller`, refusing more than `max_items`.
/// The images are found in one batched lookup. The tracing stops when `cancel` is cancelled
/// (and is cancelled if this future is dropped).
pub async fn plan(
    soda: &Arc<Soda>,
    caller: &Caller,
    request: &SodaRequest,
    max_items: usize,
    cancel: &Cancel,
) -> Result<Vec<Item>, DaliError> {
    let pairs = pairs(soda, caller, request, max_items).await?;
    let ids: Vec<&str> = pairs
        .iter()
        .map(|(id, _)| id.as_str())
        .filter(|id| !id.is_empty())
        .collect();
    let mut found = soda
        .images
        .images(caller, &ids)
        .await
        .map_err(|e| DaliError::internal(format!("looking up the images: {e}")))?;
    let mut sources: HashMap<String, Result<Arc<Source>, Outcome>> = HashMap::new();
    for id in ids {
        if sources.contains_key(id) {
            continue;
        }
        let source = match found.remove(id) {
            Some(image) if !image.data_readable => {
                let refusal = DaliError::not_allowed(
                    caller,
                    format!("ID={id:?}: its metadata is visible to you but not its pixels"),
                );
                Err(failed(refusal.status, format!("Error: {}", refusal.detail)))
            }
            Some(image) => Ok(Arc::new(source(soda, image)?)),
            None => Err(failed(
                StatusCode::NOT_FOUND,
                format!("Error: ID={id:?} is not an image of this archive"),
            )),
        };
        sources.insert(id.to_string(), source);
    }
    let soda = Arc::clone(soda);
    let band = request.band.clone();
    let time = request.time.clone();
    let detail = request.detail;
    let token = cancel.clone();
    let guard = cancel.on_drop();
    let working = soda.working();
    // WCS reading and outline tracing are CPU and file work: off the async threads.
    let planned = tokio::task::spawn_blocking(move || {
        let _working = working;
        pairs
            .into_iter()
            .enumerate()
            .map(|(i, (id, target))| {
                token.check()?;
                let outcome = match sources.get(&id) {
                    None => Outcome::Empty(format!(
                        "Error: no image holds the centre of {}",
                        target.label
                    )),
                    Some(Err(o)) => o.clone(),
                    Some(Ok(source)) => {
                        resolve(source, &target, &band, &time, detail, &soda, &token)?
                    }
                };
                Ok(Item {
                    number: i + 1,
                    id,
                    label: target.label,
                    outcome,
                })
            })
            .collect::<Result<Vec<Item>, Cancelled>>()
    })
    .await;
    guard.disarm();
    planned
        .map_err(|e| DaliError::internal(format!("planning the cutouts: {e}")))?
        .map_err(super::stopped)
}

/// The (ID, region) pairs of a request, ID-major.
async fn pairs(
    soda: &Soda,
    caller: &Caller,
    request: &SodaRequest,
    max_items: usize,
) -> Result<Vec<(String, Target)>, DaliError> {
    let mut out = Vec::new();
    let too_many = |n: usize| {
        DaliError::usage(format!(
            "the request makes {n} cutouts or more; at most {max_items} are allowed here (use /soda/async for more)"
        ))
    };
    let (own, shared): (Vec<&Target>, Vec<&Target>) =
        request.targets.iter().partition(|t| t.id.is_some());
    for t in own {
        out.push((t.id.clone().unwrap_or_default(), t.clone()));
    }
    if request.ids.is_empty() {
        for t in shared {
            let ids = covering(soda, caller, request, t).await?;
            if ids.is_empty() {
                out.push((String::new(), t.clone()));
            }
            for id in ids {
                out.push((id, t.clone()));
            }
            if out.len() > max_items {
                return Err(too_many(out.len()));
            }
        }
    } else {
        if request.ids.len().saturating_mul(shared.len()) + out.len() > max_items {
            return Err(too_many(request.ids.len() * shared.len() + out.len()));
        }
        for id in &request.ids {
            for t in &shared {
                out.push((id.clone(), (*t).clone()));
            }
        }
    }
    if out.len() > max_items {
        return Err(too_many(out.len()));
    }
    Ok(out)
}

fn num(x: f64) -> String {
    format!("{x:?}")
}

/// ADQL for "the interval column pair overlaps one of `intervals`".
fn overlaps(intervals: &[Interval], min_col: &str, max_col: &str) -> Option<String> {
    if intervals.is_empty() {
        return None;
    }
    let any: Vec<String> = intervals
        .iter()
        .map(|i| {
            let mut c = vec![
                format!("{min_col} IS NOT NULL"),
                format!("{max_col} IS NOT NULL"),
            ];
            if let Some(hi) = i.hi {
                c.push(format!("{min_col} <= {}", num(hi)));
            }
            if let Some(lo) = i.lo {
                c.push(format!("{max_col} >= {}", num(lo)));
            }
            format!("({})", c.join(" AND "))
        })
        .collect();
    Some(format!("({})", any.join(" OR ")))
}

/// The images whose footprint holds the centre of `target` and that pass BAND and TIME,
/// oldest first.
async fn covering(
    soda: &Soda,
    caller: &Caller,
    request: &SodaRequest,
    target: &Target,
) -> Result<Vec<String>, DaliError> {
    let c = target.region.center();
    let mut conditions = vec![
        "dataproduct_type = 'image'".to_string(),
        format!(
            "1 = CONTAINS(POINT('ICRS', {}, {}), s_region)",
            num(c.ra),
            num(c.dec)
        ),
    ];
    conditions.extend(overlaps(&request.band, "em_min", "em_max"));
    conditions.extend(overlaps(&request.time, "t_min", "t_max"));
    let adql = format!(
        "SELECT obs_publisher_did FROM ivoa.ObsCore WHERE {} ORDER BY t_min, obs_publisher_did",
        conditions.join(" AND ")
    );
    let found: Vec<String> = soda
        .tap
        .rows(caller, &adql)
        .await?
        .into_iter()
        .filter_map(|row| match row.into_iter().next() {
            Some(Value::Text(t)) => Some(t),
            _ => None,
        })
        .collect();
    // A search skips the images whose pixels the caller may not read (their metadata they
    // may see): it cuts out what it can, rather than failing on what it may not.
    let readable = soda
        .images
        .images(
            caller,
            &found.iter().map(String::as_str).collect::<Vec<_>>(),
        )
        .await
        .map_err(|e| DaliError::internal(format!("looking up the images: {e}")))?;
    Ok(found
        .into_iter()
        .filter(|did| readable.get(did).is_some_and(|i| i.data_readable))
        .collect())
}

/// A relative path that cannot leave its root.
fn is_contained(rel: &str) -> bool {
    !rel.is_empty()
        && Path::new(rel)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

/// Where a found image's pixels are.
fn source(soda: &Soda, info: Image) -> Result<Source, DaliError> {
    let (did, root, rel) = (&info.did, &info.root, &info.rel_path);
    let Some((_, dir)) = soda.roots.iter().find(|(name, _)| name == root) else {
        return Err(DaliError::internal(format!(
            "{did:?} is in data root {root:?}, which this server does not have"
        )));
    };
    if !is_contained(rel) {
        return Err(DaliError::internal(format!(
            "{did:?} has an unsafe path {rel:?}"
        )));
    }
    Ok(Source {
        path: dir.join(rel),
        science_hdu: info.science_hdu.max(0) as usize,
        mask_hdu: info.plane("mask"),
        variance_hdu: info.plane("variance"),
        em: info.em,
        t: info.t,
        did: info.did,
    })
}

fn passes(intervals: &[Interval], (lo, hi): (Option<f64>, Option<f64>)) -> bool {
    intervals.is_empty()
        || matches!((lo, hi), (Some(lo), Some(hi)) if intervals.iter().any(|i| {
            i.hi.is_none_or(|h| lo <= h) && i.lo.is_none_or(|l| hi >= l)
        }))
}

/// Cache of image WCSs by file and HDU (a header read and parsed once per image).
pub type WcsCache = std::sync::Mutex<HashMap<(PathBuf, usize), Arc<Wcs>>>;

/// Most WCSs kept; the cache is emptied when it is full.
const WCS_CACHE_SIZE: usize = 100_000;

fn wcs_of(cache: &WcsCache, path: &Path, hdu: usize) -> Result<Arc<Wcs>, String> {
    let key = (path.to_path_buf(), hdu);
    if let Some(w) = cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return Ok(w);
    }
    let header = read_header(path, hdu).map_err(|e| e.to_string())?;
    let wcs = Arc::new(Wcs::from_header(&header).map_err(|e| e.to_string())?);
    if let Ok(mut c) = cache.lock() {
        if c.len() >= WCS_CACHE_SIZE {
            c.clear();
        }
        c.insert(key, Arc::clone(&wcs));
    }
    Ok(wcs)
}

fn resolve(
    source: &Arc<Source>,
    target: &Target,
    band: &[Interval],
    time: &[Interval],
    detail: Detail,
    soda: &Soda,
    cancel: &Cancel,
) -> Result<Outcome, Cancelled> {
    let (max_pixels, cache) = (soda.limits.soda_max_pixels, &soda.wcs_cache);
    if !passes(band, source.em) {
        return Ok(Outcome::Empty(format!(
            "Error: {} is outside the BAND asked for",
            source.did
        )));
    }
    if !passes(time, source.t) {
        return Ok(Outcome::Empty(format!(
            "Error: {} is outside the TIME asked for",
            source.did
        )));
    }
    let wcs = match wcs_of(cache, &source.path, source.science_hdu) {
        Ok(w) => w,
        Err(e) => {
            return Ok(failed(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("Error: cannot place {} on the sky: {e}", source.did),
            ))
        }
    };
    let Some(pixels) = pixel_box_within(&wcs, &target.region, cancel)? else {
        return Ok(Outcome::Empty(format!(
            "Error: {} does not overlap {}",
            target.label, source.did
        )));
    };
    if pixels.pixels() > max_pixels {
        return Ok(failed(
            StatusCode::BAD_REQUEST,
            format!(
                "UsageError: the cutout {pixels} of {} has {} pixels, more than the limit of {max_pixels}; ask for a smaller region",
                source.did,
                pixels.pixels()
            ),
        ));
    }
    let planes = match detail {
        Detail::Image => vec![source.science_hdu],
        Detail::Masked => std::iter::once(source.science_hdu)
            .chain(source.mask_hdu)
            .chain(source.variance_hdu)
            .collect(),
        Detail::Full => match same_size_images(&source.path, source.science_hdu) {
            Ok(p) => p,
            Err(e) => {
                return Ok(failed(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("Error: cannot list the planes of {}: {e}", source.did),
                ))
            }
        },
    };
    Ok(Outcome::Ready {
        source: Arc::clone(source),
        planes,
        pixels,
    })
}

/// Every image HDU of the same size as the science HDU, in file order.
fn same_size_images(path: &Path, science: usize) -> Result<Vec<usize>, String> {
    let summary = read_summary(path).map_err(|e| e.to_string())?;
    let shape = summary
        .hdus
        .get(science)
        .map(|h| h.shape.clone())
        .ok_or("the science HDU is missing")?;
    Ok(summary
        .hdus
        .iter()
        .filter(|h| h.kind == HduKind::Image && h.shape == shape)
        .map(|h| h.index)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_filter_like_obscore_overlaps() {
        let i = |lo: Option<f64>, hi: Option<f64>| Interval { lo, hi };
        assert!(passes(&[], (None, None)));
        assert!(!passes(&[i(Some(1.0), Some(2.0))], (None, None)));
        assert!(passes(&[i(Some(1.0), Some(2.0))], (Some(1.5), Some(3.0))));
        assert!(!passes(&[i(Some(1.0), Some(2.0))], (Some(2.5), Some(3.0))));
        assert!(passes(
            &[i(Some(5.0), None), i(None, Some(0.5))],
            (Some(0.1), Some(0.2))
        ));
        assert!(is_contained("a/b.fits") && !is_contained("../x") && !is_contained("/etc"));
    }
}
