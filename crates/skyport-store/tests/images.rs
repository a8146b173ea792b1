//! The image index on both backends (PostgreSQL when `SKYPORT_PG_URL` is set): many DIDs in one
//! call, each image with its own HDUs (in file order) and ConsDB relations (by detector),
//! unknown DIDs simply absent, lookups by path and by visit, and the stored hashes ingest uses.

mod common;

use std::sync::Arc;

use skyport_store::images::{DetectorImage, ExposureOf, Hdu, BATCH};
use skyport_store::{ddl, Caller, ImageIndex, ImageRecord, Row, Statement, Store, Value};

use common::text;

/// An image with a science HDU and, when `planes`, mask and variance HDUs (stored out of order,
/// so the index must sort them).
fn image(n: usize, planes: bool) -> ImageRecord {
    let did = format!("ivo://test/c?img{n:04}");
    let mut record = common::image(&did, &format!("{n:064x}"), n as f64 * 0.1);
    if planes {
        record.hdus.clear();
        for (index, role, extname) in [
            (2, "variance", "VARIANCE"),
            (0, "other", ""),
            (1, "image", "IMAGE"),
            (3, "mask", "MASK"),
        ] {
            let mut hdu = Row::default();
            hdu.push("obs_publisher_did", text(&did));
            hdu.push("hdu_index", Value::Int(index));
            hdu.push("kind", text("image"));
            hdu.push("role", text(role));
            hdu.push(
                "extname",
                Value::opt_text((!extname.is_empty()).then_some(extname)),
            );
            hdu.push("has_wcs", Value::Bool(index == 1));
            hdu.push("header", text("SIMPLE  =                    T"));
            record.hdus.push(hdu);
        }
        record.file.0.retain(|(c, _)| c != "science_hdu");
        record.file.push("science_hdu", Value::Int(1));
    }
    record
}

/// Records that image `n` holds `detector` of exposure `exposure_id`.
fn relation(store: &dyn Store, n: usize, exposure_id: i64, detector: i64) -> Statement {
    let d = store.dialect();
    Statement::new(
        format!(
            "INSERT INTO {} (obs_publisher_did, instrument, exposure_id, detector, ccdexposure_id) VALUES ({}, {}, {}, {}, {})",
            ddl::table_name(d, "skyport", "image_exposure"),
            ddl::placeholder(d, 1),
            ddl::placeholder(d, 2),
            ddl::placeholder(d, 3),
            ddl::placeholder(d, 4),
            ddl::placeholder(d, 5)
        ),
        vec![
            text(&format!("ivo://test/c?img{n:04}")),
            text("lsstcam"),
            Value::Int(exposure_id),
            Value::Int(detector),
            Value::Int(exposure_id * 1000 + detector),
        ],
    )
}

#[tokio::test]
async fn many_dids_in_one_call_each_with_its_own_hdus_and_relations() {
    for b in common::backends("images_batch", Vec::new()).await {
        let store = b.store.as_ref();
        // More images than one batch holds, so the lookup must span batches.
        let count = BATCH + 20;
        for n in 0..count {
            store
                .upsert_image(image(n, n % 2 == 0))
                .await
                .expect("upsert");
        }
        // Image 4 holds detectors 7 and 3 of one exposure (a two-detector file).
        store
            .write(
                "test",
                vec![
                    relation(store, 4, 42, 7),
                    relation(store, 4, 42, 3),
                    relation(store, 6, 42, 5),
                ],
            )
            .await
            .expect("relations");
        let index = ImageIndex::new(Arc::clone(&b.store));
        let caller = Caller::anonymous();

        let mut wanted: Vec<String> = (0..count)
            .rev()
            .map(|n| format!("ivo://test/c?img{n:04}"))
            .collect();
        wanted.push("ivo://test/c?nothing".into());
        wanted.push("ivo://test/c?img0004".into()); // asked twice
        let asked: Vec<&str> = wanted.iter().map(String::as_str).collect();
        let found = index.images(&caller, &asked).await.expect("images");
        assert_eq!(
            found.len(),
            count,
            "every image once, the unknown DID absent"
        );
        assert!(!found.contains_key("ivo://test/c?nothing"));

        let four = &found["ivo://test/c?img0004"];
        assert_eq!(four.rel_path, "ivo://test/c?img0004.fits");
        assert_eq!(four.sha256, format!("{:064x}", 4));
        assert_eq!(four.science_hdu, 1);
        assert_eq!(four.file_size, 2880);
        assert_eq!(four.dataproduct_type.as_deref(), Some("image"));
        assert!(four
            .s_region
            .as_deref()
            .is_some_and(|r| r.starts_with("POLYGON")));
        assert_eq!(
            four.hdus,
            [
                (0, "other", None),
                (1, "image", Some("IMAGE")),
                (2, "variance", Some("VARIANCE")),
                (3, "mask", Some("MASK"))
            ]
            .map(|(index, role, extname)| Hdu {
                index,
                role: role.into(),
                extname: extname.map(str::to_string)
            })
            .to_vec()
        );
        assert_eq!(
            (four.plane("mask"), four.plane("variance")),
            (Some(3), Some(2))
        );
        assert_eq!(
            four.exposures
                .iter()
                .map(|e| e.detector)
                .collect::<Vec<_>>(),
            [3, 7],
            "relations by detector"
        );
        assert_eq!(
            four.exposures[0],
            ExposureOf {
                instrument: "lsstcam".into(),
                exposure_id: 42,
                detector: 3,
                ccdexposure_id: 42003
            }
        );
        let five = &found["ivo://test/c?img0005"];
        assert_eq!(five.hdus.len(), 1, "odd images have one HDU");
        assert_eq!((five.plane("mask"), five.exposures.len()), (None, 0));

        let at = index
            .image_at(&caller, "data", "ivo://test/c?img0006.fits")
            .await
            .expect("by path")
            .expect("found");
        assert_eq!(at.did, "ivo://test/c?img0006");
        assert_eq!(at.hdus.len(), 4);
        assert!(index
            .image_at(&caller, "other-root", "ivo://test/c?img0006.fits")
            .await
            .expect("by path")
            .is_none());

        assert_eq!(
            index
                .visit_images(&caller, "lsstcam", 42)
                .await
                .expect("visit"),
            [(4, 3), (6, 5), (4, 7)]
                .map(|(n, detector)| DetectorImage {
                    did: format!("ivo://test/c?img{n:04}"),
                    detector,
                    ccdexposure_id: 42000 + detector
                })
                .to_vec()
        );
        assert!(index
            .visit_images(&caller, "latiss", 42)
            .await
            .expect("visit")
            .is_empty());

        let hashes = index
            .stored_hashes(&["ivo://test/c?img0001", "ivo://test/c?new"])
            .await
            .expect("hashes");
        assert_eq!(hashes.len(), 1);
        assert_eq!(hashes["ivo://test/c?img0001"], format!("{:064x}", 1));
    }
}

// CAOM2 rows (formerly their own test binary): written with the image, replaced when it
// changes, and backfilled for images stored before CAOM2 with exactly the rows ingest writes.

async fn all_rows(store: &std::sync::Arc<dyn skyport_store::Store>) -> Vec<Vec<Vec<Value>>> {
    let mut out = Vec::new();
    for table in skyport_store::caom2::TABLES {
        let sql = format!(
            "SELECT * FROM {} ORDER BY obs_publisher_did",
            ddl::table_name(store.dialect(), "caom2", table)
        );
        let mut rows = store.query(sql, Vec::new()).await.expect("rows").rows;
        rows.sort_by_key(|r| format!("{r:?}"));
        out.push(rows);
    }
    out
}

#[tokio::test]
async fn caom2_rows_follow_the_image_and_are_backfilled_alike() {
    for b in common::backends("caom2", Vec::new()).await {
        let store = &b.store;
        for n in 0..3 {
            let image = common::image(
                &format!("ivo://test/c?i{n}"),
                &format!("{n:064x}"),
                n as f64,
            );
            store.upsert_image(image).await.expect("upsert");
        }
        let written = all_rows(store).await;
        // Observation, Plane, Artifact, one Part and one Chunk (its HDU has a WCS) each.
        assert_eq!(
            written.iter().map(Vec::len).collect::<Vec<_>>(),
            [3, 3, 3, 3, 3]
        );
        // A changed image replaces its rows.
        let changed = common::image("ivo://test/c?i0", &format!("{:064x}", 99), 10.0);
        store.upsert_image(changed).await.expect("upsert");
        let after = all_rows(store).await;
        assert_eq!(
            after.iter().map(Vec::len).collect::<Vec<_>>(),
            [3, 3, 3, 3, 3]
        );
        // An archive from before CAOM2: the rows are gone, backfill writes them again, equal
        // but for nothing.
        let statements = skyport_store::caom2::TABLES
            .iter()
            .map(|t| {
                Statement::new(
                    format!(
                        "DELETE FROM {}",
                        ddl::table_name(store.dialect(), "caom2", t)
                    ),
                    Vec::new(),
                )
            })
            .collect();
        store.write("test", statements).await.expect("delete");
        assert_eq!(
            skyport_store::caom2::backfill(store)
                .await
                .expect("backfill"),
            3
        );
        assert_eq!(all_rows(store).await, after);
        assert_eq!(
            skyport_store::caom2::backfill(store).await.expect("again"),
            0
        );
    }
}
