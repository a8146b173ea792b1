//! HiPS kept current without anyone running `skyport hips update`: a `consdb ingest-headers`
//! that changes an image brings its HiPS up to date, and a running server adds an embargoed
//! image to its HiPS once its release date has passed.

use super::common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

/// Where each HiPS's link points: `id` → version directory.
fn versions(hips: &Path) -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(hips)
        .expect("hips dir")
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let target = std::fs::read_link(e.path()).ok()?;
            Some((name, target))
        })
        .collect();
    out.sort();
    out
}

/// Adds a `HISTORY` card to the primary header of the FITS file at `path` (in the blank
/// space after `END`), which changes the file and nothing else about the image.
fn touch_header(path: &Path) {
    let mut bytes = std::fs::read(path).expect("read");
    let end = (0..)
        .map(|k| k * 80)
        .take_while(|at| at + 80 <= bytes.len())
        .find(|at| bytes[*at..*at + 80].starts_with(b"END     "))
        .expect("END card");
    assert!((end + 80) % 2880 != 0, "no room after END in {path:?}");
    assert!(bytes[end + 80..end + 160].iter().all(|b| *b == b' '));
    let history = format!("{:<80}", "HISTORY touched by the HiPS test");
    bytes[end..end + 80].copy_from_slice(history.as_bytes());
    bytes[end + 80..end + 160].copy_from_slice(format!("{:<80}", "END").as_bytes());
    std::fs::write(path, bytes).expect("write");
}

#[test]
fn a_header_ingest_that_changes_an_image_updates_its_hips() {
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = common::small_demo(dir.path());
    let hips = demo.join("hips");
    let before = versions(&hips);
    assert!(before.len() >= 2, "{before:?}");
    let image =
        demo.join("data/lsst/20251201/MC_O_20251201_000100/MC_O_20251201_000100_R22_S00.fits");
    touch_header(&image);
    let out = common::run_ok(&[
        "consdb".as_ref(),
        "ingest-headers".as_ref(),
        "--config".as_ref(),
        demo.join("skyport.toml").as_os_str(),
        "--instrument".as_ref(),
        "lsstcam".as_ref(),
        image.as_os_str(),
    ]);
    assert!(out.contains("1 images to ObsCore"), "{out}");
    assert!(out.contains("deepest tiles made"), "{out}");
    // Exactly one HiPS (the image's collection and band) has a new version; the others are
    // as they were.
    let after = versions(&hips);
    let changed: Vec<_> = before
        .iter()
        .zip(&after)
        .filter(|(b, a)| b != a)
        .map(|(_, a)| a.clone())
        .collect();
    assert_eq!(changed.len(), 1, "{before:?} → {after:?}");
    assert!(changed[0].0.starts_with("LSSTCam_demo-"), "{changed:?}");
    assert!(
        changed[0].1.to_string_lossy().ends_with(".2"),
        "{changed:?}"
    );
    // The manifest knows the changed file, so another ingest changes nothing.
    let again = common::run_ok(&[
        "consdb".as_ref(),
        "ingest-headers".as_ref(),
        "--config".as_ref(),
        demo.join("skyport.toml").as_os_str(),
        "--instrument".as_ref(),
        "lsstcam".as_ref(),
        image.as_os_str(),
    ]);
    assert!(again.contains("0 images to ObsCore"), "{again}");
    assert_eq!(versions(&hips), after);
}

/// The order-3 tile over (ra, dec), as a URL path below the HiPS.
fn order3_tile(ra: f64, dec: f64) -> String {
    let npix = cdshealpix::nested::hash(3, ra.to_radians(), dec.to_radians());
    format!("Norder3/Dir{}/Npix{npix}.fits", npix / 10_000 * 10_000)
}

#[tokio::test]
async fn a_served_hips_gains_an_image_when_its_embargo_ends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    for (sub, file) in [("open", "m13.fits"), ("embargoed", "comp.fits")] {
        std::fs::create_dir_all(root.join(sub)).expect("mkdir");
        std::fs::copy(
            repo("testdata/fits/pypi_astropy").join(file),
            root.join(sub).join(file),
        )
        .expect("copy");
    }
    // Released a few seconds after the server starts (the HiPS build comes first).
    let release = chrono::Utc::now() + chrono::Duration::seconds(15);
    let port = common::free_port();
    let config = root.join("skyport.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n\n[database]\nsqlite = \"archive.sqlite\"\n\n\
             [archive]\nauthority = \"test.sky\"\n\n\
             [[archive.roots]]\nname = \"open\"\npath = \"open\"\ncollection = \"sky\"\n\n\
             [[archive.roots]]\nname = \"embargoed\"\npath = \"embargoed\"\ncollection = \"sky\"\n\
             release_date = \"{}\"\n\n[hips]\ntile_width = 64\nmax_order = 6\n",
            release.format("%Y-%m-%dT%H:%M:%S")
        ),
    )
    .expect("config");
    common::run_ok(&[
        "ingest".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
        root.join("open").as_os_str(),
        root.join("embargoed").as_os_str(),
    ]);
    let built = common::run_ok(&[
        "hips".as_ref(),
        "build".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
    ]);
    assert!(built.contains("from 1 images"), "{built}");
    let base = format!("http://127.0.0.1:{port}");
    let server = common::serve(&config, base.clone()).await;
    let client = common::client();
    let status = |path: String| {
        let client = client.clone();
        let url = format!("{}/hips/sky/{path}", server.base);
        async move { client.get(url).send().await.expect("get").status().as_u16() }
    };
    // M13 (RA 250.4, Dec +36.5) is in the HiPS; NGC 1316 (RA 50.7, Dec −37.2), still under
    // embargo, is not.
    let m13 = order3_tile(250.42, 36.46);
    let ngc1316 = order3_tile(50.67, -37.21);
    assert_ne!(m13, ngc1316);
    assert_eq!(status(m13.clone()).await, 200);
    assert_eq!(status(ngc1316.clone()).await, 404);
    assert!(
        chrono::Utc::now() < release,
        "the build took too long for this test"
    );
    // After the release date, with no ingest and no command, the server adds it.
    let deadline = Instant::now()
        + (release - chrono::Utc::now()).to_std().unwrap_or_default()
        + Duration::from_secs(30);
    loop {
        if status(ngc1316.clone()).await == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "NGC 1316 not in the HiPS 30 s after its release date"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(chrono::Utc::now() >= release);
    assert_eq!(status(m13).await, 200);
    let props = client
        .get(format!("{base}/hips/sky/properties"))
        .send()
        .await
        .expect("properties")
        .text()
        .await
        .expect("text");
    assert!(props.contains("hips_pixel_bitpix     = 16"), "{props}");
    drop(server);
    // What the server built is complete: the manifest lists both images.
    let manifest = std::fs::read_to_string(root.join("hips/sky/hips.json")).expect("manifest");
    assert!(
        manifest.contains("sky?m13") && manifest.contains("sky?comp"),
        "{manifest}"
    );
}
