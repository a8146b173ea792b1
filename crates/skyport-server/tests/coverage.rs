//! Coverage maps (`/moc`) and SIA's early answers, in process on SQLite or PostgreSQL, over
//! real images at three places on the sky (M13, a DSS plate near Alpha Centauri, a FIRST radio image).
//! Expected cells are derived independently of the map: every corner and the centre of each
//! footprint as ObsCore gives it must be covered, and places far from all of them must not.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use axum::http::{header, StatusCode};
use common::{call, call_bytes, get, ingest_settings, server_settings, test_store};
use skyport_consdb::build_record;
use skyport_server::{app, AppState, Limits, ServerSettings};
use skyport_sky::{parse_stcs, Shape, SpaceMoc};
use skyport_store::coverage::{Coverage, CoverageView};
use skyport_store::{CollectionRights, Rights, Statement, Store, Value};

const IMAGES: [&str; 3] = [
    "pypi_astropy/m13.fits",
    "pypi_astropy/dss.14.29.56-62.41.05.fits.gz",
    "pypi_astroquery/first_vla_image.fits",
];

/// A data root below `dir` holding copies of `files` (not yet ingested).
fn data_root(dir: &std::path::Path, files: &[&str]) -> PathBuf {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    for f in files {
        let from = common::testdata(f);
        std::fs::copy(&from, data.join(from.file_name().expect("name"))).expect("copy");
    }
    data
}

async fn ingest(store: &Arc<dyn Store>, data: &std::path::Path, name: &str) {
    store
        .upsert_image(build_record(&ingest_settings(data), &data.join(name)).expect("record"))
        .await
        .expect("upsert");
}

/// Footprints (ObsCore `s_region`) of the archive's images.
async fn footprints(store: &Arc<dyn Store>) -> Vec<Shape> {
    let table = skyport_store::ddl::table_name(store.dialect(), "ivoa", "ObsCore");
    let rows = store
        .query(format!("SELECT s_region FROM {table}"), Vec::new())
        .await
        .expect("query");
    rows.rows
        .iter()
        .map(|r| parse_stcs(r[0].as_str().expect("text")).expect("footprint"))
        .collect()
}

fn corners_and_centre(shape: &Shape) -> Vec<(f64, f64)> {
    let mut points = vec![(shape.centroid().ra, shape.centroid().dec)];
    if let Shape::Polygon(p) = shape {
        points.extend(p.vertices().iter().map(|v| (v.ra, v.dec)));
    }
    points
}

async fn start(store: Arc<dyn Store>, dir: &std::path::Path, data: PathBuf) -> axum::Router {
    let state = AppState::start(
        store,
        server_settings(dir, vec![("demo".into(), data)], Limits::default()),
    )
    .await
    .expect("state");
    app(state)
}

fn rows(body: &str) -> usize {
    body.matches("<TR>").count()
}

#[tokio::test]
async fn a_collection_map_covers_every_footprint_and_nothing_far_away() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _db) = test_store(dir.path()).await;
    let data = data_root(dir.path(), &IMAGES);
    for f in IMAGES {
        ingest(&store, &data, f.rsplit('/').next().expect("name")).await;
    }
    let app = start(Arc::clone(&store), dir.path(), data).await;

    let (status, headers, body) = call(&app, get("/moc/demo?format=ascii")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(headers[header::CONTENT_TYPE]
        .to_str()
        .is_ok_and(|t| t.starts_with("text/plain")));
    let moc = SpaceMoc::from_ascii(&body).expect("MOC 2.0 ASCII");
    assert_eq!(moc.order(), 10);
    let shapes = footprints(&store).await;
    assert_eq!(shapes.len(), 3);
    for shape in &shapes {
        for (ra, dec) in corners_and_centre(shape) {
            assert!(
                moc.contains(ra, dec),
                "({ra}, {dec}) of {shape:?} not covered"
            );
        }
        // Nothing on the opposite side of the sky from any image.
        let c = shape.centroid();
        assert!(!moc.contains((c.ra + 180.0) % 360.0, -c.dec));
    }
    // The map is about as large as the footprints: at most the cells along their edges more.
    let footprint_area: f64 = shapes.iter().map(Shape::area).sum();
    let sky = 4.0 * std::f64::consts::PI * (180.0 / std::f64::consts::PI).powi(2);
    let fraction = moc.sky_fraction();
    assert!(fraction >= footprint_area / sky, "{fraction}");
    assert!(fraction < 3.0 * footprint_area / sky + 1e-4, "{fraction}");

    // FITS (the default) and JSON carry the same map.
    let (status, headers, fits) = call_bytes(&app, get("/moc/demo")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/fits");
    assert_eq!(fits.len() % 2880, 0);
    let head = String::from_utf8_lossy(&fits[..2880 * 2]);
    assert!(head.starts_with("SIMPLE  ="), "{head}");
    let card = |key: &str| {
        head.as_bytes()
            .chunks(80)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .find(|c| c.starts_with(key))
            .map(|c| c[9..].trim().to_string())
    };
    assert_eq!(card("MOCDIM").as_deref(), Some("'SPACE'"), "{head}");
    assert_eq!(card("MOCORD_S").as_deref(), Some("10"), "{head}");
    let (status, _, json) = call(&app, get("/moc/demo?format=json")).await;
    assert_eq!(status, StatusCode::OK);
    let cells: serde_json::Value = serde_json::from_str(&json).expect("json");
    let from_json: usize = cells
        .as_object()
        .expect("object")
        .values()
        .map(|v| v.as_array().map_or(0, Vec::len))
        .sum();
    assert!(from_json > 0);

    // A coarser order holds every cell of the finer map.
    let (_, _, coarse) = call(&app, get("/moc/demo?format=ascii&order=4")).await;
    let coarse = SpaceMoc::from_ascii(&coarse).expect("coarse");
    assert_eq!(coarse.order(), 4);
    assert_eq!(
        SpaceMoc::union_all([&coarse, &moc], 0).ranges(),
        coarse.degraded(10).ranges()
    );

    // The space-time map: MOC 2.0 FITS with both axes.
    let (status, _, st) = call_bytes(&app, get("/moc/demo?type=space-time")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&st[..2880 * 2]).contains("'TIME.SPACE'"));

    // The list names the collection and its map.
    let (status, _, list) = call(&app, get("/moc")).await;
    assert_eq!(status, StatusCode::OK);
    let list: serde_json::Value = serde_json::from_str(&list).expect("json");
    assert_eq!(list["collections"][0]["collection"], "demo");
    assert!(list["collections"][0]["url"]
        .as_str()
        .is_some_and(|u| u.ends_with("/moc/demo")));

    // Capabilities announce it.
    let (_, _, caps) = call(&app, get("/sia/capabilities")).await;
    assert!(caps.contains("/moc/</accessURL>"), "{caps}");
}

#[tokio::test]
async fn bad_map_requests_name_the_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _db) = test_store(dir.path()).await;
    let data = data_root(dir.path(), &IMAGES[..1]);
    ingest(&store, &data, "m13.fits").await;
    let app = start(store, dir.path(), data).await;
    for (query, status, says) in [
        ("/moc/demo?order=11", StatusCode::BAD_REQUEST, "order"),
        ("/moc/demo?order=-1", StatusCode::BAD_REQUEST, "order"),
        ("/moc/demo?order=x", StatusCode::BAD_REQUEST, "order"),
        ("/moc/demo?format=png", StatusCode::BAD_REQUEST, "format"),
        (
            "/moc/demo?format=fits&format=json",
            StatusCode::BAD_REQUEST,
            "format",
        ),
        ("/moc/demo?type=frequency", StatusCode::BAD_REQUEST, "type"),
        (
            "/moc/demo?type=space-time&format=ascii",
            StatusCode::BAD_REQUEST,
            "space-time",
        ),
        ("/moc/demo?band=", StatusCode::BAD_REQUEST, "band"),
        ("/moc/demo?band=nope", StatusCode::NOT_FOUND, "nope"),
        ("/moc/elsewhere", StatusCode::NOT_FOUND, "elsewhere"),
        (
            "/moc/..%2F..%2Fetc%2Fpasswd",
            StatusCode::NOT_FOUND,
            "no coverage map",
        ),
    ] {
        let (got, _, body) = call(&app, get(query)).await;
        assert_eq!(got, status, "{query}: {body}");
        assert!(body.to_lowercase().contains(says), "{query}: {body}");
        assert!(
            !body.contains("SELECT") && !body.contains("image_coverage"),
            "{query}: {body}"
        );
    }
}

#[tokio::test]
async fn sia_answers_early_outside_the_coverage_and_sees_new_images_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _db) = test_store(dir.path()).await;
    let data = data_root(dir.path(), &IMAGES[..2]);
    ingest(&store, &data, "m13.fits").await;
    let app = start(Arc::clone(&store), dir.path(), data.clone()).await;
    // Where M13 is, and where nothing is.
    let (_, _, body) = call(&app, get("/sia/query?POS=CIRCLE+250.42+36.46+0.1")).await;
    assert_eq!(rows(&body), 1, "{body}");
    let (status, _, body) = call(&app, get("/sia/query?POS=CIRCLE+217.49+-62.68+0.05")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rows(&body), 0, "{body}");
    assert!(body.contains("<FIELD name=\"obs_publisher_did\""), "{body}");
    // An image arriving while the server runs is found at once, although the map held in
    // memory said nothing was there.
    ingest(&store, &data, "dss.14.29.56-62.41.05.fits.gz").await;
    let (_, _, body) = call(&app, get("/sia/query?POS=CIRCLE+217.49+-62.68+0.05")).await;
    assert_eq!(rows(&body), 1, "{body}");
    let (_, _, ascii) = call(&app, get("/moc/demo?format=ascii")).await;
    let moc = SpaceMoc::from_ascii(&ascii).expect("moc");
    assert!(moc.contains(217.49, -62.68) && moc.contains(250.42, 36.46));
    // Bad POS values are still refused, inside or outside the coverage.
    let (status, _, _) = call(&app, get("/sia/query?POS=CIRCLE+10+10")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // RANGE and POLYGON outside the coverage, and a mix with one inside.
    for (query, n) in [
        ("POS=RANGE+10+20+10+20", 0),
        ("POS=POLYGON+10+10+11+10+11+11", 0),
        ("POS=RANGE+10+20+10+20&POS=CIRCLE+250.42+36.46+0.1", 1),
        ("POS=RANGE+0+360+-90+90", 2),
    ] {
        let (status, _, body) = call(&app, get(&format!("/sia/query?{query}"))).await;
        assert_eq!(status, StatusCode::OK, "{query}");
        assert_eq!(rows(&body), n, "{query}");
    }
}

#[tokio::test]
async fn archives_from_before_coverage_get_it_when_the_server_starts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _db) = test_store(dir.path()).await;
    let data = data_root(dir.path(), &IMAGES[..1]);
    ingest(&store, &data, "m13.fits").await;
    // As an archive ingested before coverage was kept holds it: no coverage rows at all.
    let d = store.dialect();
    store
        .write(
            "test",
            ["image_coverage", "coverage_epoch"]
                .iter()
                .map(|t| {
                    Statement::new(
                        format!(
                            "DELETE FROM {}",
                            skyport_store::ddl::table_name(d, "skyport", t)
                        ),
                        Vec::new(),
                    )
                })
                .collect(),
        )
        .await
        .expect("delete");
    let app = start(Arc::clone(&store), dir.path(), data).await;
    let (status, _, ascii) = call(&app, get("/moc/demo?format=ascii")).await;
    assert_eq!(status, StatusCode::OK, "{ascii}");
    assert!(SpaceMoc::from_ascii(&ascii)
        .expect("moc")
        .contains(250.42, 36.46));
    let table = skyport_store::ddl::table_name(d, "skyport", "image_coverage");
    let count = store
        .query(format!("SELECT COUNT(*) FROM {table}"), Vec::new())
        .await
        .expect("count");
    assert_eq!(count.rows[0][0], Value::Int(1));
    let (_, _, body) = call(&app, get("/sia/query?POS=CIRCLE+250.42+36.46+0.1")).await;
    assert_eq!(rows(&body), 1);
}

#[tokio::test]
async fn maps_show_a_caller_only_what_they_may_see() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _db) = test_store(dir.path()).await;
    let data = data_root(dir.path(), &IMAGES[..2]);
    // M13 public; the DSS plate proprietary until 2999.
    let mut settings = ingest_settings(&data);
    store
        .upsert_image(build_record(&settings, &data.join("m13.fits")).expect("record"))
        .await
        .expect("upsert");
    settings.roots[0].release_date = Some("2999-01-01T00:00:00.000000".into());
    store
        .upsert_image(
            build_record(&settings, &data.join("dss.14.29.56-62.41.05.fits.gz")).expect("record"),
        )
        .await
        .expect("upsert");
    let coverage = Coverage::new(Arc::clone(&store));
    let now = chrono::Utc::now();
    let everything = coverage
        .map("demo", None, CoverageView::Everything, now)
        .await
        .expect("map")
        .expect("demo");
    let released = coverage
        .map("demo", None, CoverageView::Released, now)
        .await
        .expect("map")
        .expect("demo");
    assert!(everything.space.contains(217.49, -62.68) && everything.space.contains(250.42, 36.46));
    assert!(!released.space.contains(217.49, -62.68) && released.space.contains(250.42, 36.46));
    // Its release date passing moves it into the released map.
    let later = chrono::DateTime::parse_from_rfc3339("2999-01-02T00:00:00Z")
        .expect("time")
        .with_timezone(&chrono::Utc);
    let released_later = coverage
        .map("demo", None, CoverageView::Released, later)
        .await
        .expect("map")
        .expect("demo");
    assert!(released_later.space.contains(217.49, -62.68));

    // Over HTTP: anonymous callers see the released map.
    let open = start(Arc::clone(&store), dir.path(), data.clone()).await;
    let (_, _, ascii) = call(&open, get("/moc/demo?format=ascii")).await;
    let seen = SpaceMoc::from_ascii(&ascii).expect("moc");
    assert!(!seen.contains(217.49, -62.68) && seen.contains(250.42, 36.46));
    // TAP decides its early answer from what the caller sees: at the embargoed plate an
    // anonymous query gets nothing without the table being read, just as where nothing is,
    // so neither the answer nor its speed tells that a hidden image is there.
    let before = early_answers(&open).await;
    let (_, _, body) = call(
        &open,
        get(&tap("SELECT obs_id FROM ivoa.ObsCore WHERE 1 = INTERSECTS(s_region, CIRCLE(217.49, -62.68, 0.05))")),
    )
    .await;
    assert_eq!(body.lines().collect::<Vec<_>>(), ["obs_id"]);
    assert_eq!(early_answers(&open).await, before + 1);
    let (_, _, body) = call(&open, get("/sia/query?POS=CIRCLE+217.49+-62.68+0.05")).await;
    assert_eq!(rows(&body), 0, "{body}");
    // A collection closed to them is answered as one that does not exist.
    let state = AppState::start(
        Arc::clone(&store),
        ServerSettings {
            rights: Arc::new(Rights::new(
                [CollectionRights {
                    collection: "demo".into(),
                    groups: vec!["team".into()],
                    metadata_public: false,
                    data_public: false,
                }],
                [],
            )),
            ..server_settings(dir.path(), vec![("demo".into(), data)], Limits::default())
        },
    )
    .await
    .expect("state");
    let closed = app(state);
    let (hidden, _, a) = call(&closed, get("/moc/demo")).await;
    let (unknown, _, b) = call(&closed, get("/moc/nothing")).await;
    assert_eq!(
        (hidden, unknown),
        (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND)
    );
    assert_eq!(a.replace("demo", "X"), b.replace("nothing", "X"));
    let (_, _, list) = call(&closed, get("/moc")).await;
    assert!(!list.contains("demo"), "{list}");
}

#[tokio::test]
async fn a_replaced_image_leaves_no_cells_where_it_was() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _db) = test_store(dir.path()).await;
    let data = data_root(dir.path(), &IMAGES);
    ingest(&store, &data, "m13.fits").await;
    ingest(&store, &data, "first_vla_image.fits").await;
    let app = start(Arc::clone(&store), dir.path(), data.clone()).await;
    let (_, _, ascii) = call(&app, get("/moc/demo?format=ascii")).await;
    let before = SpaceMoc::from_ascii(&ascii).expect("moc");
    let m13 = (250.42, 36.46);
    let dss = (217.49, -62.68);
    assert!(before.contains(m13.0, m13.1) && !before.contains(dss.0, dss.1));
    // The file m13.fits now holds the DSS plate (unpacked): the same image (same path, same
    // ID) has moved.
    let mut plate = flate2::read::GzDecoder::new(
        std::fs::File::open(common::testdata(IMAGES[1])).expect("open"),
    );
    let mut file = std::fs::File::create(data.join("m13.fits")).expect("create");
    std::io::copy(&mut plate, &mut file).expect("gunzip");
    drop(file);
    ingest(&store, &data, "m13.fits").await;
    let (_, _, ascii) = call(&app, get("/moc/demo?format=ascii")).await;
    let after = SpaceMoc::from_ascii(&ascii).expect("moc");
    assert!(
        after.contains(dss.0, dss.1),
        "the image's new place is covered"
    );
    assert!(
        !after.contains(m13.0, m13.1),
        "the image's old place is still covered"
    );
    // The other image is untouched, and SIA no longer finds anything at the old place.
    for shape in footprints(&store).await {
        for (ra, dec) in corners_and_centre(&shape) {
            assert!(after.contains(ra, dec), "({ra}, {dec})");
        }
    }
    let (_, _, body) = call(&app, get("/sia/query?POS=CIRCLE+250.42+36.46+0.1")).await;
    assert_eq!(rows(&body), 0, "{body}");
}

/// The value of `skyport_tap_early_answers_total` in `/metrics`.
async fn early_answers(app: &axum::Router) -> u64 {
    let (_, _, text) = call(app, get("/metrics")).await;
    text.lines()
        .find_map(|l| l.strip_prefix("skyport_tap_early_answers_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the counter")
}

fn tap(adql: &str) -> String {
    let query: String = form_urlencoded::byte_serialize(adql.as_bytes()).collect();
    format!("/tap/sync?LANG=ADQL&FORMAT=csv&QUERY={query}")
}

#[tokio::test]
async fn tap_answers_early_outside_the_coverage_with_the_same_columns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _db) = test_store(dir.path()).await;
    let data = data_root(dir.path(), &IMAGES[..2]);
    ingest(&store, &data, "m13.fits").await;
    let app = start(Arc::clone(&store), dir.path(), data.clone()).await;
    let before = early_answers(&app).await;
    // Nothing near (10, 10): the count is 0, and the table was not read.
    let (status, _, body) = call(
        &app,
        get(&tap("SELECT COUNT(*) AS n FROM ivoa.ObsCore WHERE 1 = INTERSECTS(s_region, CIRCLE('ICRS', 10, 10, 0.5))")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body.lines().collect::<Vec<_>>(), ["n", "0"]);
    assert_eq!(early_answers(&app).await, before + 1);
    // The same columns as a query that finds rows; M13 is found where it is.
    let inside = "SELECT obs_id, s_ra FROM ivoa.ObsCore AS o WHERE o.calib_level >= 0 AND \
                  1 = CONTAINS(POINT('ICRS', o.s_ra, o.s_dec), CIRCLE('ICRS', 250.42, 36.46, 0.5))";
    let (_, _, found) = call(&app, get(&tap(inside))).await;
    assert_eq!(found.lines().count(), 2, "{found}");
    let outside = inside.replace("250.42, 36.46", "10, 10");
    let (_, _, empty) = call(&app, get(&tap(&outside))).await;
    assert_eq!(empty.lines().collect::<Vec<_>>(), ["obs_id,s_ra"]);
    assert_eq!(early_answers(&app).await, before + 2);
    // A mistake elsewhere in the query is still reported, not hidden by the empty answer.
    let (status, _, body) = call(
        &app,
        get(&tap("SELECT obs_id FROM ivoa.ObsCore WHERE calib_levl = 2 AND 1 = INTERSECTS(s_region, CIRCLE(10, 10, 0.5))")),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("calib_levl"), "{body}");
    // An image arriving while the server runs is found at once: the maps are read again
    // before the answer is "nothing".
    ingest(&store, &data, "dss.14.29.56-62.41.05.fits.gz").await;
    let (_, _, body) = call(
        &app,
        get(&tap("SELECT obs_id FROM ivoa.ObsCore WHERE 1 = INTERSECTS(s_region, CIRCLE(217.49, -62.68, 0.05))")),
    )
    .await;
    assert_eq!(body.lines().count(), 2, "{body}");
    // Forms it does not read run as written.
    let (_, _, body) = call(
        &app,
        get(&tap("SELECT COUNT(*) AS n FROM ivoa.ObsCore WHERE 1 = INTERSECTS(s_region, CIRCLE(10, 10, 0.5)) OR calib_level >= 0")),
    )
    .await;
    assert_eq!(body.lines().nth(1), Some("2"), "{body}");
    assert_eq!(early_answers(&app).await, before + 2);
}

/// The maps say "maybe" at once when they hold a region's centroid, and count the region's
/// cells only otherwise: a circle centred away from an image that reaches it still finds it, on
/// TAP and on SIA; the same circle made too small to reach it is answered early; and a concave
/// polygon around the image, whose centroid lies on the image, finds nothing. Sizes come from
/// the footprint as ObsCore gives it, and where the circle's centre lies from the served map.
#[tokio::test]
async fn regions_are_told_by_their_cells_wherever_their_centroid_lies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _db) = test_store(dir.path()).await;
    let data = data_root(dir.path(), &IMAGES[..1]);
    ingest(&store, &data, "m13.fits").await;
    let app = start(Arc::clone(&store), dir.path(), data.clone()).await;
    let footprint = footprints(&store).await.remove(0);
    let centre = footprint.centroid();
    // R: the farthest the footprint reaches from its centre (degrees).
    let reach = corners_and_centre(&footprint)
        .iter()
        .map(|&(ra, dec)| {
            skyport_sky::angular_separation(
                centre,
                skyport_sky::SkyPoint::new(ra, dec).expect("point"),
            )
        })
        .fold(0.0, f64::max);
    assert!(reach > 0.01, "M13's image spans {reach} degrees");
    // 8R north of the centre: 7R from the footprint at least, and not in the map.
    let (ra, dec) = (centre.ra, centre.dec + 8.0 * reach);
    let (_, _, ascii) = call(&app, get("/moc/demo?format=ascii")).await;
    let moc = SpaceMoc::from_ascii(&ascii).expect("moc");
    assert!(moc.contains(centre.ra, centre.dec) && !moc.contains(ra, dec));
    let before = early_answers(&app).await;
    // Radius 7.5R reaches the footprint (its inscribed circle alone reaches 0.7R north);
    // radius 3R stops 4R short of it, more than the cells of the map and of the circle
    // reach beyond the shapes (R is about one cell of the maps' order).
    for (radius, found) in [(7.5 * reach, 1), (3.0 * reach, 0)] {
        let circle = format!("CIRCLE('ICRS', {ra}, {dec}, {radius})");
        let (_, _, body) = call(
            &app,
            get(&tap(&format!(
                "SELECT obs_id FROM ivoa.ObsCore WHERE 1 = INTERSECTS(s_region, {circle})"
            ))),
        )
        .await;
        assert_eq!(body.lines().count(), 1 + found, "{circle}: {body}");
        let (_, _, body) = call(
            &app,
            get(&format!("/sia/query?POS=CIRCLE+{ra}+{dec}+{radius}")),
        )
        .await;
        assert_eq!(rows(&body), found, "SIA {circle}: {body}");
    }
    assert_eq!(
        early_answers(&app).await,
        before + 1,
        "the small circle only"
    );
    // A U open to the north, its slot 4R wide around the footprint: the polygon's centroid
    // is in the slot (on the image), the polygon itself misses the image.
    let scale = reach / centre.dec.to_radians().cos();
    let u: Vec<String> = [
        (-3.0, -3.0),
        (3.0, -3.0),
        (3.0, 3.0),
        (2.0, 3.0),
        (2.0, -2.5),
        (-2.0, -2.5),
        (-2.0, 3.0),
        (-3.0, 3.0),
    ]
    .iter()
    .map(|(x, y)| format!("{}, {}", centre.ra + x * scale, centre.dec + y * reach))
    .collect();
    let polygon = format!("POLYGON('ICRS', {})", u.join(", "));
    let (_, _, body) = call(
        &app,
        get(&tap(&format!(
            "SELECT obs_id FROM ivoa.ObsCore WHERE 1 = INTERSECTS(s_region, {polygon})"
        ))),
    )
    .await;
    assert_eq!(body.lines().count(), 1, "{polygon}: {body}");
    let u_shape = skyport_sky::parse_dali(
        skyport_sky::DaliKind::Polygon,
        &u.join(" ").replace(',', ""),
    )
    .expect("the U");
    let c = u_shape.centroid();
    assert!(
        moc.contains(c.ra, c.dec),
        "the U's centroid {c:?} is on the image"
    );
    assert_eq!(early_answers(&app).await, before + 1, "the U's query ran");
}
