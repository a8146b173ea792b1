//! CAOM2 rows on both backends (PostgreSQL when `SKYPORT_PG_URL` is set): written with the
//! image, replaced (not added to) when the image changes, and backfilled for images stored
//! before CAOM2 with exactly the rows ingest writes.

mod common;

use skyport_store::{ddl, Statement, Value};

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
