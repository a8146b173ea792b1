//! FITS tiles: one primary HDU of `W × W` pixels in the HiPS's pixel type (see [`PixelType`]),
//! written and read here directly. A tile is a fixed, tiny FITS file; going through cfitsio
//! for each of many thousands would cost more than the tile.
//!
//! Tiles are made in physical values (32-bit floats, NaN where no image has data) and stored
//! in the archive's own pixel type, as Hipsgen does: integer images give integer tiles with
//! their `BSCALE`/`BZERO` and a `BLANK` value where there is no data, so a HiPS of 16-bit
//! images takes half the space of floats and reads back as the same physical values (to half
//! a `BSCALE` step). Mixed or floating-point images give BITPIX −32 tiles.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::HipsError;

/// How a HiPS's FITS tiles store their values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PixelType {
    /// FITS BITPIX: 8, 16, 32, 64, −32 or −64.
    pub bitpix: i64,
    /// For integer types, the stored value meaning "no data".
    pub blank: Option<i64>,
    /// Physical = `bzero + bscale × stored`.
    pub bscale: f64,
    /// See `bscale`.
    pub bzero: f64,
}

impl Default for PixelType {
    fn default() -> PixelType {
        PixelType::FLOAT
    }
}

impl PixelType {
    /// 32-bit floats, NaN for no data.
    pub const FLOAT: PixelType = PixelType {
        bitpix: -32,
        blank: None,
        bscale: 1.0,
        bzero: 0.0,
    };

    /// The type of an image whose header says `bitpix`, `BLANK`, `BSCALE` and `BZERO`; `None`
    /// for a BITPIX FITS does not have.
    pub fn of_image(
        bitpix: i64,
        blank: Option<i64>,
        bscale: Option<f64>,
        bzero: Option<f64>,
    ) -> Option<PixelType> {
        let bscale = bscale.filter(|s| s.is_finite() && *s != 0.0).unwrap_or(1.0);
        let bzero = bzero.filter(|z| z.is_finite()).unwrap_or(0.0);
        match bitpix {
            -32 | -64 => Some(PixelType {
                bitpix,
                blank: None,
                bscale: 1.0,
                bzero: 0.0,
            }),
            8 | 16 | 32 | 64 => {
                let (lo, hi) = int_range(bitpix);
                // Where the image names no BLANK, the type's least value (for bytes, the
                // greatest, since 0 is usually data there) stands for "no data".
                let blank = blank
                    .filter(|b| (lo..=hi).contains(b))
                    .unwrap_or(if bitpix == 8 { hi } else { lo });
                Some(PixelType {
                    bitpix,
                    blank: Some(blank),
                    bscale,
                    bzero,
                })
            }
            _ => None,
        }
    }

    /// One type for tiles made of images of types `types`: theirs when they all agree (a
    /// `BLANK` that differs is replaced by the type's own), otherwise 32-bit floats.
    pub fn common(types: impl IntoIterator<Item = PixelType>) -> PixelType {
        let mut types = types.into_iter();
        let Some(mut first) = types.next() else {
            return PixelType::FLOAT;
        };
        for t in types {
            if (t.bitpix, t.bscale, t.bzero) != (first.bitpix, first.bscale, first.bzero) {
                return PixelType::FLOAT;
            }
            if t.blank != first.blank {
                first =
                    PixelType::of_image(first.bitpix, None, Some(first.bscale), Some(first.bzero))
                        .unwrap_or(PixelType::FLOAT);
            }
        }
        first
    }

    fn bytes(&self) -> usize {
        (self.bitpix.unsigned_abs() / 8) as usize
    }

    /// Appends `v` (physical, NaN for no data) as this type, big-endian.
    fn push(&self, v: f32, out: &mut Vec<u8>) {
        match self.bitpix {
            -32 => out.extend_from_slice(&v.to_be_bytes()),
            -64 => out.extend_from_slice(&f64::from(v).to_be_bytes()),
            bits => {
                let (lo, hi) = int_range(bits);
                let blank = self.blank.unwrap_or(lo);
                let stored = if v.is_nan() {
                    blank
                } else {
                    let raw = ((f64::from(v) - self.bzero) / self.bscale).round();
                    // `as` saturates; a value landing on BLANK moves one step inwards.
                    let raw = (raw as i64).clamp(lo, hi);
                    match raw == blank {
                        false => raw,
                        true if raw < hi => raw + 1,
                        true => raw - 1,
                    }
                };
                match bits {
                    8 => out.push(stored as u8),
                    16 => out.extend_from_slice(&(stored as i16).to_be_bytes()),
                    32 => out.extend_from_slice(&(stored as i32).to_be_bytes()),
                    _ => out.extend_from_slice(&stored.to_be_bytes()),
                }
            }
        }
    }

    /// The physical value of one stored value (`raw` holds [`bytes`](Self::bytes) bytes).
    fn read(&self, raw: &[u8]) -> f32 {
        let stored: i64 = match (self.bitpix, raw) {
            (-32, [a, b, c, d]) => return f32::from_be_bytes([*a, *b, *c, *d]),
            (-64, r) => {
                let mut b = [0u8; 8];
                b.copy_from_slice(r);
                return f64::from_be_bytes(b) as f32;
            }
            (8, [a]) => i64::from(*a),
            (16, [a, b]) => i64::from(i16::from_be_bytes([*a, *b])),
            (32, [a, b, c, d]) => i64::from(i32::from_be_bytes([*a, *b, *c, *d])),
            (_, r) => {
                let mut b = [0u8; 8];
                b.copy_from_slice(r);
                i64::from_be_bytes(b)
            }
        };
        if Some(stored) == self.blank {
            f32::NAN
        } else {
            (self.bzero + self.bscale * stored as f64) as f32
        }
    }

    /// The header cards after NAXISn that this type needs.
    fn cards(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.bitpix > 0 {
            if self.bscale != 1.0 {
                out.push(card("BSCALE", &real(self.bscale)));
            }
            if self.bzero != 0.0 {
                out.push(card("BZERO", &real(self.bzero)));
            }
            if let Some(b) = self.blank {
                out.push(card("BLANK", &b.to_string()));
            }
        }
        out
    }
}

/// The least and greatest stored value of integer BITPIX `bits` (8 is unsigned).
fn int_range(bits: i64) -> (i64, i64) {
    match bits {
        8 => (0, 255),
        16 => (i64::from(i16::MIN), i64::from(i16::MAX)),
        32 => (i64::from(i32::MIN), i64::from(i32::MAX)),
        _ => (i64::MIN, i64::MAX),
    }
}

/// A FITS real value: exact for integers, else 17 significant digits with an `E` exponent.
fn real(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.1}")
    } else {
        format!("{v:.16E}")
    }
}

/// A tile's pixels, row 0 at the bottom (FITS order); NaN where empty.
#[derive(Debug, Clone, PartialEq)]
pub struct TilePixels {
    /// Width (= height).
    pub width: usize,
    /// `width²` values, row-major.
    pub values: Vec<f32>,
}

impl TilePixels {
    /// An empty tile.
    pub fn blank(width: usize) -> TilePixels {
        TilePixels {
            width,
            values: vec![f32::NAN; width * width],
        }
    }

    /// Whether no pixel holds a value.
    pub fn is_blank(&self) -> bool {
        self.values.iter().all(|v| v.is_nan())
    }

    /// The tile at half the resolution: each pixel the mean of the values of its 2×2 block.
    pub fn halved(&self) -> TilePixels {
        let h = self.width / 2;
        let mut out = vec![f32::NAN; h * h];
        for y in 0..h {
            for x in 0..h {
                let (mut sum, mut n) = (0f64, 0u32);
                for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    let v = self.values[(2 * y + dy) * self.width + 2 * x + dx];
                    if !v.is_nan() {
                        sum += f64::from(v);
                        n += 1;
                    }
                }
                if n > 0 {
                    out[y * h + x] = (sum / f64::from(n)) as f32;
                }
            }
        }
        TilePixels {
            width: h,
            values: out,
        }
    }

    /// Copies `part` (half this width) into the quarter whose first column and row are
    /// `(x0, y0)`.
    pub fn place(&mut self, part: &TilePixels, x0: usize, y0: usize) {
        for y in 0..part.width {
            let from = &part.values[y * part.width..(y + 1) * part.width];
            let at = (y0 + y) * self.width + x0;
            self.values[at..at + part.width].copy_from_slice(from);
        }
    }
}

/// The bytes of a FITS file holding `pixels` as `ty` (`width` wide, as many rows as the
/// values fill), with `cards` (`KEY`, value text) after the mandatory ones.
pub fn encode(pixels: &TilePixels, ty: &PixelType, cards: &[(&str, String)]) -> Vec<u8> {
    let mut header: Vec<String> = vec![
        card("SIMPLE", "T"),
        card("BITPIX", &ty.bitpix.to_string()),
        card("NAXIS", "2"),
        card("NAXIS1", &pixels.width.to_string()),
        card(
            "NAXIS2",
            &(pixels.values.len() / pixels.width.max(1)).to_string(),
        ),
    ];
    header.extend(ty.cards());
    header.extend(cards.iter().map(|(k, v)| card(k, v)));
    header.push(format!("{:80}", "END"));
    let mut out = Vec::with_capacity(2880 + pixels.values.len() * ty.bytes() + 2880);
    for c in header {
        out.extend_from_slice(c.as_bytes());
    }
    pad(&mut out, b' ');
    for v in &pixels.values {
        ty.push(*v, &mut out);
    }
    pad(&mut out, 0);
    out
}

fn card(key: &str, value: &str) -> String {
    let text = format!("{key:<8}= {value:>20}");
    format!("{:80.80}", text)
}

/// A FITS real value (`D` exponents too).
fn fits_real(text: &str) -> Option<f64> {
    text.replace(['D', 'd'], "E")
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
}

fn pad(out: &mut Vec<u8>, with: u8) {
    let rem = out.len() % 2880;
    if rem != 0 {
        out.resize(out.len() + 2880 - rem, with);
    }
}

/// Reads a tile written by [`encode`] (or any square 2-D primary HDU), in physical values.
pub fn decode(bytes: &[u8], path: &Path) -> Result<TilePixels, HipsError> {
    let bad = |why: &str| HipsError::Tile {
        path: path.to_path_buf(),
        reason: why.to_string(),
    };
    let mut naxis = [0usize; 2];
    let mut bitpix = 0i64;
    let (mut blank, mut bscale, mut bzero) = (None, None, None);
    let mut at = 0;
    let mut ended = false;
    while at + 80 <= bytes.len() {
        // ASCII only: the keyword and value are cut at fixed byte columns.
        let raw = &bytes[at..at + 80];
        let record = std::str::from_utf8(raw)
            .ok()
            .filter(|_| raw.is_ascii())
            .ok_or_else(|| bad("header is not ASCII"))?;
        at += 80;
        let key = record[..8].trim();
        let value = record
            .get(10..)
            .unwrap_or("")
            .split('/')
            .next()
            .unwrap_or("")
            .trim();
        match key {
            "BITPIX" => bitpix = value.parse().map_err(|_| bad("BITPIX"))?,
            "NAXIS1" => naxis[0] = value.parse().map_err(|_| bad("NAXIS1"))?,
            "NAXIS2" => naxis[1] = value.parse().map_err(|_| bad("NAXIS2"))?,
            "BLANK" => blank = Some(value.parse().map_err(|_| bad("BLANK"))?),
            "BSCALE" => bscale = Some(fits_real(value).ok_or_else(|| bad("BSCALE"))?),
            "BZERO" => bzero = Some(fits_real(value).ok_or_else(|| bad("BZERO"))?),
            "END" => {
                ended = true;
                break;
            }
            _ => {}
        }
    }
    let ty = PixelType::of_image(bitpix, blank, bscale, bzero).ok_or_else(|| bad("BITPIX"))?;
    // An integer tile without BLANK has no "no data" value.
    let ty = PixelType {
        blank: blank.filter(|_| ty.bitpix > 0),
        ..ty
    };
    if !ended || naxis[0] == 0 || naxis[0] != naxis[1] || naxis[0] > 8192 {
        return Err(bad("not a square tile"));
    }
    let data = at.div_ceil(2880) * 2880;
    let n = naxis[0] * naxis[1];
    let raw = bytes
        .get(data..data + ty.bytes() * n)
        .ok_or_else(|| bad("shorter than its header says"))?;
    let values = raw.chunks_exact(ty.bytes()).map(|b| ty.read(b)).collect();
    Ok(TilePixels {
        width: naxis[0],
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_round_trip_and_halve() {
        let mut t = TilePixels::blank(8);
        for (i, v) in t.values.iter_mut().enumerate().take(40) {
            *v = i as f32;
        }
        let bytes = encode(&t, &PixelType::FLOAT, &[("ORDER", "3".into())]);
        assert_eq!(bytes.len() % 2880, 0);
        let back = decode(&bytes, Path::new("t")).expect("decode");
        assert_eq!(back.width, 8);
        assert!(back.values[..40].iter().zip(&t.values).all(|(a, b)| a == b));
        assert!(back.values[40..].iter().all(|v| v.is_nan()));
        let half = t.halved();
        assert_eq!(half.width, 4);
        // Block (0,0) holds 0, 1, 8, 9.
        assert_eq!(half.values[0], 4.5);
        // Block of row 4–5 is only partly set (rows 4 holds 32..39; row 5 empty).
        assert_eq!(half.values[2 * 4], 32.5);
        assert!(half.values[15].is_nan());
        assert!(decode(b"garbage", Path::new("t")).is_err());
    }

    #[test]
    fn integer_tiles_keep_their_scale_and_blank() {
        // Unsigned 16-bit, as many cameras write it: BZERO 32768.
        let ty = PixelType::of_image(16, None, None, Some(32768.0)).expect("type");
        assert_eq!(ty.blank, Some(-32768));
        let mut t = TilePixels::blank(8);
        t.values[0] = 0.0;
        t.values[1] = 65535.0;
        t.values[2] = 1234.4;
        t.values[3] = 1e9; // beyond the type: the greatest value
        t.values[4] = -5.0; // below it: the least that is not BLANK
        let bytes = encode(&t, &ty, &[]);
        let text = String::from_utf8_lossy(&bytes[..2880]).to_string();
        assert!(text.contains("BITPIX  =                   16"), "{text}");
        assert!(text.contains("BZERO   =              32768.0"), "{text}");
        assert!(text.contains("BLANK   =               -32768"), "{text}");
        // 64 values of 2 bytes after one header block, padded to a block.
        assert_eq!(bytes.len(), 2 * 2880);
        let back = decode(&bytes, Path::new("t")).expect("decode");
        assert_eq!(&back.values[..5], &[1.0, 65535.0, 1234.0, 65535.0, 1.0]);
        assert!(back.values[5..].iter().all(|v| v.is_nan()));
        // Scaled 32-bit and doubles.
        let ty = PixelType::of_image(32, Some(-1), Some(0.5), None).expect("type");
        let back = decode(&encode(&t, &ty, &[]), Path::new("t")).expect("decode");
        assert_eq!(back.values[2], 1234.5);
        assert!(back.values[7].is_nan());
        let ty = PixelType::of_image(-64, None, None, None).expect("type");
        let back = decode(&encode(&t, &ty, &[]), Path::new("t")).expect("decode");
        assert_eq!(back.values[2], t.values[2]);
        // Bytes: 0 is data, 255 stands for none.
        let ty = PixelType::of_image(8, None, None, None).expect("type");
        assert_eq!(ty.blank, Some(255));
        assert!(PixelType::of_image(12, None, None, None).is_none());
    }

    #[test]
    fn a_common_type_is_the_images_own_only_when_they_agree() {
        let int16 = PixelType::of_image(16, Some(-1), None, Some(32768.0)).expect("type");
        let other_blank = PixelType::of_image(16, Some(7), None, Some(32768.0)).expect("type");
        assert_eq!(PixelType::common([int16, int16]), int16);
        assert_eq!(PixelType::common([int16, other_blank]).blank, Some(-32768));
        let float = PixelType::FLOAT;
        assert_eq!(PixelType::common([int16, float]), float);
        let scaled = PixelType::of_image(16, Some(-1), Some(2.0), Some(32768.0)).expect("type");
        assert_eq!(PixelType::common([int16, scaled]), float);
        assert_eq!(PixelType::common([]), float);
    }
}
