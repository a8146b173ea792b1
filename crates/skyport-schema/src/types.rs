//! Felis datatypes and their VOTable counterparts.

use serde::Deserialize;

/// A Felis column datatype (the `datatype:` key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Datatype {
    /// true/false.
    Boolean,
    /// 8-bit unsigned integer.
    Byte,
    /// 16-bit integer.
    Short,
    /// 32-bit integer.
    Int,
    /// 64-bit integer.
    Long,
    /// 32-bit float.
    Float,
    /// 64-bit float.
    Double,
    /// Fixed-length ASCII string of `length` characters.
    Char,
    /// Variable-length ASCII string of at most `length` characters.
    String,
    /// Variable-length Unicode string.
    Unicode,
    /// Unbounded text.
    Text,
    /// Opaque bytes.
    Binary,
    /// Date and time (UTC unless the column says otherwise).
    Timestamp,
}

/// What a client sees of a column: the metadata of a VOTable FIELD, a TAP_SCHEMA.columns row
/// and a VOSI table column alike. Derived from a Felis [`crate::Column`] with
/// [`crate::Column::meta`], or written by hand for computed columns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnMeta {
    /// VOTable datatype (`double`, `char`, …).
    pub datatype: String,
    /// VOTable arraysize (`*`, `64*`, `2`…), absent for scalars.
    pub arraysize: Option<String>,
    /// DALI or prefixed xtype (`timestamp`, `point`, `adql:REGION`…).
    pub xtype: Option<String>,
    /// VO unit.
    pub unit: Option<String>,
    /// UCD.
    pub ucd: Option<String>,
    /// Utype.
    pub utype: Option<String>,
    /// Free-text description.
    pub description: Option<String>,
}

/// How a column is described in VOTable FIELDs and in TAP_SCHEMA.columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoType {
    /// VOTable `datatype` attribute (`int`, `double`, `char`…).
    pub datatype: &'static str,
    /// VOTable `arraysize`, absent for scalars.
    pub arraysize: Option<String>,
    /// DALI xtype (`timestamp`, `adql:REGION`…), absent when none applies.
    pub xtype: Option<String>,
}

impl Datatype {
    /// The VOTable datatype, arraysize and xtype for a column of this type.
    ///
    /// `length` is the Felis `length`; an explicit `votable:arraysize` or `votable:xtype` in the
    /// schema wins over what is derived here (see [`crate::Column::vo_type`]).
    pub fn vo_type(self, length: Option<u32>) -> VoType {
        let bounded = |l: Option<u32>| Some(l.map_or_else(|| "*".to_string(), |n| format!("{n}*")));
        let (datatype, arraysize, xtype) = match self {
            Datatype::Boolean => ("boolean", None, None),
            Datatype::Byte => ("unsignedByte", None, None),
            Datatype::Short => ("short", None, None),
            Datatype::Int => ("int", None, None),
            Datatype::Long => ("long", None, None),
            Datatype::Float => ("float", None, None),
            Datatype::Double => ("double", None, None),
            Datatype::Char => (
                "char",
                Some(length.map_or("*".to_string(), |n| n.to_string())),
                None,
            ),
            Datatype::String => ("char", bounded(length), None),
            Datatype::Unicode => ("unicodeChar", bounded(length), None),
            Datatype::Text => ("char", Some("*".to_string()), None),
            Datatype::Binary => ("unsignedByte", Some("*".to_string()), None),
            Datatype::Timestamp => ("char", Some("*".to_string()), Some("timestamp".to_string())),
        };
        VoType {
            datatype,
            arraysize,
            xtype,
        }
    }

    /// True for the integer types.
    pub fn is_integer(self) -> bool {
        matches!(
            self,
            Datatype::Byte | Datatype::Short | Datatype::Int | Datatype::Long
        )
    }

    /// True for the floating-point types.
    pub fn is_float(self) -> bool {
        matches!(self, Datatype::Float | Datatype::Double)
    }

    /// True for the character types (char, string, unicode, text).
    pub fn is_text(self) -> bool {
        matches!(
            self,
            Datatype::Char | Datatype::String | Datatype::Unicode | Datatype::Text
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_bounded_char_arrays() {
        let t = Datatype::String.vo_type(Some(64));
        assert_eq!(t.datatype, "char");
        assert_eq!(t.arraysize.as_deref(), Some("64*"));
        assert_eq!(
            Datatype::String.vo_type(None).arraysize.as_deref(),
            Some("*")
        );
        assert_eq!(
            Datatype::Char.vo_type(Some(1)).arraysize.as_deref(),
            Some("1")
        );
    }

    #[test]
    fn timestamps_carry_the_dali_xtype() {
        let t = Datatype::Timestamp.vo_type(None);
        assert_eq!(
            (t.datatype, t.xtype.as_deref()),
            ("char", Some("timestamp"))
        );
    }

    #[test]
    fn scalars_have_no_arraysize() {
        for d in [
            Datatype::Int,
            Datatype::Long,
            Datatype::Double,
            Datatype::Boolean,
        ] {
            assert_eq!(d.vo_type(Some(8)).arraysize, None, "{d:?}");
        }
    }
}
