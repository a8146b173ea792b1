//! [`Value`]s across the PostgreSQL wire protocol. tokio-postgres speaks binary and checks Rust
//! types against column types; skyport's values are dynamically typed (they come from FITS
//! headers, VOTable uploads and JSON bodies), so the conversion is decided here, per column
//! type, with a clear error when a value cannot be stored in a column.

use std::error::Error;

use bytes::{BufMut, BytesMut};
use tokio_postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};

use crate::Value;

type BoxError = Box<dyn Error + Sync + Send>;

/// A [`Value`] bound as a statement parameter or a COPY field.
#[derive(Debug)]
pub struct Param<'a>(pub &'a Value);

fn is_text(ty: &Type) -> bool {
    matches!(
        *ty,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN
    )
}

fn mismatch(value: &Value, ty: &Type) -> BoxError {
    format!("cannot store {value:?} in a column of type {ty}").into()
}

fn put_int(ty: &Type, i: i64, out: &mut BytesMut, value: &Value) -> Result<(), BoxError> {
    match *ty {
        Type::INT2 => out.put_i16(i16::try_from(i).map_err(|_| mismatch(value, ty))?),
        Type::INT4 => out.put_i32(i32::try_from(i).map_err(|_| mismatch(value, ty))?),
        Type::INT8 => out.put_i64(i),
        Type::FLOAT4 => out.put_f32(i as f32),
        Type::FLOAT8 => out.put_f64(i as f64),
        Type::BOOL => out.put_u8(u8::from(i != 0)),
        _ if is_text(ty) => out.put_slice(i.to_string().as_bytes()),
        _ => return Err(mismatch(value, ty)),
    }
    Ok(())
}

fn put_float(ty: &Type, f: f64, out: &mut BytesMut, value: &Value) -> Result<(), BoxError> {
    match *ty {
        Type::FLOAT4 => out.put_f32(f as f32),
        Type::FLOAT8 => out.put_f64(f),
        Type::INT2 | Type::INT4 | Type::INT8 if f.fract() == 0.0 && f.abs() < 9.0e15 => {
            put_int(ty, f as i64, out, value)?
        }
        _ if is_text(ty) => out.put_slice(format!("{f:?}").as_bytes()),
        _ => return Err(mismatch(value, ty)),
    }
    Ok(())
}

/// Microseconds from 2000-01-01T00:00:00 (PostgreSQL's epoch) of an ISO 8601 timestamp,
/// with or without fraction and a trailing `Z`.
pub fn timestamp_micros(text: &str) -> Option<i64> {
    let parsed = skyport_schema::time::parse_iso(text)?;
    let epoch = chrono::NaiveDate::from_ymd_opt(2000, 1, 1)?.and_hms_opt(0, 0, 0)?;
    (parsed - epoch).num_microseconds()
}

/// The ISO 8601 text (DALI form, no zone letter) of PostgreSQL's microseconds since 2000.
pub fn timestamp_text(micros: i64) -> String {
    let epoch = chrono::NaiveDate::from_ymd_opt(2000, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap_or_default();
    (epoch + chrono::Duration::microseconds(micros))
        .format("%Y-%m-%dT%H:%M:%S%.f")
        .to_string()
}

fn put_text(ty: &Type, s: &str, out: &mut BytesMut, value: &Value) -> Result<(), BoxError> {
    match *ty {
        _ if is_text(ty) => out.put_slice(s.as_bytes()),
        Type::TIMESTAMP | Type::TIMESTAMPTZ => {
            out.put_i64(timestamp_micros(s).ok_or_else(|| mismatch(value, ty))?)
        }
        Type::INT2 | Type::INT4 | Type::INT8 => {
            let i: i64 = s.trim().parse().map_err(|_| mismatch(value, ty))?;
            put_int(ty, i, out, value)?
        }
        Type::FLOAT4 | Type::FLOAT8 => {
            let f: f64 = s.trim().parse().map_err(|_| mismatch(value, ty))?;
            put_float(ty, f, out, value)?
        }
        Type::BOOL => match s.trim().to_ascii_lowercase().as_str() {
            "t" | "true" | "1" => out.put_u8(1),
            "f" | "false" | "0" => out.put_u8(0),
            _ => return Err(mismatch(value, ty)),
        },
        Type::JSON => out.put_slice(s.as_bytes()),
        Type::JSONB => {
            out.put_u8(1);
            out.put_slice(s.as_bytes());
        }
        _ => return Err(mismatch(value, ty)),
    }
    Ok(())
}

impl ToSql for Param<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match self.0 {
            Value::Null => return Ok(IsNull::Yes),
            Value::Bool(b) => put_int(ty, i64::from(*b), out, self.0)?,
            Value::Int(i) => put_int(ty, *i, out, self.0)?,
            Value::Float(f) => put_float(ty, *f, out, self.0)?,
            Value::Text(s) => put_text(ty, s, out, self.0)?,
        }
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A result cell of any type, read back as a [`Value`].
#[derive(Debug)]
pub struct Cell(pub Value);

fn be<const N: usize>(raw: &[u8]) -> Result<[u8; N], BoxError> {
    raw.get(..N)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| "a value shorter than its type".into())
}

/// Decodes PostgreSQL's binary NUMERIC: an integer when it has no fraction and fits, else the
/// nearest f64 (NaN and infinities included).
fn numeric(raw: &[u8]) -> Result<Value, BoxError> {
    let word = |i: usize| -> Result<u16, BoxError> {
        Ok(u16::from_be_bytes(be::<2>(raw.get(i..).unwrap_or(&[]))?))
    };
    let ndigits = word(0)? as usize;
    let weight = word(2)? as i16;
    let sign = word(4)?;
    let dscale = word(6)?;
    match sign {
        0xC000 => return Ok(Value::Float(f64::NAN)),
        0xD000 => return Ok(Value::Float(f64::INFINITY)),
        0xF000 => return Ok(Value::Float(f64::NEG_INFINITY)),
        _ => {}
    }
    let negative = sign == 0x4000;
    let mut digits = Vec::with_capacity(ndigits);
    for i in 0..ndigits {
        digits.push(word(8 + 2 * i)?);
    }
    if dscale == 0 && (weight as i64) < 4 {
        // At most 16 decimal digits before the point: exact in i64.
        let mut v: i64 = 0;
        for k in 0..=weight.max(-1) as i64 {
            let d = digits.get(k as usize).copied().unwrap_or(0);
            v = v * 10_000 + i64::from(d);
        }
        if weight >= 0 {
            return Ok(Value::Int(if negative { -v } else { v }));
        }
        return Ok(Value::Int(0));
    }
    // Through the decimal text, so the f64 is the correctly rounded one.
    let mut text = String::new();
    if negative {
        text.push('-');
    }
    text.push_str("0.");
    for d in &digits {
        text.push_str(&format!("{d:04}"));
    }
    text.push_str(&format!("e{}", (i64::from(weight) + 1) * 4));
    Ok(Value::Float(text.parse::<f64>()?))
}

impl<'a> FromSql<'a> for Cell {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Cell, BoxError> {
        let v = match *ty {
            Type::BOOL => Value::Bool(be::<1>(raw)?[0] != 0),
            Type::INT2 => Value::Int(i64::from(i16::from_be_bytes(be(raw)?))),
            Type::INT4 => Value::Int(i64::from(i32::from_be_bytes(be(raw)?))),
            Type::OID => Value::Int(i64::from(u32::from_be_bytes(be(raw)?))),
            Type::INT8 => Value::Int(i64::from_be_bytes(be(raw)?)),
            Type::FLOAT4 => Value::Float(f64::from(f32::from_be_bytes(be(raw)?))),
            Type::FLOAT8 => Value::Float(f64::from_be_bytes(be(raw)?)),
            Type::NUMERIC => numeric(raw)?,
            Type::TIMESTAMP | Type::TIMESTAMPTZ => {
                Value::Text(timestamp_text(i64::from_be_bytes(be(raw)?)))
            }
            Type::DATE => {
                let days = i32::from_be_bytes(be(raw)?);
                Value::Text(
                    timestamp_text(i64::from(days) * 86_400_000_000)
                        .split('T')
                        .next()
                        .unwrap_or_default()
                        .to_string(),
                )
            }
            Type::JSONB => Value::Text(String::from_utf8_lossy(raw.get(1..).unwrap_or(&[])).into()),
            Type::BYTEA => Value::Text(raw.iter().map(|b| format!("{b:02x}")).collect()),
            // Text types and anything else sent as text (unknown, enums, json).
            _ => Value::Text(String::from_utf8_lossy(raw).into_owned()),
        };
        Ok(Cell(v))
    }

    fn from_sql_null(_: &Type) -> Result<Cell, BoxError> {
        Ok(Cell(Value::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric_bytes(ndigits: &[u16], weight: i16, sign: u16, dscale: u16) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend((ndigits.len() as u16).to_be_bytes());
        v.extend(weight.to_be_bytes());
        v.extend(sign.to_be_bytes());
        v.extend(dscale.to_be_bytes());
        for d in ndigits {
            v.extend(d.to_be_bytes());
        }
        v
    }

    #[test]
    fn numerics_decode() {
        // 12345678 = 1234·10⁴ + 5678
        assert_eq!(
            numeric(&numeric_bytes(&[1234, 5678], 1, 0, 0)).ok(),
            Some(Value::Int(12_345_678))
        );
        // -1.5 = -(1 + 5000·10⁻⁴)
        assert_eq!(
            numeric(&numeric_bytes(&[1, 5000], 0, 0x4000, 1)).ok(),
            Some(Value::Float(-1.5))
        );
        // 0.00012 = 1·10⁻⁴ + 2000·10⁻⁸
        assert_eq!(
            numeric(&numeric_bytes(&[1, 2000], -1, 0, 5)).ok(),
            Some(Value::Float(0.00012))
        );
        // 20000 = 2·10⁴ (trailing zero groups are not sent)
        assert_eq!(
            numeric(&numeric_bytes(&[2], 1, 0, 0)).ok(),
            Some(Value::Int(20_000))
        );
        assert_eq!(
            numeric(&numeric_bytes(&[], 0, 0, 0)).ok(),
            Some(Value::Int(0))
        );
    }

    #[test]
    fn timestamps_round_trip() {
        let us = timestamp_micros("2024-11-02T03:04:05.25Z").expect("parse");
        assert_eq!(timestamp_text(us), "2024-11-02T03:04:05.250");
        assert_eq!(timestamp_micros("2000-01-01"), Some(0));
        assert_eq!(timestamp_micros("yesterday"), None);
    }
}
