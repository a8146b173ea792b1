//! Previews put north up and east left. The expected place of a bright spot comes from the
//! FITS linear WCS formula (offsets east and north = CD · pixel offset), not from our code.

use std::io::Cursor;

use skyport_fits::preview::{render_png, Stretch};
use skyport_fits::{read_summary, write_mef, Card, HeaderValue, PlaneData, PlaneSpec, Wcs};

const SIDE: usize = 65;

fn card(key: &str, value: HeaderValue) -> Card {
    Card {
        key: key.into(),
        value: Some(value),
        comment: None,
    }
}

/// A SIDE² image, zero but for a bright 3×3 spot centred `(dx, dy)` pixels from the centre,
/// with a TAN WCS of CD matrix `cd` (degrees per pixel); NaN in the bottom-left 5×5 corner.
fn image(
    dir: &std::path::Path,
    name: &str,
    cd: [[f64; 2]; 2],
    dx: i64,
    dy: i64,
) -> std::path::PathBuf {
    let mut pixels = vec![0f32; SIDE * SIDE];
    let c = (SIDE / 2) as i64;
    for y in -1..=1 {
        for x in -1..=1 {
            let (px, py) = ((c + dx + x) as usize, (c + dy + y) as usize);
            pixels[py * SIDE + px] = 1000.0;
        }
    }
    for y in 0..5 {
        for x in 0..5 {
            pixels[y * SIDE + x] = f32::NAN;
        }
    }
    let r = HeaderValue::Real;
    let s = |v: &str| HeaderValue::Str(v.into());
    let crpix = (SIDE as f64 + 1.0) / 2.0;
    let cards = vec![
        card("CTYPE1", s("RA---TAN")),
        card("CTYPE2", s("DEC--TAN")),
        card("CRPIX1", r(crpix)),
        card("CRPIX2", r(crpix)),
        card("CRVAL1", r(150.0)),
        card("CRVAL2", r(30.0)),
        card("CD1_1", r(cd[0][0])),
        card("CD1_2", r(cd[0][1])),
        card("CD2_1", r(cd[1][0])),
        card("CD2_2", r(cd[1][1])),
    ];
    let path = dir.join(name);
    write_mef(
        &path,
        &[],
        &[PlaneSpec {
            extname: "IMAGE",
            data: PlaneData::F32(&pixels),
            cards,
        }],
        SIDE,
        SIDE,
        None,
        1,
    )
    .expect("write");
    path
}

/// Decodes the PNG: (width, height, grey+alpha pixels).
fn decode(png_bytes: &[u8]) -> (usize, usize, Vec<u8>) {
    let decoder = png::Decoder::new(Cursor::new(png_bytes));
    let mut reader = decoder.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("frame");
    assert_eq!(info.color_type, png::ColorType::GrayscaleAlpha);
    buf.truncate(info.buffer_size());
    (info.width as usize, info.height as usize, buf)
}

fn render(path: &std::path::Path) -> Vec<u8> {
    let summary = read_summary(path).expect("summary");
    let wcs = Wcs::from_header(&summary.hdus[1].header).expect("wcs");
    render_png(path, 1, None, Some(&wcs), Stretch::Asinh, 1024).expect("render")
}

#[test]
fn a_spot_east_or_north_of_the_centre_is_drawn_left_or_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scale = 0.2 / 3600.0;
    let cases: Vec<(&str, [[f64; 2]; 2])> = {
        let rot = |deg: f64, flip: f64| {
            let (c, s) = (deg.to_radians().cos(), deg.to_radians().sin());
            // flip = 1: the usual east-left parity; -1: the mirror image.
            [
                [-scale * c * flip, scale * s],
                [scale * s * flip, scale * c],
            ]
        };
        vec![
            ("plain", rot(0.0, 1.0)),
            ("rot30", rot(30.0, 1.0)),
            ("rot-120", rot(-120.0, 1.0)),
            ("mirror", rot(0.0, -1.0)),
            ("mirror-rot45", rot(45.0, -1.0)),
        ]
    };
    for (k, (name, cd)) in cases.into_iter().enumerate() {
        let (dx, dy) = (14i64, 5i64);
        let path = image(dir.path(), &format!("{k}.fits"), cd, dx, dy);
        let (w, h, px) = decode(&render(&path));
        // Where the spot must be: east and north offsets from the linear WCS, then west to
        // the right and south down, in pixels of the image's own scale.
        let east = cd[0][0] * dx as f64 + cd[0][1] * dy as f64;
        let north = cd[1][0] * dx as f64 + cd[1][1] * dy as f64;
        let (want_u, want_v) = (-east / scale, -north / scale);
        let (mut su, mut sv, mut n) = (0.0, 0.0, 0.0);
        for row in 0..h {
            for col in 0..w {
                let (grey, alpha) = (px[2 * (row * w + col)], px[2 * (row * w + col) + 1]);
                if alpha == 255 && grey > 200 {
                    su += col as f64 + 0.5 - w as f64 / 2.0;
                    sv += row as f64 + 0.5 - h as f64 / 2.0;
                    n += 1.0;
                }
            }
        }
        assert!(n > 0.0, "{name}: the spot is drawn");
        let (u, v) = (su / n, sv / n);
        assert!(
            (u - want_u).abs() < 1.5 && (v - want_v).abs() < 1.5,
            "{name}: spot at ({u:.1}, {v:.1}) from the centre, expected ({want_u:.1}, {want_v:.1})"
        );
        // The NaN corner and the canvas outside a rotated image are transparent.
        assert!(px.chunks(2).any(|p| p[1] == 0), "{name}: transparency");
    }
}
