//! Schema creation and forward migration on PostgreSQL, in one transaction serialised across
//! servers by an advisory lock: pgsphere and skyport's SQL functions, the Felis tables with
//! their indexes, GiST indexes on the pgsphere forms of positions and footprints, TAP_SCHEMA
//! rows, and the read-only role.

use deadpool_postgres::Transaction;
use skyport_schema::Schema;

use super::{backend, describe, insert_row, READER_ROLE};
use crate::ddl::{self, quote_ident};
use crate::tap_schema;
use crate::{MigrationStep, StoreError, POSTGRES_FUNCTIONS};

use super::DIALECT;

/// Key of the advisory lock held while migrating ("skyport" in ASCII).
const MIGRATION_LOCK: i64 = 0x0073_6b79_706f_7274;

const INTERNAL_DDL: &str = "
CREATE TABLE IF NOT EXISTS public.skyport_schema_version (
   schema_name TEXT PRIMARY KEY, version TEXT NOT NULL, applied_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS public.skyport_uws_job (
   id TEXT PRIMARY KEY, created TEXT NOT NULL, phase TEXT NOT NULL, document TEXT NOT NULL,
   service TEXT NOT NULL DEFAULT 'tap');
CREATE INDEX IF NOT EXISTS skyport_uws_job_queue ON public.skyport_uws_job (service, phase, created);
";

/// Runs the whole migration.
pub(super) async fn migrate(
    client: &mut deadpool_postgres::Object,
    schemas: &[Schema],
) -> Result<Vec<MigrationStep>, StoreError> {
    let tx = client.transaction().await.map_err(backend)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(backend)?;
    // "already exists, skipping" notices on every start say nothing worth logging.
    tx.batch_execute("SET LOCAL client_min_messages = warning")
        .await
        .map_err(backend)?;
    ensure_pgsphere(&tx).await?;
    tx.batch_execute(POSTGRES_FUNCTIONS)
        .await
        .map_err(|e| StoreError::Migration {
            table: "skyport SQL functions".into(),
            reason: describe(&e),
        })?;
    tx.batch_execute(INTERNAL_DDL).await.map_err(backend)?;
    let mut steps = Vec::new();
    for schema in schemas {
        steps.push(migrate_schema(&tx, schema).await?);
    }
    if crate::links::absolute_links_to_cut(&steps) && table_exists(&tx, "ivoa", "ObsCore").await? {
        tx.batch_execute(&crate::links::cut_absolute_links_sql(DIALECT))
            .await
            .map_err(backend)?;
    }
    for spec in crate::spatial::spatial_indexes() {
        if !table_exists(&tx, spec.schema, spec.table).await? {
            continue;
        }
        let table = ddl::table_name(DIALECT, spec.schema, spec.table);
        let (lon, lat) = (quote_ident(spec.point.0), quote_ident(spec.point.1));
        // The same expressions the ADQL translator writes, so the planner matches them.
        for (suffix, expression) in [
            ("point", format!("spoint(radians({lon}), radians({lat}))")),
            (
                "region",
                format!("skyport_region({})", quote_ident(spec.region)),
            ),
        ] {
            let name = quote_ident(&format!("{}_{suffix}_gist", spec.table));
            tx.batch_execute(&format!(
                "CREATE INDEX IF NOT EXISTS {name} ON {table} USING gist (({expression}))"
            ))
            .await
            .map_err(backend)?;
        }
    }
    grant_reader(&tx, schemas).await?;
    tx.commit().await.map_err(backend)?;
    Ok(steps)
}

/// pgsphere must be there: created when missing (which needs the right to create
/// extensions), else a clear error.
async fn ensure_pgsphere(tx: &Transaction<'_>) -> Result<(), StoreError> {
    let installed = tx
        .query_opt(
            "SELECT 1 FROM pg_extension WHERE extname = 'pg_sphere'",
            &[],
        )
        .await
        .map_err(backend)?
        .is_some();
    if installed {
        return Ok(());
    }
    tx.batch_execute("CREATE EXTENSION pg_sphere")
        .await
        .map_err(|e| StoreError::Migration {
            table: "pg_sphere".into(),
            reason: format!(
                "the pgsphere extension is not installed in this database and cannot be created ({}); \
                 install postgresql-15-pgsphere and run CREATE EXTENSION pg_sphere as a superuser \
                 (docs/postgres.md explains the Debian package's PostgreSQL ≥ 15.8 problem)",
                describe(&e)
            ),
        })
}

async fn table_exists(tx: &Transaction<'_>, schema: &str, table: &str) -> Result<bool, StoreError> {
    Ok(tx
        .query_opt(
            "SELECT 1 FROM information_schema.tables WHERE table_schema=$1 AND table_name=$2",
            &[&schema, &table],
        )
        .await
        .map_err(backend)?
        .is_some())
}

async fn existing_columns(
    tx: &Transaction<'_>,
    schema: &str,
    table: &str,
) -> Result<Vec<String>, StoreError> {
    tx.query(
        "SELECT column_name::text FROM information_schema.columns WHERE table_schema=$1 AND table_name=$2",
        &[&schema, &table],
    )
    .await
    .map_err(backend)?
    .iter()
    .map(|r| r.try_get::<_, String>(0).map_err(backend))
    .collect()
}

async fn migrate_schema(
    tx: &Transaction<'_>,
    schema: &Schema,
) -> Result<MigrationStep, StoreError> {
    let recorded: Option<String> = tx
        .query_opt(
            "SELECT version FROM public.skyport_schema_version WHERE schema_name=$1",
            &[&schema.name],
        )
        .await
        .map_err(backend)?
        .map(|r| r.try_get(0))
        .transpose()
        .map_err(backend)?;
    let mut step = crate::migration::start(schema, recorded)?;
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {}",
        quote_ident(&schema.name)
    ))
    .await
    .map_err(backend)?;
    for table in crate::migration::stored_tables(schema) {
        let physical = format!("{}.{}", schema.name, table.name);
        if !table_exists(tx, &schema.name, &table.name).await? {
            tx.batch_execute(&ddl::create_table(DIALECT, &schema.name, table))
                .await
                .map_err(backend)?;
            step.created_tables.push(physical.clone());
        } else {
            let have = existing_columns(tx, &schema.name, &table.name).await?;
            for column in crate::migration::missing_columns(&physical, table, &have)? {
                tx.batch_execute(&format!(
                    "ALTER TABLE {} ADD COLUMN {}",
                    ddl::table_name(DIALECT, &schema.name, &table.name),
                    ddl::column_definition(DIALECT, column)
                ))
                .await
                .map_err(backend)?;
                step.added_columns
                    .push(format!("{physical}.{}", column.name));
            }
        }
        for sql in ddl::create_indexes(DIALECT, &schema.name, table) {
            tx.batch_execute(&sql).await.map_err(backend)?;
        }
    }
    // Views last (their base tables exist now), made afresh so they follow new columns.
    for (table, base) in crate::migration::views(schema)? {
        let is_table = tx
            .query_opt(
                "SELECT 1 FROM information_schema.tables WHERE table_schema=$1 AND table_name=$2 AND table_type='BASE TABLE'",
                &[&schema.name, &table.name],
            )
            .await
            .map_err(backend)?
            .is_some();
        if is_table {
            return Err(StoreError::Migration {
                table: format!("{}.{}", schema.name, table.name),
                reason: "declared as a view, but a table of that name exists".into(),
            });
        }
        tx.batch_execute(&format!(
            "DROP VIEW IF EXISTS {name}; {}",
            ddl::create_view(DIALECT, &schema.name, table, base),
            name = ddl::table_name(DIALECT, &schema.name, &table.name)
        ))
        .await
        .map_err(backend)?;
    }
    for (base, history) in crate::history::pairs(schema) {
        let physical = format!("{}.{}", schema.name, history.name);
        if step.created_tables.contains(&physical) {
            tx.batch_execute(&crate::history::seed(DIALECT, &schema.name, base, history))
                .await
                .map_err(backend)?;
        }
        tx.batch_execute(&crate::history::triggers(
            DIALECT,
            &schema.name,
            base,
            history,
        ))
        .await
        .map_err(|e| StoreError::Migration {
            table: format!("{}.{}", schema.name, base.name),
            reason: format!("cannot create its history triggers: {}", describe(&e)),
        })?;
    }
    replace_tap_schema_rows(tx, schema).await?;
    tx.execute(
        "INSERT INTO public.skyport_schema_version (schema_name, version, applied_at) VALUES ($1, $2, $3)
         ON CONFLICT (schema_name) DO UPDATE SET version=excluded.version, applied_at=excluded.applied_at",
        &[
            &schema.name,
            &step.to_version,
            &chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3f").to_string(),
        ],
    )
    .await
    .map_err(backend)?;
    Ok(step)
}

async fn replace_tap_schema_rows(tx: &Transaction<'_>, schema: &Schema) -> Result<(), StoreError> {
    let index: i64 = tx
        .query_one(&tap_schema::schema_index_sql(DIALECT), &[&schema.name])
        .await
        .map_err(backend)?
        .try_get(0)
        .map_err(backend)?;
    for sql in tap_schema::delete_sql(DIALECT) {
        tx.execute(&sql, &[&schema.name]).await.map_err(backend)?;
    }
    for (table, rows) in tap_schema::rows_for(schema, index).by_table() {
        for row in &rows {
            insert_row(tx, "TAP_SCHEMA", table, row).await?;
        }
    }
    Ok(())
}

/// Creates the reader role when it is missing and lets it read (only) the published schemas.
/// Without the right to create roles, readers rely on read-only transactions alone (logged).
async fn grant_reader(tx: &Transaction<'_>, schemas: &[Schema]) -> Result<(), StoreError> {
    let exists = tx
        .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&READER_ROLE])
        .await
        .map_err(backend)?
        .is_some();
    if !exists {
        // A savepoint, so a refusal leaves the migration's transaction usable.
        tx.batch_execute("SAVEPOINT reader_role")
            .await
            .map_err(backend)?;
        let created = tx
            .batch_execute(&format!("CREATE ROLE {READER_ROLE} NOLOGIN"))
            .await;
        match created {
            Ok(()) => {}
            Err(e) => {
                tx.batch_execute("ROLLBACK TO SAVEPOINT reader_role")
                    .await
                    .map_err(backend)?;
                let again = tx
                    .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&READER_ROLE])
                    .await
                    .map_err(backend)?;
                if again.is_none() {
                    tracing::warn!(
                        "cannot create the role {READER_ROLE} ({}): TAP reads are protected by read-only transactions only",
                        describe(&e)
                    );
                    return Ok(());
                }
            }
        }
    }
    // Reader sessions SET ROLE to it, which needs membership (superusers have it anyway).
    let member: bool = tx
        .query_one(
            "SELECT pg_has_role(current_user, $1, 'MEMBER')",
            &[&READER_ROLE],
        )
        .await
        .map_err(backend)?
        .try_get(0)
        .map_err(backend)?;
    let mut sql = if member {
        String::new()
    } else {
        format!("GRANT {READER_ROLE} TO CURRENT_USER;")
    };
    for schema in schemas {
        let s = quote_ident(&schema.name);
        sql.push_str(&format!(
            "GRANT USAGE ON SCHEMA {s} TO {READER_ROLE};
             GRANT SELECT ON ALL TABLES IN SCHEMA {s} TO {READER_ROLE};
             ALTER DEFAULT PRIVILEGES IN SCHEMA {s} GRANT SELECT ON TABLES TO {READER_ROLE};"
        ));
    }
    tx.batch_execute("SAVEPOINT grants")
        .await
        .map_err(backend)?;
    if let Err(e) = tx.batch_execute(&sql).await {
        tx.batch_execute("ROLLBACK TO SAVEPOINT grants")
            .await
            .map_err(backend)?;
        tracing::warn!(
            "cannot grant {READER_ROLE} read access ({}): TAP reads are protected by read-only transactions only",
            describe(&e)
        );
    }
    Ok(())
}
