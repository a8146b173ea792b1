//! Resampling an archive image onto HiPS tile pixels: each tile pixel's centre (a HEALPix cell
//! centre) goes through the image's full WCS (SIP included) to a pixel position, where the
//! image is interpolated bilinearly.
//!
//! The inverse WCS is the costly part (Newton steps through the forward model). It is solved
//! exactly at the four corners of every 8 × 8 block of tile pixels and interpolated between:
//! over eight tile pixels the mapping is linear to far below a pixel (the test checks it
//! against the exact inverse). Blocks whose corners do not all solve are done pixel by pixel.

use std::path::Path;

use skyport_fits::preview::{read_mask_plane, read_plane};
use skyport_fits::{Header, Wcs};
use skyport_sky::SkyPoint;

use crate::tile::{pixel_centre, TileId};
use crate::HipsError;

/// Tile pixels per side of a block solved at its corners.
const BLOCK: usize = 8;

/// An image ready to be resampled: its pixels (NaN where undefined or flagged) and WCS.
pub struct SourceImage {
    width: usize,
    height: usize,
    pixels: Vec<f32>,
    wcs: Wcs,
}

/// Which mask bits leave a pixel out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaskRule {
    /// Mask plane names (`MP_<NAME>` keywords of the mask header give their bits).
    pub planes: Vec<String>,
}

impl Default for MaskRule {
    fn default() -> MaskRule {
        MaskRule {
            planes: ["BAD", "SAT", "CR", "EDGE", "NO_DATA", "SUSPECT", "INTRP"]
                .map(String::from)
                .to_vec(),
        }
    }
}

impl MaskRule {
    /// The bits to leave out for a mask with this header: those of the named planes it
    /// declares; every bit when it declares none (a mask without plane names flags with any
    /// nonzero value).
    pub fn bits(&self, header: &Header) -> u64 {
        let declared: Vec<(String, i64)> = header
            .cards()
            .iter()
            .filter_map(|c| {
                let name = c.key.strip_prefix("MP_")?;
                Some((name.to_string(), c.value.as_ref()?.as_i64()?))
            })
            .collect();
        if declared.is_empty() {
            return u64::MAX;
        }
        declared
            .iter()
            .filter(|(name, _)| self.planes.iter().any(|p| p.eq_ignore_ascii_case(name)))
            .filter(|(_, bit)| (0..64).contains(bit))
            .fold(0, |acc, (_, bit)| acc | 1u64 << bit)
    }
}

impl SourceImage {
    /// Reads HDU `science` of `path` (with its WCS, the primary header's cards inherited) and
    /// leaves out the pixels HDU `mask` flags under `rule`. `None` when no pixel is left (the
    /// reason logged): such an image contributes nothing and blanks nothing.
    pub fn load(
        path: &Path,
        science: usize,
        mask: Option<usize>,
        rule: &MaskRule,
    ) -> Result<Option<SourceImage>, HipsError> {
        let fits = |e: skyport_fits::FitsError| HipsError::Image {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let mut header = skyport_fits::read_header(path, science).map_err(fits)?;
        if science > 0 {
            let primary = skyport_fits::read_header(path, 0).map_err(fits)?;
            header.inherit_from(&primary);
        }
        let wcs = match Wcs::from_header(&header) {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "image left out of the HiPS: no usable WCS");
                return Ok(None);
            }
        };
        let plane = read_plane(path, science).map_err(fits)?;
        let mut pixels = plane.values;
        if let Some(m) = mask {
            let bits = rule.bits(&skyport_fits::read_header(path, m).map_err(fits)?);
            let mask = read_mask_plane(path, m).map_err(fits)?;
            if (mask.width, mask.height) == (plane.width, plane.height) {
                for (p, flags) in pixels.iter_mut().zip(&mask.values) {
                    if flags & bits != 0 {
                        *p = f32::NAN;
                    }
                }
            } else {
                tracing::warn!(path = %path.display(), "mask of another shape than the image: not used");
            }
        }
        if !pixels.iter().any(|v| v.is_finite()) {
            tracing::warn!(path = %path.display(), "image left out of the HiPS: no defined pixel");
            return Ok(None);
        }
        Ok(Some(SourceImage {
            width: plane.width,
            height: plane.height,
            pixels,
            wcs,
        }))
    }

    /// An image from its parts (pixels row 0 = FITS row 1).
    pub fn from_parts(width: usize, height: usize, pixels: Vec<f32>, wcs: Wcs) -> SourceImage {
        SourceImage {
            width,
            height,
            pixels,
            wcs,
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.pixels.len() * 4
    }

    /// The bilinear value at 1-based pixel position `(x, y)`; NaN outside the image (beyond
    /// half a pixel from its edge) or next to an undefined pixel.
    pub fn value_at(&self, x: f64, y: f64) -> f32 {
        let (fx, fy) = (x - 1.0, y - 1.0);
        let (w, h) = (self.width as f64, self.height as f64);
        if !(fx >= -0.5 && fx <= w - 0.5 && fy >= -0.5 && fy <= h - 0.5) {
            return f32::NAN;
        }
        let (x0, y0) = (fx.max(0.0) as usize, fy.max(0.0) as usize);
        if x0 + 1 < self.width && y0 + 1 < self.height {
            // Inside: the four neighbours exist (the common case, kept branch-light).
            let (tx, ty) = ((fx - x0 as f64).max(0.0), (fy - y0 as f64).max(0.0));
            let at = y0 * self.width + x0;
            let row0 = &self.pixels[at..at + 2];
            let row1 = &self.pixels[at + self.width..at + self.width + 2];
            let (a, b, c, d) = (
                f64::from(row0[0]),
                f64::from(row0[1]),
                f64::from(row1[0]),
                f64::from(row1[1]),
            );
            let v = (a * (1.0 - tx) + b * tx) * (1.0 - ty) + (c * (1.0 - tx) + d * tx) * ty;
            if !v.is_nan() {
                return v as f32;
            }
            // An undefined neighbour with no weight does not count.
        }
        let fx = fx.clamp(0.0, w - 1.0);
        let fy = fy.clamp(0.0, h - 1.0);
        let (x0, y0) = (fx.floor() as usize, fy.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(self.width - 1), (y0 + 1).min(self.height - 1));
        let (tx, ty) = (fx - x0 as f64, fy - y0 as f64);
        let mut sum = 0f64;
        for (xi, yi, weight) in [
            (x0, y0, (1.0 - tx) * (1.0 - ty)),
            (x1, y0, tx * (1.0 - ty)),
            (x0, y1, (1.0 - tx) * ty),
            (x1, y1, tx * ty),
        ] {
            if weight == 0.0 {
                continue;
            }
            let v = self.pixels[yi * self.width + xi];
            if v.is_nan() {
                return f32::NAN;
            }
            sum += weight * f64::from(v);
        }
        sum as f32
    }

    /// The image position (1-based) of every pixel of `tile` (`bits = log2` of its width),
    /// row-major from the bottom row; `None` where the sky position does not project or the
    /// pixel is far from the image.
    ///
    /// The inverse WCS is solved on a grid of nodes every [`BLOCK`] pixels (and at the last
    /// pixel), and interpolated within each cell of the grid. Regions of the grid are looked
    /// at from the whole tile down: one whose corner nodes all land well outside the image is
    /// dropped without solving its inner nodes, so a tile the image barely touches costs
    /// little.
    pub fn positions(&self, tile: TileId, bits: u8) -> Vec<Option<(f64, f64)>> {
        let w = 1usize << bits;
        let mut out = vec![None; w * w];
        self.for_each_position(tile, bits, |i, x, y| out[i] = Some((x, y)));
        out
    }

    /// Calls `f(index, x, y)` with the image position (1-based) of every pixel of `tile` that
    /// has one near the image (`index` row-major from the bottom row), as
    /// [`positions`](Self::positions) finds them.
    pub fn for_each_position(&self, tile: TileId, bits: u8, mut f: impl FnMut(usize, f64, f64)) {
        let w = 1usize << bits;
        let step = self.grid_step(tile.order, bits).min(w);
        // Node k sits at pixel k·step, the last one at the last pixel.
        let nodes: Vec<usize> = (0..w / step).map(|k| k * step).chain([w - 1]).collect();
        let n = nodes.len();
        let mut solved: Vec<Option<Option<(f64, f64)>>> = vec![None; n * n];
        let mut guess = self.wcs.crpix();
        let mut node = |i: usize, j: usize, guess: &mut (f64, f64)| -> Option<(f64, f64)> {
            if let Some(known) = solved[j * n + i] {
                return known;
            }
            let found = self.solve(tile, nodes[i], nodes[j], bits, guess);
            solved[j * n + i] = Some(found);
            found
        };
        let mut regions = vec![(0usize, n - 1, 0usize, n - 1)];
        while let Some((i0, i1, j0, j1)) = regions.pop() {
            let corners = [
                node(i0, j0, &mut guess),
                node(i1, j0, &mut guess),
                node(i0, j1, &mut guess),
                node(i1, j1, &mut guess),
            ];
            let all: Vec<(f64, f64)> = corners.iter().flatten().copied().collect();
            let extent = (nodes[i1] - nodes[i0]).max(nodes[j1] - nodes[j0]) as f64;
            if all.len() == 4 && self.far_outside(&all, extent) {
                continue;
            }
            if i1 - i0 > 1 || j1 - j0 > 1 {
                let (im, jm) = ((i0 + i1).div_ceil(2), (j0 + j1).div_ceil(2));
                for (a, b) in [(i0, im), (im, i1)] {
                    for (c, d) in [(j0, jm), (jm, j1)] {
                        if a < b && c < d {
                            regions.push((a, b, c, d));
                        }
                    }
                }
                continue;
            }
            // One grid cell: pixels from its first node up to (not including) the next, the
            // last cell of a row or column up to and including the last pixel.
            let (x0, x1) = (nodes[i0], if i1 == n - 1 { w } else { nodes[i1] });
            let (y0, y1) = (nodes[j0], if j1 == n - 1 { w } else { nodes[j1] });
            match corners {
                [Some(a), Some(b), Some(c), Some(d)] => {
                    let (sx, sy) = (
                        (nodes[i1] - nodes[i0]) as f64,
                        (nodes[j1] - nodes[j0]) as f64,
                    );
                    for y in y0..y1 {
                        let ty = (y - y0) as f64 / sy;
                        for x in x0..x1 {
                            let tx = (x - x0) as f64 / sx;
                            let lerp = |p: f64, q: f64, r: f64, s: f64| {
                                (p * (1.0 - tx) + q * tx) * (1.0 - ty)
                                    + (r * (1.0 - tx) + s * tx) * ty
                            };
                            f(
                                y * w + x,
                                lerp(a.0, b.0, c.0, d.0),
                                lerp(a.1, b.1, c.1, d.1),
                            );
                        }
                    }
                }
                _ => {
                    for y in y0..y1 {
                        for x in x0..x1 {
                            if let Some((px, py)) = self.solve(tile, x, y, bits, &mut guess) {
                                f(y * w + x, px, py);
                            }
                        }
                    }
                }
            }
        }
    }

    /// The grid step for tiles of `order`: [`BLOCK`] where a tile pixel is about an image pixel,
    /// less where a tile pixel spans many image pixels (the interpolation's error, in image
    /// pixels, grows with that ratio times the step squared: the step shrinks by its square
    /// root, so the error stays that of the finest tiles, under a thousandth of a pixel).
    fn grid_step(&self, order: u8, bits: u8) -> usize {
        let depth = i32::from(order) + i32::from(bits);
        let tile_pixel = (4.0 * std::f64::consts::PI / (12.0 * 4f64.powi(depth)))
            .sqrt()
            .to_degrees()
            * 3600.0;
        let ratio = tile_pixel / self.wcs.pixel_scale_arcsec().max(1e-9);
        let step = (BLOCK as f64 / ratio.max(1.0).sqrt()).floor().max(1.0) as usize;
        // A power of two, so the grid's nodes fall on tile pixels evenly.
        1usize << (usize::BITS - 1 - step.leading_zeros())
    }

    /// The image position of tile pixel `(x, y)`, the Newton iteration started at `guess`
    /// (updated to the answer).
    fn solve(
        &self,
        tile: TileId,
        x: usize,
        y: usize,
        bits: u8,
        guess: &mut (f64, f64),
    ) -> Option<(f64, f64)> {
        let (ra, dec) = pixel_centre(tile, x, y, bits);
        let p = SkyPoint::new(ra, dec).ok()?;
        let found = self
            .wcs
            .sky_to_pixel_from(p, *guess)
            .or_else(|| self.wcs.sky_to_pixel(p))?;
        *guess = found;
        Some(found)
    }

    /// Whether a region whose corners land at `corners` (image pixels) lies wholly beyond the
    /// image, with a margin as large as the region's own extent on the image (its inside may
    /// bulge beyond its corners).
    fn far_outside(&self, corners: &[(f64, f64)], extent: f64) -> bool {
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for (x, y) in corners {
            x0 = x0.min(*x);
            x1 = x1.max(*x);
            y0 = y0.min(*y);
            y1 = y1.max(*y);
        }
        let margin = (x1 - x0).max(y1 - y0).max(extent) + 2.0;
        x1 < 0.5 - margin
            || y1 < 0.5 - margin
            || x0 > self.width as f64 + 0.5 + margin
            || y0 > self.height as f64 + 0.5 + margin
    }

    /// Adds this image's values at every pixel of `tile` into `into`.
    pub fn sample_into(&self, tile: TileId, bits: u8, into: &mut Accumulator) {
        self.for_each_position(tile, bits, |i, x, y| {
            let v = self.value_at(x, y);
            if !v.is_nan() {
                into.add(i, v);
            }
        });
    }
}

/// How the values of overlapping images combine into one tile pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Combine {
    /// The mean of the images' values (the default).
    Mean,
    /// The smallest value.
    Min,
    /// The largest value.
    Max,
}

impl std::str::FromStr for Combine {
    type Err = String;

    fn from_str(s: &str) -> Result<Combine, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "mean" | "average" => Ok(Combine::Mean),
            "min" => Ok(Combine::Min),
            "max" => Ok(Combine::Max),
            other => Err(format!(
                "{other:?} is not a way to combine overlaps: mean, min or max"
            )),
        }
    }
}

/// One tile's values as images add them.
pub struct Accumulator {
    combine: Combine,
    sums: Vec<f64>,
    counts: Vec<u32>,
}

impl Accumulator {
    /// Nothing yet for `n` pixels.
    pub fn new(n: usize, combine: Combine) -> Accumulator {
        Accumulator {
            combine,
            sums: vec![0.0; n],
            counts: vec![0; n],
        }
    }

    fn add(&mut self, i: usize, v: f32) {
        let v = f64::from(v);
        let (sum, count) = (&mut self.sums[i], &mut self.counts[i]);
        *sum = match (self.combine, *count) {
            (_, 0) => v,
            (Combine::Mean, _) => *sum + v,
            (Combine::Min, _) => sum.min(v),
            (Combine::Max, _) => sum.max(v),
        };
        *count += 1;
    }

    /// The combined values; NaN where no image had one.
    pub fn finish(self) -> Vec<f32> {
        self.sums
            .iter()
            .zip(&self.counts)
            .map(|(s, &n)| match (n, self.combine) {
                (0, _) => f32::NAN,
                (n, Combine::Mean) => (s / f64::from(n)) as f32,
                _ => *s as f32,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tan_image(ra: f64, dec: f64, n: usize, scale_deg: f64) -> SourceImage {
        let cards = [
            format!("NAXIS1  = {n}"),
            format!("NAXIS2  = {n}"),
            "CTYPE1  = 'RA---TAN'".to_string(),
            "CTYPE2  = 'DEC--TAN'".to_string(),
            format!("CRVAL1  = {ra}"),
            format!("CRVAL2  = {dec}"),
            format!("CRPIX1  = {}", n as f64 / 2.0),
            format!("CRPIX2  = {}", n as f64 / 2.0),
            format!("CD1_1   = {}", -scale_deg),
            "CD1_2   = 0.0".to_string(),
            "CD2_1   = 0.0".to_string(),
            format!("CD2_2   = {scale_deg}"),
        ];
        let header = Header::from_records(cards.iter()).expect("header");
        let wcs = Wcs::from_header(&header).expect("wcs");
        // Pixel value = its x + 1000 y: linear, so bilinear sampling is exact.
        let pixels = (0..n * n)
            .map(|i| ((i % n) + 1000 * (i / n)) as f32)
            .collect();
        SourceImage::from_parts(n, n, pixels, wcs)
    }

    #[test]
    fn block_interpolation_matches_the_exact_inverse() {
        let image = tan_image(150.0, 2.0, 2000, 1.0 / 3600.0);
        let tile = TileId {
            order: 9,
            npix: cdshealpix::nested::hash(9, 150f64.to_radians(), 2f64.to_radians()),
        };
        let fast = image.positions(tile, 9);
        let mut worst = 0f64;
        for (i, got) in fast.iter().enumerate().step_by(97) {
            let (x, y) = (i % 512, i / 512);
            let (ra, dec) = pixel_centre(tile, x, y, 9);
            let exact = image.wcs.sky_to_pixel(SkyPoint::new(ra, dec).expect("p"));
            if let (Some(a), Some(b)) = (got, exact) {
                worst = worst.max((a.0 - b.0).abs().max((a.1 - b.1).abs()));
            }
        }
        assert!(worst < 1e-3, "interpolated positions off by {worst} px");
    }

    #[test]
    fn sampling_reads_the_image_where_the_tile_pixel_is() {
        let image = tan_image(150.0, 2.0, 400, 1.0 / 3600.0);
        assert_eq!(image.value_at(1.0, 1.0), 0.0);
        assert_eq!(image.value_at(11.5, 3.0), 10.5 + 2000.0);
        assert!(image.value_at(-1.0, 3.0).is_nan() && image.value_at(3.0, 401.6).is_nan());
        let tile = TileId {
            order: 9,
            npix: cdshealpix::nested::hash(9, 150f64.to_radians(), 2f64.to_radians()),
        };
        let mut acc = Accumulator::new(512 * 512, Combine::Mean);
        image.sample_into(tile, 9, &mut acc);
        let values = acc.finish();
        let positions = image.positions(tile, 9);
        let mut checked = 0;
        for (v, p) in values.iter().zip(&positions) {
            let inside =
                |(x, y): (f64, f64)| (1.0..=400.0).contains(&x) && (1.0..=400.0).contains(&y);
            if let (false, Some((x, y))) = (v.is_nan(), p.filter(|p| inside(*p))) {
                let want = (x - 1.0) + 1000.0 * (y - 1.0);
                assert!((f64::from(*v) - want).abs() < 0.05, "{v} vs {want}");
                checked += 1;
            }
        }
        assert!(checked > 1000, "{checked}");
    }

    #[test]
    fn masks_name_their_bits() {
        let header = Header::from_records(
            [
                "MP_BAD  =                    0",
                "MP_SAT  =                    1",
                "HIERARCH MP_DETECTED =       5",
                "HIERARCH MP_NO_DATA =        8",
            ]
            .iter(),
        )
        .expect("header");
        assert_eq!(MaskRule::default().bits(&header), 0b1_0000_0011);
        assert_eq!(MaskRule::default().bits(&Header::default()), u64::MAX);
    }
}
