//! Column descriptions (VOTable FIELDs) and cell values, shared by the writers and the reader.

use skyport_schema::ColumnMeta;

/// One value handed to a writer, borrowed from the row that holds it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    /// NULL.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// Text; for array columns (geometry, intervals) the numbers separated by spaces.
    Text(&'a str),
}

/// An owned cell value, as read from an uploaded table.
#[derive(Debug, Clone, PartialEq)]
pub enum Datum {
    /// NULL.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// Text (arrays are written as numbers separated by spaces).
    Text(String),
}

impl Datum {
    /// The borrowed form.
    pub fn as_cell(&self) -> Cell<'_> {
        match self {
            Datum::Null => Cell::Null,
            Datum::Bool(b) => Cell::Bool(*b),
            Datum::Int(i) => Cell::Int(*i),
            Datum::Float(f) => Cell::Float(*f),
            Datum::Text(s) => Cell::Text(s),
        }
    }
}

/// A VOTable FIELD: a name, the column's metadata (the vocabulary's [`ColumnMeta`]) and what
/// only a VOTable carries (an XML ID, a magic null value).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Field {
    /// Column name.
    pub name: String,
    /// XML ID, when service descriptors refer to the column.
    pub id: Option<String>,
    /// Datatype, arraysize, xtype, unit, UCD, utype and description.
    pub meta: ColumnMeta,
    /// Magic null value of an integer column (BINARY serialisation only; read from uploads).
    pub null: Option<String>,
}

impl Field {
    /// A field with a name and a datatype and nothing else.
    pub fn new(name: impl Into<String>, datatype: impl Into<String>) -> Field {
        Field {
            name: name.into(),
            meta: ColumnMeta {
                datatype: datatype.into(),
                ..ColumnMeta::default()
            },
            ..Field::default()
        }
    }

    /// A field of a column described by `meta`.
    pub fn of(name: impl Into<String>, meta: ColumnMeta) -> Field {
        Field {
            name: name.into(),
            meta,
            ..Field::default()
        }
    }

    /// Sets the arraysize.
    pub fn with_arraysize(mut self, arraysize: impl Into<String>) -> Field {
        self.meta.arraysize = Some(arraysize.into());
        self
    }

    /// Sets the xtype.
    pub fn with_xtype(mut self, xtype: impl Into<String>) -> Field {
        self.meta.xtype = Some(xtype.into());
        self
    }

    /// How values of this field are laid out.
    pub fn shape(&self) -> Shape {
        Shape::of(&self.meta.datatype, self.meta.arraysize.as_deref())
    }
}

/// The primitive type of a VOTable datatype.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Primitive {
    /// `boolean`.
    Boolean,
    /// `unsignedByte`.
    UnsignedByte,
    /// `short`.
    Short,
    /// `int`.
    Int,
    /// `long`.
    Long,
    /// `float`.
    Float,
    /// `double`.
    Double,
    /// `char` (one byte per character).
    Char,
    /// `unicodeChar` (UCS-2, two bytes per character).
    UnicodeChar,
    /// `bit`, `floatComplex`, `doubleComplex`: written as text, never produced by queries.
    Other,
}

impl Primitive {
    /// Parses a VOTable datatype name.
    pub fn parse(datatype: &str) -> Primitive {
        match datatype {
            "boolean" => Primitive::Boolean,
            "unsignedByte" => Primitive::UnsignedByte,
            "short" => Primitive::Short,
            "int" => Primitive::Int,
            "long" => Primitive::Long,
            "float" => Primitive::Float,
            "double" => Primitive::Double,
            "char" => Primitive::Char,
            "unicodeChar" => Primitive::UnicodeChar,
            _ => Primitive::Other,
        }
    }

    /// Bytes of one element in the binary serialisations.
    pub fn width(self) -> usize {
        match self {
            Primitive::Boolean | Primitive::UnsignedByte | Primitive::Char | Primitive::Other => 1,
            Primitive::Short | Primitive::UnicodeChar => 2,
            Primitive::Int | Primitive::Float => 4,
            Primitive::Long | Primitive::Double => 8,
        }
    }

    /// True for the character types.
    pub fn is_text(self) -> bool {
        matches!(self, Primitive::Char | Primitive::UnicodeChar)
    }
}

/// Element count of a field: one element, a fixed number, or variable (with an optional bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// A scalar (no arraysize).
    Scalar,
    /// Exactly `n` elements (`arraysize="n"`, or the product of a multi-dimensional size).
    Fixed(usize),
    /// Any number (`*` or `n*`).
    Variable,
}

/// Datatype and arraysize of a field, parsed once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Element type.
    pub primitive: Primitive,
    /// Element count.
    pub count: Count,
}

impl Shape {
    /// Parses datatype and arraysize.
    pub fn of(datatype: &str, arraysize: Option<&str>) -> Shape {
        let primitive = Primitive::parse(datatype);
        let count = match arraysize.map(str::trim) {
            None | Some("") => Count::Scalar,
            Some(a) if a.ends_with('*') => Count::Variable,
            Some(a) => {
                let product = a
                    .split('x')
                    .map(|d| d.trim().parse::<usize>())
                    .try_fold(1usize, |acc, d| d.ok().map(|d| acc.saturating_mul(d)));
                match product {
                    Some(1) if !primitive.is_text() => Count::Scalar,
                    Some(n) => Count::Fixed(n),
                    None => Count::Variable,
                }
            }
        };
        Shape { primitive, count }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(
            Shape::of("double", Some("2")),
            Shape {
                primitive: Primitive::Double,
                count: Count::Fixed(2)
            }
        );
        assert_eq!(Shape::of("char", Some("64*")).count, Count::Variable);
        assert_eq!(Shape::of("char", None).count, Count::Scalar);
        assert_eq!(Shape::of("int", Some("2x3")).count, Count::Fixed(6));
        assert_eq!(Shape::of("int", Some("2x*")).count, Count::Variable);
    }
}
