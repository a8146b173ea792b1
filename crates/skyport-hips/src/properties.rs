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
        ("hips_release_date", manifest.built.clone()),
        ("hips_status", "public master unclonable".into()),
        ("hips_tile_format", "fits png".into()),
        ("hips_tile_width", manifest.tile_width.to_string()),
        ("hips_order", manifest.order.to_string()),
        ("hips_order_min", "0".into()),
        ("hips_frame", "equatorial".into()),
        ("hips_pixel_bitpix", "-32".into()),
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
        ("moc_order", moc.order().to_string()),
    ];
    if let Some(b) = &manifest.band {
        entries.push((
            "obs_description",
            format!("Images of collection {} in band {b}", manifest.collection),
        ));
    }
    let em: Vec<(f64, f64)> = images
        .iter()
        .filter_map(|e| Some((e.em.0?, e.em.1?)))
        .collect();
    if !em.is_empty() {
        let lo = em.iter().map(|e| e.0).fold(f64::INFINITY, f64::min);
        let hi = em.iter().map(|e| e.1).fold(f64::NEG_INFINITY, f64::max);
        entries.push(("em_min", format!("{lo}")));
        entries.push(("em_max", format!("{hi}")));
    }
    let t: Vec<(f64, f64)> = images
        .iter()
        .filter_map(|e| Some((e.time.0?, e.time.1?)))
        .collect();
    if !t.is_empty() {
        let lo = t.iter().map(|e| e.0).fold(f64::INFINITY, f64::min);
        let hi = t.iter().map(|e| e.1).fold(f64::NEG_INFINITY, f64::max);
        entries.push(("t_min", format!("{lo}")));
        entries.push(("t_max", format!("{hi}")));
    }
    render::properties(&entries)
}

/// Where a viewer opening the HiPS first looks: the centre of the images' footprints and a
/// field that holds them (degrees), or the whole sky when they are spread over it.
fn initial_view(images: &[SourceEntry]) -> (f64, f64, f64) {
    if images.is_empty() {
        return (0.0, 0.0, 180.0);
    }
    let (mut x, mut y, mut z) = (0.0, 0.0, 0.0);
    for e in images {
        let v = e.footprint.centroid().to_vec3();
        x += v.x;
        y += v.y;
        z += v.z;
    }
    let norm = (x * x + y * y + z * z).sqrt();
    if norm < 1e-9 * images.len() as f64 {
        return (0.0, 0.0, 180.0);
    }
    let dec = (z / norm).asin().to_degrees();
    let ra = y.atan2(x).to_degrees().rem_euclid(360.0);
    let centre =
        skyport_sky::SkyPoint::new(ra, dec).unwrap_or(skyport_sky::SkyPoint { ra: 0.0, dec: 0.0 });
    let mut radius: f64 = 0.0;
    for e in images {
        if let skyport_sky::Shape::Polygon(p) = &e.footprint {
            for v in p.vertices() {
                radius = radius.max(skyport_sky::angular_separation(centre, *v));
            }
        }
    }
    (ra, dec, (2.0 * radius).clamp(0.01, 180.0))
}
