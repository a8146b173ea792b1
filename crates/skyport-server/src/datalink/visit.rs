//! How images relate: a visit and its detector images.
//!
//! A visit (one ConsDB exposure, seen by every detector of the camera) has no file of its own,
//! but it has a DataLink ID, `ivo://<authority>/consdb/<instrument>/visit?<visit_id>` (ConsDB's
//! `visit1.visit_id` is the exposure id of its single exposure). Its links list each detector
//! image of the visit as `#progenitor` (the data the visit is made of), and each detector
//! image links its visit as `#derivation`. Both point at the other's DataLink document, so a
//! client walks from one detector image to its visit and on to every sibling.
//!
//! The relation is `skyport.image_exposure`, which header ingest writes in the same
//! transaction as the images; images ingested without their headers have no visit. A DID
//! that is both an image and of the visit form is the image (image DIDs are matched first).

pub use skyport_store::images::DetectorImage;
use skyport_store::images::ExposureOf;
use skyport_store::ImageIndex;

use super::{encode_query, tap_query, Link};
use crate::caller::Caller;
use crate::dali::DaliError;
use crate::descriptors::DATALINK_MIME;

/// The path of visit IDs below the authority, around the instrument.
const PATH_START: &str = "/consdb/";
const PATH_END: &str = "/visit";

/// A visit's DataLink ID, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitId {
    /// The IVOA authority (as in the archive's image DIDs).
    pub authority: String,
    /// The ConsDB instrument (`lsstcam`, `latiss`, …).
    pub instrument: String,
    /// The visit id (the exposure id of its exposure).
    pub visit_id: i64,
}

impl VisitId {
    /// Reads an ID of the visit form: `None` when it is not of that form, an error (for a
    /// `UsageFault`) when it is but its parts are not valid.
    pub fn parse(id: &str) -> Option<Result<VisitId, String>> {
        let rest = id
            .get(..6)?
            .eq_ignore_ascii_case("ivo://")
            .then(|| &id[6..])?;
        let (path, local) = rest.split_once('?')?;
        let (authority, path) = path.split_once(PATH_START)?;
        let instrument = path.strip_suffix(PATH_END)?;
        if authority.is_empty() || authority.contains('/') {
            return None;
        }
        if instrument.is_empty()
            || !instrument
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return Some(Err(format!(
                "UsageFault: {instrument:?} in {id:?} is not an instrument name (lower-case letters and digits)"
            )));
        }
        Some(match local.parse::<i64>() {
            Ok(visit_id) if visit_id >= 0 => Ok(VisitId {
                authority: authority.to_string(),
                instrument: instrument.to_string(),
                visit_id,
            }),
            _ => Err(format!(
                "UsageFault: the visit id {local:?} in {id:?} is not a non-negative integer"
            )),
        })
    }

    /// The visit of an image with this DID (its authority is the visit's).
    pub fn of_image(did: &str, instrument: &str, visit_id: i64) -> Option<VisitId> {
        let authority = did.get(6..)?.split('/').next()?;
        Some(VisitId {
            authority: authority.to_string(),
            instrument: instrument.to_string(),
            visit_id,
        })
    }

    /// Whether `did` was published under this visit's authority.
    fn shares_authority(&self, did: &str) -> bool {
        did.get(6..)
            .and_then(|rest| rest.split('/').next())
            .is_some_and(|a| a.eq_ignore_ascii_case(&self.authority))
    }
}

impl std::fmt::Display for VisitId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ivo://{}{PATH_START}{}{PATH_END}?{}",
            self.authority, self.instrument, self.visit_id
        )
    }
}

/// The detector images of a visit that `caller` may see, by detector number.
pub async fn detector_images(
    index: &ImageIndex,
    caller: &Caller,
    visit: &VisitId,
) -> Result<Vec<DetectorImage>, DaliError> {
    let images = index
        .visit_images(caller, &visit.instrument, visit.visit_id)
        .await
        .map_err(|e| DaliError::internal(format!("looking up the images of {visit}: {e}")))?;
    Ok(images
        .into_iter()
        .filter(|image| visit.shares_authority(&image.did))
        .collect())
}

/// A link to the DataLink document of `target`.
fn datalink_of(base: &str, target: &str) -> String {
    format!("{base}/datalink/links?ID={}", encode_query(target))
}

/// The links of a visit with its detector images: each image as `#progenitor` (below `base`),
/// and the visit's ConsDB records as TAP queries of the service below `records` (the live
/// archive's, also for a data release, whose TAP has no ConsDB).
pub fn visit_links(
    base: &str,
    records: &str,
    visit: &VisitId,
    images: &[DetectorImage],
) -> Vec<Link> {
    let id = visit.to_string();
    let link = |semantics: &str| Link {
        id: id.clone(),
        semantics: semantics.to_string(),
        ..Link::default()
    };
    let mut links: Vec<Link> = images
        .iter()
        .map(|image| Link {
            access_url: Some(datalink_of(base, &image.did)),
            description: Some(format!(
                "Detector {} image of this visit (ccdexposure {}): its links",
                image.detector, image.ccdexposure_id
            )),
            content_type: Some(DATALINK_MIME.into()),
            local_semantics: Some("detector".into()),
            ..link("#progenitor")
        })
        .collect();
    let schema = format!("cdb_{}", visit.instrument);
    for (local, what, adql) in [
        (
            "visit",
            "The visit's ConsDB record (visit1), as a TAP query",
            format!(
                "SELECT * FROM {schema}.visit1 WHERE visit_id = {}",
                visit.visit_id
            ),
        ),
        (
            "detectors",
            "The ConsDB records of the visit's detectors (ccdexposure), as a TAP query",
            format!(
                "SELECT * FROM {schema}.ccdexposure WHERE exposure_id = {} ORDER BY detector",
                visit.visit_id
            ),
        ),
    ] {
        links.push(Link {
            access_url: Some(tap_query(records, &adql)),
            description: Some(what.into()),
            content_type: Some("application/x-votable+xml".into()),
            local_semantics: Some(local.into()),
            ..link("#auxiliary")
        });
    }
    links
}

/// The observers' exposure-log messages about exposure `exposure_id` (those still valid),
/// as a TAP query joining the log with ConsDB (a message names its exposure by ConsDB's
/// `exposure_name`).
fn exposure_log_link(records: &str, did: &str, instrument: &str, exposure_id: i64) -> Link {
    Link {
        id: did.to_string(),
        access_url: Some(tap_query(
            records,
            &format!(
                "SELECT m.* FROM exposurelog.message AS m JOIN cdb_{instrument}.exposure AS e \
                 ON e.exposure_name = m.obs_id WHERE e.exposure_id = {exposure_id} \
                 AND m.date_invalidated IS NULL ORDER BY m.date_added"
            ),
        )),
        description: Some(format!(
            "Observers' exposure-log messages about {instrument} exposure {exposure_id}, as a TAP query"
        )),
        semantics: "#auxiliary".into(),
        content_type: Some("application/x-votable+xml".into()),
        local_semantics: Some("exposurelog".into()),
        ..Link::default()
    }
}

/// The links an image gains from its place in a visit: the visit (`#derivation`, below
/// `base`), the exposure-log messages about its exposure, and its ConsDB detector record (TAP
/// queries below `records`).
pub fn image_visit_links(
    base: &str,
    records: &str,
    did: &str,
    exposures: &[ExposureOf],
) -> Vec<Link> {
    let mut links = Vec::new();
    let mut visits_seen: Vec<VisitId> = Vec::new();
    for ExposureOf {
        instrument,
        exposure_id,
        detector,
        ccdexposure_id,
    } in exposures
    {
        if let Some(visit) = VisitId::of_image(did, instrument, *exposure_id) {
            if !visits_seen.contains(&visit) {
                links.push(Link {
                    id: did.to_string(),
                    access_url: Some(datalink_of(base, &visit.to_string())),
                    description: Some(format!(
                        "The {instrument} visit {exposure_id} this image is part of: its detector images and ConsDB records"
                    )),
                    semantics: "#derivation".into(),
                    content_type: Some(DATALINK_MIME.into()),
                    local_semantics: Some("visit".into()),
                    ..Link::default()
                });
                visits_seen.push(visit);
                links.push(exposure_log_link(records, did, instrument, *exposure_id));
            }
        }
        links.push(Link {
            id: did.to_string(),
            access_url: Some(tap_query(
                records,
                &format!(
                    "SELECT * FROM cdb_{instrument}.ccdexposure WHERE ccdexposure_id = {ccdexposure_id}"
                ),
            )),
            description: Some(format!(
                "The ConsDB record of detector {detector} in this exposure (ccdexposure), as a TAP query"
            )),
            semantics: "#auxiliary".into(),
            content_type: Some("application/x-votable+xml".into()),
            local_semantics: Some("ccdexposure".into()),
            ..Link::default()
        });
    }
    links
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visit_ids_round_trip_and_bad_parts_are_usage_faults() {
        let v = VisitId {
            authority: "skyport.demo".into(),
            instrument: "lsstcam".into(),
            visit_id: 2025052000123,
        };
        let text = v.to_string();
        assert_eq!(
            text,
            "ivo://skyport.demo/consdb/lsstcam/visit?2025052000123"
        );
        assert_eq!(VisitId::parse(&text), Some(Ok(v.clone())));
        assert_eq!(
            VisitId::parse("IVO://skyport.demo/consdb/lsstcam/visit?2025052000123"),
            Some(Ok(v))
        );
        for not_a_visit in [
            "ivo://skyport.demo/LSSTCam-demo?a/b",
            "ivo://skyport.demo/consdb/lsstcam/visit",
            "ivo://skyport.demo/consdb/lsstcam/exposure?1",
            "http://skyport.demo/consdb/lsstcam/visit?1",
        ] {
            assert_eq!(VisitId::parse(not_a_visit), None, "{not_a_visit}");
        }
        for bad in [
            "ivo://a/consdb/lsstcam/visit?12x",
            "ivo://a/consdb/lsstcam/visit?-1",
            "ivo://a/consdb/LSST Cam/visit?1",
        ] {
            assert!(
                VisitId::parse(bad).is_some_and(|r| r.is_err_and(|m| m.starts_with("UsageFault"))),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_visit_lists_its_detectors_and_an_image_its_visit() {
        let visit = VisitId::parse("ivo://a/consdb/lsstcam/visit?7")
            .and_then(Result::ok)
            .expect("a visit id");
        let images: Vec<DetectorImage> = [(10, 700), (11, 701)]
            .into_iter()
            .map(|(detector, ccdexposure_id)| DetectorImage {
                did: format!("ivo://a/c?d{detector}"),
                detector,
                ccdexposure_id,
            })
            .collect();
        let links = visit_links("http://h", "http://h", &visit, &images);
        let semantics: Vec<&str> = links.iter().map(|l| l.semantics.as_str()).collect();
        assert_eq!(
            semantics,
            ["#progenitor", "#progenitor", "#auxiliary", "#auxiliary"]
        );
        assert_eq!(
            links[1].access_url.as_deref(),
            Some("http://h/datalink/links?ID=ivo%3A%2F%2Fa%2Fc%3Fd11")
        );
        assert!(links
            .iter()
            .all(|l| l.id == "ivo://a/consdb/lsstcam/visit?7"));

        let back = image_visit_links(
            "http://h",
            "http://h",
            "ivo://a/c?d11",
            &[ExposureOf {
                instrument: "lsstcam".into(),
                exposure_id: 7,
                detector: 11,
                ccdexposure_id: 701,
            }],
        );
        assert_eq!(back[0].semantics, "#derivation");
        assert_eq!(
            back[0].access_url.as_deref(),
            Some("http://h/datalink/links?ID=ivo%3A%2F%2Fa%2Fconsdb%2Flsstcam%2Fvisit%3F7")
        );
        // The exposure's log messages, then the detector record.
        assert_eq!(back[1].local_semantics.as_deref(), Some("exposurelog"));
        assert!(
            back[1].access_url.as_deref().is_some_and(
                |u| u.contains("exposure_id+%3D+7+") && u.contains("exposurelog.message")
            )
        );
        assert!(back[2]
            .access_url
            .as_deref()
            .is_some_and(|u| u.contains("ccdexposure_id+%3D+701")));
    }

    #[test]
    fn only_images_of_the_visits_authority_belong_to_it() {
        let visit = VisitId::parse("ivo://a.org/consdb/latiss/visit?1")
            .and_then(Result::ok)
            .expect("a visit id");
        assert!(visit.shares_authority("ivo://a.org/c?x"));
        assert!(visit.shares_authority("ivo://A.org/c?x"));
        assert!(!visit.shares_authority("ivo://b.org/c?x"));
    }
}
