//! Fuzz target: a query string or `application/x-www-form-urlencoded` body through skyport's
//! DALI parameter handling (skyport-server): `DaliParams::read_urlencoded`, then every reader of
//! the parameters a client sends — TAP's (`LANG`, `QUERY`, `MAXREC`, `RESPONSEFORMAT`/`FORMAT`,
//! `UPLOAD`, `RUNID`: `tap::request::parse`), SIA's (`POS` with CIRCLE/RANGE/POLYGON, `BAND`,
//! `TIME`, `POL`, `FOV`…, `ID`, `CALIB`: `sia::query::adql`, which writes the ADQL a search
//! runs), SODA's (`POS`, `CIRCLE`, `POLYGON`, `BRECT`, `BAND`, `TIME`, `CUTOUTDETAIL`,
//! `COMPRESSION`, `RESPONSEFORMAT`, an inline `STAMPS`: `soda::request::parse_parts`), and
//! `MAXREC`, `RESPONSEFORMAT` and DALI intervals on their own.
//!
//! Properties, beyond "no panic":
//! * the parameters read back unchanged when each name and value is percent-encoded again, and
//!   none holds a NUL character;
//! * MAXREC never comes out above the hard limit, and is the value given when it is below it;
//! * a TAP request has a non-blank query, at most `upload_max_tables` uploads with distinct
//!   names, a RUNID of at most 64 characters;
//! * the ADQL SIA writes for accepted parameters parses (skyport-adql), when it is within the
//!   TAP query limit that the SIA service applies to it;
//! * SODA regions are what their checks promise: radii in (0, 180], positions on the sphere,
//!   polygons of at most `MAX_POLYGON_VERTICES` vertices, ranges with increasing latitudes and a
//!   span in (0, 360], pixel boxes of 1 to 1 000 000 pixels a side; intervals with lo ≤ hi;
//! * the heap all of it takes at its peak is bounded by the input's size (`CEILING`), and the
//!   heap parsing SIA's ADQL takes by that ADQL's size (`ADQL_CEILING`).
//!
//! Run: `scripts/fuzz dali_params SECONDS`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use skyport_fits::CutoutRegion;
use skyport_fuzz::{show, within_ceiling, Ceiling};
use skyport_server::dali::format::{maxrec, output_format};
use skyport_server::dali::interval::{interval, Interval};
use skyport_server::dali::shapes::MAX_POLYGON_VERTICES;
use skyport_server::dali::DaliParams;
use skyport_server::sia::query::adql;
use skyport_server::soda::request::parse_parts;
use skyport_server::tap::request as tap_request;
use skyport_server::Limits;
use skyport_sky::{Region, SkyPoint};

/// Heap per input byte, for reading the parameters and everything made of them except the
/// parsing of SIA's ADQL (measured on its own, `ADQL_CEILING`). A one-byte pair (`a&`) is a
/// 48-byte entry of the pairs' vector, which doubles as it grows; a SODA polygon vertex costs
/// at least four bytes (`0 0 `) and is a point of 40 bytes, held again in the polygon's
/// checks; an SIA term is a few dozen bytes of ADQL per value, copied once per level of the
/// balanced OR tree that joins the values. 512 bytes per byte is several times any of those.
/// SIA's ADQL itself is bounded as a whole, by the TAP query limit (`query_max_bytes`,
/// 256 KiB), whatever the parameters: one `POS=RANGE` of 20 bytes is some 35 kB of ADQL on its
/// own, which the slack allows for.
const CEILING: Ceiling = Ceiling {
    per_byte: 512,
    slack: 1 << 20,
};

/// Heap per byte of the ADQL SIA writes, while it is parsed: the `adql_parse` target's ceiling.
const ADQL_CEILING: Ceiling = Ceiling {
    per_byte: 1024,
    slack: 1 << 20,
};

fn on_sphere(p: &SkyPoint) -> bool {
    (0.0..=360.0).contains(&p.ra) && (-90.0..=90.0).contains(&p.dec)
}

fn check_interval(what: &str, i: &Interval) {
    if let (Some(lo), Some(hi)) = (i.lo, i.hi) {
        assert!(lo <= hi, "{what}: {i:?}");
        assert!(lo.is_finite() && hi.is_finite(), "{what}: {i:?}");
    }
}

fn check_region(label: &str, r: &CutoutRegion) {
    match r {
        CutoutRegion::Pixels {
            center,
            width,
            height,
        } => {
            assert!(on_sphere(center), "{label}: {center:?}");
            assert!(
                (1..=1_000_000).contains(width) && (1..=1_000_000).contains(height),
                "{label}: {width} × {height} pixels"
            );
        }
        CutoutRegion::Sky(Region::Circle { center, radius }) => {
            assert!(on_sphere(center), "{label}: {center:?}");
            assert!(
                *radius > 0.0 && *radius <= 180.0,
                "{label}: radius {radius}"
            );
        }
        CutoutRegion::Sky(Region::Polygon(p)) => {
            let n = p.vertices().len();
            assert!(
                (3..=MAX_POLYGON_VERTICES).contains(&n),
                "{label}: {n} vertices"
            );
            assert!(p.vertices().iter().all(on_sphere), "{label}: {p:?}");
        }
        CutoutRegion::Sky(Region::Range {
            lon_min,
            lon_span,
            lat_min,
            lat_max,
        }) => {
            assert!((0.0..360.0).contains(lon_min), "{label}: lon_min {lon_min}");
            assert!(
                *lon_span > 0.0 && *lon_span <= 360.0,
                "{label}: span {lon_span}"
            );
            assert!(
                -90.0 <= *lat_min && lat_min < lat_max && *lat_max <= 90.0,
                "{label}: latitudes {lat_min} {lat_max}"
            );
        }
    }
}

/// Reads and checks the parameters; returns the ADQL SIA writes for them, if any.
fn run(data: &[u8], limits: &Limits) -> Option<String> {
    let Ok(params) = DaliParams::read_urlencoded(data) else {
        return None;
    };

    // The pairs read back unchanged once encoded again.
    let encoded = params
        .pairs()
        .map(|(k, v)| {
            assert!(!k.contains('\0') && !v.contains('\0'), "NUL in {k:?}={v:?}");
            format!(
                "{}={}",
                utf8_percent_encode(k, NON_ALPHANUMERIC),
                utf8_percent_encode(v, NON_ALPHANUMERIC)
            )
        })
        .collect::<Vec<_>>()
        .join("&");
    let again = DaliParams::read_urlencoded(encoded.as_bytes())
        .unwrap_or_else(|e| panic!("{encoded:?} does not read again: {e}"));
    // A pair whose name and value are both empty (`=`) is written as `=` and read back as
    // such; nothing is lost.
    assert!(
        params.pairs().eq(again.pairs()),
        "{:?} read back as {:?}",
        params.pairs().collect::<Vec<_>>(),
        again.pairs().collect::<Vec<_>>()
    );

    if let Ok(m) = maxrec(&params, limits) {
        assert!(m <= limits.maxrec_hard, "MAXREC {m}");
        if let Ok(Some(given)) = params.integer("MAXREC", 0, i64::MAX) {
            assert_eq!(m, (given as u64).min(limits.maxrec_hard));
        }
    }
    if let Ok(f) = params.single("RESPONSEFORMAT") {
        let _ = output_format("RESPONSEFORMAT", f);
    }
    for name in ["BAND", "TIME"] {
        for v in params.all(name) {
            if let Ok(i) = interval(name, v) {
                check_interval(name, &i);
            }
        }
    }

    match tap_request::parse(&params, limits) {
        Ok(r) => {
            assert!(!r.query.trim().is_empty());
            assert!(r.maxrec <= limits.maxrec_hard);
            assert!(r.uploads.len() <= limits.upload_max_tables);
            let mut names: Vec<String> = r
                .uploads
                .iter()
                .map(|u| u.name.to_ascii_lowercase())
                .collect();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), r.uploads.len(), "{:?}", r.uploads);
            assert!(r.run_id.as_ref().is_none_or(|id| id.chars().count() <= 64));
            if show() {
                eprintln!("TAP: {r:?}");
            }
        }
        Err(e) if show() => eprintln!("TAP: {e}"),
        Err(_) => {}
    }

    let values = |name: &str| params.all(name).into_iter().map(str::to_string).collect();
    let sia = match adql(&values, limits.query_max_bytes, false) {
        Ok(q) => Some(q),
        Err(e) => {
            if show() {
                eprintln!("SIA: {e}");
            }
            None
        }
    };

    match parse_parts(&params, None, limits.soda_sync_max_cutouts) {
        Ok(r) => {
            for t in &r.targets {
                check_region(&t.label, &t.region);
            }
            for i in r.band.iter().chain(&r.time) {
                check_interval("SODA", i);
            }
            assert!(r.ids.iter().all(|i| !i.trim().is_empty()));
            if show() {
                eprintln!("SODA: {r:?}");
            }
        }
        Err(e) if show() => eprintln!("SODA: {e}"),
        Err(_) => {}
    }
    sia
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let sia = within_ceiling(
        "dali_params",
        data.len(),
        CEILING,
        || run(data, &limits),
        |q| match q {
            Some(q) => format!("SIA wrote {} bytes of ADQL", q.len()),
            None => String::new(),
        },
    );
    // TAP refuses a query over `query_max_bytes` before parsing it, SIA's as any other.
    if let Some(q) = sia.filter(|q| q.len() <= limits.query_max_bytes) {
        let parsed = within_ceiling(
            "dali_params (SIA's ADQL)",
            q.len(),
            ADQL_CEILING,
            || skyport_adql::parse(&q).map(|_| ()),
            |_| String::new(),
        );
        if let Err(e) = parsed {
            panic!("SIA wrote ADQL that does not parse ({e}): {q}");
        }
        if show() {
            eprintln!("SIA: {q}");
        }
    }
});
