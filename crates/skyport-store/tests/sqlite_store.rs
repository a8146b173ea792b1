//! The SQLite backend against a real database file.

mod common;

use common::{image, text};
use skyport_schema::{builtin_schemas, Schema};
use skyport_store::{SqliteStore, Store, StoreError, UpsertOutcome, Value};

fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("archive.sqlite"), 2).expect("open");
    (dir, store)
}

#[tokio::test]
async fn migration_is_idempotent_and_fills_tap_schema() {
    let (_dir, store) = store();
    let first = store.migrate(&builtin_schemas()).await.expect("migrate");
    assert!(first
        .iter()
        .any(|s| s.created_tables.contains(&"ivoa.ObsCore".to_string())));
    let second = store.migrate(&builtin_schemas()).await.expect("again");
    assert!(second
        .iter()
        .all(|s| s.created_tables.is_empty() && s.added_columns.is_empty()));
    let rows = store
        .query(
            "SELECT unit, ucd, principal, std FROM \"TAP_SCHEMA.columns\" WHERE table_name='ivoa.ObsCore' AND column_name='s_fov'".into(),
            vec![],
        )
        .await
        .expect("query");
    assert_eq!(
        rows.rows,
        vec![vec![
            text("deg"),
            text("phys.angSize;instr.fov"),
            Value::Int(1),
            Value::Int(1)
        ]]
    );
    let tables = store.count("TAP_SCHEMA", "tables").await.expect("count");
    assert_eq!(
        tables,
        5 + 5 + 3 + 5 + 2,
        "TAP_SCHEMA's 5 tables, skyport's 5, ObsCore, ObsLocTAP's obsplan and its history, CAOM2's 5, the two logs"
    );
    // TAP_SCHEMA describes itself.
    let own = store
        .query(
            "SELECT COUNT(*) FROM \"TAP_SCHEMA.columns\" WHERE table_name='TAP_SCHEMA.columns'"
                .into(),
            vec![],
        )
        .await
        .expect("q");
    assert_eq!(own.rows[0][0], Value::Int(14));
}

const V1: &str = r##"
name: demo
version: "1.0.0"
tables:
- name: things
  primaryKey: "#things.id"
  columns:
  - {name: id, "@id": "#things.id", datatype: long, nullable: false}
"##;

#[tokio::test]
async fn forward_migration_adds_columns_and_keeps_rows() {
    let (_dir, store) = store();
    let mut schemas = builtin_schemas();
    schemas.truncate(1); // TAP_SCHEMA
    schemas.push(Schema::from_yaml(V1, "v1").expect("v1"));
    store.migrate(&schemas).await.expect("v1");
    let path = store.path().to_path_buf();
    rusqlite_insert(&path, "INSERT INTO \"demo.things\" (id) VALUES (7)");

    let v2 = V1.replace("1.0.0", "1.1.0")
        + "  - {name: note, \"@id\": \"#things.note\", datatype: string, length: 20}\n";
    schemas[1] = Schema::from_yaml(&v2, "v2").expect("v2");
    let steps = store.migrate(&schemas).await.expect("v2");
    assert_eq!(steps[1].added_columns, vec!["demo.things.note".to_string()]);
    assert_eq!(steps[1].from_version.as_deref(), Some("1.0.0"));
    let rows = store
        .query("SELECT id, note FROM \"demo.things\"".into(), vec![])
        .await
        .expect("q");
    assert_eq!(rows.rows, vec![vec![Value::Int(7), Value::Null]]);

    // A NOT NULL column without default cannot be added: clear error, nothing changed.
    let v3 = v2.replace("1.1.0", "1.2.0")
        + "  - {name: must, \"@id\": \"#things.must\", datatype: int, nullable: false}\n";
    schemas[1] = Schema::from_yaml(&v3, "v3").expect("v3");
    let err = store.migrate(&schemas).await.expect_err("cannot add");
    assert!(
        err.to_string().contains("must") && err.to_string().contains("NOT NULL"),
        "{err}"
    );
    let version = store
        .query(
            "SELECT version FROM skyport_schema_version WHERE schema_name='demo'".into(),
            vec![],
        )
        .await
        .expect("q");
    assert_eq!(
        version.rows[0][0],
        text("1.1.0"),
        "failed migration recorded nothing"
    );

    // A database newer than the program is refused.
    schemas[1] = Schema::from_yaml(&V1.replace("1.0.0", "1.0.5"), "old").expect("old");
    let err = store.migrate(&schemas).await.expect_err("downgrade");
    assert!(matches!(err, StoreError::NewerSchema { .. }), "{err}");
}

/// Writes test data directly: the store itself only writes through typed, transactional calls.
fn rusqlite_insert(path: &std::path::Path, sql: &str) {
    let conn = rusqlite::Connection::open(path).expect("open");
    conn.execute_batch(sql).expect("exec");
}

#[tokio::test]
async fn upsert_is_idempotent_and_replaces_changed_content() {
    let (_dir, store) = store();
    store.migrate(&builtin_schemas()).await.expect("migrate");
    let did = "ivo://test/c?a";
    assert_eq!(
        store.upsert_image(image(did, "h1", 10.0)).await.expect("1"),
        UpsertOutcome::Inserted
    );
    assert_eq!(
        store.upsert_image(image(did, "h1", 99.0)).await.expect("2"),
        UpsertOutcome::Unchanged
    );
    let ra = store
        .query("SELECT s_ra FROM \"ivoa.ObsCore\"".into(), vec![])
        .await
        .expect("q");
    assert_eq!(
        ra.rows,
        vec![vec![Value::Float(10.0)]],
        "unchanged content wrote nothing"
    );
    assert_eq!(
        store.upsert_image(image(did, "h2", 20.0)).await.expect("3"),
        UpsertOutcome::Updated
    );
    let ra = store
        .query("SELECT s_ra FROM \"ivoa.ObsCore\"".into(), vec![])
        .await
        .expect("q");
    assert_eq!(ra.rows, vec![vec![Value::Float(20.0)]]);
    assert_eq!(store.count("skyport", "image_hdu").await.expect("n"), 1);
}

#[tokio::test]
async fn a_failing_write_leaves_nothing_behind() {
    let (_dir, store) = store();
    store.migrate(&builtin_schemas()).await.expect("migrate");
    let mut bad = image("ivo://test/c?b", "h", 1.0);
    bad.obscore.push("no_such_column", Value::Int(1));
    let err = store.upsert_image(bad).await.expect_err("bad column");
    assert!(err.to_string().contains("no_such_column"), "{err}");
    for (s, t) in [
        ("skyport", "image_file"),
        ("skyport", "image_hdu"),
        ("ivoa", "ObsCore"),
    ] {
        assert_eq!(store.count(s, t).await.expect("count"), 0, "{s}.{t}");
    }
}
