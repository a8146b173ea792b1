//! What is made from FITS tiles: PNG tiles (one stretch for the whole HiPS, so neighbouring
//! tiles match), the all-sky mosaics of order 3, and the `properties` file.

use skyport_fits::preview::{encode_png, Levels, Picture};

use crate::fits_tile::TilePixels;
use crate::HipsError;

/// Columns of the all-sky mosaic (HiPS 1.0 §4.3.3: 27 tiles per row).
pub const ALLSKY_COLUMNS: usize = 27;

/// Steps of the grey lookup table between the black and white values.
const GREY_STEPS: usize = 4096;

/// A stretch as a lookup table: the stretch's curve is evaluated once per HiPS, not once per
/// pixel (the asinh of every pixel of every PNG tile cost more than making the tiles).
pub struct Greys {
    low: f32,
    scale: f32,
    table: Vec<u8>,
}

impl Greys {
    /// The table of `levels`.
    pub fn new(levels: &Levels) -> Greys {
        let span = levels.high - levels.low;
        let table = (0..=GREY_STEPS)
            .map(|k| {
                let t = k as f32 / GREY_STEPS as f32;
                levels.grey(levels.low + t * span)
            })
            .collect();
        Greys {
            low: levels.low,
            scale: if span > 0.0 {
                GREY_STEPS as f32 / span
            } else {
                0.0
            },
            table,
        }
    }

    /// The grey of a value (the nearest of the table's steps).
    pub fn grey(&self, v: f32) -> u8 {
        if self.scale == 0.0 {
            return if v > self.low {
                self.table[GREY_STEPS]
            } else {
                self.table[0]
            };
        }
        let k = ((v - self.low) * self.scale)
            .round()
            .clamp(0.0, GREY_STEPS as f32);
        self.table[k as usize]
    }
}

/// The PNG of a tile: grey through `greys`, transparent where there is no value, rows from
/// the top (PNG order).
pub fn png(tile: &TilePixels, greys: &Greys) -> Result<Vec<u8>, HipsError> {
    let w = tile.width;
    let h = tile.values.len() / w.max(1);
    let mut pixels = Vec::with_capacity(w * h);
    for row in (0..h).rev() {
        for v in &tile.values[row * w..(row + 1) * w] {
            pixels.push(if v.is_nan() {
                [0, 0]
            } else {
                [greys.grey(*v), 255]
            });
        }
    }
    encode_png(&Picture {
        width: w,
        height: h,
        pixels,
    })
    .map_err(|reason| HipsError::Render { reason })
}

/// A PNG tile with no data: `width` × `width`, every pixel transparent. Served for a tile
/// the HiPS lacks (see `skyport-server`'s `hips` module for why).
pub fn empty_png(width: usize) -> Result<Vec<u8>, HipsError> {
    encode_png(&Picture {
        width,
        height: width,
        pixels: vec![[0, 0]; width * width],
    })
    .map_err(|reason| HipsError::Render { reason })
}

/// The all-sky mosaic of order-3 tiles given as `(npix, tile)`: each tile reduced to
/// `width / 8` pixels (at least 1) and laid out 27 to a row, row 0 of the mosaic at the top
/// of the sky picture; returned in FITS row order like every tile.
pub fn allsky(tiles: &[(u64, TilePixels)], width: usize) -> TilePixels {
    let sub = (width / 8).max(1);
    let rows = 768usize.div_ceil(ALLSKY_COLUMNS);
    let (mw, mh) = (ALLSKY_COLUMNS * sub, rows * sub);
    let mut values = vec![f32::NAN; mw * mh];
    for (npix, tile) in tiles {
        let npix = *npix as usize;
        if npix >= 768 {
            continue;
        }
        let mut small = tile.clone();
        while small.width > sub {
            small = small.halved();
        }
        let (col, row) = (npix % ALLSKY_COLUMNS, npix / ALLSKY_COLUMNS);
        // The block's bottom FITS row in the mosaic.
        let y0 = mh - (row + 1) * sub;
        for j in 0..sub {
            let from = &small.values[j * sub..(j + 1) * sub];
            let at = (y0 + j) * mw + col * sub;
            values[at..at + sub].copy_from_slice(from);
        }
    }
    TilePixels { width: mw, values }
}

/// The `properties` file: `key = value` lines in the given order.
pub fn properties(entries: &[(&str, String)]) -> String {
    let mut out = String::new();
    for (k, v) in entries {
        out.push_str(&format!("{k:<22}= {v}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use skyport_fits::preview::Stretch;

    #[test]
    fn pngs_are_flipped_and_transparent_where_empty() {
        let mut t = TilePixels::blank(8);
        t.values[0] = 10.0; // bottom-left in FITS order
        let levels = Levels {
            low: 0.0,
            high: 10.0,
            stretch: Stretch::Zscale,
        };
        let bytes = png(&t, &Greys::new(&levels)).expect("png");
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info().expect("info");
        let mut buf = vec![0; reader.output_buffer_size().expect("size")];
        let info = reader.next_frame(&mut buf).expect("frame");
        assert_eq!((info.width, info.height), (8, 8));
        // Last PNG row, first pixel: white and opaque; the rest transparent.
        let last = 7 * 8 * 2;
        assert_eq!(&buf[last..last + 2], &[255, 255]);
        assert_eq!(buf[1], 0);
    }

    #[test]
    fn the_table_follows_the_stretch() {
        for stretch in [Stretch::Asinh, Stretch::Zscale] {
            let levels = Levels {
                low: -5.0,
                high: 120.0,
                stretch,
            };
            let greys = Greys::new(&levels);
            for v in [-10.0, -5.0, 0.0, 3.3, 60.0, 119.9, 500.0] {
                let (a, b) = (i32::from(greys.grey(v)), i32::from(levels.grey(v)));
                assert!((a - b).abs() <= 1, "{v}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn allsky_places_tiles_row_by_row_from_the_top() {
        let mut t = TilePixels::blank(64);
        t.values.iter_mut().for_each(|v| *v = 1.0);
        let mosaic = allsky(&[(0, t.clone()), (28, t)], 64);
        let mw = mosaic.width;
        let mh = mosaic.values.len() / mw;
        assert_eq!((mw, mh), (27 * 8, 29 * 8));
        // Tile 0: top-left block, i.e. the last FITS rows.
        assert_eq!(mosaic.values[(mh - 1) * mw], 1.0);
        // Tile 28: second row, second column.
        assert_eq!(mosaic.values[(mh - 9) * mw + 8], 1.0);
        assert!(mosaic.values[(mh - 9) * mw].is_nan());
    }
}
