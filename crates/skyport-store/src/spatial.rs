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

/// The two R*Trees of a spec.
#[derive(Clone, Copy)]
enum Tree {
    Point,
    Region,
}

impl SpatialIndexSpec {
    fn rtree(&self, tree: Tree) -> String {
        match tree {
            Tree::Point => self.point_table(),
            Tree::Region => self.region_table(),
        }
    }

    /// The indexed geometry of the row called `row` (`new`, `t`…).
    fn geometry(&self, tree: Tree, row: &str) -> String {
        match tree {
            Tree::Point => format!(
                "adql_point({row}.{}, {row}.{})",
                quote_ident(self.point.0),
                quote_ident(self.point.1)
            ),
            Tree::Region => format!("{row}.{}", quote_ident(self.region)),
        }
    }

    /// The columns whose update moves the row in this tree.
    fn columns(&self, tree: Tree) -> String {
        match tree {
            Tree::Point => format!(
                "{}, {}",
                quote_ident(self.point.0),
                quote_ident(self.point.1)
            ),
            Tree::Region => quote_ident(self.region),
        }
    }
}

/// `key, bound0, …, bound5` of a geometry for an R*Tree row.
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
    for tree in [Tree::Point, Tree::Region] {
        let rtree = spec.rtree(tree);
        let rt = quote_ident(&rtree);
        let geom = spec.geometry(tree, "new");
        let insert = format!(
            "INSERT INTO {rt} SELECT {} WHERE skyport_bbox({geom}, 0) IS NOT NULL;",
            bbox_values("new.rowid", &geom),
        );
        sql.push_str(&format!(
            "CREATE VIRTUAL TABLE IF NOT EXISTS {rt} USING rtree(id, minX, maxX, minY, maxY, minZ, maxZ);\n\
             CREATE TRIGGER IF NOT EXISTS {ins} AFTER INSERT ON {table} BEGIN {insert} END;\n\
             CREATE TRIGGER IF NOT EXISTS {del} AFTER DELETE ON {table} BEGIN DELETE FROM {rt} WHERE id = old.rowid; END;\n\
             CREATE TRIGGER IF NOT EXISTS {upd} AFTER UPDATE OF {cols} ON {table} BEGIN DELETE FROM {rt} WHERE id = old.rowid; {insert} END;\n",
            ins = quote_ident(&format!("{rtree}_insert")),
            del = quote_ident(&format!("{rtree}_delete")),
            upd = quote_ident(&format!("{rtree}_update")),
            cols = spec.columns(tree),
        ));
    }
    sql
}

/// SQL that refills both R*Trees from the table (for an index created after rows existed, or
/// after a VACUUM).
pub fn rebuild_sql(spec: &SpatialIndexSpec) -> String {
    let table = ddl::table_name(Dialect::Sqlite, spec.schema, spec.table);
    let mut sql = String::new();
    for tree in [Tree::Point, Tree::Region] {
        let rt = quote_ident(&spec.rtree(tree));
        let geom = spec.geometry(tree, "t");
        sql.push_str(&format!(
            "DELETE FROM {rt};\nINSERT INTO {rt} SELECT {} FROM {table} AS t WHERE skyport_bbox({geom}, 0) IS NOT NULL;\n",
            bbox_values("t.rowid", &geom)
        ));
    }
    sql
}
