//! Fuzz target: any text through the DALI and STC-S shape parsers of skyport-sky, the two ways a
//! geometry enters skyport from outside (SODA `CIRCLE`/`POLYGON`/`POS` parameters and ADQL
//! `CAST(… AS POINT)` read DALI text; ObsCore `s_region` and ADQL `REGION('…')` read STC-S).
//!
//! Properties of every shape that parses:
//! * its numbers are finite and in range (RA in [0, 360), Dec in [-90, 90], radius in [0, 180]),
//!   as are its area, centroid and bounding box;
//! * a point and a circle's centre lie in their own shape (CONTAINS includes the boundary);
//! * the DALI text it prints and its binary encoding read back to exactly the same shape,
//! * its STC-S text (coordinates rounded to 1e-10 degree) reads back to a shape of the same
//!   kind within 1e-9 degree, whenever the rounding cannot change it (see `stcs_is_stable`);
//! * for a text made only of numbers, `parse_stcs("POSITION|CIRCLE|POLYGON " + text)` and
//!   `parse_dali` agree.
//!
//! Run: `scripts/fuzz sky_shapes SECONDS`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use skyport_fuzz::{within_ceiling, Ceiling};
use skyport_sky::{angular_separation, parse_dali, parse_stcs, DaliKind, Shape, SkyPoint, Vec3};

/// Heap per input byte. A polygon vertex costs at least four bytes of text (`0 0 `) and is
/// held as a point with its unit vector (40 bytes) in the polygon, again in its edges and in
/// the DALI text, binary and STC-S copies the target reads back: a few hundred bytes per
/// vertex in all, under 256 per byte.
const CEILING: Ceiling = Ceiling {
    per_byte: 256,
    slack: 1 << 20,
};

const KINDS: [DaliKind; 3] = [DaliKind::Point, DaliKind::Circle, DaliKind::Polygon];

fn kind_of(s: &Shape) -> DaliKind {
    match s {
        Shape::Point(_) => DaliKind::Point,
        Shape::Circle { .. } => DaliKind::Circle,
        Shape::Polygon(_) => DaliKind::Polygon,
    }
}

fn check_point(p: &SkyPoint, what: &str) {
    assert!(
        p.ra.is_finite() && (0.0..360.0).contains(&p.ra),
        "{what}: RA {} outside [0, 360)",
        p.ra
    );
    assert!(
        p.dec.is_finite() && (-90.0..=90.0).contains(&p.dec),
        "{what}: Dec {} outside [-90, 90]",
        p.dec
    );
}

/// Range and finiteness of everything a parsed shape reports.
fn check_numbers(s: &Shape) {
    for x in s.to_dali() {
        assert!(x.is_finite(), "non-finite number in {s:?}");
    }
    match s {
        Shape::Point(p) => check_point(p, "point"),
        Shape::Circle { center, radius } => {
            check_point(center, "circle centre");
            assert!((0.0..=180.0).contains(radius), "radius {radius}");
        }
        Shape::Polygon(p) => {
            assert!(p.vertices().len() >= 3, "polygon with {:?}", p.vertices());
            for v in p.vertices() {
                check_point(v, "polygon vertex");
            }
        }
    }
    let area = s.area();
    assert!(area.is_finite() && area >= 0.0, "area {area} of {s:?}");
    if matches!(s, Shape::Circle { .. }) {
        // The whole sky is 4π sr = 41252.96… square degrees.
        assert!(area <= 41_253.0, "circle area {area}");
    }
    check_point(&s.centroid(), "centroid");
    let bb = s.bounding_box();
    for i in 0..3 {
        let (lo, hi) = (bb[2 * i], bb[2 * i + 1]);
        assert!(
            lo.is_finite() && hi.is_finite() && -1.0 <= lo && lo <= hi && hi <= 1.0,
            "bounding box {bb:?} of {s:?}"
        );
    }
}

/// CONTAINS is "inside or on the boundary": a point is in itself, a circle holds its centre.
fn check_self_containment(s: &Shape) {
    match s {
        Shape::Point(_) => assert!(s.within(s), "point not within itself: {s:?}"),
        Shape::Circle { center, .. } => {
            let c = Shape::Point(*center);
            assert!(c.within(s), "circle does not contain its centre: {s:?}");
            assert!(
                s.intersects(&c),
                "circle does not intersect its centre: {s:?}"
            );
        }
        Shape::Polygon(_) => {}
    }
}

/// The sum skyport-sky uses to orient a polygon (Σ (vᵢ × vᵢ₊₁) · c, c the normalised vertex
/// mean); `None` when c is undefined.
fn signed_turn(v: &[SkyPoint]) -> Option<f64> {
    let vecs: Vec<Vec3> = v.iter().map(|p| p.to_vec3()).collect();
    let zero = Vec3 {
        x: 0.0,
        y: 0.0,
        z: 0.0,
    };
    let c = vecs.iter().fold(zero, |a, b| a + *b).normalized()?;
    Some(
        (0..vecs.len())
            .map(|i| vecs[i].cross(vecs[(i + 1) % vecs.len()]).dot(c))
            .sum(),
    )
}

/// True when rounding every coordinate to 1e-10 degree (what `to_stcs` prints) can neither
/// merge two vertices nor flip the polygon's orientation, so the STC-S text must read back to
/// the same vertices in the same order. Each coordinate moves by at most 5e-11 degree
/// (< 1e-12 rad), so each term of the turn sum moves by less than about 4e-12.
fn stcs_is_stable(s: &Shape) -> bool {
    let Shape::Polygon(p) = s else {
        return true;
    };
    let v = p.vertices();
    let n = v.len();
    let separated = (0..n).all(|i| angular_separation(v[i], v[(i + 1) % n]) > 1e-8);
    let turn_ok = signed_turn(v).is_some_and(|t| t.abs() > 1e-9 * n as f64);
    separated && turn_ok
}

fn close(a: &SkyPoint, b: &SkyPoint) -> bool {
    angular_separation(*a, *b) <= 1e-9
}

/// The STC-S text a shape prints reads back to the same shape, to the printed precision.
fn check_stcs_round_trip(s: &Shape) {
    let text = s.to_stcs();
    let back = parse_stcs(&text);
    if !stcs_is_stable(s) {
        // Rounding may have merged vertices or turned the polygon over; reading must still
        // not panic (it did not), and whatever it gives is a valid shape.
        if let Ok(b) = &back {
            check_numbers(b);
        }
        return;
    }
    let back = back.unwrap_or_else(|e| panic!("{s:?} printed as {text:?} does not read back: {e}"));
    let same = match (s, &back) {
        (Shape::Point(a), Shape::Point(b)) => close(a, b),
        (
            Shape::Circle {
                center: c1,
                radius: r1,
            },
            Shape::Circle {
                center: c2,
                radius: r2,
            },
        ) => close(c1, c2) && (r1 - r2).abs() <= 1e-9,
        (Shape::Polygon(a), Shape::Polygon(b)) => {
            a.vertices().len() == b.vertices().len()
                && a.vertices()
                    .iter()
                    .zip(b.vertices())
                    .all(|(p, q)| close(p, q))
        }
        _ => false,
    };
    assert!(same, "{s:?} printed as {text:?} reads back as {back:?}");
}

/// Everything a parsed shape must satisfy.
fn check_shape(s: &Shape) {
    check_numbers(s);
    check_self_containment(s);

    let dali = s.to_dali_text();
    let from_dali = parse_dali(kind_of(s), &dali);
    let decoded = Shape::decode(&s.encode());
    assert_eq!(
        from_dali.as_ref(),
        Ok(s),
        "DALI text {dali:?} does not read back"
    );
    assert_eq!(
        decoded.as_ref(),
        Ok(s),
        "binary encoding does not read back"
    );
    check_stcs_round_trip(s);
}

fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(s) = parse_stcs(text) {
        check_shape(&s);
    }
    let only_numbers = text.split_whitespace().all(|t| t.parse::<f64>().is_ok());
    for kind in KINDS {
        let dali = parse_dali(kind, text);
        if let Ok(s) = &dali {
            assert_eq!(kind_of(s), kind, "parse_dali({kind:?}) gave {s:?}");
            check_shape(s);
        }
        if only_numbers {
            // The same numbers as STC-S (no frame) are the same shape.
            let word = match kind {
                DaliKind::Point => "POSITION",
                DaliKind::Circle => "CIRCLE",
                DaliKind::Polygon => "POLYGON",
            };
            let stcs = parse_stcs(&format!("{word} {text}"));
            assert_eq!(
                stcs.as_ref().ok(),
                dali.as_ref().ok(),
                "STC-S {word} and DALI {kind:?} disagree on {text:?}"
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    within_ceiling(
        "sky_shapes",
        data.len(),
        CEILING,
        || run(data),
        |_| String::new(),
    );
});
