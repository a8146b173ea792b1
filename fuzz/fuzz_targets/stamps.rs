//! Fuzz target: arbitrary bytes as the `STAMPS` table a SODA client uploads (skyport-server,
//! `soda::request::parse`, the function the sync handler and the async runner call with the
//! uploaded part, and the most cutouts the request may make). The table is a VOTable (read with
//! `read_votable`) or text with a header line naming the columns (`ra`, `dec`, `size` or
//! `size_deg`/`size_arcmin`/`size_arcsec`/`size_pix`, optionally `id`), comma-, tab- or
//! space-separated; each row becomes one cutout request.
//!
//! Properties, beyond "no panic":
//! * every request is one the cutout planner can take: the centre on the sphere, a pixel box of
//!   1 to 1 000 000 pixels a side or a sky box (a polygon of four vertices on the sphere, three
//!   for a box below the polygons' duplicate tolerance), and an `id`, when there is one, not
//!   empty;
//! * no more requests than rows, nor than the request may make: at most one per line of a text
//!   table, and never more than a sync request's cutout limit (a longer table is refused);
//! * the label of each request names the unit its size was read in;
//! * the heap the parser takes at its peak is bounded by the table's size (`CEILING`).
//!
//! Run: `scripts/fuzz stamps SECONDS`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use skyport_fits::CutoutRegion;
use skyport_fuzz::{show, within_ceiling, Ceiling};
use skyport_server::dali::DaliParams;
use skyport_server::soda::request::{parse, SodaRequest};
use skyport_server::DaliError;
use skyport_sky::{Region, SkyPoint};

/// The most cutouts the request may make: a sync request's default limit.
const MAX_STAMPS: usize = 1_000;

/// Heap per input byte. A VOTable goes through `read_votable` first (at most 256 bytes per
/// byte, the `votable_upload` target's ceiling), and its rows become text cells and then
/// requests while the table is still held. A text row costs at least six bytes (`0 0 1\n`) and
/// becomes three cell strings in a row vector (about 100 bytes) and one request (a label of
/// about 20 bytes and a region: about 120 bytes), each vector doubling as it grows. 512 bytes
/// per byte allows for both with room to spare; a parser that made rows or cells out of
/// nothing would need far more.
const CEILING: Ceiling = Ceiling {
    per_byte: 512,
    slack: 8 << 20,
};

fn on_sphere(p: &SkyPoint) -> bool {
    (0.0..=360.0).contains(&p.ra) && (-90.0..=90.0).contains(&p.dec)
}

fn check(data: &[u8], r: &SodaRequest) {
    assert!(!r.targets.is_empty(), "a request without a region");
    // The parser's own test: text starting with `<` after white space is a VOTable.
    let votable = std::str::from_utf8(data).is_ok_and(|t| t.trim_start().starts_with('<'));
    let most = if votable {
        MAX_STAMPS
    } else {
        // The header line is one of the lines.
        data.split(|&b| b == b'\n' || b == b'\r')
            .count()
            .saturating_sub(1)
    };
    let most = most.min(MAX_STAMPS);
    assert!(
        r.targets.len() <= most,
        "{} requests from a table of at most {most} rows",
        r.targets.len()
    );
    for t in &r.targets {
        assert!(t.id.as_ref().is_none_or(|i| !i.is_empty()), "{t:?}");
        match &t.region {
            CutoutRegion::Pixels {
                center,
                width,
                height,
            } => {
                assert!(on_sphere(center), "{t:?}");
                assert!(width == height, "{t:?}");
                assert!((1..=1_000_000).contains(width), "{t:?}");
                let label = t.label.to_ascii_lowercase();
                assert!(
                    [" pix", " pixel", " pixels"]
                        .iter()
                        .any(|u| label.ends_with(u)),
                    "{t:?}"
                );
            }
            CutoutRegion::Sky(Region::Polygon(p)) => {
                // Four corners; three when two of them are closer than the polygon's duplicate
                // tolerance (1e-12 rad): a box of 1e-12° (found by the fuzzer) keeps three.
                assert!((3..=4).contains(&p.vertices().len()), "{t:?}");
                assert!(p.vertices().iter().all(on_sphere), "{t:?}");
                assert!(
                    ["deg", "arcmin", "arcsec"]
                        .iter()
                        .any(|u| t.label.to_ascii_lowercase().ends_with(&format!(" {u}"))),
                    "{t:?}"
                );
            }
            other => panic!("a stamp is a pixel or sky box, not {other:?}"),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let params = DaliParams::default();
    let parsed: Result<SodaRequest, DaliError> = within_ceiling(
        "stamps",
        data.len(),
        CEILING,
        || parse(&params, Some(data), MAX_STAMPS),
        |r| match r {
            Ok(r) => format!("{} requests", r.targets.len()),
            Err(e) => e.to_string(),
        },
    );
    if show() {
        eprintln!("{parsed:#?}");
    }
    if let Ok(r) = parsed {
        check(data, &r);
    }
});
