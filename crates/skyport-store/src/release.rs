//! Data releases frozen as snapshots: the image rows of a release's collections copied from
//! the live archive into a database of their own, which then answers for the release while the
//! live archive changes (LDM-542 §5.4.1: the release is a key of every query).
//!
//! What is copied: every row keyed by `obs_publisher_did` of the image tables (`skyport`,
//! ObsCore, CAOM2) for the images of the release's collections, through the [`Store`] API, so a
//! snapshot is made the same way from either backend. Coverage rows are not copied; the
//! snapshot's own coverage maps are computed from its footprints
//! ([`crate::coverage::Coverage::backfill`]). ConsDB, the logs and the plan are the
//! observatory's live records and stay with the live archive.

use skyport_schema::{Datatype, Schema};

use crate::{ddl, Store, StoreError, Value};

/// The schemas whose image tables a snapshot holds.
pub const SNAPSHOT_SCHEMAS: &[&str] = &["skyport", "ivoa", "caom2"];

/// Tables a snapshot computes for itself instead of copying.
const COMPUTED: &[(&str, &str)] = &[("skyport", "image_coverage")];

/// Images copied per round: each round reads that many images' rows of every table.
const BATCH: usize = 500;

/// What [`copy_collections`] copied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Copied {
    /// Images (ObsCore rows).
    pub images: u64,
    /// Rows of every table, images' included.
    pub rows: u64,
}

/// The tables a snapshot copies, parents before children (declaration order, which the
/// foreign keys follow): `(schema, table, columns)`.
pub fn snapshot_tables(schemas: &[Schema]) -> Vec<(&Schema, &skyport_schema::Table)> {
    schemas
        .iter()
        .filter(|s| SNAPSHOT_SCHEMAS.contains(&s.name.as_str()))
        .flat_map(|s| s.tables.iter().map(move |t| (s, t)))
        .filter(|(s, t)| {
            t.view.is_none()
                && t.history_of.is_none()
                && !COMPUTED.contains(&(s.name.as_str(), t.name.as_str()))
                && t.columns.iter().any(|c| c.name == "obs_publisher_did")
        })
        .collect()
}

/// Copies the image rows of `collections` from `from` into `to` (migrated with the same
/// `schemas`, and empty). Each round is its own transaction on `to`: a snapshot is published
/// only once whole, by its caller.
pub async fn copy_collections(
    from: &dyn Store,
    to: &dyn Store,
    schemas: &[Schema],
    collections: &[String],
) -> Result<Copied, StoreError> {
    let mut copied = Copied::default();
    if collections.is_empty() {
        return Ok(copied);
    }
    let dialect = from.dialect();
    let list: Vec<String> = (1..=collections.len())
        .map(|n| ddl::placeholder(dialect, n))
        .collect();
    let dids = from
        .query(
            format!(
                "SELECT obs_publisher_did FROM {} WHERE obs_collection IN ({}) ORDER BY obs_publisher_did",
                ddl::table_name(dialect, "ivoa", "ObsCore"),
                list.join(", ")
            ),
            collections.iter().cloned().map(Value::Text).collect(),
        )
        .await?;
    let tables = snapshot_tables(schemas);
    for batch in dids.rows.chunks(BATCH) {
        let keys: Vec<Value> = batch.iter().filter_map(|r| r.first().cloned()).collect();
        let marks: Vec<String> = (1..=keys.len())
            .map(|n| ddl::placeholder(dialect, n))
            .collect();
        for (schema, table) in &tables {
            let columns: Vec<String> = table.columns.iter().map(|c| c.name.clone()).collect();
            let select = format!(
                "SELECT {} FROM {} WHERE obs_publisher_did IN ({})",
                columns
                    .iter()
                    .map(|c| ddl::quote_ident(c))
                    .collect::<Vec<_>>()
                    .join(", "),
                ddl::table_name(dialect, &schema.name, &table.name),
                marks.join(", ")
            );
            let mut rows = from.query(select, keys.clone()).await?.rows;
            if rows.is_empty() {
                continue;
            }
            // Timestamps as SQLite keeps them (PostgreSQL's text leaves out a zero fraction),
            // so that the release dates compare as the live archive's do.
            for (i, column) in table.columns.iter().enumerate() {
                if column.datatype == Datatype::Timestamp {
                    for row in &mut rows {
                        if let Some(Value::Text(t)) = row.get_mut(i) {
                            if let Some(parsed) = skyport_schema::time::parse_iso(t) {
                                *t = parsed.format("%Y-%m-%dT%H:%M:%S%.6f").to_string();
                            }
                        }
                    }
                }
            }
            let n = to
                .insert_rows(&schema.name, &table.name, columns, rows)
                .await?;
            copied.rows += n;
            if schema.name == "ivoa" && table.name == "ObsCore" {
                copied.images += n;
            }
        }
    }
    Ok(copied)
}

/// Writes the snapshot of `collections` of the live archive `live` to a new SQLite database
/// at `path` (which must not exist): the tables of `schemas` (the archive's built-in ones),
/// the image rows copied, the coverage maps computed with `band_of` naming each image's band.
/// The database is one file, flushed to disk and closed, when this returns.
///
/// The copy reads the live archive in many queries, not in one transaction: an image ingested
/// or rewritten while it runs may be missing from the snapshot or copied half old, half new.
/// Freeze a release when no ingest runs (its data are no longer changing).
pub async fn freeze_into(
    live: &dyn Store,
    path: &std::path::Path,
    schemas: &[Schema],
    collections: &[String],
    band_of: &(dyn Fn(Option<f64>, Option<f64>) -> Option<String> + Sync),
) -> Result<Copied, StoreError> {
    if path.exists() {
        return Err(StoreError::Open {
            target: path.display().to_string(),
            reason: "a snapshot is written to a new file; this one exists".into(),
        });
    }
    let sqlite = std::sync::Arc::new(crate::SqliteStore::open(path, 1)?);
    let snapshot: std::sync::Arc<dyn Store> = sqlite.clone();
    snapshot.migrate(schemas).await?;
    let copied = copy_collections(live, snapshot.as_ref(), schemas, collections).await?;
    crate::coverage::Coverage::new(snapshot)
        .backfill(band_of)
        .await?;
    sqlite.seal().await?;
    Ok(copied)
}
