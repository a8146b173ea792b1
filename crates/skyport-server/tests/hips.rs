//! HiPS as served (`/hips/list`, `/hips/{id}/…`), built by `skyport-hips` from a real archive
//! (SQLite or PostgreSQL) holding M13 and a DSS plate, the plate under embargo.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::{call, call_bytes, get, ingest_settings, server_settings, test_store};
use skyport_consdb::build_record;
use skyport_server::{app, AppState, Limits, ServerSettings};
use skyport_store::{CollectionRights, Rights};

struct World {
    _dir: tempfile::TempDir,
    _db: Option<skyport_store::postgres::scratch::ScratchDatabase>,
    store: Arc<dyn skyport_store::Store>,
    data: std::path::PathBuf,
    hips: std::path::PathBuf,
    dir: std::path::PathBuf,
}

async fn world() -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, db) = test_store(dir.path()).await;
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    for f in [
        "pypi_astropy/m13.fits",
        "pypi_astropy/dss.14.29.56-62.41.05.fits.gz",
    ] {
        let from = common::testdata(f);
        std::fs::copy(&from, data.join(from.file_name().expect("name"))).expect("copy");
    }
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
    let hips = dir.path().join("hips");
    let groups = skyport_hips::released_images(
        &store,
        &[("demo".to_string(), data.clone())],
        None,
        None,
        chrono::Utc::now(),
    )
    .await
    .expect("images");
    // Only M13: the plate is not released.
    assert_eq!(groups.values().map(Vec::len).sum::<usize>(), 1);
    let layout = skyport_hips::Layout::new(&hips);
    let settings = skyport_hips::BuildSettings {
        tile_width: 64,
        ..Default::default()
    };
    for (key, images) in &groups {
        skyport_hips::build(&layout, key, images, &settings, Some(6), true).expect("build");
    }
    World {
        dir: dir.path().to_path_buf(),
        _dir: dir,
        _db: db,
        store,
        data,
        hips,
    }
}

async fn serve(w: &World, rights: Rights) -> axum::Router {
    let state = AppState::start(
        Arc::clone(&w.store),
        ServerSettings {
            hips_dir: Some(w.hips.clone()),
            workspace: None,
            rights: Arc::new(rights),
            ..server_settings(
                &w.dir,
                vec![("demo".into(), w.data.clone())],
                Limits::default(),
            )
        },
    )
    .await
    .expect("state");
    app(state)
}

/// The id of M13's HiPS: collection `demo`, band unknown (its header names none).
const ID: &str = "demo";

#[tokio::test]
async fn a_hips_is_listed_and_its_files_served_with_their_types() {
    let w = world().await;
    let app = serve(&w, Rights::default()).await;
    let (status, headers, list) = call(&app, get("/hips/list")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers[header::CONTENT_TYPE]
        .to_str()
        .is_ok_and(|t| t.starts_with("text/plain")));
    assert!(
        list.contains(&format!(
            "hips_service_url      = http://127.0.0.1:8080/hips/{ID}\n"
        )),
        "{list}"
    );
    assert!(list.contains("obs_collection        = demo"), "{list}");
    let (status, _, props) = call(&app, get(&format!("/hips/{ID}/properties"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(props.contains("hips_order            = 6"), "{props}");
    for (path, kind) in [
        ("Norder3/Allsky.fits", "application/fits"),
        ("Norder3/Allsky.png", "image/png"),
        ("Moc.fits", "application/fits"),
    ] {
        let (status, headers, body) = call_bytes(&app, get(&format!("/hips/{ID}/{path}"))).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(headers[header::CONTENT_TYPE], kind, "{path}");
        assert!(!body.is_empty());
    }
    // The tile over M13, in both formats; then again with its ETag: not modified.
    let npix = cdshealpix::nested::hash(6, 250.42f64.to_radians(), 36.46f64.to_radians());
    let tile = format!("/hips/{ID}/Norder6/Dir0/Npix{npix}.fits");
    let (status, headers, body) = call_bytes(&app, get(&tile)).await;
    assert_eq!(status, StatusCode::OK, "{tile}");
    assert!(body.starts_with(b"SIMPLE  ="));
    let etag = headers[header::ETAG].clone();
    assert!(headers[header::CACHE_CONTROL]
        .to_str()
        .is_ok_and(|c| c.contains("max-age")));
    let again = Request::get(&tile)
        .header(header::IF_NONE_MATCH, etag)
        .body(Body::empty())
        .expect("request");
    let (status, _, _) = call_bytes(&app, again).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    let (status, headers, _) = call_bytes(&app, get(&tile.replace(".fits", ".png"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "image/png");
    // The embargoed plate is in no tile: where it is, there is nothing.
    let npix = cdshealpix::nested::hash(6, 217.49f64.to_radians(), (-62.68f64).to_radians());
    let (status, _, _) = call(
        &app,
        get(&format!(
            "/hips/{ID}/Norder6/Dir{}/Npix{npix}.fits",
            npix / 10000 * 10000
        )),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // As a PNG, the same absent tile is a transparent one, as wide as the HiPS's tiles (a
    // browser logs every failed image); below the deepest order there is still nothing.
    let (status, headers, png) = call_bytes(
        &app,
        get(&format!(
            "/hips/{ID}/Norder6/Dir{}/Npix{npix}.png",
            npix / 10000 * 10000
        )),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "image/png");
    let mut reader = png::Decoder::new(std::io::Cursor::new(png.to_vec()))
        .read_info()
        .expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut pixels).expect("decoded");
    assert_eq!((info.width, info.height), (64, 64));
    assert_eq!(info.color_type, png::ColorType::GrayscaleAlpha);
    assert!(pixels.chunks(2).all(|p| p[1] == 0), "not transparent");
    let deeper = cdshealpix::nested::hash(7, 217.49f64.to_radians(), (-62.68f64).to_radians());
    let (status, _, _) = call(
        &app,
        get(&format!(
            "/hips/{ID}/Norder7/Dir{}/Npix{deeper}.png",
            deeper / 10000 * 10000
        )),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // DataLink points M13 at its HiPS.
    let (_, _, links) = call(
        &app,
        get("/datalink/links?ID=ivo%3A%2F%2Fskyport.test%2Fdemo%3Fm13"),
    )
    .await;
    assert!(
        links.contains(&format!("<TD>http://127.0.0.1:8080/hips/{ID}</TD>")),
        "{links}"
    );
    // Capabilities announce the HiPS list.
    let (_, _, caps) = call(&app, get("/sia/capabilities")).await;
    assert!(
        caps.contains("ivo://ivoa.net/std/hips#hips-1.0") && caps.contains("/hips/list<"),
        "{caps}"
    );
}

#[tokio::test]
async fn no_path_leads_outside_a_hips() {
    let w = world().await;
    std::fs::write(w.hips.join("secret.txt"), "CONTENT-OF-THE-SECRET").expect("write");
    let app = serve(&w, Rights::default()).await;
    for path in [
        format!("/hips/{ID}/../secret.txt"),
        format!("/hips/{ID}/..%2Fsecret.txt"),
        format!("/hips/{ID}/%2e%2e/secret.txt"),
        format!("/hips/{ID}/Norder6/..%2F..%2F..%2Fsecret.txt"),
        format!("/hips/{ID}/hips.json"),
        format!("/hips/{ID}/Norder99/Allsky.fits"),
        format!("/hips/{ID}/Norder6/Dir10000/Npix1.fits"),
        format!("/hips/{ID}/Norder6/Dir0/Npix99999999.fits"),
        format!("/hips/{ID}/Norder6/Dir0/Npix1.jpg"),
        "/hips/.versions/properties".to_string(),
        "/hips/..%2Fhips/properties".to_string(),
        "/hips/nothing/properties".to_string(),
        "/hips/%2e%2e/secret.txt".to_string(),
    ] {
        let (status, _, body) = call(&app, get(&path)).await;
        assert!(
            status == StatusCode::NOT_FOUND || status == StatusCode::BAD_REQUEST,
            "{path}: {status}"
        );
        assert!(!body.contains("CONTENT-OF-THE-SECRET"), "{path}: {body}");
        assert!(
            !body.contains(&w.hips.display().to_string()),
            "{path}: {body}"
        );
    }
}

#[tokio::test]
async fn a_closed_collection_s_hips_is_absent_for_others() {
    let w = world().await;
    let app = serve(
        &w,
        Rights::new(
            [CollectionRights {
                collection: "demo".into(),
                groups: vec!["team".into()],
                metadata_public: true,
                data_public: false,
            }],
            [],
        ),
    )
    .await;
    let (status, _, a) = call(&app, get(&format!("/hips/{ID}/properties"))).await;
    let (other, _, b) = call(&app, get("/hips/nothing/properties")).await;
    assert_eq!(
        (status, other),
        (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND)
    );
    assert_eq!(a.replace(ID, "X"), b.replace("nothing", "X"));
    let (_, _, list) = call(&app, get("/hips/list")).await;
    assert!(list.is_empty(), "{list}");
    let member = common::as_user(&app, "alice");
    // A proxy-named user holds no groups here: still absent.
    let (status, _, _) = call(&member, get(&format!("/hips/{ID}/properties"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
