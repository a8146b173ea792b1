//! Geometry checked against independent formulas: haversine distances, closed-form areas, and
//! hand-placed points across RA = 0/360 and at the poles.

use skyport_sky::{parse_stcs, Shape, SkyPoint};

fn p(ra: f64, dec: f64) -> SkyPoint {
    SkyPoint::new(ra, dec).expect("valid point")
}

/// Great-circle distance by the haversine formula (independent of the crate's vector code).
fn haversine(a: SkyPoint, b: SkyPoint) -> f64 {
    let (d1, d2) = (a.dec.to_radians(), b.dec.to_radians());
    let dd = d2 - d1;
    let dr = (b.ra - a.ra).to_radians();
    let h = (dd / 2.0).sin().powi(2) + d1.cos() * d2.cos() * (dr / 2.0).sin().powi(2);
    (2.0 * h.sqrt().asin()).to_degrees()
}

#[test]
fn circle_containment_matches_haversine_across_the_wrap_and_poles() {
    let circles = [
        (0.2, 10.0, 1.0),
        (359.9, -5.0, 2.0),
        (45.0, 89.5, 1.0),
        (200.0, -89.9, 0.5),
    ];
    let mut checked = 0;
    for (ra, dec, r) in circles {
        let circle = Shape::circle(p(ra, dec), r).unwrap();
        for i in 0..60 {
            for j in 0..30 {
                let q = p(f64::from(i) * 6.0 + 0.13, -89.0 + f64::from(j) * 6.1);
                let inside = haversine(p(ra, dec), q) <= r;
                assert_eq!(
                    Shape::Point(q).within(&circle),
                    inside,
                    "{q:?} in {ra},{dec},{r}"
                );
                checked += 1;
            }
            // Points close to the centre, on both sides of RA 0.
            let q = p(ra + f64::from(i - 30) * 0.05, dec.clamp(-89.95, 89.95));
            assert_eq!(
                Shape::Point(q).within(&circle),
                haversine(p(ra, dec), q) <= r
            );
        }
    }
    assert!(checked > 7000);
}

#[test]
fn polygon_across_ra_zero() {
    let poly = Shape::polygon(vec![
        p(359.0, -1.0),
        p(1.0, -1.0),
        p(1.0, 1.0),
        p(359.0, 1.0),
    ])
    .unwrap();
    assert!(Shape::Point(p(0.0, 0.0)).within(&poly));
    assert!(Shape::Point(p(359.5, 0.5)).within(&poly));
    assert!(Shape::Point(p(0.9, -0.9)).within(&poly));
    assert!(!Shape::Point(p(180.0, 0.0)).within(&poly));
    assert!(!Shape::Point(p(2.0, 0.0)).within(&poly));
    assert!(!Shape::Point(p(0.0, 1.5)).within(&poly));
    // Either vertex order gives the same (smaller) region.
    let reversed = Shape::polygon(vec![
        p(359.0, 1.0),
        p(1.0, 1.0),
        p(1.0, -1.0),
        p(359.0, -1.0),
    ])
    .unwrap();
    assert!(Shape::Point(p(0.0, 0.0)).within(&reversed));
    assert!(!Shape::Point(p(180.0, 0.0)).within(&reversed));
}

#[test]
fn polygon_around_the_pole() {
    let poly = Shape::polygon(vec![
        p(0.0, 85.0),
        p(90.0, 85.0),
        p(180.0, 85.0),
        p(270.0, 85.0),
    ])
    .unwrap();
    assert!(Shape::Point(p(123.0, 89.9)).within(&poly));
    assert!(Shape::Point(p(0.0, 90.0)).within(&poly));
    assert!(!Shape::Point(p(45.0, 80.0)).within(&poly));
    // Edges are great circles: between two vertices at dec 85 the edge bulges poleward to
    // dec 86.46 at RA 45 (atan(2 sin 85 / (√2 cos 85)) by hand), so points below it are outside.
    let top = (2.0 * 85f64.to_radians().sin() / (2f64.sqrt() * 85f64.to_radians().cos()))
        .atan()
        .to_degrees();
    assert!((top - 86.46).abs() < 0.01);
    assert!(!Shape::Point(p(45.0, 85.1)).within(&poly));
    assert!(!Shape::Point(p(45.0, top - 1e-6)).within(&poly));
    assert!(Shape::Point(p(45.0, top + 1e-6)).within(&poly));
}

#[test]
fn non_convex_polygon() {
    // A "U" shape: the notch at RA 1..2, Dec 1..3 is outside.
    let u = Shape::polygon(vec![
        p(0.0, 0.0),
        p(3.0, 0.0),
        p(3.0, 3.0),
        p(2.0, 3.0),
        p(2.0, 1.0),
        p(1.0, 1.0),
        p(1.0, 3.0),
        p(0.0, 3.0),
    ])
    .unwrap();
    assert!(Shape::Point(p(0.5, 2.0)).within(&u));
    assert!(Shape::Point(p(2.5, 2.0)).within(&u));
    assert!(Shape::Point(p(1.5, 0.5)).within(&u));
    assert!(!Shape::Point(p(1.5, 2.0)).within(&u));
}

#[test]
fn areas_match_closed_forms() {
    let sq_deg_per_sr = (180.0 / std::f64::consts::PI).powi(2);
    let r: f64 = 3.0;
    let cap = 2.0 * std::f64::consts::PI * (1.0 - r.to_radians().cos()) * sq_deg_per_sr;
    assert!((Shape::circle(p(10.0, 20.0), r).unwrap().area() - cap).abs() < 1e-9);
    // The octant triangle (0,0), (90,0), (0,90) is 1/8 of the sphere.
    let octant = Shape::polygon(vec![p(0.0, 0.0), p(90.0, 0.0), p(0.0, 90.0)]).unwrap();
    let expected = 4.0 * std::f64::consts::PI / 8.0 * sq_deg_per_sr;
    assert!((octant.area() - expected).abs() < 1e-6, "{}", octant.area());
    assert_eq!(Shape::Point(p(1.0, 2.0)).area(), 0.0);
}

#[test]
fn box_is_a_great_circle_polygon_of_the_right_size() {
    // At the equator a 2°×1° box has corners near (±1, ±0.5) and area ≈ 2 deg².
    let b = Shape::box_shape(p(0.0, 0.0), 2.0, 1.0).unwrap();
    let Shape::Polygon(poly) = &b else { panic!() };
    for v in poly.vertices() {
        let dra = if v.ra > 180.0 { v.ra - 360.0 } else { v.ra };
        assert!(
            (dra.abs() - 1.0).abs() < 1e-3 && (v.dec.abs() - 0.5).abs() < 1e-2,
            "{v:?}"
        );
    }
    assert!((b.area() - 2.0).abs() < 1e-3, "{}", b.area());
    // Its edge midpoints are exactly half a size from the centre along the arms.
    assert!(Shape::Point(p(0.0, 0.4999999)).within(&b));
    assert!(!Shape::Point(p(0.0, 0.5000001)).within(&b));
    assert!(Shape::Point(p(0.9999999, 0.0)).within(&b));
    assert!(!Shape::Point(p(1.0000001, 0.0)).within(&b));
    // Centred on the pole it is still a box of the same size.
    let polar = Shape::box_shape(p(0.0, 90.0), 2.0, 1.0).unwrap();
    assert!((polar.area() - b.area()).abs() < 1e-9);
}

#[test]
fn predicates_between_shapes() {
    let small = Shape::circle(p(10.0, 10.0), 0.5).unwrap();
    let big = Shape::circle(p(10.2, 10.0), 2.0).unwrap();
    let far = Shape::circle(p(20.0, 10.0), 1.0).unwrap();
    assert!(small.within(&big) && !big.within(&small));
    assert!(small.intersects(&big) && !small.intersects(&far));
    let square =
        Shape::polygon(vec![p(9.0, 9.0), p(11.0, 9.0), p(11.0, 11.0), p(9.0, 11.0)]).unwrap();
    assert!(small.within(&square));
    assert!(!square.within(&small) && square.within(&big));
    assert!(square.intersects(&small) && small.intersects(&square));
    let edge_touch = Shape::circle(p(12.0, 10.0), 1.05).unwrap();
    assert!(square.intersects(&edge_touch));
    let inner = Shape::polygon(vec![p(9.5, 9.5), p(10.5, 9.5), p(10.0, 10.5)]).unwrap();
    assert!(inner.within(&square) && !square.within(&inner));
    let crossing = Shape::polygon(vec![p(10.5, 10.5), p(12.0, 10.5), p(12.0, 12.0)]).unwrap();
    assert!(crossing.intersects(&square) && !crossing.within(&square));
    // A huge circle (radius > 90°) still contains a polygon far from its rim.
    let huge = Shape::circle(p(10.0, 10.0), 120.0).unwrap();
    assert!(square.within(&huge));
    let opposite = Shape::polygon(vec![p(189.0, -9.0), p(191.0, -9.0), p(191.0, -11.0)]).unwrap();
    assert!(!opposite.within(&huge));
}

#[test]
fn bounding_boxes_hold_their_shapes() {
    let shapes = [
        Shape::circle(p(0.0, 0.0), 5.0).unwrap(),
        Shape::circle(p(359.0, 89.0), 3.0).unwrap(),
        Shape::circle(p(100.0, -30.0), 150.0).unwrap(),
        Shape::box_shape(p(0.0, -90.0), 10.0, 10.0).unwrap(),
        Shape::polygon(vec![
            p(350.0, -1.0),
            p(10.0, -1.0),
            p(10.0, 1.0),
            p(350.0, 1.0),
        ])
        .unwrap(),
    ];
    for s in &shapes {
        let b = s.bounding_box();
        for i in 0..360 {
            for j in 0..181 {
                let q = p(f64::from(i), f64::from(j) - 90.0);
                if Shape::Point(q).within(s) {
                    let v = q.to_vec3();
                    assert!(
                        v.x >= b[0]
                            && v.x <= b[1]
                            && v.y >= b[2]
                            && v.y <= b[3]
                            && v.z >= b[4]
                            && v.z <= b[5],
                        "{q:?} inside {s:?} but outside its box {b:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn stcs_subset() {
    assert_eq!(
        parse_stcs("Position ICRS 1 2").unwrap(),
        Shape::Point(p(1.0, 2.0))
    );
    assert_eq!(
        parse_stcs("CIRCLE ICRS GEOCENTER 10 20 0.5").unwrap(),
        Shape::circle(p(10.0, 20.0), 0.5).unwrap()
    );
    assert!(matches!(
        parse_stcs("POLYGON 1 1 2 1 2 2").unwrap(),
        Shape::Polygon(_)
    ));
    assert!(matches!(
        parse_stcs("box icrs 1 2 3 4").unwrap(),
        Shape::Polygon(_)
    ));
    for bad in [
        "Union ICRS (Circle 1 2 3)",
        "CIRCLE GALACTIC 1 2 3",
        "POLYGON 1 2 3",
        "",
        "CIRCLE 1 2",
    ] {
        assert!(parse_stcs(bad).is_err(), "{bad}");
    }
}

#[test]
fn encoding_round_trips() {
    for s in [
        Shape::Point(p(1.5, -2.25)),
        Shape::circle(p(359.999, 89.0), 0.1).unwrap(),
        Shape::polygon(vec![p(1.0, 1.0), p(2.0, 1.0), p(2.0, 2.0)]).unwrap(),
    ] {
        assert_eq!(Shape::decode(&s.encode()).unwrap(), s);
    }
    assert!(Shape::decode(&[9, 1, 2]).is_err());
    assert_eq!(Shape::Point(p(10.5, -0.0)).to_dali_text(), "10.5 0");
}

/// Found by fuzzing (`fuzz/found/sky_shapes/`): a polygon that doubles back on itself, and
/// one whose vertices lie on one meridian, were accepted in the order given and refused in the
/// order skyport printed them.
#[test]
fn a_polygon_is_judged_the_same_in_every_vertex_order() {
    for name in [
        "polygon-dali-not-read-back",
        "meridian-polygon-one-way",
        "meridian-polygon-one-way.fuzzer",
    ] {
        let path = format!(
            "{}/../../fuzz/found/sky_shapes/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(path).expect("the found input");
        let given = skyport_sky::parse_dali(skyport_sky::DaliKind::Polygon, text.trim());
        if let Ok(shape) = &given {
            let again =
                skyport_sky::parse_dali(skyport_sky::DaliKind::Polygon, &shape.to_dali_text())
                    .expect("what skyport prints reads back");
            assert_eq!(&again, shape, "{name}");
        }
        // Reversed, it is judged the same way.
        let numbers: Vec<&str> = text.split_whitespace().collect();
        let pairs: Vec<String> = numbers.chunks(2).rev().map(|c| c.join(" ")).collect();
        let reversed = pairs.join(" ");
        assert_eq!(
            given.is_ok(),
            skyport_sky::parse_dali(skyport_sky::DaliKind::Polygon, &reversed).is_ok(),
            "{name}"
        );
    }
}
