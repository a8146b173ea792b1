//! CAOM 2.4 rows of an image (`caom2.Observation`, `Plane`, `Artifact`, `Part`, `Chunk`),
//! written by the same writer, from the same values and in the same transaction as its
//! `ivoa.ObsCore` row ([`crate::ImageRecord::statements`] and the stores' `upsert_image`).
//! ObsCore is therefore derivable from CAOM2: [`OBSCORE_FROM_CAOM2`] is the query, and the
//! tests compare its rows with `ivoa.ObsCore` row by row.
//!
//! One image is one simple observation (`observationID` = ObsCore `obs_id`) with one plane
//! (the image, `publisherID` = its DID), one artifact (its file), a part per HDU, and a chunk
//! per HDU with a celestial WCS (read from the HDU's header cards); a part is named by its
//! extension number. Ids are UUIDs made from the entity's URI (a hash), so writing an image
//! again gives the same ids. Every table also carries the image's `obs_publisher_did`, by
//! which the access layer filters it exactly as it filters the image's ObsCore row.

use sha2::{Digest, Sha256};

/// How `content_sha256` of an image that is an object in a store begins: the rest is a
/// fingerprint of the object's ETag and size (ingest does not read objects whole), not a
/// checksum of its bytes.
pub const OBJECT_FINGERPRINT: &str = "object-";

use std::sync::Arc;

use crate::{ddl, Dialect, ImageRecord, Row, Statement, Store, StoreError, Value};

/// Images whose CAOM2 rows are written per transaction by [`backfill`].
const BACKFILL_BATCH: usize = 200;

/// Writes the CAOM2 rows of every image that has none (an archive made before CAOM2, whose
/// unchanged images ingest does not write again), from their stored ObsCore, file and HDU
/// rows: the same values ingest would have used. Returns how many images gained rows.
pub async fn backfill(store: &Arc<dyn Store>) -> Result<usize, StoreError> {
    let d = store.dialect();
    let t = |schema: &str, table: &str| ddl::table_name(d, schema, table);
    let missing = store
        .query(
            format!(
                "SELECT f.obs_publisher_did FROM {} f WHERE NOT EXISTS \
                 (SELECT 1 FROM {} p WHERE p.obs_publisher_did = f.obs_publisher_did) \
                 ORDER BY f.obs_publisher_did",
                t("skyport", "image_file"),
                t("caom2", "Plane")
            ),
            Vec::new(),
        )
        .await?;
    let dids: Vec<String> = missing
        .rows
        .iter()
        .filter_map(|r| r.first().and_then(Value::as_str).map(str::to_string))
        .collect();
    for batch in dids.chunks(BACKFILL_BATCH) {
        let marks: Vec<String> = (1..=batch.len()).map(|n| ddl::placeholder(d, n)).collect();
        let params: Vec<Value> = batch.iter().map(|s| Value::Text(s.clone())).collect();
        let read = |schema: &str, table: &str| {
            format!(
                "SELECT * FROM {} WHERE obs_publisher_did IN ({})",
                t(schema, table),
                marks.join(", ")
            )
        };
        let obscore = store.query(read("ivoa", "ObsCore"), params.clone()).await?;
        let files = store
            .query(read("skyport", "image_file"), params.clone())
            .await?;
        let hdus = store.query(read("skyport", "image_hdu"), params).await?;
        let as_rows = |rows: &crate::Rows| -> Vec<Row> {
            rows.rows
                .iter()
                .map(|r| {
                    let mut row = Row::default();
                    for (c, v) in rows.columns.iter().zip(r) {
                        row.push(c, v.clone());
                    }
                    row
                })
                .collect()
        };
        let did_of = |row: &Row| {
            row.get("obs_publisher_did")
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let (obscore, files, hdus) = (as_rows(&obscore), as_rows(&files), as_rows(&hdus));
        let mut statements = Vec::new();
        for file in files {
            let Some(did) = did_of(&file) else { continue };
            let Some(obs) = obscore.iter().find(|o| did_of(o).as_deref() == Some(&did)) else {
                continue;
            };
            let record = ImageRecord {
                publisher_did: did.clone(),
                content_sha256: file
                    .get("content_sha256")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                hdus: hdus
                    .iter()
                    .filter(|h| did_of(h).as_deref() == Some(&did))
                    .cloned()
                    .collect(),
                obscore: obs.clone(),
                file,
                coverage: None,
            };
            statements.extend(record.caom2_statements(d));
        }
        store.write("caom2-backfill", statements).await?;
    }
    Ok(dids.len())
}

/// The CAOM2 tables, children first (the order rows are deleted in).
pub const TABLES: [&str; 5] = ["Chunk", "Part", "Artifact", "Plane", "Observation"];

/// ADQL deriving ObsCore's columns from CAOM2, one row per plane (as CADC's ObsCore view
/// does, over Observation JOIN Plane, with the artifact for the size).
pub const OBSCORE_FROM_CAOM2: &str = "SELECT p.publisherID AS obs_publisher_did, \
     o.observationID AS obs_id, o.collection AS obs_collection, \
     p.dataProductType AS dataproduct_type, p.calibrationLevel AS calib_level, \
     o.target_name AS target_name, o.telescope_name AS facility_name, \
     o.instrument_name AS instrument_name, p.creatorID AS obs_creator_did, \
     p.position_center_ra AS s_ra, p.position_center_dec AS s_dec, \
     p.position_bounds_size AS s_fov, p.position_bounds AS s_region, \
     p.position_resolution AS s_resolution, p.position_sampleSize AS s_pixel_scale, \
     p.position_dimension_naxis1 AS s_xel1, p.position_dimension_naxis2 AS s_xel2, \
     p.time_bounds_lower AS t_min, p.time_bounds_upper AS t_max, \
     p.time_exposure AS t_exptime, p.time_resolution * 86400 AS t_resolution, \
     p.time_dimension AS t_xel, p.energy_bounds_lower AS em_min, \
     p.energy_bounds_upper AS em_max, p.energy_resolvingPower AS em_res_power, \
     p.energy_dimension AS em_xel, p.observable_ucd AS o_ucd, \
     p.polarization_states AS pol_states, p.polarization_dimension AS pol_xel, \
     p.dataRelease AS obs_release_date, a.contentLength AS content_length \
     FROM caom2.Observation AS o JOIN caom2.Plane AS p ON p.obsID = o.obsID \
     JOIN caom2.Artifact AS a ON a.planeID = p.planeID";

/// A UUID made from `name`: the first 16 bytes of its SHA-256, marked version 8 (custom).
pub fn uuid_of(name: &str) -> String {
    let hash = Sha256::digest(name.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&hash[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// A URI component: CAOM forbids `/` inside one, so it is written `%2F` (and `%` as `%25`).
fn component(s: &str) -> String {
    s.replace('%', "%25").replace('/', "%2F")
}

/// The value of header card `key` in `header` (80-character cards, one per line).
fn card(header: &str, key: &str) -> Option<String> {
    header.lines().find_map(|line| {
        let (k, rest) = (line.get(..8)?.trim_end(), line.get(8..)?);
        if k != key || !rest.starts_with("= ") {
            return None;
        }
        let value = rest[2..].trim_start();
        if let Some(quoted) = value.strip_prefix('\'') {
            return quoted.split('\'').next().map(|v| v.trim_end().to_string());
        }
        Some(value.split('/').next().unwrap_or("").trim().to_string()).filter(|v| !v.is_empty())
    })
}

fn number(header: &str, key: &str) -> Option<f64> {
    card(header, key).and_then(|v| v.replace(['D', 'd'], "E").parse().ok())
}

/// The CD matrix of a header: `CDi_j`, else `CDELTi` times `PCi_j` (identity by default).
fn cd_matrix(header: &str) -> Option<[f64; 4]> {
    let cd = ["CD1_1", "CD1_2", "CD2_1", "CD2_2"].map(|k| number(header, k));
    if cd.iter().any(Option::is_some) {
        return Some(cd.map(|v| v.unwrap_or(0.0)));
    }
    let (d1, d2) = (number(header, "CDELT1")?, number(header, "CDELT2")?);
    let pc = |k: &str, default: f64| number(header, k).unwrap_or(default);
    Some([
        d1 * pc("PC1_1", 1.0),
        d1 * pc("PC1_2", 0.0),
        d2 * pc("PC2_1", 0.0),
        d2 * pc("PC2_2", 1.0),
    ])
}

impl ImageRecord {
    /// The statements replacing the image's CAOM2 rows.
    pub fn caom2_statements(&self, dialect: Dialect) -> Vec<Statement> {
        let did = Value::Text(self.publisher_did.clone());
        let mut out: Vec<Statement> = TABLES
            .iter()
            .map(|table| {
                Statement::new(
                    format!(
                        "DELETE FROM {} WHERE obs_publisher_did={}",
                        ddl::table_name(dialect, "caom2", table),
                        ddl::placeholder(dialect, 1)
                    ),
                    vec![did.clone()],
                )
            })
            .collect();
        for (table, row) in self.caom2_rows() {
            let columns: Vec<&str> = row.0.iter().map(|(c, _)| c.as_str()).collect();
            out.push(Statement::new(
                ddl::insert(dialect, "caom2", table, &columns),
                row.0.iter().map(|(_, v)| v.clone()).collect(),
            ));
        }
        out
    }

    /// The image's CAOM2 rows, parents first.
    pub fn caom2_rows(&self) -> Vec<(&'static str, Row)> {
        let o = |c: &str| self.obscore.get(c).cloned().unwrap_or(Value::Null);
        let text = |v: Value| v.as_str().map(str::to_string).unwrap_or_default();
        let collection = text(o("obs_collection"));
        let obs_id = text(o("obs_id"));
        let modified = self.file.get("ingested_at").cloned().unwrap_or(Value::Null);
        let did = Value::Text(self.publisher_did.clone());
        let observation_uri = format!("caom:{}/{}", component(&collection), component(&obs_id));
        let obs_uuid = uuid_of(&observation_uri);
        let plane_uri = format!("{observation_uri}/{}", component(&obs_id));
        let plane_uuid = uuid_of(&plane_uri);
        let tail = |row: &mut Row| {
            row.push("lastModified", modified.clone());
            row.push("maxLastModified", modified.clone());
            row.push("obs_publisher_did", did.clone());
        };
        let mut rows = Vec::new();

        let mut obs = Row::default();
        obs.push("observationURI", Value::Text(observation_uri));
        obs.push("obsID", Value::Text(obs_uuid.clone()));
        obs.push("collection", o("obs_collection"));
        obs.push("observationID", o("obs_id"));
        obs.push("algorithm_name", Value::Text("exposure".into()));
        obs.push("intent", Value::Text("science".into()));
        obs.push("metaRelease", o("obs_release_date"));
        obs.push("target_name", o("target_name"));
        obs.push("telescope_name", o("facility_name"));
        obs.push("instrument_name", o("instrument_name"));
        obs.push("environment_seeing", o("s_resolution"));
        obs.push("typeCode", Value::Text("S".into()));
        tail(&mut obs);
        rows.push(("Observation", obs));

        let mut plane = Row::default();
        plane.push("publisherID", did.clone());
        plane.push("obsID", Value::Text(obs_uuid));
        plane.push("planeID", Value::Text(plane_uuid.clone()));
        plane.push("planeURI", Value::Text(plane_uri));
        plane.push("productID", o("obs_id"));
        plane.push("metaRelease", o("obs_release_date"));
        plane.push("dataRelease", o("obs_release_date"));
        for (caom, obscore) in [
            ("dataProductType", "dataproduct_type"),
            ("calibrationLevel", "calib_level"),
            ("observable_ucd", "o_ucd"),
            ("position_bounds", "s_region"),
            ("position_bounds_size", "s_fov"),
            ("position_center_ra", "s_ra"),
            ("position_center_dec", "s_dec"),
            ("position_resolution", "s_resolution"),
            ("position_sampleSize", "s_pixel_scale"),
            ("position_dimension_naxis1", "s_xel1"),
            ("position_dimension_naxis2", "s_xel2"),
            ("energy_bounds_lower", "em_min"),
            ("energy_bounds_upper", "em_max"),
            ("energy_dimension", "em_xel"),
            ("energy_resolvingPower", "em_res_power"),
            ("time_bounds_lower", "t_min"),
            ("time_bounds_upper", "t_max"),
            ("time_dimension", "t_xel"),
            ("time_exposure", "t_exptime"),
            ("polarization_states", "pol_states"),
            ("polarization_dimension", "pol_xel"),
        ] {
            plane.push(caom, o(obscore));
        }
        plane.push(
            "time_resolution",
            Value::opt_float(o("t_resolution").as_f64().map(|s| s / 86_400.0)),
        );
        let optical = o("em_min")
            .as_f64()
            .zip(o("em_max").as_f64())
            .is_some_and(|(lo, hi)| lo >= 3.0e-7 && hi <= 1.1e-6);
        plane.push(
            "energy_energyBands",
            if optical {
                Value::Text("Optical".into())
            } else {
                Value::Null
            },
        );
        tail(&mut plane);
        rows.push(("Plane", plane));

        let file = |c: &str| self.file.get(c).cloned().unwrap_or(Value::Null);
        let artifact_uri = format!(
            "skyport:{}/{}",
            text(file("root_name")),
            text(file("rel_path"))
        );
        let artifact_uuid = uuid_of(&format!("{plane_uuid} {artifact_uri}"));
        let mut artifact = Row::default();
        artifact.push("uri", Value::Text(artifact_uri));
        artifact.push("planeID", Value::Text(plane_uuid));
        artifact.push("artifactID", Value::Text(artifact_uuid.clone()));
        artifact.push("productType", Value::Text("this".into()));
        artifact.push("releaseType", Value::Text("data".into()));
        artifact.push("contentType", Value::Text("application/fits".into()));
        artifact.push("contentLength", file("file_size"));
        // An object's fingerprint (its ETag and size) is no checksum of its bytes.
        artifact.push(
            "contentChecksum",
            if self.content_sha256.starts_with(OBJECT_FINGERPRINT) {
                Value::Null
            } else {
                Value::Text(format!("sha256:{}", self.content_sha256))
            },
        );
        tail(&mut artifact);
        rows.push(("Artifact", artifact));

        let science = file("science_hdu").as_i64();
        for hdu in &self.hdus {
            let h = |c: &str| hdu.get(c).cloned().unwrap_or(Value::Null);
            let index = h("hdu_index").as_i64().unwrap_or(0);
            let part_uuid = uuid_of(&format!("{artifact_uuid} {index}"));
            let mut part = Row::default();
            part.push("artifactID", Value::Text(artifact_uuid.clone()));
            part.push("partID", Value::Text(part_uuid.clone()));
            // The extension number, as CADC names FITS parts: EXTNAMEs repeat (SCI, SCI…).
            part.push("name", Value::Text(index.to_string()));
            part.push(
                "productType",
                Value::Text(
                    if Some(index) == science {
                        "this"
                    } else {
                        "auxiliary"
                    }
                    .into(),
                ),
            );
            tail(&mut part);
            rows.push(("Part", part));
            let has_wcs = matches!(h("has_wcs"), Value::Bool(true) | Value::Int(1));
            if !has_wcs {
                continue;
            }
            let header = text(h("header"));
            let mut chunk = Row::default();
            chunk.push("partID", Value::Text(part_uuid.clone()));
            chunk.push(
                "chunkID",
                Value::Text(uuid_of(&format!("{part_uuid} chunk"))),
            );
            chunk.push(
                "naxis",
                Value::opt_int(number(&header, "NAXIS").map(|n| n as i64)),
            );
            chunk.push("positionAxis1", Value::Int(1));
            chunk.push("positionAxis2", Value::Int(2));
            chunk.push(
                "position_coordsys",
                Value::Text(card(&header, "RADESYS").unwrap_or_else(|| "ICRS".into())),
            );
            chunk.push(
                "position_equinox",
                Value::opt_float(number(&header, "EQUINOX")),
            );
            for (column, key) in [
                ("position_axis_axis1_ctype", "CTYPE1"),
                ("position_axis_axis1_cunit", "CUNIT1"),
                ("position_axis_axis2_ctype", "CTYPE2"),
                ("position_axis_axis2_cunit", "CUNIT2"),
            ] {
                chunk.push(column, Value::opt_text(card(&header, key)));
            }
            chunk.push("position_axis_function_dimension_naxis1", h("naxis1"));
            chunk.push("position_axis_function_dimension_naxis2", h("naxis2"));
            for (column, key) in [
                ("position_axis_function_refCoord_coord1_pix", "CRPIX1"),
                ("position_axis_function_refCoord_coord1_val", "CRVAL1"),
                ("position_axis_function_refCoord_coord2_pix", "CRPIX2"),
                ("position_axis_function_refCoord_coord2_val", "CRVAL2"),
            ] {
                chunk.push(column, Value::opt_float(number(&header, key)));
            }
            let cd = cd_matrix(&header);
            for (k, column) in [
                "position_axis_function_cd11",
                "position_axis_function_cd12",
                "position_axis_function_cd21",
                "position_axis_function_cd22",
            ]
            .iter()
            .enumerate()
            {
                chunk.push(column, Value::opt_float(cd.map(|m| m[k])));
            }
            tail(&mut chunk);
            rows.push(("Chunk", chunk));
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_cards_and_cd_matrices() {
        let id = uuid_of("caom:c/o");
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "8");
        assert_eq!(id, uuid_of("caom:c/o"));
        assert_ne!(id, uuid_of("caom:c/p"));
        let header = [
            "CTYPE1  = 'RA---TAN-SIP'       / projection",
            "CRVAL1  =   150.1              / deg",
            "CRPIX1  =  1.0D+02",
            "CDELT1  = -0.001",
            "CDELT2  =  0.001",
            "PC1_2   =  0.5",
        ]
        .map(|c| format!("{c:80}"))
        .join("\n");
        assert_eq!(card(&header, "CTYPE1").as_deref(), Some("RA---TAN-SIP"));
        assert_eq!(number(&header, "CRVAL1"), Some(150.1));
        assert_eq!(number(&header, "CRPIX1"), Some(100.0));
        assert_eq!(cd_matrix(&header), Some([-0.001, -0.0005, 0.0, 0.001]));
        assert_eq!(component("a/b%c"), "a%2Fb%25c");
    }
}
