//! ADQL value types and how they map to VOTable FIELDs (ADQL 2.1 §3, DALI xtypes).

use std::fmt;

use crate::catalogue::ColumnMeta;

/// The type of an ADQL value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdqlType {
    /// BOOLEAN (only from columns: ADQL has no boolean literals).
    Boolean,
    /// SMALLINT.
    SmallInt,
    /// INTEGER.
    Integer,
    /// BIGINT.
    BigInt,
    /// REAL.
    Real,
    /// DOUBLE PRECISION.
    Double,
    /// CHAR(n).
    Char(Option<u32>),
    /// VARCHAR(n) (or unbounded).
    VarChar(Option<u32>),
    /// TIMESTAMP.
    Timestamp,
    /// POINT.
    Point,
    /// CIRCLE.
    Circle,
    /// POLYGON (also BOX).
    Polygon,
    /// REGION: any geometry, written as STC-S.
    Region,
    /// Binary data.
    Blob,
    /// The type of NULL: fits anywhere.
    Unknown,
}

impl AdqlType {
    /// SMALLINT, INTEGER or BIGINT.
    pub fn is_integer(self) -> bool {
        matches!(
            self,
            AdqlType::SmallInt | AdqlType::Integer | AdqlType::BigInt
        )
    }

    /// Any number (or NULL).
    pub fn is_numeric(self) -> bool {
        self.is_integer() || matches!(self, AdqlType::Real | AdqlType::Double | AdqlType::Unknown)
    }

    /// CHAR or VARCHAR (or NULL).
    pub fn is_string(self) -> bool {
        matches!(
            self,
            AdqlType::Char(_) | AdqlType::VarChar(_) | AdqlType::Unknown
        )
    }

    /// POINT, CIRCLE, POLYGON or REGION (or NULL).
    pub fn is_geometry(self) -> bool {
        matches!(
            self,
            AdqlType::Point
                | AdqlType::Circle
                | AdqlType::Polygon
                | AdqlType::Region
                | AdqlType::Unknown
        )
    }

    /// The FIELD metadata for a computed value of this type.
    pub fn field(self) -> ColumnMeta {
        let (datatype, arraysize, xtype): (&str, Option<&str>, Option<&str>) = match self {
            AdqlType::Boolean => ("boolean", None, None),
            AdqlType::SmallInt => ("short", None, None),
            AdqlType::Integer => ("int", None, None),
            AdqlType::BigInt => ("long", None, None),
            AdqlType::Real => ("float", None, None),
            AdqlType::Double | AdqlType::Unknown => ("double", None, None),
            AdqlType::Char(_) | AdqlType::VarChar(_) => ("char", Some("*"), None),
            AdqlType::Timestamp => ("char", Some("*"), Some("timestamp")),
            AdqlType::Point => ("double", Some("2"), Some("point")),
            AdqlType::Circle => ("double", Some("3"), Some("circle")),
            AdqlType::Polygon => ("double", Some("*"), Some("polygon")),
            AdqlType::Region => ("char", Some("*"), Some("adql:REGION")),
            AdqlType::Blob => ("unsignedByte", Some("*"), None),
        };
        let arraysize = match self {
            AdqlType::Char(Some(n)) => Some(n.to_string()),
            AdqlType::VarChar(Some(n)) => Some(format!("{n}*")),
            _ => arraysize.map(str::to_string),
        };
        ColumnMeta {
            datatype: datatype.to_string(),
            arraysize,
            xtype: xtype.map(str::to_string),
            ..ColumnMeta::default()
        }
    }
}

impl fmt::Display for AdqlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdqlType::Boolean => f.write_str("BOOLEAN"),
            AdqlType::SmallInt => f.write_str("SMALLINT"),
            AdqlType::Integer => f.write_str("INTEGER"),
            AdqlType::BigInt => f.write_str("BIGINT"),
            AdqlType::Real => f.write_str("REAL"),
            AdqlType::Double => f.write_str("DOUBLE PRECISION"),
            AdqlType::Char(Some(n)) => write!(f, "CHAR({n})"),
            AdqlType::Char(None) => f.write_str("CHAR"),
            AdqlType::VarChar(Some(n)) => write!(f, "VARCHAR({n})"),
            AdqlType::VarChar(None) => f.write_str("VARCHAR"),
            AdqlType::Timestamp => f.write_str("TIMESTAMP"),
            AdqlType::Point => f.write_str("POINT"),
            AdqlType::Circle => f.write_str("CIRCLE"),
            AdqlType::Polygon => f.write_str("POLYGON"),
            AdqlType::Region => f.write_str("REGION"),
            AdqlType::Blob => f.write_str("BLOB"),
            AdqlType::Unknown => f.write_str("NULL"),
        }
    }
}
