//! The `properties` file of a HiPS (HiPS 1.0 §4.4): every keyword the standard requires, the
//! initial view, the coverage fraction and the pixel cut.

use skyport_sky::SpaceMoc;

use crate::build::{BuildSettings, Manifest};
use crate::render;
use crate::source::SourceEntry;

/// The HiPS version written.
pub const HIPS_VERSION: &str = "1.4";

/// The properties of the HiPS `manifest` describes, made of `images` covering `moc`.
pub fn of(
    manifest: &Manifest,
    images: &[SourceEntry],
    moc: &SpaceMoc,
    settings: &BuildSettings,
) -> String {
    let band_suffix = manifest
        .band
        .as_deref()
        .map(|b| format!("/{b}"))
        .unwrap_or_default();
    let title = match &manifest.band {
        Some(b) => format!("{} {} band ({})", manifest.collection, b, settings.title),
        None => format!("{} ({})", manifest.collection, settings.title),
    };
    let (ra, dec, fov) = initial_view(images);
    let mut entries: Vec<(&str, String)> = vec![
        (
            "creator_did",
            format!(
                "ivo://{}/P/{}{}",
                settings.authority, manifest.collection, band_suffix
            ),
        ),
        ("obs_title", title),
        ("obs_collection", manifest.collection.clone()),
        ("dataproduct_type", "image".into()),
        ("hips_version", HIPS_VERSION.into()),
        (
            "hips_builder",
            format!("skyport {}", env!("CARGO_PKG_VERSION")),
        ),
        ("hips_creator", settings.title.clone()),
        ("hips_creation_date", manifest.created.clone()),
        ("hips_release_date", manifest.built.clone()),
        ("hips_status", "public master unclonable".into()),
        ("hips_tile_format", "fits png".into()),
        ("hips_tile_width", manifest.tile_width.to_string()),
        ("hips_order", manifest.order.to_string()),
        ("hips_frame", "equatorial".into()),
        ("hips_pixel_bitpix", manifest.pixel_type.bitpix.to_string()),
        (
            "hips_pixel_cut",
            format!("{} {}", manifest.cut.0, manifest.cut.1),
        ),
        (
            "hips_data_range",
            format!("{} {}", manifest.data_range.0, manifest.data_range.1),
        ),
        ("hips_initial_ra", format!("{ra}")),
        ("hips_initial_dec", format!("{dec}")),
        ("hips_initial_fov", format!("{fov}")),
        ("moc_sky_fraction", format!("{:.8}", moc.sky_fraction())),
        (
            "prov_progenitor",
            format!(
                "{} images of collection {} ({})",
                manifest.images.len(),
                manifest.collection,
                settings.title
            ),
        ),
    ];
    entries.push((
        "obs_description",
        match &manifest.band {
            Some(b) => format!("Images of collection {} in band {b}", manifest.collection),
            None => format!("Images of collection {}", manifest.collection),
        },
    ));
    if let Some((lo, hi)) = span(images, |e| e.em) {
        entries.push(("em_min", format!("{lo}")));
        entries.push(("em_max", format!("{hi}")));
        entries.push(("obs_regime", regime((lo * hi).sqrt()).into()));
    }
    if let Some((lo, hi)) = span(images, |e| e.time) {
        entries.push(("t_min", format!("{lo}")));
        entries.push(("t_max", format!("{hi}")));
    }
    render::properties(&entries)
}

/// The smallest start and largest end of the images' intervals (`of` each image's), when any
/// image has both ends.
fn span(
    images: &[SourceEntry],
    of: impl Fn(&SourceEntry) -> (Option<f64>, Option<f64>),
) -> Option<(f64, f64)> {
    images
        .iter()
        .filter_map(|e| match of(e) {
            (Some(a), Some(b)) => Some((a, b)),
            _ => None,
        })
        .reduce(|x, y| (x.0.min(y.0), x.1.max(y.1)))
}

/// The IVOA regime (HiPS 1.0 §4.4.1 `obs_regime`, from the IVOA vocabulary) of a wavelength in
/// metres.
pub fn regime(wavelength: f64) -> &'static str {
    match wavelength {
        w if w >= 1e-3 => "Radio",
        w if w >= 1e-4 => "Millimeter",
        w if w >= 1.1e-6 => "Infrared",
        w if w >= 3e-7 => "Optical",
        w if w >= 1e-7 => "UV",
        w if w >= 1e-8 => "EUV",
        w if w >= 1e-11 => "X-ray",
        _ => "Gamma-ray",
    }
}

/// Where a viewer opening the HiPS first looks: the centre of the image nearest the middle of
/// them all (the middle itself may fall between fields, where there is nothing to see) and a
/// field that holds every image (degrees, at most the whole sky).
fn initial_view(images: &[SourceEntry]) -> (f64, f64, f64) {
    let centres: Vec<skyport_sky::SkyPoint> =
        images.iter().map(|e| e.footprint.centroid()).collect();
    let (mut x, mut y, mut z) = (0.0, 0.0, 0.0);
    for c in &centres {
        let v = c.to_vec3();
        x += v.x;
        y += v.y;
        z += v.z;
    }
    let norm = (x * x + y * y + z * z).sqrt();
    let middle = if norm > 1e-9 {
        skyport_sky::SkyPoint::new(y.atan2(x).to_degrees(), (z / norm).asin().to_degrees()).ok()
    } else {
        None
    };
    let Some(middle) = middle else {
        return (0.0, 0.0, 180.0);
    };
    let Some(centre) = centres.iter().copied().min_by(|a, b| {
        skyport_sky::angular_separation(middle, *a)
            .total_cmp(&skyport_sky::angular_separation(middle, *b))
    }) else {
        return (0.0, 0.0, 180.0);
    };
    let mut radius: f64 = 0.0;
    for e in images {
        if let skyport_sky::Shape::Polygon(p) = &e.footprint {
            for v in p.vertices() {
                radius = radius.max(skyport_sky::angular_separation(centre, *v));
            }
        }
    }
    (centre.ra, centre.dec, (2.0 * radius).clamp(0.01, 180.0))
}
