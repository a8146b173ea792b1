//! SIAv2, DataLink, descriptors in results, plane files and previews, in process against a real
//! SQLite archive holding M13 (astropy's `m13.fits`: 300×300 pixels around RA 250.42, Dec 36.46).

mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::{call, fixture, fixture_with, get};
use skyport_server::Limits;

const M13_DID: &str = "ivo://skyport.test/demo?m13";

fn rows(body: &str) -> usize {
    body.matches("<TR>").count()
}

#[tokio::test]
async fn sia_finds_m13_where_it_is_and_nowhere_else() {
    let f = fixture().await;
    for (query, expected) in [
        ("POS=CIRCLE+250.42+36.46+0.1", 1),
        ("POS=CIRCLE+10+10+1", 0),
        ("POS=RANGE+250+251+36+37", 1),
        ("POS=RANGE+251+250+36+37", 0), // wraps the other way round: 359 degrees that miss M13
        ("POS=RANGE+0+360+30+%2BInf", 1),
        ("POS=POLYGON+250+36+251+36+251+37", 1),
        ("POS=CIRCLE+10+10+1&POS=CIRCLE+250.42+36.46+0.1", 1), // repeats are ORed
        ("POS=CIRCLE+250.42+36.46+0.1&COLLECTION=other", 0),   // parameters are ANDed
        ("COLLECTION=demo&CALIB=1&DPTYPE=image", 1),
        ("ID=IVO://SKYPORT.TEST/DEMO?M13", 1), // IDs compare case-insensitively
        ("FORMAT=application/x-votable%2Bxml;content=datalink", 1),
        ("FORMAT=application/fits", 0),
        ("TARGET=nothing", 0),
        ("POL=I", 0), // no polarization states recorded
        ("FOV=0+10", 1),
        ("FOV=10+%2BInf", 0),
    ] {
        let (status, headers, body) = call(&f.app, get(&format!("/sia/query?{query}"))).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        assert!(
            headers[header::CONTENT_TYPE]
                .to_str()
                .is_ok_and(|t| t.starts_with("application/x-votable+xml")),
            "{query}"
        );
        assert_eq!(rows(&body), expected, "{query}");
        if expected > 0 {
            assert!(body.contains(&format!("<TD>{M13_DID}</TD>")), "{query}");
        }
        assert!(
            body.contains("ID=\"skyport_pubdid\"") && body.contains("ref=\"skyport_pubdid\""),
            "{query}: DataLink descriptor"
        );
    }
}

#[tokio::test]
async fn sia_bad_input_names_the_parameter() {
    let f = fixture().await;
    for (query, says) in [
        ("POS=CIRCLE+1+2", "CIRCLE takes three numbers"),
        ("BAND=abc", "BAND: &quot;abc&quot; is not a number"),
        ("TIME=60010+60000", "lower bound is above the upper bound"),
        ("POS=CIRCLE+1+2+3&MAXREC=-4", "MAXREC"),
        ("RESPONSEFORMAT=fits", "RESPONSEFORMAT"),
    ] {
        let (status, _, body) = call(&f.app, get(&format!("/sia/query?{query}"))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert!(
            body.contains("QUERY_STATUS\" value=\"ERROR\""),
            "{query}: {body}"
        );
        assert!(body.contains("UsageFault"), "{query}: {body}");
        assert!(body.contains(says), "{query}: {body}");
    }
    // A CSV request gets its error as plain text.
    let (status, headers, body) = call(&f.app, get("/sia/query?BAND=abc&RESPONSEFORMAT=csv")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(headers[header::CONTENT_TYPE]
        .to_str()
        .is_ok_and(|t| t.starts_with("text/plain")));
    assert!(body.starts_with("UsageFault: BAND"), "{body}");
}

#[tokio::test]
async fn sia_maxrec_zero_describes_every_parameter() {
    let f = fixture().await;
    let (status, _, body) = call(&f.app, get("/sia/query?MAXREC=0")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rows(&body), 0);
    assert!(body.contains("<INFO name=\"QUERY_STATUS\" value=\"OVERFLOW\"/>"));
    // Rubin's layout: the description first, then the (empty) results.
    let this = body
        .find("<RESOURCE type=\"meta\" utype=\"adhoc:this\" name=\"this\">")
        .expect("the self-description");
    assert!(this < body.find("<RESOURCE type=\"results\">").expect("results"));
    // POS once (a DALI shape string, so without an xtype), naming its three shapes.
    let description = &body[this..];
    let description = &description[..description.find("</RESOURCE>").expect("end")];
    let pos: Vec<&str> = description.split("<PARAM name=\"POS\"").skip(1).collect();
    assert_eq!(pos.len(), 1, "{body}");
    assert!(!pos[0]
        .split('>')
        .next()
        .unwrap_or_default()
        .contains("xtype"));
    assert!(["CIRCLE", "RANGE", "POLYGON"]
        .iter()
        .all(|s| pos[0].contains(s)));
    // The bands by name, each as its central wavelength (LSST r: 552-691 nm).
    assert!(
        body.contains("<OPTION name=\"r\" value=\"6.215e-7\"/>"),
        "{body}"
    );
    for p in [
        "DPSUBTYPE",
        "POS",
        "BAND",
        "TIME",
        "POL",
        "FOV",
        "SPATRES",
        "EXPTIME",
        "ID",
        "COLLECTION",
        "FACILITY",
        "INSTRUMENT",
        "DPTYPE",
        "CALIB",
        "TARGET",
        "TIMERES",
        "SPECRP",
        "FORMAT",
        "MAXREC",
        "RESPONSEFORMAT",
    ] {
        assert!(body.contains(&format!("<PARAM name=\"{p}\"")), "{p}");
    }
    // The archive's own values are offered for the enumerable parameters.
    assert!(body.contains("<OPTION value=\"demo\"/>"), "COLLECTION");
    assert!(body.contains("<OPTION value=\"1\"/>"), "CALIB");
    assert!(body.contains("<OPTION value=\"image\"/>"), "DPTYPE");
}

#[tokio::test]
async fn sia_and_datalink_have_vosi_resources() {
    let f = fixture().await;
    for (path, standard) in [
        ("/sia/capabilities", "ivo://ivoa.net/std/SIA#query-2.0"),
        (
            "/datalink/capabilities",
            "ivo://ivoa.net/std/DataLink#links-1.1",
        ),
    ] {
        let (status, _, body) = call(&f.app, get(path)).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(body.contains(standard), "{path}");
        assert!(
            body.contains("ivo://ivoa.net/std/VOSI#availability"),
            "{path}"
        );
    }
    for path in ["/sia/availability", "/datalink/availability"] {
        let (status, _, body) = call(&f.app, get(path)).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(
            body.contains("<vosi:available>true</vosi:available>"),
            "{path}"
        );
    }
}

fn encoded(did: &str) -> String {
    form_urlencoded::byte_serialize(did.as_bytes()).collect()
}

#[tokio::test]
async fn datalink_lists_the_links_of_each_id_in_order_with_faults_as_rows() {
    let f = fixture().await;
    let (status, headers, body) = call(
        &f.app,
        get(&format!(
            "/datalink/links?ID={}&ID=ivo://skyport.test/demo?none&ID=m13",
            encoded(M13_DID)
        )),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers[header::CONTENT_TYPE],
        "application/x-votable+xml;content=datalink"
    );
    assert!(body
        .contains("<INFO name=\"standardID\" value=\"ivo://ivoa.net/std/DataLink#links-1.1\"/>"));
    let semantics: Vec<&str> = body
        .split("<TR>")
        .skip(1)
        .map(|tr| {
            tr.split("<TD>")
                .find(|td| td.starts_with('#'))
                .and_then(|td| td.split("</TD>").next())
                .unwrap_or("")
        })
        .collect();
    // m13.fits has one HDU: no planes.
    assert_eq!(
        semantics,
        [
            "#this",
            "#preview",
            "#preview-image",
            "#cutout",
            "#cutout",
            "#cutout",
            "#auxiliary",
            "#auxiliary",
            "#this",
            "#this"
        ]
    );
    assert!(body.contains("<TD>http://127.0.0.1:8080/files/demo/m13.fits</TD>"));
    let size = std::fs::metadata(f.dir.path().join("data/m13.fits"))
        .expect("m13")
        .len();
    assert!(body.contains(&format!("<TD>application/fits</TD><TD>{size}</TD>")));
    assert!(body.contains("NotFoundFault: no image with the ID"));
    assert!(body.contains("UsageFault: &quot;m13&quot; is not an IVOA identifier"));
    // The cutout row names a descriptor in the same document, with the image's ID fixed and
    // its footprint as the limits.
    for id in [
        "cutout-sync",
        "cutout-sync-maskedimage",
        "cutout-sync-exposure",
    ] {
        assert!(body.contains(&format!("<TD>{id}</TD>")), "{id}");
        assert!(body.contains(&format!("ID=\"{id}\"")), "{id}");
    }
    assert!(body.contains(&format!("value=\"{M13_DID}\"")));
    assert!(body.contains("xtype=\"circle\"") && body.contains("<MAX value=\"250.4"));
}

#[tokio::test]
async fn datalink_without_id_describes_itself() {
    let f = fixture().await;
    let (status, _, body) = call(&f.app, get("/datalink/links")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rows(&body), 0);
    assert!(body.contains("utype=\"adhoc:this\""));
    assert!(body.contains("<PARAM name=\"ID\""));
}

/// A form-encoded POST to /datalink/links.
fn post_links(body: String) -> Request<Body> {
    Request::post("/datalink/links")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .expect("request")
}

#[tokio::test]
async fn too_many_ids_stop_at_the_limit_with_an_overflow_between_ids() {
    let limits = Limits {
        datalink_max_ids: 2,
        ..Limits::default()
    };
    let f = fixture_with(limits).await;
    let ids = [M13_DID, "ivo://x/y?1", M13_DID];
    let body = ids
        .iter()
        .map(|id| format!("ID={}", encoded(id)))
        .collect::<Vec<_>>()
        .join("&");
    let (status, _, body) = call(&f.app, post_links(body)).await;
    assert_eq!(status, StatusCode::OK);
    // M13's eight links (three of them cutout services), the fault row of the second ID,
    // nothing of the third.
    assert_eq!(rows(&body), 9, "{body}");
    assert!(body.contains("<INFO name=\"QUERY_STATUS\" value=\"OVERFLOW\"/>"));

    // The same image twice: the second set of cutout descriptors has its own XML IDs.
    let (_, _, body) = call(
        &f.app,
        post_links(format!("ID={0}&ID={0}", encoded(M13_DID))),
    )
    .await;
    for id in [
        "cutout-sync",
        "cutout-sync-maskedimage",
        "cutout-sync-exposure",
        "cutout-sync-1",
        "cutout-sync-maskedimage-1",
        "cutout-sync-exposure-1",
    ] {
        assert_eq!(
            body.matches(&format!(" ID=\"{id}\"")).count(),
            1,
            "{id}: {body}"
        );
        assert_eq!(body.matches(&format!("<TD>{id}</TD>")).count(), 1, "{id}");
    }

    // 10,000 IDs in one POST with the default limit: answered, cut at 1,000 IDs.
    let f = fixture().await;
    let body = (0..10_000)
        .map(|i| format!("ID=ivo%3A%2F%2Fx%2Fy%3F{i}"))
        .collect::<Vec<_>>()
        .join("&");
    let (status, _, body) = call(&f.app, post_links(body)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rows(&body), 1000);
    assert_eq!(body.matches("NotFoundFault").count(), 1000);
    assert!(body.contains("<TD>ivo://x/y?999</TD>") && !body.contains("<TD>ivo://x/y?1000</TD>"));
    assert!(body.contains("value=\"OVERFLOW\""));
}

#[tokio::test]
async fn tap_results_with_dids_carry_descriptors_and_others_do_not() {
    let f = fixture().await;
    let (_, _, body) = call(
        &f.app,
        get("/tap/sync?LANG=ADQL&QUERY=SELECT+obs_id,+obs_publisher_did+FROM+ivoa.ObsCore"),
    )
    .await;
    assert!(body.contains("<FIELD name=\"obs_publisher_did\" ID=\"skyport_pubdid\""));
    assert!(body.contains("ivo://ivoa.net/std/DataLink#links-1.1"));
    assert!(body.contains("ivo://ivoa.net/std/SODA#sync-1.0"));
    let (_, _, body) = call(
        &f.app,
        get("/tap/sync?LANG=ADQL&QUERY=SELECT+obs_id+FROM+ivoa.ObsCore"),
    )
    .await;
    assert!(!body.contains("adhoc:service"));
}

#[tokio::test]
async fn previews_are_pngs_cached_and_validated_by_etag() {
    let f = fixture().await;
    let (status, headers, _) = call(&f.app, get("/previews/demo/m13.fits")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "image/png");
    assert!(headers[header::CACHE_CONTROL]
        .to_str()
        .is_ok_and(|c| c.contains("max-age")));
    let etag = headers[header::ETAG].to_str().expect("etag").to_string();
    let cached: Vec<_> = std::fs::read_dir(f.dir.path().join("cache/previews"))
        .expect("cache dir")
        .collect();
    assert_eq!(cached.len(), 1, "rendered once into the cache");
    let req = Request::get("/previews/demo/m13.fits")
        .header(header::IF_NONE_MATCH, &etag)
        .body(Body::empty())
        .expect("request");
    let (status, _, body) = call(&f.app, req).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
    // The thumbnail is a different picture with its own tag.
    let (status, headers, _) = call(
        &f.app,
        get("/previews/demo/m13.fits?size=thumbnail&stretch=zscale"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(headers[header::ETAG].to_str().expect("etag"), etag);
    for (bad, status, says) in [
        (
            "/previews/demo/m13.fits?size=huge",
            StatusCode::BAD_REQUEST,
            "size=&quot;huge&quot;",
        ),
        (
            "/previews/demo/m13.fits?stretch=log",
            StatusCode::BAD_REQUEST,
            "stretch=&quot;log&quot;",
        ),
        (
            "/previews/demo/secret.fits",
            StatusCode::NOT_FOUND,
            "NotFoundFault: no image",
        ),
        (
            "/previews/demo/../data/m13.fits",
            StatusCode::NOT_FOUND,
            "NotFoundFault",
        ),
    ] {
        let (got, _, body) = call(&f.app, get(bad)).await;
        assert_eq!(got, status, "{bad}");
        assert!(body.contains(says), "{bad}: {body}");
    }
}

#[tokio::test]
async fn files_carry_an_etag_and_refuse_planes_that_are_not_masks_or_variances() {
    let f = fixture().await;
    let (status, headers, _) = call(&f.app, get("/files/demo/m13.fits")).await;
    assert_eq!(status, StatusCode::OK);
    let etag = headers[header::ETAG].to_str().expect("etag").to_string();
    assert_eq!(etag.len(), 66, "the SHA-256 in quotes: {etag}");
    let req = Request::get("/files/demo/m13.fits")
        .header(header::IF_NONE_MATCH, &etag)
        .body(Body::empty())
        .expect("request");
    assert_eq!(call(&f.app, req).await.0, StatusCode::NOT_MODIFIED);
    let (status, _, body) = call(&f.app, get("/files/demo/m13.fits?hdu=0")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.contains("hdu=0: only mask and variance planes"),
        "{body}"
    );
    let (status, _, body) = call(&f.app, get("/files/demo/m13.fits?hdu=5")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("hdu=5: the file has no such HDU"), "{body}");
}

#[tokio::test]
async fn sia_takes_hundreds_of_values_of_one_parameter() {
    let f = fixture().await;
    // 300 IDs, one of them M13's; 300 positions, one of them on M13. Each set alone must find
    // M13 and only M13 (the values are ORed).
    let mut ids: Vec<String> = (0..299)
        .map(|i| {
            format!(
                "ID={}",
                encoded(&format!("ivo://skyport.test/demo?none{i}"))
            )
        })
        .collect();
    ids.insert(150, format!("ID={}", encoded(M13_DID)));
    let mut positions: Vec<String> = (0..299)
        .map(|i| format!("POS=CIRCLE+{}+-60+0.01", i as f64))
        .collect();
    positions.insert(77, "POS=CIRCLE+250.4226+36.4602+0.01".into());
    for body in [ids.join("&"), positions.join("&")] {
        let request = Request::post("/sia/query")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .expect("request");
        let (status, _, answer) = call(&f.app, request).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(rows(&answer), 1, "{answer}");
        assert!(answer.contains(&format!("<TD>{M13_DID}</TD>")), "{answer}");
    }
}

/// M13 ingested into a fresh archive (on the suite's backend) below `dir`.
async fn archive_with_m13(
    dir: &std::path::Path,
) -> (
    std::sync::Arc<dyn skyport_store::Store>,
    Option<skyport_store::postgres::scratch::ScratchDatabase>,
) {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    std::fs::copy(
        common::testdata("pypi_astropy/m13.fits"),
        data.join("m13.fits"),
    )
    .expect("copy");
    let (store, database) = common::test_store(dir).await;
    let record =
        skyport_consdb::build_record(&common::ingest_settings(&data), &data.join("m13.fits"))
            .expect("record");
    store.upsert_image(record).await.expect("ingest");
    (store, database)
}

/// The app over `store` as served under `public_url`.
async fn served_under(
    store: &std::sync::Arc<dyn skyport_store::Store>,
    dir: &std::path::Path,
    public_url: &str,
) -> axum::Router {
    let state = skyport_server::AppState::start(
        std::sync::Arc::clone(store),
        skyport_server::ServerSettings {
            public_url: public_url.into(),
            ..common::server_settings(
                dir,
                vec![("demo".into(), dir.join("data"))],
                Limits::default(),
            )
        },
    )
    .await
    .expect("state");
    skyport_server::app(state)
}

fn tap_csv(query: &str) -> Request<Body> {
    let q: String = form_urlencoded::byte_serialize(query.as_bytes()).collect();
    get(&format!("/tap/sync?LANG=ADQL&FORMAT=csv&QUERY={q}"))
}

#[tokio::test]
async fn links_follow_the_url_the_archive_is_served_under_now() {
    let dir = tempfile::tempdir().expect("dir");
    let (store, _database) = archive_with_m13(dir.path()).await;
    let did: String = form_urlencoded::byte_serialize(M13_DID.as_bytes()).collect();
    for base in ["http://127.0.0.1:8080", "https://archive.example.org/sky"] {
        let app = served_under(&store, dir.path(), base).await;
        let link = format!("{base}/datalink/links?ID={did}");
        let (status, _, csv) = call(&app, tap_csv("SELECT access_url FROM ivoa.ObsCore")).await;
        assert_eq!(status, StatusCode::OK, "{csv}");
        assert_eq!(csv, format!("access_url\n{link}\n"), "{base}");
        // Every clause sees the same value, not only the select list.
        let (_, _, csv) = call(
            &app,
            tap_csv(&format!(
                "SELECT obs_id FROM ivoa.ObsCore WHERE access_url = '{link}' ORDER BY access_url"
            )),
        )
        .await;
        assert_eq!(csv, "obs_id\nm13\n", "{base}");
        // SIA lists it so, and the link answers with the image's DataLink document.
        let (_, _, sia) = call(&app, get("/sia/query?ID=ivo://skyport.test/demo?m13")).await;
        assert!(
            sia.contains(&format!("<TD>{}</TD>", link.replace('&', "&amp;"))),
            "{sia}"
        );
        let path = link.strip_prefix(base).expect("under the base");
        let (status, _, doc) = call(&app, get(path)).await;
        assert_eq!(status, StatusCode::OK, "{doc}");
        assert!(doc.contains(&format!("{base}/files/")), "{doc}");
    }
}

#[tokio::test]
async fn absolute_links_of_an_archive_built_before_are_cut_back_when_it_is_migrated() {
    let dir = tempfile::tempdir().expect("dir");
    let (store, _database) = archive_with_m13(dir.path()).await;
    let obscore = skyport_store::ddl::table_name(store.dialect(), "ivoa", "ObsCore");
    let versions = match store.dialect() {
        skyport_store::Dialect::Sqlite => "skyport_schema_version",
        skyport_store::Dialect::Postgres => "public.skyport_schema_version",
    };
    // As archives built before 1.2.0 of the skyport schema hold them.
    store
        .write(
            "test",
            vec![
                skyport_store::Statement::new(
                    format!("UPDATE {obscore} SET access_url = 'http://old.example:8081/base' || access_url"),
                    Vec::new(),
                ),
                skyport_store::Statement::new(
                    format!("UPDATE {versions} SET version = '1.1.0' WHERE schema_name = 'skyport'"),
                    Vec::new(),
                ),
            ],
        )
        .await
        .expect("age the archive");
    let read = format!("SELECT access_url FROM {obscore}");
    let stored = |store: std::sync::Arc<dyn skyport_store::Store>| {
        let read = read.clone();
        async move {
            let rows = store.query(read, Vec::new()).await.expect("read");
            rows.rows[0][0].as_str().map(str::to_string)
        }
    };
    let did: String = form_urlencoded::byte_serialize(M13_DID.as_bytes()).collect();
    assert_eq!(
        stored(store.clone()).await.as_deref(),
        Some(format!("http://old.example:8081/base/datalink/links?ID={did}").as_str())
    );
    store
        .migrate(&skyport_schema::builtin_schemas())
        .await
        .expect("migrate");
    assert_eq!(
        stored(store.clone()).await.as_deref(),
        Some(format!("/datalink/links?ID={did}").as_str())
    );
    let app = served_under(&store, dir.path(), "http://new.example").await;
    let (_, _, csv) = call(&app, tap_csv("SELECT access_url FROM ivoa.ObsCore")).await;
    assert_eq!(
        csv,
        format!("access_url\nhttp://new.example/datalink/links?ID={did}\n")
    );
}

#[tokio::test]
async fn sia_dpsubtype_selects_by_dataproduct_subtype() {
    let dir = tempfile::tempdir().expect("dir");
    let (store, _database) = archive_with_m13(dir.path()).await;
    let obscore = skyport_store::ddl::table_name(store.dialect(), "ivoa", "ObsCore");
    store
        .write(
            "test",
            vec![skyport_store::Statement::new(
                format!("UPDATE {obscore} SET dataproduct_subtype = 'lsst.visit_image'"),
                Vec::new(),
            )],
        )
        .await
        .expect("subtype");
    let app = served_under(&store, dir.path(), "http://127.0.0.1:8080").await;
    for (query, expected) in [
        ("DPSUBTYPE=lsst.visit_image", 1),
        ("DPSUBTYPE=lsst.deep_coadd", 0),
        ("DPSUBTYPE=lsst.deep_coadd&DPSUBTYPE=lsst.visit_image", 1),
        ("DPSUBTYPE=lsst.visit_image&DPTYPE=cube", 0),
    ] {
        let (status, _, body) = call(&app, get(&format!("/sia/query?{query}"))).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        assert_eq!(rows(&body), expected, "{query}");
    }
    let (_, _, body) = call(&app, get("/sia/query?MAXREC=0")).await;
    let dpsubtype = body
        .split("<PARAM name=\"DPSUBTYPE\"")
        .nth(1)
        .and_then(|p| p.split("</PARAM>").next())
        .expect("DPSUBTYPE");
    assert!(
        dpsubtype.contains("<OPTION value=\"lsst.visit_image\"/>"),
        "{dpsubtype}"
    );
}
