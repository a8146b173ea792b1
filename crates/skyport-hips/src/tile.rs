//! HiPS tile geometry (HiPS 1.0 §4): a tile is a HEALPix cell (nested, ICRS) at its order;
//! its `W × W` pixels are the cells `log2 W` orders deeper. Within a tile, the pixel in column
//! `x` and row `y` (FITS order: row 0 at the bottom) is the sub-cell whose index interleaves
//! `x` in the odd bits and `W − 1 − y` in the even bits, the layout Aladin, Hipsgen and
//! astropy's reproject share.

use std::path::PathBuf;

/// One tile: a HEALPix cell at `order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TileId {
    /// HEALPix order (HiPS `Norder`).
    pub order: u8,
    /// Nested cell index (HiPS `Npix`).
    pub npix: u64,
}

impl TileId {
    /// The tile's file below the HiPS root, `Norder{k}/Dir{D}/Npix{n}.{ext}` (D the index
    /// rounded down to ten thousands).
    pub fn path(&self, ext: &str) -> PathBuf {
        PathBuf::from(format!("Norder{}", self.order))
            .join(format!("Dir{}", (self.npix / 10_000) * 10_000))
            .join(format!("Npix{}.{ext}", self.npix))
    }

    /// The tile one order up that holds this one (`None` at order 0).
    pub fn parent(&self) -> Option<TileId> {
        (self.order > 0).then(|| TileId {
            order: self.order - 1,
            npix: self.npix >> 2,
        })
    }

    /// The four tiles one order deeper, in index order.
    pub fn children(&self) -> [TileId; 4] {
        let first = self.npix << 2;
        [0, 1, 2, 3].map(|i| TileId {
            order: self.order + 1,
            npix: first + i,
        })
    }

    /// Whether the cell exists (index below 12·4^order).
    pub fn is_valid(&self) -> bool {
        self.order <= 29 && self.npix < 12u64 << (2 * u32::from(self.order))
    }
}

/// `log2` of a tile width (a power of two from 8 to 4096).
pub fn width_bits(width: usize) -> Option<u8> {
    (width.is_power_of_two() && (8..=4096).contains(&width)).then(|| width.trailing_zeros() as u8)
}

/// The sub-cell index (within its tile) of pixel `(x, y)`, FITS row order.
pub fn subcell(x: usize, y: usize, bits: u8) -> u64 {
    let w = 1usize << bits;
    spread(x as u64) << 1 | spread((w - 1 - y) as u64)
}

/// The pixel `(x, y)` (FITS row order) of a sub-cell index within its tile.
pub fn pixel_of_subcell(i: u64, bits: u8) -> (usize, usize) {
    let w = 1usize << bits;
    let x = compact(i >> 1) as usize;
    let e = compact(i) as usize;
    (x, w - 1 - e)
}

/// The sky position (degrees) of the centre of pixel `(x, y)` of `tile`, `bits = log2 W`.
pub fn pixel_centre(tile: TileId, x: usize, y: usize, bits: u8) -> (f64, f64) {
    let depth = tile.order + bits;
    let cell = (tile.npix << (2 * u32::from(bits))) | subcell(x, y, bits);
    let (lon, lat) = cdshealpix::nested::center(depth, cell);
    (lon.to_degrees(), lat.to_degrees())
}

/// Spreads the low 32 bits of `v` to the even bits.
fn spread(v: u64) -> u64 {
    let mut v = v & 0xffff_ffff;
    v = (v | (v << 16)) & 0x0000_ffff_0000_ffff;
    v = (v | (v << 8)) & 0x00ff_00ff_00ff_00ff;
    v = (v | (v << 4)) & 0x0f0f_0f0f_0f0f_0f0f;
    v = (v | (v << 2)) & 0x3333_3333_3333_3333;
    (v | (v << 1)) & 0x5555_5555_5555_5555
}

/// Gathers the even bits of `v` (the inverse of [`spread`]).
fn compact(v: u64) -> u64 {
    let mut v = v & 0x5555_5555_5555_5555;
    v = (v | (v >> 1)) & 0x3333_3333_3333_3333;
    v = (v | (v >> 2)) & 0x0f0f_0f0f_0f0f_0f0f;
    v = (v | (v >> 4)) & 0x00ff_00ff_00ff_00ff;
    v = (v | (v >> 8)) & 0x0000_ffff_0000_ffff;
    (v | (v >> 16)) & 0x0000_0000_ffff_ffff
}

/// Where child `k` (0–3) of a tile lands in its parent: the quarter's first column and row
/// (FITS row order) in a parent of width `w`.
pub fn child_quarter(k: usize, w: usize) -> (usize, usize) {
    let h = w / 2;
    match k {
        0 => (0, h),
        1 => (0, 0),
        2 => (h, h),
        _ => (h, 0),
    }
}

/// The HiPS order whose pixels are no coarser than `pixel_arcsec` for tiles `2^bits` wide:
/// the smallest order whose pixel (the cell `bits` orders deeper) is at most that size,
/// between 3 (where the all-sky image lives) and `max`.
pub fn order_for_pixel(pixel_arcsec: f64, bits: u8, max: u8) -> u8 {
    for order in 3..=max {
        let depth = u32::from(order) + u32::from(bits);
        let side = (4.0 * std::f64::consts::PI / (12.0 * 4f64.powi(depth as i32))).sqrt();
        if side.to_degrees() * 3600.0 <= pixel_arcsec {
            return order;
        }
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixels_and_subcells_are_inverse() {
        for bits in [3u8, 9] {
            let w = 1usize << bits;
            for (x, y) in [(0, 0), (w - 1, 0), (0, w - 1), (5, 7), (w / 2, w / 3)] {
                assert_eq!(pixel_of_subcell(subcell(x, y, bits), bits), (x, y));
            }
        }
    }

    #[test]
    fn children_fill_their_quarters() {
        // The first sub-cells of child k are the parent's sub-cells with k on top.
        let bits = 3u8;
        let w = 1usize << bits;
        for k in 0..4usize {
            let (x0, y0) = child_quarter(k, w);
            for (x, y) in [(x0, y0), (x0 + w / 2 - 1, y0 + w / 2 - 1)] {
                let top = subcell(x, y, bits) >> (2 * (bits - 1));
                assert_eq!(top, k as u64, "child {k} at ({x}, {y})");
            }
        }
    }

    #[test]
    fn pixel_centres_lie_in_their_tile() {
        let tile = TileId {
            order: 3,
            npix: 300,
        };
        for (x, y) in [(0, 0), (511, 511), (100, 400)] {
            let (ra, dec) = pixel_centre(tile, x, y, 9);
            let cell = cdshealpix::nested::hash(3, ra.to_radians(), dec.to_radians());
            assert_eq!(cell, 300);
        }
    }

    #[test]
    fn paths_follow_the_standard() {
        let t = TileId {
            order: 5,
            npix: 12345,
        };
        assert_eq!(
            t.path("fits"),
            PathBuf::from("Norder5/Dir10000/Npix12345.fits")
        );
        assert_eq!(
            t.parent(),
            Some(TileId {
                order: 4,
                npix: 3086
            })
        );
        assert!(!TileId { order: 0, npix: 12 }.is_valid());
    }

    #[test]
    fn orders_follow_the_pixel_scale() {
        // Order 11 with 512-pixel tiles has 0.2" pixels; 1" pixels need order 9 (0.8").
        assert_eq!(order_for_pixel(1.0, 9, 20), 9);
        assert_eq!(order_for_pixel(1000.0, 9, 20), 3);
        assert_eq!(order_for_pixel(0.0001, 9, 12), 12);
    }
}
