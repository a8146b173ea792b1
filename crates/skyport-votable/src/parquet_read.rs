//! Parquet read in batches of rows (a user-table load in Parquet): each row group is decoded
//! by the Arrow reader a batch at a time, so memory is that of a batch, not of the file.
//! Scalar columns only: booleans, integers, floats, strings, timestamps and dates (as ISO 8601
//! text).

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrayRef};
use arrow_schema::{DataType, TimeUnit};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder,
};
use parquet::file::reader::ChunkReader;

use crate::{Datum, ReadError};

/// The rows of a Parquet file, a batch at a time.
pub struct ParquetRows {
    reader: ParquetRecordBatchReader,
    names: Vec<String>,
}

fn unsupported(name: &str, why: impl std::fmt::Display) -> ReadError {
    ReadError::Malformed(format!("column {name:?}: {why}"))
}

/// The largest column chunk read, uncompressed: a page (a dictionary's too) is decoded whole.
pub const MAX_CHUNK_BYTES: i64 = 256 << 20;
/// The longest string value taken.
pub const MAX_VALUE_BYTES: usize = 1 << 20;

/// Opens `source` as Parquet, to be read `batch` rows at a time.
///
/// A few compressed bytes can decode to a great deal: every column chunk must be at most
/// [`MAX_CHUNK_BYTES`] uncompressed, and strings are read as dictionaries (a dictionary-encoded
/// value is decoded once, not once per row that refers to it), each value at most
/// [`MAX_VALUE_BYTES`] when it is taken.
pub fn read_parquet<R: ChunkReader + 'static>(
    source: R,
    batch: usize,
) -> Result<ParquetRows, ReadError> {
    let not_parquet =
        |e: parquet::errors::ParquetError| ReadError::Malformed(format!("not a Parquet file: {e}"));
    let plain =
        ArrowReaderMetadata::load(&source, ArrowReaderOptions::new()).map_err(not_parquet)?;
    for group in plain.metadata().row_groups() {
        for chunk in group.columns() {
            if chunk.uncompressed_size() > MAX_CHUNK_BYTES {
                return Err(ReadError::Malformed(format!(
                    "column {:?}: a column chunk of {} bytes uncompressed (at most {MAX_CHUNK_BYTES})",
                    chunk.column_path().string(),
                    chunk.uncompressed_size()
                )));
            }
        }
    }
    let mut names = Vec::new();
    let mut fields = Vec::new();
    for f in plain.schema().fields() {
        check_type(f.name(), f.data_type())?;
        names.push(f.name().clone());
        let t = match f.data_type() {
            DataType::Utf8 | DataType::LargeUtf8 => {
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(f.data_type().clone()))
            }
            other => other.clone(),
        };
        fields.push(arrow_schema::Field::new(f.name(), t, f.is_nullable()));
    }
    let schema = std::sync::Arc::new(arrow_schema::Schema::new(fields));
    let metadata = ArrowReaderMetadata::try_new(
        std::sync::Arc::clone(plain.metadata()),
        ArrowReaderOptions::new().with_schema(schema),
    )
    .map_err(not_parquet)?;
    let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(source, metadata)
        .with_batch_size(batch.max(1))
        .build()
        .map_err(|e| ReadError::Malformed(format!("reading the Parquet file: {e}")))?;
    Ok(ParquetRows { reader, names })
}

fn check_type(name: &str, t: &DataType) -> Result<(), ReadError> {
    match t {
        DataType::Boolean
        | DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64
        | DataType::Float32
        | DataType::Float64
        | DataType::Utf8
        | DataType::LargeUtf8
        | DataType::Date32
        | DataType::Timestamp(_, _) => Ok(()),
        other => Err(unsupported(
            name,
            format!("Parquet type {other} is not read (scalars and strings only)"),
        )),
    }
}

impl ParquetRows {
    /// The columns' names.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The next batch of rows, `None` after the last.
    pub fn next_batch(&mut self) -> Result<Option<Vec<Vec<Datum>>>, ReadError> {
        let Some(batch) = self.reader.next() else {
            return Ok(None);
        };
        let batch =
            batch.map_err(|e| ReadError::Malformed(format!("reading the Parquet file: {e}")))?;
        let mut rows: Vec<Vec<Datum>> = (0..batch.num_rows())
            .map(|_| Vec::with_capacity(batch.num_columns()))
            .collect();
        for (c, column) in batch.columns().iter().enumerate() {
            let name = &self.names[c];
            // A dictionary's values are read through its keys, found once a batch.
            let (values, keys) = match column.as_any_dictionary_opt() {
                Some(dict) => (dict.values(), Some(dict.normalized_keys())),
                None => (column, None),
            };
            for (i, row) in rows.iter_mut().enumerate() {
                if column.is_null(i) {
                    row.push(Datum::Null);
                    continue;
                }
                let at = match &keys {
                    Some(k) => *k
                        .get(i)
                        .ok_or_else(|| unsupported(name, "a key out of range"))?,
                    None => i,
                };
                row.push(datum(name, values, at)?);
            }
        }
        Ok(Some(rows))
    }
}

fn datum(name: &str, a: &ArrayRef, i: usize) -> Result<Datum, ReadError> {
    if a.is_null(i) {
        return Ok(Datum::Null);
    }
    Ok(match a.data_type() {
        DataType::Boolean => Datum::Bool(a.as_boolean().value(i)),
        DataType::Int8 => Datum::Int(a.as_primitive::<Int8Type>().value(i).into()),
        DataType::Int16 => Datum::Int(a.as_primitive::<Int16Type>().value(i).into()),
        DataType::Int32 => Datum::Int(a.as_primitive::<Int32Type>().value(i).into()),
        DataType::Int64 => Datum::Int(a.as_primitive::<Int64Type>().value(i)),
        DataType::UInt8 => Datum::Int(a.as_primitive::<UInt8Type>().value(i).into()),
        DataType::UInt16 => Datum::Int(a.as_primitive::<UInt16Type>().value(i).into()),
        DataType::UInt32 => Datum::Int(a.as_primitive::<UInt32Type>().value(i).into()),
        DataType::UInt64 => {
            let v = a.as_primitive::<UInt64Type>().value(i);
            Datum::Int(
                i64::try_from(v).map_err(|_| unsupported(name, format!("{v} is too large")))?,
            )
        }
        DataType::Float32 => Datum::Float(a.as_primitive::<Float32Type>().value(i).into()),
        DataType::Float64 => Datum::Float(a.as_primitive::<Float64Type>().value(i)),
        DataType::Utf8 => text(name, a.as_string::<i32>().value(i))?,
        DataType::LargeUtf8 => text(name, a.as_string::<i64>().value(i))?,
        DataType::Date32 => {
            let days = a.as_primitive::<Date32Type>().value(i);
            let date = iso_utc(i64::from(days) * 86_400, 0);
            Datum::Text(date)
        }
        DataType::Timestamp(unit, _) => {
            let v = match unit {
                TimeUnit::Second => a.as_primitive::<TimestampSecondType>().value(i),
                TimeUnit::Millisecond => a.as_primitive::<TimestampMillisecondType>().value(i),
                TimeUnit::Microsecond => a.as_primitive::<TimestampMicrosecondType>().value(i),
                TimeUnit::Nanosecond => a.as_primitive::<TimestampNanosecondType>().value(i),
            };
            let per_second: i64 = match unit {
                TimeUnit::Second => 1,
                TimeUnit::Millisecond => 1_000,
                TimeUnit::Microsecond => 1_000_000,
                TimeUnit::Nanosecond => 1_000_000_000,
            };
            let seconds = v.div_euclid(per_second);
            let nanos = (v.rem_euclid(per_second) * (1_000_000_000 / per_second)) as u32;
            Datum::Text(iso_utc(seconds, nanos))
        }
        other => return Err(unsupported(name, format!("Parquet type {other}"))),
    })
}

/// A string value, if not too long.
fn text(name: &str, value: &str) -> Result<Datum, ReadError> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(unsupported(
            name,
            format!(
                "a value of {} bytes (at most {MAX_VALUE_BYTES})",
                value.len()
            ),
        ));
    }
    Ok(Datum::Text(value.to_string()))
}

/// ISO 8601 UTC text of `seconds` (and `nanos`) since 1970-01-01, without a date library (this
/// crate keeps to the civil calendar only here).
fn iso_utc(seconds: i64, nanos: u32) -> String {
    let days = seconds.div_euclid(86_400);
    let secs = seconds.rem_euclid(86_400);
    // Howard Hinnant's days-from-civil inverse.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    let mut text = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    );
    if nanos > 0 {
        text.push_str(&format!(".{:06}", nanos / 1000));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow_array::{
        Float64Array, Int32Array, RecordBatch, StringArray, TimestampMicrosecondArray,
    };
    use arrow_schema::{Field, Schema};

    #[test]
    fn parquet_rows_come_in_batches() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int32, false),
            Field::new("ra", DataType::Float64, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("t", DataType::Timestamp(TimeUnit::Microsecond, None), true),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int32Array::from(vec![1, 2, 3])),
                Arc::new(Float64Array::from(vec![Some(10.5), None, Some(30.0)])),
                Arc::new(StringArray::from(vec![Some("a"), Some("b"), None])),
                Arc::new(TimestampMicrosecondArray::from(vec![
                    Some(1_764_637_200_000_000),
                    None,
                    Some(951_782_400_500_000),
                ])),
            ],
        )
        .expect("batch");
        let mut bytes = Vec::new();
        {
            let mut w = parquet::arrow::ArrowWriter::try_new(&mut bytes, schema, None).expect("w");
            w.write(&batch).expect("write");
            w.close().expect("close");
        }
        let mut rows = read_parquet(bytes::Bytes::from(bytes), 2).expect("read");
        assert_eq!(rows.names(), ["id", "ra", "name", "t"]);
        let first = rows.next_batch().expect("batch").expect("rows");
        assert_eq!(first.len(), 2);
        assert_eq!(
            first[0],
            vec![
                Datum::Int(1),
                Datum::Float(10.5),
                Datum::Text("a".into()),
                Datum::Text("2025-12-02T01:00:00".into())
            ]
        );
        assert_eq!(first[1][1], Datum::Null);
        let second = rows.next_batch().expect("batch").expect("rows");
        assert_eq!(
            second[0][3],
            Datum::Text("2000-02-29T00:00:00.500000".into())
        );
        assert!(rows.next_batch().expect("end").is_none());
        assert!(read_parquet(bytes::Bytes::from_static(b"not parquet"), 2).is_err());
    }
}
