//! SODA in process against a real SQLite archive: M13 plain and RICE-compressed, and the HSC
//! exposure with image, mask and variance planes. Cutout pixels are compared with the parent's
//! pixels read directly through cfitsio; the WCS comparison against astropy is in the Python
//! client tests.

mod common;

use std::path::Path;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::{as_user, call, call_bytes, fixture_with_files, get, shared, testdata, Fixture};
use skyport_fits::{read_region_f32, read_summary, HduKind};
use skyport_server::Limits;

const M13: &str = "ivo://skyport.test/demo?m13";
const M13_RICE: &str = "ivo://skyport.test/demo?m13_rice";
const HSC: &str = "ivo://skyport.test/demo?HSC-0908120-056-small";

async fn archive(limits: Limits) -> Fixture {
    fixture_with_files(
        limits,
        None,
        &[
            testdata("pypi_astropy/m13.fits"),
            testdata("pypi_astropy/m13_rice.fits"),
            shared("lsst_afw/HSC-0908120-056-small.fits"),
        ],
    )
    .await
}

fn q(v: &str) -> String {
    form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

fn save(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write");
    p
}

/// Asserts that HDU `hdu` of `cut` equals the parent's pixels in the box that the `LTV` cards
/// record.
fn assert_same_pixels(cut: &Path, hdu: usize, parent: &Path, parent_hdu: usize) {
    let summary = read_summary(cut).expect("cutout is FITS");
    let h = &summary.hdus[hdu];
    let (w, ht) = (h.shape[0] as usize, h.shape[1] as usize);
    // LTV moves by the offset (afw parents have LTV of their own).
    let p = read_summary(parent).expect("parent");
    let ltv = |h: &skyport_fits::HduSummary, k: &str| h.header.f64(k).unwrap_or(0.0);
    let x0 = (ltv(&p.hdus[parent_hdu], "LTV1") - ltv(h, "LTV1")) as usize;
    let y0 = (ltv(&p.hdus[parent_hdu], "LTV2") - ltv(h, "LTV2")) as usize;
    let mine = read_region_f32(cut, hdu, 0..w, 0..ht).expect("cut pixels");
    let theirs = read_region_f32(parent, parent_hdu, x0..x0 + w, y0..y0 + ht).expect("parent");
    assert_eq!(mine.len(), theirs.len());
    for (k, (a, b)) in mine.iter().zip(&theirs).enumerate() {
        assert!(
            a == b || (a.is_nan() && b.is_nan()),
            "pixel {k}: {a} vs {b}"
        );
    }
}

#[tokio::test]
async fn one_cutout_is_a_fits_file_of_the_parents_pixels() {
    let f = archive(Limits::default()).await;
    let parent = f.dir.path().join("data/m13.fits");
    for (shape, plausible) in [
        // M13 has pixels of about 1 arcsec.
        ("CIRCLE=250.4226+36.4602+0.01", 70..76),
        ("POS=CIRCLE+250.4226+36.4602+0.01", 70..76),
        ("POS=RANGE+250.41+250.43+36.45+36.47", 50..80),
        ("POLYGON=250.41+36.45+250.43+36.45+250.42+36.47", 50..80),
        ("BRECT=250.4226+36.4602+51+31+pix", 31..52),
        ("BRECT=250.4226+36.4602+1+1+arcmin", 55..65),
    ] {
        for id in [M13, M13_RICE] {
            let (status, headers, body) =
                call_bytes(&f.app, get(&format!("/soda/sync?ID={}&{shape}", q(id)))).await;
            assert_eq!(
                status,
                StatusCode::OK,
                "{shape}: {}",
                String::from_utf8_lossy(&body)
            );
            assert_eq!(headers[header::CONTENT_TYPE], "application/fits");
            assert_eq!(
                headers[header::CONTENT_LENGTH].to_str().ok(),
                Some(body.len().to_string().as_str())
            );
            let cut = save(f.dir.path(), "one.fits", &body);
            let s = read_summary(&cut).expect("FITS");
            // The plain image stays in the primary; the compressed parent's cutout is in an
            // extension after its primary header.
            let hdu = if id == M13 { 0 } else { 1 };
            assert_eq!(s.hdus[hdu].kind, HduKind::Image, "{shape}");
            let size = &s.hdus[hdu].shape;
            assert!(
                plausible.contains(&size[0]) && plausible.contains(&size[1]),
                "{shape}: {size:?}"
            );
            if shape.starts_with("BRECT") && shape.ends_with("pix") {
                assert_eq!(size, &vec![51, 31]);
            }
            let parent_hdu = if id == M13 { 0 } else { 1 };
            let parent_file = if id == M13 {
                parent.clone()
            } else {
                f.dir.path().join("data/m13_rice.fits")
            };
            assert_same_pixels(&cut, hdu, &parent_file, parent_hdu);
        }
    }
}

#[tokio::test]
async fn misses_and_bad_input_get_204_or_text_errors() {
    let f = archive(Limits {
        soda_max_pixels: 2500,
        soda_sync_max_cutouts: 3,
        ..Limits::default()
    })
    .await;
    let (status, _, body) = call(
        &f.app,
        get(&format!("/soda/sync?ID={}&CIRCLE=10+10+0.1", q(M13))),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(body.is_empty());
    // An image outside the BAND or TIME asked for is skipped.
    for filter in ["BAND=1+2", "TIME=10000+10001"] {
        let (status, _, _) = call(
            &f.app,
            get(&format!(
                "/soda/sync?ID={}&CIRCLE=250.4226+36.4602+0.01&{filter}",
                q(M13)
            )),
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{filter}");
    }
    for (query, status, start) in [
        (
            format!("ID={}&CIRCLE=250+36+0", q(M13)),
            400,
            "UsageError: CIRCLE",
        ),
        (
            format!("ID={}&CIRCLE=250+36+181", q(M13)),
            400,
            "UsageError: CIRCLE",
        ),
        (
            format!("ID={}&POLYGON=250+36+251+36", q(M13)),
            400,
            "UsageError: POLYGON",
        ),
        (
            format!("ID={}&POS=CIRCLE+250+36", q(M13)),
            400,
            "UsageError: POS",
        ),
        (
            format!("ID={}&POS=ELLIPSE+250+36+1", q(M13)),
            400,
            "UsageError: POS",
        ),
        (format!("ID={}", q(M13)), 400, "UsageError: no region"),
        (
            format!(
                "ID={}&CIRCLE=250.4226+36.4602+0.01",
                q("ivo://skyport.test/demo?nothing")
            ),
            404,
            "Error: ID=",
        ),
        // Over the pixel limit (2500): a 0.1 degree circle is far more.
        (
            format!("ID={}&CIRCLE=250.4226+36.4602+0.1", q(M13)),
            400,
            "UsageError: the cutout",
        ),
        (
            format!(
                "ID={}&ID={}&CIRCLE=250.4226+36.4602+0.01&CIRCLE=250.42+36.46+0.01",
                q(M13),
                q(M13_RICE)
            ),
            400,
            "UsageError: the request makes 4 cutouts",
        ),
    ] {
        let (got, headers, body) = call(&f.app, get(&format!("/soda/sync?{query}"))).await;
        assert_eq!(got.as_u16(), status, "{query}: {body}");
        assert!(
            headers[header::CONTENT_TYPE]
                .to_str()
                .is_ok_and(|t| t.starts_with("text/plain")),
            "{query}"
        );
        assert!(body.starts_with(start), "{query}: {body}");
    }
}

#[tokio::test]
async fn several_cutouts_come_as_one_mef_with_an_index_or_as_a_tar() {
    let f = archive(Limits::default()).await;
    let query = format!(
        "/soda/sync?ID={}&ID={}&CIRCLE=250.4226+36.4602+0.01&CIRCLE=10+10+0.01",
        q(M13),
        q(M13_RICE)
    );
    let (status, headers, body) = call_bytes(&f.app, get(&query)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/fits");
    let mef = save(f.dir.path(), "many.fits", &body);
    let s = read_summary(&mef).expect("MEF");
    // Primary, two cutouts (the 10,10 circle misses both images), the index.
    assert_eq!(
        s.hdus.len(),
        4,
        "{:?}",
        s.hdus.iter().map(|h| &h.kind).collect::<Vec<_>>()
    );
    assert_eq!(s.hdus[0].header.i64("NCUTOUT"), Some(4));
    assert_eq!(s.hdus[3].extname.as_deref(), Some("INDEX"));
    assert_same_pixels(&mef, 1, &f.dir.path().join("data/m13.fits"), 0);
    assert_same_pixels(&mef, 2, &f.dir.path().join("data/m13_rice.fits"), 1);
    let mut file = fitsio::FitsFile::open(&mef).expect("open");
    let index = file.hdu("INDEX").expect("index");
    let status: Vec<String> = index.read_col(&mut file, "STATUS").expect("STATUS");
    let hdu: Vec<i64> = index.read_col(&mut file, "HDU").expect("HDU");
    let ids: Vec<String> = index.read_col(&mut file, "ID").expect("ID");
    assert_eq!(status, ["ok", "empty", "ok", "empty"]);
    assert_eq!(hdu, [1, -1, 2, -1]);
    assert_eq!(ids, [M13, M13, M13_RICE, M13_RICE]);

    let (status, headers, body) = call_bytes(
        &f.app,
        get(&format!("{query}&RESPONSEFORMAT=application/x-tar")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/x-tar");
    let mut archive = tar::Archive::new(std::io::Cursor::new(body));
    let mut names = Vec::new();
    for entry in archive.entries().expect("tar") {
        let mut entry = entry.expect("entry");
        let name = entry.path().expect("path").to_string_lossy().into_owned();
        let mut content = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut content).expect("read");
        if name.ends_with(".fits") {
            let p = save(f.dir.path(), "entry.fits", &content);
            assert!(read_summary(&p).is_ok(), "{name}");
        } else {
            let csv = String::from_utf8(content).expect("csv");
            assert_eq!(csv.lines().count(), 5, "{csv}");
            assert!(
                csv.lines().nth(2).is_some_and(|l| l.contains(",empty,")),
                "{csv}"
            );
        }
        names.push(name);
    }
    assert_eq!(names, ["cutout-1.fits", "cutout-3.fits", "index.csv"]);
}

#[tokio::test]
async fn masked_detail_cuts_image_mask_and_variance_to_one_box() {
    let f = archive(Limits::default()).await;
    let (status, _, body) = call_bytes(
        &f.app,
        get(&format!(
            "/soda/sync?ID={}&BRECT=151.4067+1.6504+21+21+pix&CUTOUTDETAIL=masked",
            q(HSC)
        )),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let cut = save(f.dir.path(), "masked.fits", &body);
    let s = read_summary(&cut).expect("FITS");
    // afw names its planes with EXTTYPE.
    let names: Vec<_> = s
        .hdus
        .iter()
        .filter_map(|h| h.header.str("EXTTYPE"))
        .collect();
    assert_eq!(names, ["IMAGE", "MASK", "VARIANCE"]);
    let parent = f.dir.path().join("data/HSC-0908120-056-small.fits");
    for hdu in 1..=3 {
        assert_eq!(s.hdus[hdu].shape, s.hdus[1].shape);
        assert_same_pixels(&cut, hdu, &parent, hdu);
    }
}

#[tokio::test]
async fn without_an_id_every_image_holding_the_position_is_cut() {
    let f = archive(Limits::default()).await;
    // Both M13 files hold the position; the HSC image is elsewhere.
    let (status, _, body) =
        call_bytes(&f.app, get("/soda/sync?BRECT=250.4226+36.4602+51+51+pix")).await;
    assert_eq!(status, StatusCode::OK);
    let mef = save(f.dir.path(), "stamps.fits", &body);
    let s = read_summary(&mef).expect("MEF");
    assert_eq!(s.hdus.len(), 4);
    assert_eq!(s.hdus[1].shape, vec![51, 51]);
    // A STAMPS table, inline and uploaded: one row per stamp, `id` pinning an image.
    let table = format!("ra,dec,size,id\n250.4226,36.4602,11,{M13}\n250.43,36.47,21,\n");
    let (status, _, body) =
        call_bytes(&f.app, get(&format!("/soda/sync?STAMPS={}", q(&table)))).await;
    assert_eq!(status, StatusCode::OK);
    let s = read_summary(&save(f.dir.path(), "t.fits", &body)).expect("MEF");
    let shapes: Vec<_> = s.hdus[1..4].iter().map(|h| h.shape.clone()).collect();
    assert_eq!(shapes, [vec![11, 11], vec![21, 21], vec![21, 21]]);
    let boundary = "XyZ";
    let multipart = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"STAMPS\"; filename=\"s.csv\"\r\n\
         Content-Type: text/csv\r\n\r\n{table}\r\n--{boundary}\r\n\
         Content-Disposition: form-data; name=\"RESPONSEFORMAT\"\r\n\r\napplication/x-tar\r\n--{boundary}--\r\n"
    );
    let req = Request::post("/soda/sync")
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(Body::from(multipart))
        .expect("request");
    let (status, headers, _) = call_bytes(&f.app, req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/x-tar");
}

#[tokio::test]
async fn async_jobs_give_one_result_per_combination_and_show_progress() {
    let f = archive(Limits::default()).await;
    // Job lists show their caller's jobs: this job is a named user's.
    let alice = as_user(&f.app, "alice");
    let req = Request::post("/soda/async")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!(
            "ID={}&CIRCLE=250.4226+36.4602+0.01&CIRCLE=10+10+1&PHASE=RUN&RUNID=r1",
            q(M13)
        )))
        .expect("request");
    let (status, headers, _) = call(&alice, req).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = headers[header::LOCATION]
        .to_str()
        .expect("location")
        .to_string();
    let path = location.trim_start_matches("http://127.0.0.1:8080");
    assert!(path.starts_with("/soda/async/"), "{path}");
    let (_, _, job) = call(&alice, get(&format!("{path}?WAIT=30"))).await;
    let (_, _, job) = if job.contains("COMPLETED") {
        (StatusCode::OK, headers.clone(), job)
    } else {
        call(&alice, get(&format!("{path}?WAIT=30"))).await
    };
    let (_, _, params) = call(&alice, get(&format!("{path}/parameters"))).await;
    assert_eq!(
        params.matches("<uws:parameter id=\"circle\">").count(),
        2,
        "{params}"
    );
    assert!(job.contains("<uws:phase>COMPLETED</uws:phase>"), "{job}");
    assert!(job.contains("done=\"2\" total=\"2\""), "{job}");
    assert!(job.contains("<uws:runId>r1</uws:runId>"), "{job}");
    let (status, headers, body) =
        call_bytes(&alice, get(&format!("{path}/results/cutout-1"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/fits");
    let cut = save(f.dir.path(), "async.fits", &body);
    assert_same_pixels(&cut, 0, &f.dir.path().join("data/m13.fits"), 0);
    let (status, headers, body) = call(&alice, get(&format!("{path}/results/cutout-2"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers[header::CONTENT_TYPE]
        .to_str()
        .is_ok_and(|t| t.starts_with("text/plain")));
    assert!(body.starts_with("Error: "), "{body}");
    // The TAP job list does not show SODA jobs, nor the reverse.
    let (_, _, tap_jobs) = call(&alice, get("/tap/async")).await;
    assert!(!tap_jobs.contains(path.trim_start_matches("/soda/async/")));
    let (_, _, soda_jobs) = call(&alice, get("/soda/async")).await;
    assert!(soda_jobs.contains(path.trim_start_matches("/soda/async/")));

    // A STAMPS table uploaded to a job (part name in any case) is read when the job runs.
    let boundary = "QwE";
    let multipart = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"stamps\"; filename=\"s.csv\"\r\n\
         Content-Type: text/csv\r\n\r\nra,dec,size,id\n250.4226,36.4602,11,{M13}\n250.43,36.47,21,\n\r\n--{boundary}\r\n\
         Content-Disposition: form-data; name=\"PHASE\"\r\n\r\nRUN\r\n--{boundary}--\r\n"
    );
    let req = Request::post("/soda/async")
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(Body::from(multipart))
        .expect("request");
    let (status, headers, body) = call(&f.app, req).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let stamps_job = headers[header::LOCATION]
        .to_str()
        .expect("location")
        .trim_start_matches("http://127.0.0.1:8080")
        .to_string();
    let mut job = String::new();
    for _ in 0..10 {
        job = call(&f.app, get(&format!("{stamps_job}?WAIT=30"))).await.2;
        if job.contains("COMPLETED") || job.contains("ERROR") {
            break;
        }
    }
    assert!(job.contains("<uws:phase>COMPLETED</uws:phase>"), "{job}");
    // One stamp pinned to M13, one of every image holding its position (both M13 files).
    assert!(job.contains("done=\"3\" total=\"3\""), "{job}");
    let (_, _, body) = call_bytes(&f.app, get(&format!("{stamps_job}/results/cutout-1"))).await;
    let stamp = save(f.dir.path(), "stamp.fits", &body);
    assert_eq!(
        read_summary(&stamp).expect("FITS").hdus[0].shape,
        vec![11, 11]
    );

    // A bad shape is refused when the job is created.
    let req = Request::post("/soda/async")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("CIRCLE=1+2"))
        .expect("request");
    let (status, _, body) = call(&f.app, req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn soda_has_vosi_resources_announcing_its_limits() {
    let f = archive(Limits::default()).await;
    let (status, _, body) = call(&f.app, get("/soda/capabilities")).await;
    assert_eq!(status, StatusCode::OK);
    for s in [
        "ivo://ivoa.net/std/SODA#sync-1.0",
        "ivo://ivoa.net/std/SODA#async-1.0",
        "http://127.0.0.1:8080/soda/sync",
        "http://127.0.0.1:8080/soda/async",
        "ivo://ivoa.net/std/VOSI#availability",
        "at most 67108864 pixels per cutout plane",
    ] {
        assert!(body.contains(s), "{s}: {body}");
    }
    let (status, _, body) = call(&f.app, get("/soda/availability")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("<vosi:available>true</vosi:available>"));
}

#[tokio::test]
async fn polygons_and_output_are_bounded_before_any_work() {
    let f = archive(Limits {
        soda_max_pixels: 2500,
        ..Limits::default()
    })
    .await;
    // 501 vertices around the cluster: refused at once, naming the limit, by SODA and SIA.
    let ring: Vec<String> = (0..501)
        .map(|i| {
            let a = i as f64 / 501.0 * std::f64::consts::TAU;
            format!(
                "{:.6} {:.6}",
                250.4226 + 0.004 * a.cos(),
                36.4602 + 0.004 * a.sin()
            )
        })
        .collect();
    let polygon = ring.join(" ");
    for uri in [
        format!("/soda/sync?ID={}&POLYGON={}", q(M13), q(&polygon)),
        format!("/sia/query?POS={}", q(&format!("POLYGON {polygon}"))),
    ] {
        let started = std::time::Instant::now();
        let (status, _, body) = call(&f.app, get(&uri)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body.contains("at most 500"), "{body}");
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }
    // 500 are fine.
    let (status, _, _) = call(
        &f.app,
        get(&format!(
            "/soda/sync?ID={}&POLYGON={}",
            q(M13),
            q(&ring[..500].join(" "))
        )),
    )
    .await;
    assert!(status.is_success(), "{status}");
    // 200 cutouts of under 2,500 pixels each overrun a sync request's 16 × 2,500 pixels.
    let circles: String = (0..200)
        .map(|i| format!("&CIRCLE=250.42{i:03}+36.4602+0.0065"))
        .collect();
    let (status, _, body) = call(&f.app, get(&format!("/soda/sync?ID={}{circles}", q(M13)))).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(body.starts_with("UsageError: these cutouts hold"), "{body}");
    assert!(body.contains("/soda/async"), "{body}");
}

// --- Stopping cutout work (hardening finding 4) and keeping finished cutouts (finding 8) ---

const BIG: &str = "ivo://skyport.test/demo?big";
/// Size of the generated image, pixels of 0.2″: a circle of radius 0.3° holds it all.
const BIG_SIZE: (usize, usize) = (8192, 4096);

/// Writes an 8192 × 4096 image of three planes of 32-bit noise to `path`: cutting all of it
/// with GZIP compression (`CUTOUTDETAIL=full`, a circle holding it all) takes seconds (7 s
/// measured on a busy 2-core machine), several times the bound the tests below allow for
/// stopping.
fn write_big_image(path: &Path) {
    use skyport_fits::{write_mef, Card, HeaderValue, PlaneData, PlaneSpec};
    let mut s = 5u64;
    let (width, height) = BIG_SIZE;
    let pixels: Vec<i32> = (0..width * height)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 44) as i32
        })
        .collect();
    let card = |key: &str, value: HeaderValue| Card {
        key: key.into(),
        value: Some(value),
        comment: None,
    };
    let centre = |n: usize| n as f64 / 2.0 + 0.5;
    let wcs = vec![
        card("CTYPE1", HeaderValue::Str("RA---TAN".into())),
        card("CTYPE2", HeaderValue::Str("DEC--TAN".into())),
        card("CRPIX1", HeaderValue::Real(centre(width))),
        card("CRPIX2", HeaderValue::Real(centre(height))),
        card("CRVAL1", HeaderValue::Real(150.0)),
        card("CRVAL2", HeaderValue::Real(2.0)),
        card("CD1_1", HeaderValue::Real(-0.2 / 3600.0)),
        card("CD2_2", HeaderValue::Real(0.2 / 3600.0)),
    ];
    let plane = |extname| PlaneSpec {
        extname,
        data: PlaneData::I32(&pixels),
        cards: wcs.clone(),
    };
    write_mef(
        path,
        &[card("MJD-OBS", HeaderValue::Real(60000.0))],
        &[plane("IMAGE"), plane("EXTRA1"), plane("EXTRA2")],
        width,
        height,
        None,
        1,
    )
    .expect("big image");
}

/// An archive of the big image alone (ingested from a copy; the original goes at once).
async fn big_archive(limits: Limits) -> Fixture {
    let made = tempfile::tempdir().expect("tempdir");
    let path = made.path().join("big.fits");
    write_big_image(&path);
    fixture_with_files(limits, None, &[path]).await
}

/// All of the big image, every plane, GZIP-compressed: seconds of work.
fn whole_big(n: usize) -> String {
    let mut q = format!("ID={}&CUTOUTDETAIL=full&COMPRESSION=gzip", q(BIG));
    for _ in 0..n {
        q.push_str("&CIRCLE=150+2+0.3");
    }
    q
}

/// `skyport_soda_cutouts_running` from `/metrics`.
async fn cutouts_running(f: &Fixture) -> i64 {
    let (_, _, text) = call(&f.app, get("/metrics")).await;
    text.lines()
        .find_map(|l| l.strip_prefix("skyport_soda_cutouts_running "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the gauge is on /metrics")
}

/// Waits (at most 60 s: planning and the blocking pool may be slow on a loaded machine) until
/// cutout work runs.
async fn until_cutting(f: &Fixture) {
    let started = std::time::Instant::now();
    while cutouts_running(f).await == 0 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "no cutout work started"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// How long until no cutout work runs; panics past `limit`, saying how much was left.
async fn stops_within(f: &Fixture, limit: std::time::Duration, what: &str) -> std::time::Duration {
    let started = std::time::Instant::now();
    loop {
        let running = cutouts_running(f).await;
        if running == 0 {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "{what}: {running} cutouts still running after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The bound on stopping: work is looked at every strip of a million pixels (a few hundredths
/// of a second), so this leaves room for a loaded machine, and is still far below the seconds
/// the cutouts would run on.
const STOP_BOUND: std::time::Duration = std::time::Duration::from_millis(1500);

#[tokio::test]
async fn sync_cutouts_stop_when_the_client_goes_away() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let f = big_archive(Limits::default()).await;
    let addr = common::serve_on_loopback(f.app.clone()).await;
    // One cutout (answered once it is made) and a package of four (streamed as made).
    for (query, what) in [
        (whole_big(1), "a single cutout"),
        (whole_big(4), "a package"),
    ] {
        let mut client = tokio::net::TcpStream::connect(addr).await.expect("connect");
        client
            .write_all(format!("GET /soda/sync?{query} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes())
            .await
            .expect("send");
        until_cutting(&f).await;
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        if what == "a package" {
            // The package's status line has come; read a little of it.
            let mut head = [0u8; 12];
            client.read_exact(&mut head).await.expect("status line");
            assert_eq!(&head, b"HTTP/1.1 200");
        }
        drop(client);
        let took = stops_within(&f, STOP_BOUND, what).await;
        eprintln!("{what}: work stopped {took:?} after the client left");
    }
    // The temporary files of the stopped cutouts are gone.
    let tmp = f.dir.path().join("cache/soda-tmp");
    let left: Vec<_> = std::fs::read_dir(&tmp).expect("tmp").flatten().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn sync_cutouts_stop_at_the_request_deadline() {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let f = big_archive(Limits {
        request_timeout_seconds: 1,
        ..Limits::default()
    })
    .await;
    // A single cutout: the answer is SODA's error for a request over its time limit.
    let started = std::time::Instant::now();
    let (status, _, body) = call(&f.app, get(&format!("/soda/sync?{}", whole_big(1)))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.contains("took longer than"), "{body}");
    let took = stops_within(&f, STOP_BOUND, "a single cutout").await;
    eprintln!(
        "single cutout: answered after {:?}, work stopped {took:?} later",
        started.elapsed() - took
    );

    // A package: its status has gone when the deadline passes; the body ends in an error
    // (a broken transfer, not a short file that looks whole).
    let started = std::time::Instant::now();
    let response = f
        .app
        .clone()
        .oneshot(get(&format!("/soda/sync?{}", whole_big(4))))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await;
    assert!(body.is_err(), "the package ends in an error");
    let ended = started.elapsed();
    assert!(
        ended < std::time::Duration::from_secs(1) + STOP_BOUND,
        "the body ran on to {ended:?}"
    );
    stops_within(&f, STOP_BOUND, "a package").await;
}

#[tokio::test]
async fn stopped_async_jobs_keep_finished_cutouts_and_stop_the_rest() {
    let f = big_archive(Limits::default()).await;
    // A small cutout that finishes at once, then all of the image: the job is stopped while
    // the second is being made.
    let create = |extra: &str| {
        Request::post("/soda/async")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!(
                "ID={}&CUTOUTDETAIL=full&COMPRESSION=gzip&CIRCLE=150+2+0.001&CIRCLE=150+2+0.3&PHASE=RUN{extra}",
                q(BIG)
            )))
            .expect("request")
    };
    for (extra, what) in [
        ("", "abort"),
        ("&EXECUTIONDURATION=3", "execution duration"),
    ] {
        let (status, headers, body) = call(&f.app, create(extra)).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
        let path = headers[header::LOCATION]
            .to_str()
            .expect("location")
            .trim_start_matches("http://127.0.0.1:8080")
            .to_string();
        let id = path.trim_start_matches("/soda/async/").to_string();
        // Wait until the first cutout is listed and the second is being cut.
        let started = std::time::Instant::now();
        loop {
            let (_, _, doc) = call(&f.app, get(&path)).await;
            if doc.contains("id=\"cutout-1\"") && cutouts_running(&f).await > 0
                || doc.contains("ABORTED")
            {
                break;
            }
            assert!(
                !doc.contains("COMPLETED"),
                "{what}: the job finished: {doc}"
            );
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "{what}: the first cutout never came: {doc}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        if what == "abort" {
            let req = Request::post(format!("{path}/phase"))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from("PHASE=ABORT"))
                .expect("request");
            let (status, _, _) = call(&f.app, req).await;
            assert_eq!(status, StatusCode::SEE_OTHER);
        }
        let doc = common::wait_final(&f.app, &path).await;
        assert!(doc.contains("<uws:phase>ABORTED</uws:phase>"), "{doc}");
        stops_within(&f, STOP_BOUND, what).await;
        // The finished cutout stays, listed and served; nothing of the stopped one does.
        assert!(doc.contains("id=\"cutout-1\""), "{what}: {doc}");
        assert!(!doc.contains("id=\"cutout-2\""), "{what}: {doc}");
        let (status, headers, body) =
            call_bytes(&f.app, get(&format!("{path}/results/cutout-1"))).await;
        assert_eq!(status, StatusCode::OK, "{what}");
        assert_eq!(headers[header::CONTENT_TYPE], "application/fits");
        let kept = save(f.dir.path(), "kept.fits", &body);
        assert_eq!(
            read_summary(&kept).expect("FITS").hdus.len(),
            4,
            "three planes"
        );
        let job_dir = f.dir.path().join("jobs/soda").join(&id);
        let settled = std::time::Instant::now();
        loop {
            let mut files: Vec<String> = std::fs::read_dir(&job_dir)
                .expect("job dir")
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            files.sort();
            if files == ["cutout-1.fits"] {
                break;
            }
            assert!(
                settled.elapsed() < std::time::Duration::from_secs(5),
                "{what}: the job directory holds {files:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

/// The application over the SQLite archive in `dir` (`db.sqlite`, images in `data/`, jobs in
/// `jobs/`), ingesting the images first when `ingest`: one server's start, as after a restart.
async fn server_in(dir: &Path, ingest: bool) -> axum::Router {
    use skyport_store::Store;
    let store = skyport_store::SqliteStore::open(&dir.join("db.sqlite"), 2).expect("open");
    store
        .migrate(&skyport_schema::builtin_schemas())
        .await
        .expect("migrate");
    let data = dir.join("data");
    if ingest {
        let settings = common::ingest_settings(&data);
        for entry in std::fs::read_dir(&data).expect("data").flatten() {
            let record = skyport_consdb::build_record(&settings, &entry.path()).expect("record");
            store.upsert_image(record).await.expect("upsert");
        }
    }
    let state = skyport_server::AppState::start(
        std::sync::Arc::new(store),
        skyport_server::ServerSettings {
            trusted_proxies: Vec::new(),
            ..common::server_settings(dir, vec![("demo".into(), data)], Limits::default())
        },
    )
    .await
    .expect("state");
    skyport_server::app(state)
}

#[test]
fn a_job_interrupted_by_a_server_stop_keeps_its_finished_cutouts() {
    // Recovery at start-up is for an archive of one's own (SQLite); a shared PostgreSQL
    // archive waits for the job's lease instead (skyport-uws tests that).
    if common::on_postgres() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("data")).expect("mkdir");
    write_big_image(&dir.path().join("data/big.fits"));
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
    };

    // The first server runs the job until its first cutout is finished and the second is
    // being cut, and then stops as if killed: every task is dropped where it stands.
    let first = runtime();
    let path = first.block_on(async {
        let app = server_in(dir.path(), true).await;
        let req = Request::post("/soda/async")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!(
                "ID={}&CUTOUTDETAIL=full&COMPRESSION=gzip&CIRCLE=150+2+0.001&CIRCLE=150+2+0.3&PHASE=RUN",
                q(BIG)
            )))
            .expect("request");
        let (status, headers, body) = call(&app, req).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
        let path = headers[header::LOCATION]
            .to_str()
            .expect("location")
            .trim_start_matches("http://127.0.0.1:8080")
            .to_string();
        let started = std::time::Instant::now();
        loop {
            let (_, _, doc) = call(&app, get(&path)).await;
            let (_, _, metrics) = call(&app, get("/metrics")).await;
            if doc.contains("id=\"cutout-1\"")
                && !metrics.contains("skyport_soda_cutouts_running 0")
            {
                break;
            }
            assert!(!doc.contains("COMPLETED"), "the job finished: {doc}");
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "the first cutout never came: {doc}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        path
    });
    first.shutdown_background();
    let id = path.trim_start_matches("/soda/async/").to_string();
    let job_dir = dir.path().join("jobs/soda").join(&id);
    // What a killed server leaves of the cutout it was making: a temporary file.
    std::fs::write(job_dir.join("00000000deadbeef.fits"), vec![0u8; 2880]).expect("partial");

    // The next server ends the job in ERROR, keeping the finished cutout and nothing else.
    let second = runtime();
    second.block_on(async {
        let app = server_in(dir.path(), false).await;
        let (_, _, doc) = call(&app, get(&path)).await;
        assert!(doc.contains("<uws:phase>ERROR</uws:phase>"), "{doc}");
        assert!(doc.contains("id=\"cutout-1\""), "{doc}");
        assert!(!doc.contains("id=\"cutout-2\""), "{doc}");
        let (status, headers, _) = call_bytes(&app, get(&format!("{path}/results/cutout-1"))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], "application/fits");
        let mut files: Vec<String> = std::fs::read_dir(&job_dir)
            .expect("job dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        assert_eq!(files, ["cutout-1.fits"]);
    });
    second.shutdown_background();
}
