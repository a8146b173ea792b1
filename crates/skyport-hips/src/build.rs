//! Building a HiPS, whole or only where images changed.
//!
//! A build resamples every image onto the tiles of the deepest order its footprint touches,
//! tile by tile in nested order (neighbouring tiles share images, which a small cache keeps
//! loaded: memory is bounded by the cache, not by the number of images), combining overlaps.
//! Each order above is made from the one below by 2 × 2 means. PNG tiles follow once the
//! stretch is known, then the all-sky mosaics, the MOC, `properties`, and the manifest that lets
//! the next update find what changed. The result is published only when complete
//! ([`crate::layout`]).
//!
//! An update compares the archive's images with the manifest: tiles touched by new, changed or
//! removed images (their old and new footprints) are made again from every image over them,
//! then their ancestors; every other file is shared with the previous version. The order,
//! stretch and overlap rule stay those of the first build, so old and new tiles match.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use skyport_fits::preview::{Levels, Stretch};
use skyport_sky::SpaceMoc;

use crate::fits_tile::{self, PixelType, TilePixels};
use crate::layout::{remove_file, write_file, Layout};
use crate::render;
use crate::resample::{Accumulator, Combine, MaskRule, SourceImage};
use crate::source::{HipsKey, SourceEntry};
use crate::tile::{child_quarter, order_for_pixel, TileId};
use crate::HipsError;

/// The name of the manifest in a HiPS directory.
pub const MANIFEST: &str = "hips.json";

/// How HiPS are made.
#[derive(Debug, Clone)]
pub struct BuildSettings {
    /// Tile width in pixels (a power of two; 512 by default).
    pub tile_width: usize,
    /// How overlapping images combine.
    pub combine: Combine,
    /// The stretch of the PNG tiles.
    pub stretch: Stretch,
    /// Which mask bits leave pixels out.
    pub mask: MaskRule,
    /// The deepest order chosen automatically.
    pub max_order: u8,
    /// Images kept loaded at most (bytes of pixels).
    pub cache_bytes: usize,
    /// The archive's authority (for `creator_did`).
    pub authority: String,
    /// The archive's title (for `obs_title`).
    pub title: String,
}

impl Default for BuildSettings {
    fn default() -> BuildSettings {
        BuildSettings {
            tile_width: 512,
            combine: Combine::Mean,
            stretch: Stretch::Asinh,
            mask: MaskRule::default(),
            max_order: 13,
            cache_bytes: 512 << 20,
            authority: "skyport".into(),
            title: "skyport".into(),
        }
    }
}

/// What a HiPS was made from, kept beside it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// The HiPS id.
    pub id: String,
    /// ObsCore collection.
    pub collection: String,
    /// Band, if any.
    pub band: Option<String>,
    /// Deepest order.
    pub order: u8,
    /// Tile width.
    pub tile_width: usize,
    /// Overlap rule.
    pub combine: Combine,
    /// PNG stretch: `asinh` or `zscale`.
    pub stretch: String,
    /// The PNG tiles' black and white values.
    pub cut: (f32, f32),
    /// The smallest and largest tile values at the deepest order.
    pub data_range: (f32, f32),
    /// How the FITS tiles store values: the images' own type (manifests from before it was
    /// kept are of 32-bit float tiles).
    #[serde(default)]
    pub pixel_type: PixelType,
    /// When it was first built.
    #[serde(default)]
    pub created: String,
    /// When it was last built.
    pub built: String,
    /// Each image: its file's hash and the deepest-order tiles it touches.
    pub images: BTreeMap<String, ManifestImage>,
}

/// One image of a [`Manifest`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ManifestImage {
    /// SHA-256 of its file.
    pub sha256: String,
    /// Deepest-order tiles its footprint touches.
    pub tiles: Vec<u64>,
}

/// What a build did.
#[derive(Debug, Clone)]
pub struct Report {
    /// The HiPS id.
    pub id: String,
    /// Deepest order.
    pub order: u8,
    /// Whether a new version was published (false: nothing had changed).
    pub published: bool,
    /// Deepest-order tiles made (or removed).
    pub deepest_tiles: usize,
    /// Tiles of every order made.
    pub tiles: usize,
    /// Images that contributed.
    pub images: usize,
    /// Images left out (no WCS, no defined pixel, unreadable), with the reason.
    pub skipped: Vec<(String, String)>,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// Reads the manifest of the current version of `id`.
pub fn current_manifest(layout: &Layout, id: &str) -> Option<Manifest> {
    let dir = layout.current(id)?;
    let text = std::fs::read_to_string(dir.join(MANIFEST)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Builds HiPS `key` from `images`: whole (`full`, or when there is none yet, or when `order`
/// differs from the current one's, or when new images do not fit its pixel type), otherwise
/// only where images changed. The caller holds [`Layout::lock`] of the HiPS, and listed
/// `images` while holding it (an update from an older list would drop images another builder
/// has just added).
pub fn build(
    layout: &Layout,
    key: &HipsKey,
    images: &[SourceEntry],
    settings: &BuildSettings,
    order: Option<u8>,
    full: bool,
) -> Result<Report, HipsError> {
    let started = Instant::now();
    let id = key.id();
    let bits = crate::tile::width_bits(settings.tile_width).ok_or_else(|| HipsError::Settings {
        reason: format!(
            "tile width {} is not a power of two from 8 to 4096",
            settings.tile_width
        ),
    })?;
    let previous = if full {
        None
    } else {
        current_manifest(layout, &id)
            .filter(|m| order.is_none_or(|o| o == m.order) && m.tile_width == settings.tile_width)
    };
    let order = match (&previous, order) {
        (Some(m), _) => m.order,
        (None, Some(o)) => o.min(29 - bits),
        (None, None) => automatic_order(images, bits, settings.max_order),
    };
    // New or changed images of another pixel type than the HiPS's: made again whole, in the
    // type all its images now share.
    let previous = previous.filter(|m| {
        let changed: Vec<SourceEntry> = images
            .iter()
            .filter(|e| {
                m.images
                    .get(&e.did)
                    .is_none_or(|old| old.sha256 != e.sha256)
            })
            .cloned()
            .collect();
        changed.is_empty()
            || PixelType::common([m.pixel_type, pixel_type_of(&changed)]) == m.pixel_type
    });
    let combine = previous.as_ref().map_or(settings.combine, |m| m.combine);
    let pixel_type = match &previous {
        Some(m) => m.pixel_type,
        None => pixel_type_of(images),
    };
    // Each image's deepest tiles.
    let mut tiles_of: Vec<Vec<u64>> = Vec::with_capacity(images.len());
    for entry in images {
        tiles_of.push(cells(
            &SpaceMoc::of_shape(&entry.footprint, order).map_err(|e| HipsError::Image {
                path: entry.path.clone(),
                reason: format!("footprint: {e}"),
            })?,
            order,
        ));
    }
    // What to make.
    let touched: BTreeSet<u64> = match &previous {
        None => tiles_of.iter().flatten().copied().collect(),
        Some(m) => {
            let mut t = BTreeSet::new();
            let now: BTreeSet<&str> = images.iter().map(|e| e.did.as_str()).collect();
            for (entry, tiles) in images.iter().zip(&tiles_of) {
                match m.images.get(&entry.did) {
                    Some(old) if old.sha256 == entry.sha256 && &old.tiles == tiles => {}
                    Some(old) => {
                        t.extend(old.tiles.iter().copied());
                        t.extend(tiles.iter().copied());
                    }
                    None => t.extend(tiles.iter().copied()),
                }
            }
            for (did, old) in &m.images {
                if !now.contains(did.as_str()) {
                    t.extend(old.tiles.iter().copied());
                }
            }
            t
        }
    };
    let mut report = Report {
        id: id.clone(),
        order,
        published: false,
        deepest_tiles: touched.len(),
        tiles: 0,
        images: 0,
        skipped: Vec::new(),
        seconds: 0.0,
    };
    if previous.is_some() && touched.is_empty() {
        report.seconds = started.elapsed().as_secs_f64();
        return Ok(report);
    }
    let dir = layout.begin(&id, previous.is_some())?;
    let outcome = make(
        &dir,
        key,
        images,
        &tiles_of,
        &touched,
        previous.as_ref(),
        settings,
        order,
        bits,
        combine,
        &pixel_type,
        &mut report,
    );
    match outcome {
        Ok(()) => {
            layout.publish(&id, &dir)?;
            report.published = true;
            report.seconds = started.elapsed().as_secs_f64();
            Ok(report)
        }
        Err(e) => {
            layout.abandon(&dir);
            Err(e)
        }
    }
}

/// The deepest order for `images`: fine enough for their median pixel scale.
fn automatic_order(images: &[SourceEntry], bits: u8, max: u8) -> u8 {
    let mut scales: Vec<f64> = images.iter().filter_map(|e| e.pixel_arcsec).collect();
    scales.sort_by(f64::total_cmp);
    match scales.get(scales.len() / 2) {
        Some(s) => order_for_pixel(*s, bits, max.max(3)),
        None => 3.max(max.min(9)),
    }
}

/// The pixel type the images' science HDUs have in common (see [`PixelType::common`]);
/// images whose header cannot be read have no say (they are left out of the build anyway).
fn pixel_type_of(images: &[SourceEntry]) -> PixelType {
    PixelType::common(images.iter().filter_map(|e| {
        let h = skyport_fits::read_header(&e.path, e.science_hdu).ok()?;
        PixelType::of_image(
            h.i64("BITPIX")?,
            h.i64("BLANK"),
            h.f64("BSCALE"),
            h.f64("BZERO"),
        )
    }))
}

/// The cells at `order` a MOC made at `order` holds.
fn cells(moc: &SpaceMoc, order: u8) -> Vec<u64> {
    let shift = 2 * (29 - u32::from(order));
    let mut out = Vec::new();
    for r in moc.ranges() {
        let (first, last) = (r.start >> shift, (r.end - 1) >> shift);
        out.extend(first..=last);
    }
    out.dedup();
    out
}

/// Loaded images, the least recently used dropped first beyond the byte budget.
struct ImageCache<'a> {
    images: &'a [SourceEntry],
    mask: &'a MaskRule,
    budget: usize,
    loaded: Vec<(usize, Option<SourceImage>)>,
    skipped: BTreeMap<usize, String>,
}

impl ImageCache<'_> {
    fn get(&mut self, i: usize) -> Option<&SourceImage> {
        if self.skipped.contains_key(&i) {
            return None;
        }
        if let Some(at) = self.loaded.iter().position(|(k, _)| *k == i) {
            let hit = self.loaded.remove(at);
            self.loaded.push(hit);
        } else {
            let entry = &self.images[i];
            let image = match SourceImage::load(
                &entry.path,
                entry.science_hdu,
                entry.mask_hdu,
                self.mask,
            ) {
                Ok(Some(image)) => Some(image),
                Ok(None) => {
                    self.skipped
                        .insert(i, "no usable WCS or no defined pixel".into());
                    return None;
                }
                Err(e) => {
                    tracing::warn!(did = %entry.did, error = %e, "image left out of the HiPS");
                    self.skipped.insert(i, e.to_string());
                    return None;
                }
            };
            self.loaded.push((i, image));
            let mut total: usize = self
                .loaded
                .iter()
                .filter_map(|(_, m)| m.as_ref())
                .map(SourceImage::bytes)
                .sum();
            while total > self.budget && self.loaded.len() > 1 {
                let (_, dropped) = self.loaded.remove(0);
                total -= dropped.as_ref().map_or(0, SourceImage::bytes);
            }
        }
        self.loaded.last().and_then(|(_, m)| m.as_ref())
    }
}

/// At most every `SAMPLE_STRIDE`-th defined pixel of the deepest tiles goes into the
/// stretch's sample; fewer tiles are sampled more densely (down to every pixel), so a HiPS of
/// one small image still has a sample to choose its cut from.
const SAMPLE_STRIDE: usize = 31;
/// The stretch's sample holds at most this many values.
const SAMPLE_MAX: usize = 2_000_000;

#[allow(clippy::too_many_arguments)]
fn make(
    dir: &Path,
    key: &HipsKey,
    images: &[SourceEntry],
    tiles_of: &[Vec<u64>],
    touched: &BTreeSet<u64>,
    previous: Option<&Manifest>,
    settings: &BuildSettings,
    order: u8,
    bits: u8,
    combine: Combine,
    pixel_type: &PixelType,
    report: &mut Report,
) -> Result<(), HipsError> {
    let width = 1usize << bits;
    // Which images cover each tile to make.
    let mut over: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (i, tiles) in tiles_of.iter().enumerate() {
        for t in tiles.iter().filter(|t| touched.contains(t)) {
            over.entry(*t).or_default().push(i);
        }
    }
    // The deepest tiles, in nested order (neighbours share images), split into one run per
    // core; each run keeps its own cache within its share of the budget.
    let tiles: Vec<u64> = touched.iter().copied().collect();
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, tiles.len().max(1));
    // Runs of 16 neighbouring tiles dealt out in turn: each worker keeps neighbours together
    // (its cache hits) and no worker is left with all of one large image.
    let blocks: Vec<&[u64]> = tiles.chunks(16).collect();
    let shares: Vec<Vec<u64>> = (0..workers)
        .map(|k| {
            blocks
                .iter()
                .skip(k)
                .step_by(workers)
                .flat_map(|b| b.iter().copied())
                .collect()
        })
        .collect();
    let stride = (tiles.len() * width * width / SAMPLE_MAX).clamp(1, SAMPLE_STRIDE);
    let runs = each_in_a_thread(shares, |mine: Vec<u64>| {
        deep_run(
            dir, &mine, &over, images, settings, order, bits, combine, pixel_type, stride, workers,
        )
    });
    let mut sample: Vec<f32> = Vec::new();
    let mut range = (f32::INFINITY, f32::NEG_INFINITY);
    let mut made: Vec<TileId> = Vec::new();
    let mut contributed = BTreeSet::new();
    let mut skipped = BTreeMap::new();
    for run in runs? {
        sample.extend(run.sample);
        range = (range.0.min(run.range.0), range.1.max(run.range.1));
        made.extend(run.made);
        contributed.extend(run.contributed);
        skipped.extend(run.skipped);
    }
    report.images = contributed.len();
    report.skipped = skipped
        .iter()
        .map(|(i, why)| (images[*i].did.clone(), why.clone()))
        .collect();
    // The orders above, from the tiles below.
    let mut level: BTreeSet<TileId> = made.iter().copied().collect();
    for _ in 0..order {
        let parents: BTreeSet<TileId> = level.iter().filter_map(TileId::parent).collect();
        for parent in &parents {
            let mut pixels = TilePixels::blank(width);
            for (k, child) in parent.children().iter().enumerate() {
                if let Some(c) = read_tile(dir, *child)? {
                    let (x0, y0) = child_quarter(k, width);
                    pixels.place(&c.halved(), x0, y0);
                }
            }
            store_tile(dir, *parent, &pixels, pixel_type)?;
            made.push(*parent);
        }
        level = parents;
    }
    report.tiles = made.len();
    // One stretch for the whole HiPS: chosen at the first build, kept by updates.
    let (cut, data_range) = match previous {
        Some(m) => (
            m.cut,
            (m.data_range.0.min(range.0), m.data_range.1.max(range.1)),
        ),
        None => {
            sample.sort_by(f32::total_cmp);
            let levels = Levels::from_sorted(&sample, settings.stretch);
            let range = if range.0.is_finite() {
                range
            } else {
                (0.0, 0.0)
            };
            ((levels.low, levels.high), range)
        }
    };
    let stretch = match previous.map(|m| m.stretch.as_str()) {
        Some("zscale") => Stretch::Zscale,
        Some(_) => Stretch::Asinh,
        None => settings.stretch,
    };
    let greys = render::Greys::new(&Levels {
        low: cut.0,
        high: cut.1,
        stretch,
    });
    // PNG tiles, one run per core.
    let per_run = made.len().div_ceil(workers).max(1);
    each_in_a_thread(made.chunks(per_run).collect(), |chunk: &[TileId]| {
        for tile in chunk {
            let png_path = dir.join(tile.path("png"));
            match read_tile(dir, *tile)? {
                Some(pixels) => write_file(&png_path, &render::png(&pixels, &greys)?)?,
                None => remove_file(&png_path)?,
            }
        }
        Ok(())
    })?;
    // The all-sky mosaics, from every order-3 tile there is.
    if order >= 3 {
        let mut order3 = Vec::new();
        for npix in 0..768u64 {
            if let Some(t) = read_tile(dir, TileId { order: 3, npix })? {
                order3.push((npix, t));
            }
        }
        let mosaic = render::allsky(&order3, width);
        let allsky = dir.join("Norder3").join("Allsky.fits");
        write_file(
            &allsky,
            &fits_tile::encode(&mosaic, pixel_type, &[("ORDER", "3".into())]),
        )?;
        write_file(
            &allsky.with_extension("png"),
            &render::png(&mosaic, &greys)?,
        )?;
    }
    // Coverage: the footprints' cells at the deepest order.
    let mocs: Vec<SpaceMoc> = images
        .iter()
        .filter_map(|e| SpaceMoc::of_shape(&e.footprint, order).ok())
        .collect();
    let moc = SpaceMoc::union_all(mocs.iter(), order);
    write_file(
        &dir.join("Moc.fits"),
        &moc.to_fits().map_err(|e| HipsError::Render {
            reason: format!("MOC: {e}"),
        })?,
    )?;
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%MZ").to_string();
    let manifest = Manifest {
        id: key.id(),
        collection: key.collection.clone(),
        band: key.band.clone(),
        order,
        tile_width: width,
        combine,
        stretch: match stretch {
            Stretch::Asinh => "asinh".into(),
            Stretch::Zscale => "zscale".into(),
        },
        cut,
        data_range,
        pixel_type: *pixel_type,
        created: previous
            .map(|m| m.created.clone())
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| now.clone()),
        built: now,
        images: images
            .iter()
            .zip(tiles_of)
            .map(|(e, t)| {
                (
                    e.did.clone(),
                    ManifestImage {
                        sha256: e.sha256.clone(),
                        tiles: t.clone(),
                    },
                )
            })
            .collect(),
    };
    let props = crate::properties::of(&manifest, images, &moc, settings);
    write_file(&dir.join("properties"), props.as_bytes())?;
    write_file(
        &dir.join(MANIFEST),
        serde_json::to_string(&manifest)
            .map_err(|e| HipsError::Render {
                reason: e.to_string(),
            })?
            .as_bytes(),
    )?;
    Ok(())
}

/// Runs `work` on each input in a thread of its own (inputs are a share of the work per core)
/// and gathers the results in order; the first error wins.
fn each_in_a_thread<I: Send, T: Send>(
    inputs: Vec<I>,
    work: impl Fn(I) -> Result<T, HipsError> + Sync,
) -> Result<Vec<T>, HipsError> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = inputs
            .into_iter()
            .map(|input| {
                let work = &work;
                scope.spawn(move || work(input))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(HipsError::Render {
                        reason: "BUG: a HiPS worker panicked".into(),
                    })
                })
            })
            .collect()
    })
}

/// What one run of deepest tiles made.
struct DeepRun {
    made: Vec<TileId>,
    sample: Vec<f32>,
    range: (f32, f32),
    contributed: BTreeSet<usize>,
    skipped: BTreeMap<usize, String>,
}

/// Makes the deepest tiles `tiles` from the images `over` each.
#[allow(clippy::too_many_arguments)]
fn deep_run(
    dir: &Path,
    tiles: &[u64],
    over: &BTreeMap<u64, Vec<usize>>,
    images: &[SourceEntry],
    settings: &BuildSettings,
    order: u8,
    bits: u8,
    combine: Combine,
    pixel_type: &PixelType,
    stride: usize,
    runs: usize,
) -> Result<DeepRun, HipsError> {
    let width = 1usize << bits;
    let mut cache = ImageCache {
        images,
        mask: &settings.mask,
        budget: settings.cache_bytes / runs.max(1),
        loaded: Vec::new(),
        skipped: BTreeMap::new(),
    };
    let mut run = DeepRun {
        made: Vec::with_capacity(tiles.len()),
        sample: Vec::new(),
        range: (f32::INFINITY, f32::NEG_INFINITY),
        contributed: BTreeSet::new(),
        skipped: BTreeMap::new(),
    };
    let sample_max = SAMPLE_MAX / runs.max(1);
    let mut defined = 0usize;
    for &npix in tiles {
        let tile = TileId { order, npix };
        let mut acc = Accumulator::new(width * width, combine);
        for &i in over.get(&npix).map(Vec::as_slice).unwrap_or(&[]) {
            if let Some(image) = cache.get(i) {
                image.sample_into(tile, bits, &mut acc);
                run.contributed.insert(i);
            }
        }
        let pixels = TilePixels {
            width,
            values: acc.finish(),
        };
        for v in pixels.values.iter().filter(|v| v.is_finite()) {
            run.range = (run.range.0.min(*v), run.range.1.max(*v));
            if defined.is_multiple_of(stride) && run.sample.len() < sample_max {
                run.sample.push(*v);
            }
            defined += 1;
        }
        store_tile(dir, tile, &pixels, pixel_type)?;
        run.made.push(tile);
    }
    run.skipped = cache.skipped;
    Ok(run)
}

fn tile_path(dir: &Path, tile: TileId) -> PathBuf {
    dir.join(tile.path("fits"))
}

/// Writes a tile, or removes it (FITS and PNG) when it holds nothing.
fn store_tile(
    dir: &Path,
    tile: TileId,
    pixels: &TilePixels,
    pixel_type: &PixelType,
) -> Result<(), HipsError> {
    let path = tile_path(dir, tile);
    if pixels.is_blank() {
        remove_file(&path)?;
        return remove_file(&dir.join(tile.path("png")));
    }
    let cards = [
        ("ORDER", tile.order.to_string()),
        ("NPIX", tile.npix.to_string()),
    ];
    write_file(&path, &fits_tile::encode(pixels, pixel_type, &cards))
}

fn read_tile(dir: &Path, tile: TileId) -> Result<Option<TilePixels>, HipsError> {
    let path = tile_path(dir, tile);
    match std::fs::read(&path) {
        Ok(bytes) => fits_tile::decode(&bytes, &path).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(HipsError::Io { path, source }),
    }
}
