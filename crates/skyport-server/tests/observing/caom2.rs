//! CAOM 2.4 beside ObsCore, on the suite's backend: every image ingested has its
//! Observation, Plane, Artifact, Parts and Chunks, and ObsCore derived from CAOM2
//! (`skyport_store::caom2::OBSCORE_FROM_CAOM2`, through TAP) equals `ivoa.ObsCore` row by row.

use super::common;

use serde_json::Value;

/// A TAP query's rows as JSON objects keyed by column name.
async fn rows(app: &axum::Router, adql: &str) -> Vec<serde_json::Map<String, Value>> {
    common::tap_rows(app, "", adql).await
}

fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => (x - y).abs() <= 1e-9 * x.abs().max(1.0),
        _ => a == b,
    }
}

#[tokio::test]
async fn obscore_is_derived_from_caom2_row_by_row() {
    let files = [
        "pypi_astropy/m13.fits",
        "pypi_astropy/m13_rice.fits",
        "pypi_astropy/comp.fits",
        "pypi_astropy/sip-wcs.fits",
    ]
    .map(common::testdata);
    let mut all: Vec<std::path::PathBuf> = files.to_vec();
    all.push(common::shared("lsst_afw/HSC-0908120-056-small.fits"));
    let f = common::fixture_with_files(skyport_server::Limits::default(), None, &all).await;
    let app = &f.app;
    let obscore = rows(app, "SELECT * FROM ivoa.ObsCore").await;
    let derived = rows(app, skyport_store::caom2::OBSCORE_FROM_CAOM2).await;
    assert_eq!(obscore.len(), all.len());
    assert_eq!(derived.len(), obscore.len());
    let mut compared = 0;
    for o in &obscore {
        let did = &o["obs_publisher_did"];
        let d = derived
            .iter()
            .find(|d| &d["obs_publisher_did"] == did)
            .unwrap_or_else(|| panic!("no CAOM2 plane for {did}"));
        for (column, value) in d {
            if column == "content_length" {
                // ObsCore's size is in kbyte, rounded up.
                let bytes = value.as_f64().expect("length");
                assert_eq!(o["access_estsize"].as_f64(), Some((bytes / 1024.0).ceil()));
                continue;
            }
            let Some(expected) = o.get(column) else {
                // obs_creator_did: this ObsCore has no such column; CAOM2 leaves it NULL.
                assert_eq!(value, &Value::Null, "{column}");
                continue;
            };
            assert!(
                same(value, expected),
                "{did} {column}: {value} vs {expected}"
            );
            compared += 1;
        }
    }
    assert!(compared > 100, "{compared}");

    // Each file is one artifact with a part per HDU; chunks where an HDU has a WCS.
    let parts = rows(
        app,
        "SELECT a.uri, COUNT(*) AS parts FROM caom2.Artifact AS a JOIN caom2.Part AS p \
         ON p.artifactID = a.artifactID GROUP BY a.uri",
    )
    .await;
    for p in &parts {
        let uri = p["uri"].as_str().expect("uri");
        let name = uri.rsplit('/').next().expect("name");
        let path = all
            .iter()
            .find(|f| f.file_name().and_then(|n| n.to_str()) == Some(name))
            .expect("a file");
        let hdus = (0..)
            .take_while(|i| skyport_fits::read_header(path, *i).is_ok())
            .count() as i64;
        assert_eq!(p["parts"].as_i64(), Some(hdus), "{uri}");
    }
    let chunks = rows(
        app,
        "SELECT c.position_axis_axis1_ctype, c.position_axis_function_refCoord_coord1_val, \
         o.s_ra FROM caom2.Chunk AS c JOIN caom2.Part AS p ON p.partID = c.partID \
         JOIN caom2.Artifact AS a ON a.artifactID = p.artifactID \
         JOIN caom2.Plane AS pl ON pl.planeID = a.planeID \
         JOIN ivoa.ObsCore AS o ON o.obs_publisher_did = pl.publisherID",
    )
    .await;
    assert!(chunks.len() >= all.len(), "{chunks:?}");
    assert!(chunks.iter().all(|c| c["position_axis_axis1_ctype"]
        .as_str()
        .is_some_and(|t| t.starts_with("RA"))));
}
