//! FITS tiles: one primary HDU of `W × W` 32-bit floats (NaN where no image has data), written
//! and read here directly. A tile is a fixed, tiny FITS file; going through cfitsio for each
//! of many thousands would cost more than the tile.

use std::path::Path;

use crate::HipsError;

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

/// The bytes of a FITS file holding `pixels` (BITPIX −32; `width` wide, as many rows as the
/// values fill), with `cards` (`KEY`, value text) after the mandatory ones.
pub fn encode(pixels: &TilePixels, cards: &[(&str, String)]) -> Vec<u8> {
    let mut header: Vec<String> = vec![
        card("SIMPLE", "T"),
        card("BITPIX", "-32"),
        card("NAXIS", "2"),
        card("NAXIS1", &pixels.width.to_string()),
        card(
            "NAXIS2",
            &(pixels.values.len() / pixels.width.max(1)).to_string(),
        ),
    ];
    header.extend(cards.iter().map(|(k, v)| card(k, v)));
    header.push(format!("{:80}", "END"));
    let mut out = Vec::with_capacity(2880 + pixels.values.len() * 4 + 2880);
    for c in header {
        out.extend_from_slice(c.as_bytes());
    }
    pad(&mut out, b' ');
    for v in &pixels.values {
        out.extend_from_slice(&v.to_be_bytes());
    }
    pad(&mut out, 0);
    out
}

fn card(key: &str, value: &str) -> String {
    let text = format!("{key:<8}= {value:>20}");
    format!("{:80.80}", text)
}

fn pad(out: &mut Vec<u8>, with: u8) {
    let rem = out.len() % 2880;
    if rem != 0 {
        out.resize(out.len() + 2880 - rem, with);
    }
}

/// Reads a tile written by [`encode`] (or any 2-D BITPIX −32 primary HDU without scaling).
pub fn decode(bytes: &[u8], path: &Path) -> Result<TilePixels, HipsError> {
    let bad = |why: &str| HipsError::Tile {
        path: path.to_path_buf(),
        reason: why.to_string(),
    };
    let mut naxis = [0usize; 2];
    let mut bitpix = 0i64;
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
            "END" => {
                ended = true;
                break;
            }
            _ => {}
        }
    }
    if !ended || bitpix != -32 || naxis[0] == 0 || naxis[0] != naxis[1] || naxis[0] > 8192 {
        return Err(bad("not a square BITPIX -32 tile"));
    }
    let data = at.div_ceil(2880) * 2880;
    let n = naxis[0] * naxis[1];
    let raw = bytes
        .get(data..data + 4 * n)
        .ok_or_else(|| bad("shorter than its header says"))?;
    let values = raw
        .chunks_exact(4)
        .map(|b| f32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
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
        let bytes = encode(&t, &[("ORDER", "3".into())]);
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
}
