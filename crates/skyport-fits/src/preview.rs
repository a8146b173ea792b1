//! PNG previews of image planes.
//!
//! The plane is read in strips of whole rows (memory stays at one strip plus the binned
//! result, whatever the image size) and block-averaged down to at most the requested size.
//! Undefined pixels (NaN, or BLANK in integer images) are skipped; pixels flagged in a mask
//! plane are left out of the average where a block has unflagged ones, and out of the stretch
//! statistics always, so a bad column or a saturated core does not set the contrast.
//!
//! With a celestial WCS the picture is turned so north is up and east left, as the sky looks:
//! the local pixel→sky Jacobian at the image centre gives the affine map (rotation, and the
//! flip when the pixel grid has the other handedness). Without one, FITS row 1 is at the
//! bottom. Blocks with no defined pixel and the corners outside a rotated image are
//! transparent (grey + alpha PNG).

use std::os::raw::{c_int, c_long, c_void};
use std::path::Path;

use fitsio::FitsFile;

use crate::file::cfitsio_error;
use crate::{FitsError, Wcs};

/// How pixel values become grey levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stretch {
    /// asinh of the values between the 0.5 and 99.8 percentiles (astropy `AsinhStretch(0.1)`).
    Asinh,
    /// Linear between IRAF's zscale limits.
    Zscale,
}

/// A grey + alpha picture, rows top to bottom.
#[derive(Debug, Clone, PartialEq)]
pub struct Picture {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `(grey, alpha)` pairs, row-major from the top.
    pub pixels: Vec<[u8; 2]>,
}

/// A block-averaged plane: `values[y * width + x]`, row 0 = FITS row 1 (bottom); NaN where
/// undefined. `usable[i]` is false where the block held only masked pixels.
#[derive(Debug, Clone)]
pub struct Binned {
    /// Width in blocks.
    pub width: usize,
    /// Height in blocks.
    pub height: usize,
    /// Side of a block in image pixels.
    pub block: usize,
    /// Block means.
    pub values: Vec<f32>,
    /// Whether the block counts for the stretch.
    pub usable: Vec<bool>,
}

/// Reads plane `hdu` (0-based) of `path` block-averaged to at most `max_side` blocks per side,
/// skipping pixels that are nonzero in plane `mask_hdu` when given (and the same shape).
pub fn read_binned(
    path: &Path,
    hdu: usize,
    mask_hdu: Option<usize>,
    max_side: usize,
) -> Result<Binned, FitsError> {
    let mut file = FitsFile::open(path).map_err(|e| FitsError::Open {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let (w, h) = plane_shape(path, &mut file, hdu)?;
    // A mask of another shape cannot be matched pixel for pixel: it is not used.
    let mask_hdu = mask_hdu.filter(|m| plane_shape(path, &mut file, *m).ok() == Some((w, h)));
    let block = w.max(h).div_ceil(max_side.max(1)).max(1);
    let (bw, bh) = (w.div_ceil(block), h.div_ceil(block));
    let mut sums = vec![0f64; bw];
    let mut counts = vec![0u32; bw];
    let mut masked_sums = vec![0f64; bw];
    let mut masked_counts = vec![0u32; bw];
    let mut values = Vec::with_capacity(bw * bh);
    let mut usable = Vec::with_capacity(bw * bh);
    for by in 0..bh {
        let (y0, y1) = (by * block, ((by + 1) * block).min(h));
        let strip = read_rows(path, &mut file, hdu, w, y0, y1)?;
        let mask = match mask_hdu {
            Some(m) => Some(read_rows(path, &mut file, m, w, y0, y1)?),
            None => None,
        };
        sums.iter_mut().for_each(|s| *s = 0.0);
        counts.iter_mut().for_each(|c| *c = 0);
        masked_sums.iter_mut().for_each(|s| *s = 0.0);
        masked_counts.iter_mut().for_each(|c| *c = 0);
        for (i, v) in strip.iter().enumerate() {
            if !v.is_finite() {
                continue;
            }
            let bx = (i % w) / block;
            let flagged = mask.as_ref().is_some_and(|m| m[i] != 0.0);
            if flagged {
                masked_sums[bx] += f64::from(*v);
                masked_counts[bx] += 1;
            } else {
                sums[bx] += f64::from(*v);
                counts[bx] += 1;
            }
        }
        for bx in 0..bw {
            if counts[bx] > 0 {
                values.push((sums[bx] / f64::from(counts[bx])) as f32);
                usable.push(true);
            } else if masked_counts[bx] > 0 {
                values.push((masked_sums[bx] / f64::from(masked_counts[bx])) as f32);
                usable.push(false);
            } else {
                values.push(f32::NAN);
                usable.push(false);
            }
        }
    }
    Ok(Binned {
        width: bw,
        height: bh,
        block,
        values,
        usable,
    })
}

/// NAXIS1 × NAXIS2 of an image HDU (further axes: the first plane is used).
fn plane_shape(path: &Path, file: &mut FitsFile, hdu: usize) -> Result<(usize, usize), FitsError> {
    match &move_to(path, file, hdu)?.info {
        fitsio::hdu::HduInfo::ImageInfo { shape, .. } if shape.len() >= 2 => {
            // fitsio lists axes slowest first: [.., NAXIS2, NAXIS1].
            let n = shape.len();
            Ok((shape[n - 1], shape[n - 2]))
        }
        _ => Err(FitsError::Cfitsio {
            path: path.to_path_buf(),
            operation: format!("reading HDU {hdu}"),
            reason: "not an image with two axes".into(),
        }),
    }
}

/// Makes HDU `hdu` (0-based) the current one.
fn move_to(
    path: &Path,
    file: &mut FitsFile,
    hdu: usize,
) -> Result<fitsio::hdu::FitsHdu, FitsError> {
    file.hdu(hdu).map_err(|e| FitsError::Cfitsio {
        path: path.to_path_buf(),
        operation: format!("moving to HDU {hdu}"),
        reason: e.to_string(),
    })
}

/// Rows `[y0, y1)` (0-based) of the first plane of image HDU `hdu`, as f32 with undefined
/// pixels (BLANK) as NaN.
fn read_rows(
    path: &Path,
    file: &mut FitsFile,
    hdu: usize,
    width: usize,
    y0: usize,
    y1: usize,
) -> Result<Vec<f32>, FitsError> {
    read_box(
        path,
        file,
        hdu,
        width,
        y0,
        y1,
        fitsio::sys::TFLOAT as c_int,
        f32::NAN,
    )
}

/// Rows `[y0, y1)` of the first plane of `hdu` as cfitsio type `datatype` (whose Rust type is
/// `T`), undefined pixels as `null`.
#[allow(clippy::too_many_arguments)]
fn read_box<T: Copy + Default>(
    path: &Path,
    file: &mut FitsFile,
    hdu: usize,
    width: usize,
    y0: usize,
    y1: usize,
    datatype: c_int,
    null: T,
) -> Result<Vec<T>, FitsError> {
    let naxis = match &move_to(path, file, hdu)?.info {
        fitsio::hdu::HduInfo::ImageInfo { shape, .. } => shape.len().max(2),
        _ => 2,
    };
    let mut blc: Vec<c_long> = vec![1; naxis];
    let mut trc: Vec<c_long> = vec![1; naxis];
    let mut inc: Vec<c_long> = vec![1; naxis];
    blc[0] = 1;
    trc[0] = width as c_long;
    blc[1] = y0 as c_long + 1;
    trc[1] = y1 as c_long;
    let mut out = vec![T::default(); width * (y1 - y0)];
    let mut nulval = null;
    let mut anynul: c_int = 0;
    let mut status: c_int = 0;
    // SAFETY: `file` is open and positioned on `hdu` (moved to above); the corner arrays have
    // NAXIS entries; `out` holds exactly the pixels of the requested box, and `T` is the Rust
    // type of `datatype` (the callers pair TFLOAT with f32 and TDOUBLE with f64).
    unsafe {
        fitsio::sys::ffgsv(
            file.as_raw(),
            datatype,
            blc.as_mut_ptr(),
            trc.as_mut_ptr(),
            inc.as_mut_ptr(),
            (&mut nulval as *mut T).cast::<c_void>(),
            out.as_mut_ptr().cast::<c_void>(),
            &mut anynul,
            &mut status,
        );
    }
    if status != 0 {
        return Err(cfitsio_error(
            path,
            &format!("reading HDU {hdu} rows {y0}..{y1}"),
            status,
        ));
    }
    Ok(out)
}

/// A whole plane: `values[y * width + x]`, row 0 = FITS row 1.
#[derive(Debug, Clone, PartialEq)]
pub struct Plane<T> {
    /// NAXIS1.
    pub width: usize,
    /// NAXIS2.
    pub height: usize,
    /// The pixels.
    pub values: Vec<T>,
}

/// The first plane of image HDU `hdu` (0-based) of `path` as f32, undefined pixels (BLANK)
/// as NaN, scaled by BSCALE/BZERO.
pub fn read_plane(path: &Path, hdu: usize) -> Result<Plane<f32>, FitsError> {
    let mut file = open(path)?;
    let (w, h) = plane_shape(path, &mut file, hdu)?;
    let values = read_rows(path, &mut file, hdu, w, 0, h)?;
    Ok(Plane {
        width: w,
        height: h,
        values,
    })
}

/// The first plane of a mask HDU as integers (bit planes), undefined pixels as 0.
pub fn read_mask_plane(path: &Path, hdu: usize) -> Result<Plane<u64>, FitsError> {
    let mut file = open(path)?;
    let (w, h) = plane_shape(path, &mut file, hdu)?;
    let raw: Vec<f64> = read_box(
        path,
        &mut file,
        hdu,
        w,
        0,
        h,
        fitsio::sys::TDOUBLE as c_int,
        0.0,
    )?;
    Ok(Plane {
        width: w,
        height: h,
        values: raw
            .into_iter()
            .map(|v| {
                if v.is_finite() && v > 0.0 {
                    v as u64
                } else {
                    0
                }
            })
            .collect(),
    })
}

fn open(path: &Path) -> Result<FitsFile, FitsError> {
    FitsFile::open(path).map_err(|e| FitsError::Open {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// The grey-level limits and mapping of a stretch, from the usable block values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Levels {
    /// Value drawn black.
    pub low: f32,
    /// Value drawn white.
    pub high: f32,
    /// The stretch.
    pub stretch: Stretch,
}

impl Levels {
    /// Chooses the limits from the binned plane.
    pub fn choose(binned: &Binned, stretch: Stretch) -> Levels {
        let mut sample: Vec<f32> = binned
            .values
            .iter()
            .zip(&binned.usable)
            .filter(|(v, u)| **u && v.is_finite())
            .map(|(v, _)| *v)
            .collect();
        if sample.is_empty() {
            sample = binned
                .values
                .iter()
                .copied()
                .filter(|v| v.is_finite())
                .collect();
        }
        sample.sort_by(f32::total_cmp);
        Levels::from_sorted(&sample, stretch)
    }

    /// Chooses the limits from finite values sorted ascending.
    pub fn from_sorted(sorted: &[f32], stretch: Stretch) -> Levels {
        let (low, high) = match stretch {
            Stretch::Asinh => (percentile(sorted, 0.005), percentile(sorted, 0.998)),
            Stretch::Zscale => zscale(sorted),
        };
        Levels { low, high, stretch }
    }

    /// The grey level of a value.
    pub fn grey(&self, v: f32) -> u8 {
        let span = self.high - self.low;
        let t = if span > 0.0 {
            ((v - self.low) / span).clamp(0.0, 1.0)
        } else if v > self.low {
            1.0
        } else {
            0.0
        };
        let t = match self.stretch {
            Stretch::Zscale => t,
            // astropy's AsinhStretch(a=0.1): asinh(t/a)/asinh(1/a).
            Stretch::Asinh => (t / 0.1).asinh() / 10f32.asinh(),
        };
        (t * 255.0).round() as u8
    }
}

/// The `q`-quantile of sorted values (nearest rank); 0 for none.
fn percentile(sorted: &[f32], q: f64) -> f32 {
    if sorted.is_empty() {
        return 0.0;
    }
    let k = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[k.min(sorted.len() - 1)]
}

/// IRAF's zscale (contrast 0.25) on sorted values: a line fitted to the sorted sample with
/// iterative 2.5σ rejection; the limits are the median ∓ slope/contrast over the half-ranges,
/// clipped to the data.
pub fn zscale(sorted: &[f32]) -> (f32, f32) {
    const CONTRAST: f64 = 0.25;
    const MAX_SAMPLE: usize = 10_000;
    if sorted.is_empty() {
        return (0.0, 0.0);
    }
    let step = sorted.len().div_ceil(MAX_SAMPLE).max(1);
    let sample: Vec<f64> = sorted.iter().step_by(step).map(|v| f64::from(*v)).collect();
    let n = sample.len();
    let (min, max) = (sample[0], sample[n - 1]);
    let median = if n % 2 == 1 {
        sample[n / 2]
    } else {
        0.5 * (sample[n / 2 - 1] + sample[n / 2])
    };
    if n < 5 {
        return (min as f32, max as f32);
    }
    let mut keep = vec![true; n];
    let mut slope = 0.0;
    for _ in 0..5 {
        let (mut sx, mut sy, mut sxx, mut sxy, mut m) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (i, y) in sample.iter().enumerate() {
            if keep[i] {
                let x = i as f64;
                sx += x;
                sy += y;
                sxx += x * x;
                sxy += x * y;
                m += 1.0;
            }
        }
        let denom = m * sxx - sx * sx;
        if m < (n as f64 * 0.5) || denom.abs() < 1e-12 {
            break;
        }
        slope = (m * sxy - sx * sy) / denom;
        let intercept = (sy - slope * sx) / m;
        let residuals: Vec<f64> = sample
            .iter()
            .enumerate()
            .map(|(i, y)| y - (intercept + slope * i as f64))
            .collect();
        let kept: Vec<f64> = residuals
            .iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|(r, _)| *r)
            .collect();
        let sigma = (kept.iter().map(|r| r * r).sum::<f64>() / kept.len() as f64).sqrt();
        let before = keep.iter().filter(|k| **k).count();
        for (k, r) in keep.iter_mut().zip(&residuals) {
            *k = *k && r.abs() <= 2.5 * sigma;
        }
        if keep.iter().filter(|k| **k).count() == before {
            break;
        }
    }
    let centre = (n as f64 - 1.0) / 2.0;
    let z1 = (median - slope / CONTRAST * centre).max(min);
    let z2 = (median + slope / CONTRAST * centre).min(max);
    (z1 as f32, z2 as f32)
}

/// The affine map from picture offsets to binned-plane offsets (both about the centres):
/// `[[a, b], [c, d]]` with `(x, y) = (a·u + b·v, c·u + d·v)`, `u` to the right and `v` down.
/// North up and east left when the WCS gives a usable Jacobian, else row 1 at the bottom.
pub fn orientation(wcs: Option<&Wcs>, naxis: (usize, usize)) -> [[f64; 2]; 2] {
    let flip_only = [[1.0, 0.0], [0.0, -1.0]];
    let Some(wcs) = wcs else {
        return flip_only;
    };
    let (cx, cy) = ((naxis.0 as f64 + 1.0) / 2.0, (naxis.1 as f64 + 1.0) / 2.0);
    let here = wcs.pixel_to_sky(cx, cy);
    let dx = wcs.pixel_to_sky(cx + 1.0, cy);
    let dy = wcs.pixel_to_sky(cx, cy + 1.0);
    let (Some(here), Some(dx), Some(dy)) = (here, dx, dy) else {
        return flip_only;
    };
    // East and north offsets (degrees on the sky) of one pixel step along x and along y.
    let offset = |p: skyport_sky::SkyPoint| {
        let mut dra = p.ra - here.ra;
        if dra > 180.0 {
            dra -= 360.0;
        } else if dra < -180.0 {
            dra += 360.0;
        }
        (dra * here.dec.to_radians().cos(), p.dec - here.dec)
    };
    let (ex, nx) = offset(dx);
    let (ey, ny) = offset(dy);
    // Picture axes: u = west (−east), v = south (−north). J maps (x, y) → (u, v).
    let j = [[-ex, -ey], [-nx, -ny]];
    let det = j[0][0] * j[1][1] - j[0][1] * j[1][0];
    if !det.is_finite() || det.abs() < 1e-30 {
        return flip_only;
    }
    let scale = det.abs().sqrt();
    // Inverse, rescaled so one picture pixel is one image pixel.
    [
        [j[1][1] / det * scale, -j[0][1] / det * scale],
        [-j[1][0] / det * scale, j[0][0] / det * scale],
    ]
}

/// Draws the binned plane through the affine map, on a canvas at most `max_side` wide and high.
pub fn draw(binned: &Binned, map: [[f64; 2]; 2], levels: &Levels, max_side: usize) -> Picture {
    let (w, h) = (binned.width as f64, binned.height as f64);
    // The inverse map (binned → picture) gives the canvas size from the corners.
    let det = map[0][0] * map[1][1] - map[0][1] * map[1][0];
    let inv = [
        [map[1][1] / det, -map[0][1] / det],
        [-map[1][0] / det, map[0][0] / det],
    ];
    let (mut umax, mut vmax) = (0f64, 0f64);
    for (x, y) in [
        (-w / 2.0, -h / 2.0),
        (w / 2.0, -h / 2.0),
        (w / 2.0, h / 2.0),
        (-w / 2.0, h / 2.0),
    ] {
        umax = umax.max((inv[0][0] * x + inv[0][1] * y).abs());
        vmax = vmax.max((inv[1][0] * x + inv[1][1] * y).abs());
    }
    let zoom = (max_side as f64 / (2.0 * umax.max(vmax))).min(1.0);
    let width = ((2.0 * umax * zoom).round() as usize).clamp(1, max_side.max(1));
    let height = ((2.0 * vmax * zoom).round() as usize).clamp(1, max_side.max(1));
    let mut pixels = Vec::with_capacity(width * height);
    for row in 0..height {
        for col in 0..width {
            let u = (col as f64 + 0.5 - width as f64 / 2.0) / zoom;
            let v = (row as f64 + 0.5 - height as f64 / 2.0) / zoom;
            let x = map[0][0] * u + map[0][1] * v + w / 2.0;
            let y = map[1][0] * u + map[1][1] * v + h / 2.0;
            let value = if x >= 0.0 && y >= 0.0 && x < w && y < h {
                binned.values[y as usize * binned.width + x as usize]
            } else {
                f32::NAN
            };
            pixels.push(if value.is_finite() {
                [levels.grey(value), 255]
            } else {
                [0, 0]
            });
        }
    }
    Picture {
        width,
        height,
        pixels,
    }
}

/// Encodes a picture as PNG (8-bit grey + alpha).
pub fn encode_png(picture: &Picture) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, picture.width as u32, picture.height as u32);
        encoder.set_color(png::ColorType::GrayscaleAlpha);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
        let data: Vec<u8> = picture.pixels.iter().flatten().copied().collect();
        writer.write_image_data(&data).map_err(|e| e.to_string())?;
    }
    Ok(out)
}

/// Renders plane `hdu` of `path` as a PNG at most `max_side` pixels wide and high.
pub fn render_png(
    path: &Path,
    hdu: usize,
    mask_hdu: Option<usize>,
    wcs: Option<&Wcs>,
    stretch: Stretch,
    max_side: usize,
) -> Result<Vec<u8>, FitsError> {
    let binned = read_binned(path, hdu, mask_hdu, max_side)?;
    let levels = Levels::choose(&binned, stretch);
    let naxis = (binned.width * binned.block, binned.height * binned.block);
    let map = orientation(wcs, naxis);
    let picture = draw(&binned, map, &levels, max_side);
    encode_png(&picture).map_err(|reason| FitsError::Cfitsio {
        path: path.to_path_buf(),
        operation: "encoding the PNG".into(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binned(width: usize, height: usize, values: Vec<f32>) -> Binned {
        Binned {
            width,
            height,
            block: 1,
            usable: values.iter().map(|v| v.is_finite()).collect(),
            values,
        }
    }

    #[test]
    fn without_wcs_row_one_is_at_the_bottom() {
        // Two rows: FITS row 1 (index 0) dark, row 2 bright.
        let b = binned(2, 2, vec![0.0, 0.0, 10.0, 10.0]);
        let levels = Levels {
            low: 0.0,
            high: 10.0,
            stretch: Stretch::Zscale,
        };
        let p = draw(&b, orientation(None, (2, 2)), &levels, 16);
        assert_eq!((p.width, p.height), (2, 2));
        assert_eq!(p.pixels[0], [255, 255], "top row is FITS row 2");
        assert_eq!(p.pixels[3], [0, 255], "bottom row is FITS row 1");
    }

    #[test]
    fn undefined_blocks_are_transparent() {
        let b = binned(2, 1, vec![f32::NAN, 1.0]);
        let levels = Levels::choose(&b, Stretch::Asinh);
        let p = draw(&b, orientation(None, (2, 1)), &levels, 16);
        assert_eq!(p.pixels[0][1], 0);
        assert_eq!(p.pixels[1][1], 255);
    }

    #[test]
    fn zscale_of_a_ramp_spans_it() {
        let v: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        let (z1, z2) = zscale(&v);
        assert_eq!(
            (z1, z2),
            (0.0, 999.0),
            "a straight ramp is clipped to the data"
        );
        // Outliers do not drag the limits.
        let mut v: Vec<f32> = (0..1000).map(|i| 100.0 + (i as f32) * 0.01).collect();
        v.extend([1e6; 5]);
        v.sort_by(f32::total_cmp);
        let (z1, z2) = zscale(&v);
        assert!(z1 >= 100.0 && z2 < 1000.0, "{z1} {z2}");
    }

    #[test]
    fn asinh_grey_levels_rise_steeply_then_flatten() {
        let l = Levels {
            low: 0.0,
            high: 1.0,
            stretch: Stretch::Asinh,
        };
        assert_eq!(l.grey(0.0), 0);
        assert_eq!(l.grey(1.0), 255);
        assert_eq!(l.grey(2.0), 255);
        // asinh(1)/asinh(10) of the way at one tenth.
        let expected = (1f32.asinh() / 10f32.asinh() * 255.0).round() as u8;
        assert_eq!(l.grey(0.1), expected);
    }
}
