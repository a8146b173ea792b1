//! Spatial indexes on SQLite: an R*Tree per indexed table holding each row's bounding box in
//! unit-vector space (x, y, z), kept up to date by triggers. The ADQL translator turns
//! CONTAINS/INTERSECTS/DISTANCE against a constant shape into a box-overlap lookup here
//! followed by the exact test, so a cone search does not scan the table. Boxes in x, y, z have
//! no seam at RA = 0/360 and nothing special at the poles.
//!
//! The index is keyed by rowid. skyport never runs VACUUM (which may renumber rowids of tables
//! without an INTEGER PRIMARY KEY); `rebuild` restores the index if someone else does.

use crate::ddl::{self, quote_ident};
use crate::Dialect;

/// A spatial index the store keeps and the ADQL translator may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpatialIndexSpec {
    /// Schema of the indexed table.
    pub schema: &'static str,
    /// The indexed table.
    pub table: &'static str,
    /// Longitude and latitude columns (degrees) of the point index.
    pub point: (&'static str, &'static str),
    /// The STC-S region column of the region index.
    pub region: &'static str,
}

impl SpatialIndexSpec {
    /// The R*Tree table of the point index.
    pub fn point_table(&self) -> String {
        format!("{}.{}#point", self.schema, self.table)
    }

    /// The R*Tree table of the region index.
    pub fn region_table(&self) -> String {
        format!("{}.{}#region", self.schema, self.table)
    }
}

/// The spatial indexes skyport keeps: ObsCore positions and footprints.
pub fn spatial_indexes() -> Vec<SpatialIndexSpec> {
    vec![SpatialIndexSpec {
        schema: "ivoa",
        table: "ObsCore",
        point: ("s_ra", "s_dec"),
        region: "s_region",
    }]
}

fn bbox_values(key: &str, geometry: &str) -> String {
    let b: Vec<String> = (0..6)
        .map(|i| format!("skyport_bbox({geometry}, {i})"))
        .collect();
    format!("{key}, {}", b.join(", "))
}

/// DDL creating the R*Trees and their triggers (idempotent).
pub fn create_sql(spec: &SpatialIndexSpec) -> String {
    let table = ddl::table_name(Dialect::Sqlite, spec.schema, spec.table);
    let mut sql = String::new();
    let (lon, lat) = (quote_ident(spec.point.0), quote_ident(spec.point.1));
    let region = quote_ident(spec.region);
    let point_geom = |row: &str| format!("adql_point({row}.{lon}, {row}.{lat})");
    let region_geom = |row: &str| format!("{row}.{region}");
    for (rtree, geom, cols) in [
        (
            spec.point_table(),
            &point_geom as &dyn Fn(&str) -> String,
            format!("{lon}, {lat}"),
        ),
        (
            spec.region_table(),
            &region_geom as &dyn Fn(&str) -> String,
            region.clone(),
        ),
    ] {
        let rt = quote_ident(&rtree);
        let insert = |row: &str| {
            format!(
                "INSERT INTO {rt} SELECT {} WHERE skyport_bbox({g}, 0) IS NOT NULL;",
                bbox_values(&format!("{row}.rowid"), &geom(row)),
                g = geom(row)
            )
        };
        sql.push_str(&format!(
            "CREATE VIRTUAL TABLE IF NOT EXISTS {rt} USING rtree(id, minX, maxX, minY, maxY, minZ, maxZ);\n\
             CREATE TRIGGER IF NOT EXISTS {ins} AFTER INSERT ON {table} BEGIN {i} END;\n\
             CREATE TRIGGER IF NOT EXISTS {del} AFTER DELETE ON {table} BEGIN DELETE FROM {rt} WHERE id = old.rowid; END;\n\
             CREATE TRIGGER IF NOT EXISTS {upd} AFTER UPDATE OF {cols} ON {table} BEGIN DELETE FROM {rt} WHERE id = old.rowid; {i} END;\n",
            ins = quote_ident(&format!("{rtree}_insert")),
            del = quote_ident(&format!("{rtree}_delete")),
            upd = quote_ident(&format!("{rtree}_update")),
            i = insert("new"),
        ));
    }
    sql
}

/// SQL that refills both R*Trees from the table (for an index created after rows existed, or
/// after a VACUUM).
pub fn rebuild_sql(spec: &SpatialIndexSpec) -> String {
    let table = ddl::table_name(Dialect::Sqlite, spec.schema, spec.table);
    let (lon, lat) = (quote_ident(spec.point.0), quote_ident(spec.point.1));
    let region = quote_ident(spec.region);
    let mut sql = String::new();
    for (rtree, geom) in [
        (spec.point_table(), format!("adql_point(t.{lon}, t.{lat})")),
        (spec.region_table(), format!("t.{region}")),
    ] {
        let rt = quote_ident(&rtree);
        sql.push_str(&format!(
            "DELETE FROM {rt};\nINSERT INTO {rt} SELECT {} FROM {table} AS t WHERE skyport_bbox({geom}, 0) IS NOT NULL;\n",
            bbox_values("t.rowid", &geom)
        ));
    }
    sql
}
