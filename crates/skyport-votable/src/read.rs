//! Reading uploaded tables: the first TABLE of a VOTable in TABLEDATA, BINARY or BINARY2.
//!
//! TAP uploads are small by configuration, so the table is read whole; the row limit is
//! checked while reading so a large table stops early with a clear error.

use base64::Engine as _;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::field::{Count, Datum, Field, Primitive, Shape};

/// An uploaded table.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadedTable {
    /// The columns, as declared.
    pub fields: Vec<Field>,
    /// The rows, one value per field.
    pub rows: Vec<Vec<Datum>>,
}

/// Why an upload could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// Not well-formed XML, or not a VOTable.
    #[error("not a readable VOTable: {0}")]
    Malformed(String),
    /// More rows than allowed.
    #[error("the table has more than {0} rows, the upload limit")]
    TooManyRows(usize),
    /// A construct this reader does not handle.
    #[error("unsupported VOTable content: {0}")]
    Unsupported(String),
    /// More cells than the document's size can stand for (short rows padded to many fields).
    #[error("the table has more cells than its {0} bytes can hold; write every cell out")]
    TooManyCells(usize),
}

fn malformed(e: impl std::fmt::Display) -> ReadError {
    ReadError::Malformed(e.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Serialization {
    TableData,
    Binary,
    Binary2,
}

fn attribute(e: &BytesStart<'_>, name: &str) -> Result<Option<String>, ReadError> {
    for a in e.attributes() {
        let a = a.map_err(malformed)?;
        if a.key.local_name().as_ref() == name {
            return Ok(Some(
                a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .map_err(malformed)?
                    .into_owned(),
            ));
        }
    }
    Ok(None)
}

fn field_of(e: &BytesStart<'_>) -> Result<Field, ReadError> {
    let name =
        attribute(e, "name")?.ok_or_else(|| ReadError::Malformed("a FIELD has no name".into()))?;
    let datatype = attribute(e, "datatype")?
        .ok_or_else(|| ReadError::Malformed(format!("FIELD {name} has no datatype")))?;
    Ok(Field {
        name,
        id: attribute(e, "ID")?,
        meta: skyport_schema::ColumnMeta {
            datatype,
            arraysize: attribute(e, "arraysize")?,
            xtype: attribute(e, "xtype")?,
            unit: attribute(e, "unit")?,
            ucd: attribute(e, "ucd")?,
            utype: attribute(e, "utype")?,
            description: None,
        },
        null: None,
    })
}

/// The character an XML reference (`&#233;`, `&amp;`) stands for: the five predefined
/// entities and character references; any other entity is an error.
pub(crate) fn resolve_reference(r: &quick_xml::events::BytesRef<'_>) -> Result<char, ReadError> {
    Ok(match r.resolve_char_ref().map_err(malformed)? {
        Some(ch) => ch,
        None => match r.xml10_content().as_ref() {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            other => return Err(malformed(format!("unknown entity &{other};"))),
        },
    })
}

/// Reads the first table of a VOTable document, with at most `max_rows` rows.
pub fn read_votable(bytes: &[u8], max_rows: usize) -> Result<UploadedTable, ReadError> {
    let text = std::str::from_utf8(bytes).map_err(|_| malformed("the document is not UTF-8"))?;
    let mut reader = Reader::from_str(text);
    let mut fields: Vec<Field> = Vec::new();
    let mut rows: Vec<Vec<Datum>> = Vec::new();
    let mut in_table = false;
    let mut tables_seen = 0;
    let mut serialization = None;
    let mut in_stream = false;
    let mut stream_text = String::new();
    let mut row: Vec<Datum> = Vec::new();
    let mut cell_text: Option<String> = None;
    let mut saw_votable = false;
    let mut data_started = false;
    // Every cell the document holds takes at least a byte of it; padding short rows makes
    // cells from nothing, so the cells kept are bounded by the document's size.
    let budget = Budget {
        max_rows,
        max_cells: bytes.len().saturating_mul(4).saturating_add(1024),
        input_bytes: bytes.len(),
    };
    loop {
        let event = reader.read_event().map_err(malformed)?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                let local = e.local_name();
                match local.as_ref() {
                    "VOTABLE" => saw_votable = true,
                    "TABLE" if tables_seen == 0 => {
                        in_table = true;
                        tables_seen += 1;
                    }
                    "FIELD" if in_table && data_started => {
                        return Err(malformed("a FIELD after the table's DATA"))
                    }
                    "FIELD" if in_table => fields.push(field_of(e)?),
                    "VALUES" if in_table => {
                        if let (Some(f), Some(null)) = (fields.last_mut(), attribute(e, "null")?) {
                            f.null = Some(null);
                        }
                    }
                    "DATA" if in_table => data_started = true,
                    // A serialisation starts the data even outside a DATA element: a FIELD
                    // after a BINARY stream would find rows already read with fewer cells.
                    "TABLEDATA" if in_table => {
                        data_started = true;
                        serialization = Some(Serialization::TableData)
                    }
                    "BINARY" if in_table => {
                        data_started = true;
                        serialization = Some(Serialization::Binary)
                    }
                    "BINARY2" if in_table => {
                        data_started = true;
                        serialization = Some(Serialization::Binary2)
                    }
                    "FITS" if in_table => {
                        return Err(ReadError::Unsupported(
                            "FITS serialisation; send TABLEDATA, BINARY or BINARY2".into(),
                        ))
                    }
                    "STREAM" if in_table => {
                        if attribute(e, "href")?.is_some() {
                            return Err(ReadError::Unsupported(
                                "a STREAM with href; put the data inline".into(),
                            ));
                        }
                        if let Some(enc) = attribute(e, "encoding")? {
                            if enc != "base64" {
                                return Err(ReadError::Unsupported(format!(
                                    "STREAM encoding {enc:?}; only base64 is read"
                                )));
                            }
                        }
                        in_stream = !empty;
                    }
                    "TR" if in_table => {
                        data_started = true;
                        row.clear();
                    }
                    "TD" if in_table => {
                        if empty {
                            row.push(Datum::Null);
                        } else {
                            cell_text = Some(String::new());
                        }
                    }
                    _ => {}
                }
                if empty && local.as_ref() == "TR" && in_table {
                    push_row(&mut rows, &fields, std::mem::take(&mut row), &budget)?;
                }
            }
            Event::Text(t) => {
                if let Some(c) = cell_text.as_mut() {
                    c.push_str(&t.xml10_content());
                } else if in_stream {
                    stream_text.push_str(&t.xml10_content());
                }
            }
            Event::CData(t) => {
                if let Some(c) = cell_text.as_mut() {
                    c.push_str(&t.into_inner());
                }
            }
            Event::GeneralRef(r) => {
                if let Some(c) = cell_text.as_mut() {
                    c.push(resolve_reference(&r)?);
                }
            }
            Event::End(ref e) => match e.local_name().as_ref() {
                "TD" if in_table => {
                    let text = cell_text.take().unwrap_or_default();
                    let field = fields.get(row.len()).ok_or_else(|| {
                        malformed(format!("a row has more than {} cells", fields.len()))
                    })?;
                    row.push(parse_text(field, &text)?);
                }
                "TR" if in_table => {
                    push_row(&mut rows, &fields, std::mem::take(&mut row), &budget)?
                }
                "STREAM" if in_stream => {
                    in_stream = false;
                    let with_flags = serialization == Some(Serialization::Binary2);
                    decode_stream(&stream_text, &fields, with_flags, &budget, &mut rows)?;
                    stream_text.clear();
                }
                "TABLE" if in_table => in_table = false,
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_votable {
        return Err(malformed("no VOTABLE element"));
    }
    if tables_seen == 0 {
        return Err(malformed("the VOTable holds no TABLE"));
    }
    if fields.is_empty() {
        return Err(malformed("the table declares no FIELD"));
    }
    Ok(UploadedTable { fields, rows })
}

/// How much of a table is kept at most.
struct Budget {
    max_rows: usize,
    max_cells: usize,
    input_bytes: usize,
}

fn push_row(
    rows: &mut Vec<Vec<Datum>>,
    fields: &[Field],
    mut row: Vec<Datum>,
    budget: &Budget,
) -> Result<(), ReadError> {
    if rows.len() >= budget.max_rows {
        return Err(ReadError::TooManyRows(budget.max_rows));
    }
    if (rows.len() + 1).saturating_mul(fields.len()) > budget.max_cells {
        return Err(ReadError::TooManyCells(budget.input_bytes));
    }
    // A short row means the missing trailing cells are empty.
    row.resize(fields.len(), Datum::Null);
    rows.push(row);
    Ok(())
}

fn bad_value(field: &Field, text: &str) -> ReadError {
    malformed(format!(
        "column {}: {text:?} is not a {} value",
        field.name, field.meta.datatype
    ))
}

/// The value of one TABLEDATA cell.
fn parse_text(field: &Field, text: &str) -> Result<Datum, ReadError> {
    let shape = field.shape();
    let trimmed = text.trim();
    if shape.primitive.is_text() {
        return Ok(if text.is_empty() {
            Datum::Null
        } else {
            Datum::Text(text.to_string())
        });
    }
    if trimmed.is_empty() || field.null.as_deref() == Some(trimmed) {
        return Ok(Datum::Null);
    }
    if shape.count != Count::Scalar {
        return Ok(Datum::Text(
            trimmed.split_whitespace().collect::<Vec<_>>().join(" "),
        ));
    }
    Ok(match shape.primitive {
        Primitive::Boolean => match trimmed.to_ascii_lowercase().as_str() {
            "t" | "true" | "1" => Datum::Bool(true),
            "f" | "false" | "0" => Datum::Bool(false),
            "?" => Datum::Null,
            _ => return Err(bad_value(field, text)),
        },
        Primitive::UnsignedByte | Primitive::Short | Primitive::Int | Primitive::Long => {
            parse_integer(trimmed)
                .map(Datum::Int)
                .ok_or_else(|| bad_value(field, text))?
        }
        Primitive::Float | Primitive::Double => {
            let x = parse_float(trimmed).ok_or_else(|| bad_value(field, text))?;
            if x.is_nan() {
                Datum::Null
            } else {
                Datum::Float(x)
            }
        }
        _ => Datum::Text(trimmed.to_string()),
    })
}

fn parse_integer(t: &str) -> Option<i64> {
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return i64::from_str_radix(hex, 16).ok();
    }
    t.parse().ok()
}

fn parse_float(t: &str) -> Option<f64> {
    match t {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => t.parse().ok(),
    }
}

/// A cursor over decoded binary data.
struct Bytes<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Bytes<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ReadError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| malformed("the binary stream ends inside a row"))?;
        let s = &self.data[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ReadError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn done(&self) -> bool {
        self.at >= self.data.len()
    }
}

fn decode_stream(
    text: &str,
    fields: &[Field],
    with_flags: bool,
    budget: &Budget,
    rows: &mut Vec<Vec<Datum>>,
) -> Result<(), ReadError> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let data = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| malformed(format!("the base64 stream is invalid: {e}")))?;
    let shapes: Vec<Shape> = fields.iter().map(Field::shape).collect();
    let mut cursor = Bytes { data: &data, at: 0 };
    while !cursor.done() {
        let flags = if with_flags {
            cursor.take(fields.len().div_ceil(8))?.to_vec()
        } else {
            Vec::new()
        };
        let start = cursor.at;
        let mut row = Vec::with_capacity(fields.len());
        for (i, (field, shape)) in fields.iter().zip(&shapes).enumerate() {
            let value = read_binary_cell(&mut cursor, field, *shape)?;
            let flagged = flags.get(i / 8).is_some_and(|b| b & (0x80 >> (i % 8)) != 0);
            row.push(if flagged { Datum::Null } else { value });
        }
        if cursor.at == start {
            // Zero-width fields would make rows out of nothing, without end.
            return Err(malformed("a row of the binary stream takes no bytes"));
        }
        push_row(rows, fields, row, budget)?;
    }
    Ok(())
}

fn read_element(cursor: &mut Bytes<'_>, p: Primitive) -> Result<Option<f64>, ReadError> {
    Ok(Some(match p {
        Primitive::UnsignedByte => f64::from(cursor.array::<1>()?[0]),
        Primitive::Short => f64::from(i16::from_be_bytes(cursor.array()?)),
        Primitive::Int => f64::from(i32::from_be_bytes(cursor.array()?)),
        Primitive::Long => i64::from_be_bytes(cursor.array()?) as f64,
        Primitive::Float => f64::from(f32::from_be_bytes(cursor.array()?)),
        Primitive::Double => f64::from_be_bytes(cursor.array()?),
        Primitive::Boolean => match cursor.array::<1>()?[0] {
            b'T' | b't' | b'1' => 1.0,
            b'F' | b'f' | b'0' => 0.0,
            _ => return Ok(None),
        },
        _ => return Err(ReadError::Unsupported("bit and complex columns".into())),
    }))
}

fn read_binary_cell(
    cursor: &mut Bytes<'_>,
    field: &Field,
    shape: Shape,
) -> Result<Datum, ReadError> {
    let p = shape.primitive;
    let n = match shape.count {
        Count::Scalar => None,
        Count::Fixed(n) => Some(n),
        Count::Variable => Some(u32::from_be_bytes(cursor.array()?) as usize),
    };
    if p.is_text() {
        let n = n.unwrap_or(1);
        let text = if p == Primitive::UnicodeChar {
            let raw = cursor.take(n.checked_mul(2).ok_or_else(|| malformed("huge string"))?)?;
            let units: Vec<u16> = raw
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .take_while(|&u| u != 0)
                .collect();
            String::from_utf16_lossy(&units)
        } else {
            let raw = cursor.take(n)?;
            let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
            String::from_utf8_lossy(&raw[..end]).into_owned()
        };
        return Ok(if text.is_empty() {
            Datum::Null
        } else {
            Datum::Text(text)
        });
    }
    let magic = field.null.as_deref().and_then(parse_integer);
    match n {
        None => {
            let raw_at = cursor.at;
            let x = read_element(cursor, p)?;
            let integer = matches!(
                p,
                Primitive::UnsignedByte | Primitive::Short | Primitive::Int | Primitive::Long
            );
            Ok(match x {
                None => Datum::Null,
                Some(x) if p == Primitive::Boolean => Datum::Bool(x != 0.0),
                Some(_) if integer => {
                    // Re-read exactly: a long does not fit a double.
                    let raw = &cursor.data[raw_at..cursor.at];
                    let i = match p {
                        Primitive::Long => {
                            i64::from_be_bytes(raw.try_into().map_err(malformed_len)?)
                        }
                        Primitive::Int => {
                            i32::from_be_bytes(raw.try_into().map_err(malformed_len)?).into()
                        }
                        Primitive::Short => {
                            i16::from_be_bytes(raw.try_into().map_err(malformed_len)?).into()
                        }
                        _ => raw[0].into(),
                    };
                    if Some(i) == magic {
                        Datum::Null
                    } else {
                        Datum::Int(i)
                    }
                }
                Some(x) if x.is_nan() => Datum::Null,
                Some(x) => Datum::Float(x),
            })
        }
        Some(n) => {
            let mut parts = Vec::with_capacity(n.min(1 << 16));
            for _ in 0..n {
                let x = read_element(cursor, p)?;
                parts.push(match x {
                    Some(x) if x.is_nan() => "NaN".to_string(),
                    Some(x) => format!("{x}"),
                    None => "NaN".to_string(),
                });
            }
            Ok(if parts.is_empty() {
                Datum::Null
            } else {
                Datum::Text(parts.join(" "))
            })
        }
    }
}

fn malformed_len(_: std::array::TryFromSliceError) -> ReadError {
    malformed("integer of the wrong width")
}
