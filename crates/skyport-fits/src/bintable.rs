//! A FITS binary table read in batches of rows (a user-table load in `application/fits`, as
//! pyvo's `load_table(format="FITSTable")` sends it): the first BINTABLE HDU, its scalar and
//! string columns, so that a table of any length is read in the memory of one batch.

use std::ops::Range;
use std::path::Path;

use fitsio::hdu::{FitsHdu, HduInfo};
use fitsio::tables::ColumnDataType;
use fitsio::FitsFile;

/// One cell of a binary table.
#[derive(Debug, Clone, PartialEq)]
pub enum TableCell {
    /// A logical.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float (NaN for an undefined one).
    Float(f64),
    /// A string, trailing blanks removed.
    Text(String),
}

/// Why a binary table could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// Not FITS, or no binary table in it.
    #[error("{0}")]
    NotATable(String),
    /// A column this reader does not read.
    #[error("column {name:?}: {why}")]
    Column {
        /// Its name.
        name: String,
        /// Why.
        why: String,
    },
    /// cfitsio failed while reading.
    #[error("reading the table: {0}")]
    Read(String),
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Bool,
    Int8,
    UInt8,
    Int16,
    UInt16,
    Int32,
    UInt32,
    Int64,
    Float32,
    Float64,
    Text,
}

/// The first binary table of a FITS file, read a batch at a time.
pub struct BinTableReader {
    fits: FitsFile,
    hdu: FitsHdu,
    columns: Vec<(String, Kind)>,
    rows: usize,
    next: usize,
    /// Rows read at once: fewer for wide rows, so a batch stays within [`MAX_BATCH_BYTES`].
    batch_rows: usize,
}

/// The widest string column read (cfitsio allocates its width for every row read).
pub const MAX_STRING_WIDTH: usize = 1 << 20;
/// The most bytes of cells a batch reads at once.
const MAX_BATCH_BYTES: usize = 64 << 20;

impl BinTableReader {
    /// Opens the first binary table of the FITS file at `path`.
    pub fn open(path: &Path) -> Result<BinTableReader, TableError> {
        let mut fits = FitsFile::open(path)
            .map_err(|e| TableError::NotATable(format!("not a FITS file: {e}")))?;
        let mut index = 1;
        loop {
            let hdu = fits
                .hdu(index)
                .map_err(|_| TableError::NotATable("the FITS file holds no binary table".into()))?;
            if let HduInfo::TableInfo {
                column_descriptions,
                num_rows,
            } = &hdu.info
            {
                let mut columns = Vec::with_capacity(column_descriptions.len());
                let mut row_bytes = 0usize;
                for c in column_descriptions {
                    let t = &c.data_type;
                    let width = t.width.max(1).saturating_mul(t.repeat.max(1));
                    if width > MAX_STRING_WIDTH {
                        return Err(TableError::Column {
                            name: c.name.clone(),
                            why: format!(
                                "{width} bytes a row; at most {MAX_STRING_WIDTH} are read"
                            ),
                        });
                    }
                    row_bytes = row_bytes.saturating_add(width.max(8));
                    let kind = match t.typ {
                        ColumnDataType::String | ColumnDataType::Text => Kind::Text,
                        _ if t.repeat != 1 => {
                            return Err(TableError::Column {
                                name: c.name.clone(),
                                why: format!(
                                    "holds {} values a row; user tables keep one (or a string)",
                                    t.repeat
                                ),
                            })
                        }
                        ColumnDataType::Logical => Kind::Bool,
                        ColumnDataType::SignedByte => Kind::Int8,
                        ColumnDataType::Byte => Kind::UInt8,
                        ColumnDataType::Short => Kind::Int16,
                        ColumnDataType::UnsignedShort => Kind::UInt16,
                        ColumnDataType::Int => Kind::Int32,
                        ColumnDataType::Long | ColumnDataType::UnsignedLong => Kind::UInt32,
                        ColumnDataType::LongLong => Kind::Int64,
                        ColumnDataType::Float => Kind::Float32,
                        ColumnDataType::Double => Kind::Float64,
                        other => {
                            return Err(TableError::Column {
                                name: c.name.clone(),
                                why: format!("FITS type {other:?} is not read"),
                            })
                        }
                    };
                    columns.push((c.name.clone(), kind));
                }
                let rows = *num_rows;
                return Ok(BinTableReader {
                    fits,
                    hdu,
                    columns,
                    rows,
                    next: 0,
                    batch_rows: (MAX_BATCH_BYTES / row_bytes.max(1)).max(1),
                });
            }
            index += 1;
        }
    }

    /// The columns' names, in table order.
    pub fn names(&self) -> Vec<String> {
        self.columns.iter().map(|(n, _)| n.clone()).collect()
    }

    /// The rows the table holds.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The next (at most) `n` rows, `None` after the last.
    pub fn next_batch(&mut self, n: usize) -> Result<Option<Vec<Vec<TableCell>>>, TableError> {
        if self.next >= self.rows {
            return Ok(None);
        }
        let n = n.clamp(1, self.batch_rows);
        let range: Range<usize> = self.next..(self.next + n).min(self.rows);
        let count = range.len();
        let mut out: Vec<Vec<TableCell>> = (0..count)
            .map(|_| Vec::with_capacity(self.columns.len()))
            .collect();
        for (name, kind) in &self.columns {
            let (fits, hdu) = (&mut self.fits, &self.hdu);
            let cells: Vec<TableCell> = match kind {
                Kind::Bool => cells(
                    hdu.read_col_range::<bool>(fits, name, &range),
                    TableCell::Bool,
                ),
                Kind::Int8 => cells(hdu.read_col_range::<i8>(fits, name, &range), int),
                Kind::UInt8 => cells(hdu.read_col_range::<u8>(fits, name, &range), int),
                Kind::Int16 => cells(hdu.read_col_range::<i16>(fits, name, &range), int),
                Kind::UInt16 => cells(hdu.read_col_range::<u16>(fits, name, &range), int),
                Kind::Int32 => cells(hdu.read_col_range::<i32>(fits, name, &range), int),
                Kind::UInt32 => cells(hdu.read_col_range::<u32>(fits, name, &range), int),
                Kind::Int64 => cells(hdu.read_col_range::<i64>(fits, name, &range), int),
                Kind::Float32 => cells(hdu.read_col_range::<f32>(fits, name, &range), |f| {
                    TableCell::Float(f64::from(f))
                }),
                Kind::Float64 => cells(
                    hdu.read_col_range::<f64>(fits, name, &range),
                    TableCell::Float,
                ),
                Kind::Text => cells(hdu.read_col_range::<String>(fits, name, &range), |s| {
                    TableCell::Text(s.trim_end().to_string())
                }),
            }?;
            if cells.len() != count {
                return Err(TableError::Read(format!(
                    "column {name:?} gave {} values for {count} rows",
                    cells.len()
                )));
            }
            for (row, cell) in out.iter_mut().zip(cells) {
                row.push(cell);
            }
        }
        self.next = range.end;
        Ok(Some(out))
    }
}

fn int<T: Into<i64>>(v: T) -> TableCell {
    TableCell::Int(v.into())
}

/// A column's values as cells, or the read's error.
fn cells<T>(
    read: fitsio::errors::Result<Vec<T>>,
    cell: impl Fn(T) -> TableCell,
) -> Result<Vec<TableCell>, TableError> {
    read.map(|values| values.into_iter().map(cell).collect())
        .map_err(|e| TableError::Read(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fitsio::tables::{ColumnDataType, ColumnDescription};

    #[test]
    fn a_binary_table_is_read_in_batches() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("t.fits");
        {
            let mut f = FitsFile::create(&path).open().expect("create");
            let cols = [
                ColumnDescription::new("id")
                    .with_type(ColumnDataType::Int)
                    .create()
                    .expect("id"),
                ColumnDescription::new("ra")
                    .with_type(ColumnDataType::Double)
                    .create()
                    .expect("ra"),
                ColumnDescription::new("name")
                    .with_type(ColumnDataType::String)
                    .that_repeats(8)
                    .create()
                    .expect("name"),
            ];
            let hdu = f.create_table("T", &cols).expect("table");
            hdu.write_col(&mut f, "id", &[1i32, 2, 3]).expect("id");
            hdu.write_col(&mut f, "ra", &[10.5f64, 20.25, 30.0])
                .expect("ra");
            hdu.write_col(
                &mut f,
                "name",
                &["a".to_string(), "bb".into(), "ccc".into()],
            )
            .expect("name");
        }
        let mut r = BinTableReader::open(&path).expect("open");
        assert_eq!(r.names(), ["id", "ra", "name"]);
        assert_eq!(r.rows(), 3);
        let first = r.next_batch(2).expect("read").expect("rows");
        assert_eq!(
            first,
            vec![
                vec![
                    TableCell::Int(1),
                    TableCell::Float(10.5),
                    TableCell::Text("a".into())
                ],
                vec![
                    TableCell::Int(2),
                    TableCell::Float(20.25),
                    TableCell::Text("bb".into())
                ],
            ]
        );
        let second = r.next_batch(2).expect("read").expect("rows");
        assert_eq!(second.len(), 1);
        assert!(r.next_batch(2).expect("read").is_none());
    }
}
