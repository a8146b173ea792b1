//! What a query may name: tables and their columns with types and metadata, built from the
//! Felis declarations (the same ones that make the tables and TAP_SCHEMA, so the three cannot
//! disagree), plus per-table spatial indexes the SQLite translation can use.

use skyport_schema::{Datatype, Schema};

use crate::types::AdqlType;

/// Metadata of one column, as TAP writes it into FIELD elements: the vocabulary's own type.
pub use skyport_schema::ColumnMeta;

/// A column a query may name.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnInfo {
    /// Name as declared (ADQL matches regular identifiers to it case-insensitively).
    pub name: String,
    /// ADQL type.
    pub ty: AdqlType,
    /// FIELD metadata.
    pub meta: std::sync::Arc<ColumnMeta>,
    /// For a column holding links relative to the service (`/datalink/links?ID=…`): the
    /// base URL a query sees them under, everywhere (select list, WHERE, ORDER BY), so that
    /// links follow the URL the archive is served under now, not the one it was built under.
    pub url_base: Option<String>,
}

/// A spatial index over a table, which the SQLite translation uses to pre-filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpatialIndex {
    /// For `CONTAINS(POINT(lon, lat), shape)`: (lon column, lat column, R*Tree table).
    pub point: Option<(String, String, String)>,
    /// For `INTERSECTS(region, shape)` and `CONTAINS`: (region column, R*Tree table).
    pub region: Option<(String, String)>,
}

/// A table a query may name.
#[derive(Debug, Clone, PartialEq)]
pub struct TableInfo {
    /// Schema name (`ivoa`).
    pub schema: String,
    /// Table name (`ObsCore`).
    pub name: String,
    /// Columns in table order.
    pub columns: Vec<ColumnInfo>,
    /// A spatial index the translator may use (SQLite only).
    pub spatial: Option<SpatialIndex>,
    /// The columns an unordered read of this table alone is sorted by, when its readers
    /// compare what they read with another listing (TAP_SCHEMA against `/tables`): a
    /// database may return unordered rows in any order, and does once rows are rewritten.
    /// Empty for the tables whose reads must stream without a sort.
    pub listing_order: Vec<String>,
}

impl TableInfo {
    /// `schema.table` as declared.
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    /// The column a (case-rule-aware) identifier names.
    pub fn column(&self, matches: impl Fn(&str) -> bool) -> Option<&ColumnInfo> {
        self.columns.iter().find(|c| matches(&c.name))
    }
}

/// The tables a query may name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalogue {
    tables: Vec<TableInfo>,
}

/// The ADQL type and FIELD metadata of a Felis column.
pub fn column_from_felis(c: &skyport_schema::Column) -> ColumnInfo {
    let vo = c.vo_type();
    let xtype_lower = vo.xtype.as_deref().map(str::to_ascii_lowercase);
    let ty = match xtype_lower.as_deref() {
        Some("adql:region") | Some("region") => AdqlType::Region,
        Some("point") => AdqlType::Point,
        Some("circle") => AdqlType::Circle,
        Some("polygon") => AdqlType::Polygon,
        _ => match c.datatype {
            Datatype::Boolean => AdqlType::Boolean,
            Datatype::Byte | Datatype::Short => AdqlType::SmallInt,
            Datatype::Int => AdqlType::Integer,
            Datatype::Long => AdqlType::BigInt,
            Datatype::Float => AdqlType::Real,
            Datatype::Double => AdqlType::Double,
            Datatype::Char => AdqlType::Char(c.length),
            Datatype::String | Datatype::Unicode | Datatype::Text => AdqlType::VarChar(c.length),
            Datatype::Binary => AdqlType::Blob,
            Datatype::Timestamp => AdqlType::Timestamp,
        },
    };
    ColumnInfo {
        name: c.name.clone(),
        ty,
        meta: std::sync::Arc::new(c.meta()),
        url_base: None,
    }
}

impl Catalogue {
    /// Every table of the given Felis schemas.
    pub fn from_schemas(schemas: &[Schema]) -> Catalogue {
        let mut cat = Catalogue::default();
        for s in schemas {
            for t in &s.tables {
                cat.add_table(TableInfo {
                    schema: s.name.clone(),
                    name: t.name.clone(),
                    columns: t.columns.iter().map(column_from_felis).collect(),
                    spatial: None,
                    listing_order: Vec::new(),
                });
            }
        }
        cat
    }

    /// Adds (or replaces) a table, e.g. a TAP upload.
    pub fn add_table(&mut self, table: TableInfo) {
        self.tables
            .retain(|t| !(t.schema == table.schema && t.name == table.name));
        self.tables.push(table);
    }

    /// Declares a spatial index on `schema.table`. Returns false when there is no such table.
    pub fn set_spatial_index(&mut self, schema: &str, table: &str, index: SpatialIndex) -> bool {
        match self
            .tables
            .iter_mut()
            .find(|t| t.schema == schema && t.name == table)
        {
            Some(t) => {
                t.spatial = Some(index);
                true
            }
            None => false,
        }
    }

    /// Declares that `schema.table.column` holds service-relative links shown under `base`
    /// (see [`ColumnInfo::url_base`]). Returns false when there is no such column.
    pub fn set_url_base(&mut self, schema: &str, table: &str, column: &str, base: &str) -> bool {
        let column = self
            .tables
            .iter_mut()
            .filter(|t| t.schema == schema && t.name == table)
            .flat_map(|t| t.columns.iter_mut())
            .find(|c| c.name == column);
        match column {
            Some(c) => {
                c.url_base = Some(base.to_string());
                true
            }
            None => false,
        }
    }

    /// Declares the order unordered reads of `schema.table` alone come out in (see
    /// [`TableInfo::listing_order`]). Returns false when there is no such table.
    pub fn set_listing_order(&mut self, schema: &str, table: &str, columns: &[&str]) -> bool {
        match self
            .tables
            .iter_mut()
            .find(|t| t.schema == schema && t.name == table)
        {
            Some(t) => {
                t.listing_order = columns.iter().map(|c| c.to_string()).collect();
                true
            }
            None => false,
        }
    }

    /// All tables.
    pub fn tables(&self) -> &[TableInfo] {
        &self.tables
    }
}
