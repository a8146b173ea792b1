"""The portal (/portal/) in a real browser: Debian's Chromium driven by Selenium, against a demo
archive of its own (this module plants markup in its metadata, which other tests must not see).

What a search shows is checked against SIAv2 through pyvo; what an ADQL run shows against pyvo's
TAP; footprints against Aladin Lite's own world-to-pixel API; a cutout drawn with the mouse
against astropy's reading of the FITS file that downloads. Screenshots of each page go to
$SKYPORT_TEST_OUTPUT/portal (default target/test-output/portal).
"""
import io
import math
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import pyvo
import requests
from astropy.io import fits
from astropy.wcs import WCS
from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from demo_server import free_port, start

# The module serves an archive of its own, on SQLite, whatever the backend of the pass: the
# PostgreSQL pass would repeat the SQLite pass exactly.
pytestmark = pytest.mark.skipif(
    os.environ.get("SKYPORT_BACKEND") == "postgres",
    reason="runs once, in the SQLite pass, against an archive of its own",
)
from skyport_auth import bearer, create_token

REPO = Path(os.environ.get("SKYPORT_REPO", Path(__file__).resolve().parents[2]))
BIN = os.environ.get("SKYPORT_BIN", str(REPO / "target" / "debug" / "skyport"))
OUTPUT = Path(os.environ.get("SKYPORT_TEST_OUTPUT", REPO / "target" / "test-output")) / "portal"

# Markup planted in archive values: none of it may run or become elements.
IMG_MARKUP = "<img src=x onerror=window.__pwned=1>"
SCRIPT_MARKUP = "<script>window.__pwned=2</script>"
EVIL_ID = "portal_xss/evil"

FOOTPRINT_RGB = (0x00, 0xFF, 0x66)  # sky.js COLOURS.footprint


@pytest.fixture(scope="module")
def archive():
    """A demo archive of this module's own, with markup planted in an image's OBJECT header
    (ObsCore target_name) and in a ConsDB text value; yields (url, demo directory, facts)."""
    directory = tempfile.mkdtemp(prefix="skyport-portal-")
    proc, url = start(directory, free_port())
    try:
        demo = Path(directory) / "demo"
        config = demo / "skyport.toml"
        source = demo / "data" / "real" / "pypi_astroquery" / "first_vla_image.fits"
        target = demo / "data" / "real" / "portal_xss" / "evil.fits"
        target.parent.mkdir(parents=True)
        with fits.open(source) as hdus:
            hdus[0].header["OBJECT"] = (IMG_MARKUP, "")
            hdus.writeto(target)
        r = subprocess.run([BIN, "ingest", "--config", str(config), str(target)], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        writer = create_token(config, "portal-writer", ["read:tap", "write:consdb"])
        (exposure_id, day_obs, seq_num), = requests.post(
            f"{url}/consdb/query",
            json={"query": "SELECT TOP 1 exposure_id, day_obs, seq_num FROM cdb_lsstcam.exposure ORDER BY exposure_id"},
            timeout=60,
        ).json()["data"]
        w = requests.post(
            f"{url}/consdb/insert/lsstcam/exposure/by_seq_num/{day_obs}/{seq_num}?u=1",
            json={"values": {"science_program": SCRIPT_MARKUP}},
            headers=bearer(writer),
            timeout=60,
        )
        assert w.status_code == 200, w.text
        team = create_token(config, "portal-team-member", ["read:tap", "read:image"], groups=["demo-team"])
        yield url, demo, {"exposure_id": exposure_id, "day_obs": day_obs, "team_token": team}
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def required_archive(archive):
    """The same archive served a second time, in `required` mode (no anonymous reads); yields
    its URL and a token that may read images and tables."""
    _, demo, _ = archive
    port = free_port()
    config = demo / "required.toml"
    text = re.sub(r'(?m)^listen = .*$', f'listen = "127.0.0.1:{port}"', (demo / "skyport.toml").read_text(), count=1)
    assert 'mode = "open"' in text
    config.write_text(text.replace('mode = "open"', 'mode = "required"'))
    log = open(demo / "required-server.log", "wb")
    proc = subprocess.Popen([BIN, "serve", "--config", str(config)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if requests.get(url + "/tap/availability", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert proc.poll() is None, (demo / "required-server.log").read_text()
            time.sleep(0.2)
        yield url, create_token(config, "portal-reader", ["read:tap", "read:image"])
    finally:
        proc.terminate()
        proc.wait()


@pytest.fixture(scope="module")
def downloads():
    d = tempfile.mkdtemp(prefix="skyport-portal-downloads-")
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def browser(downloads):
    for tool in ("/usr/bin/chromium", "/usr/bin/chromedriver"):
        assert os.path.exists(tool), f"{tool} is missing (Debian packages chromium, chromium-driver)"
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    # No --disable-gpu: Aladin Lite redraws its canvas every frame, and with software
    # compositing each frame blocks the page, so every WebDriver command waits (docs/portal.md).
    for arg in [
        "--headless=new", "--no-sandbox", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--window-size=1400,1000", "--force-device-scale-factor=1",
        "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
        f"--user-data-dir={downloads / 'profile'}",
    ]:
        opts.add_argument(arg)
    opts.add_experimental_option("prefs", {
        "download.default_directory": str(downloads),
        "download.prompt_for_download": False,
    })
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    OUTPUT.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def console_errors(driver):
    """The browser console's errors since the last call (the log is emptied by reading)."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def screenshot(driver, name):
    driver.save_screenshot(str(OUTPUT / f"{name}.png"))


def wait(driver, condition, timeout=60, what="the page"):
    # The page replaces what it redraws: an element found a moment ago may be gone.
    return WebDriverWait(driver, timeout, poll_frequency=0.2, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: condition(d), message=f"waiting for {what}"
    )


def open_page(driver, url, page):
    driver.get(f"{url}/portal/#{page}")
    driver.execute_script("location.hash = arguments[0]", f"#{page}")
    wait(driver, lambda d: d.find_element(By.ID, f"page-{page}").is_displayed(), what=f"page {page}")


def open_sky(driver, url):
    open_page(driver, url, "sky")
    wait(driver, lambda d: d.execute_script("return document.body.dataset.skyReady === 'true'"), what="the sky view")


def status_text(driver):
    return driver.find_element(By.ID, "status").text


def search(driver, **values):
    form = driver.find_element(By.ID, "search-form")
    for name in ("ra", "dec", "radius", "start", "end"):
        field = form.find_element(By.NAME, name)
        field.clear()
        if name in values:
            field.send_keys(str(values[name]))
    for name in ("band", "collection", "dptype", "calib"):
        Select(form.find_element(By.NAME, name)).select_by_value(str(values.get(name, "")))
    driver.execute_script("document.getElementById('status').textContent = ''")
    form.find_element(By.ID, "search-submit").click()
    wait(driver, lambda d: "found" in status_text(d) or "failed" in status_text(d), what="the search")
    assert "failed" not in status_text(driver), status_text(driver)


def table_column(driver, container_id, header):
    """The texts of one column on the table's current page."""
    table = driver.find_element(By.CSS_SELECTOR, f"#{container_id} table")
    heads = [th.text.split(" [")[0].rstrip(" ▲▼") for th in table.find_elements(By.CSS_SELECTOR, "thead th")]
    i = heads.index(header)
    return [tr.find_elements(By.TAG_NAME, "td")[i].text for tr in table.find_elements(By.CSS_SELECTOR, "tbody tr")]


def tap(url, token=None):
    session = requests.Session()
    if token:
        session.headers.update(bearer(token))
    return pyvo.dal.TAPService(f"{url}/tap", session=session)


def lsst_images(url, band):
    rows = tap(url).run_sync(
        f"SELECT obs_id, s_ra, s_dec, em_min, em_max FROM ivoa.ObsCore WHERE obs_collection = 'LSSTCam-demo' AND lsst_band = '{band}' ORDER BY obs_id"
    ).to_table()
    assert len(rows) > 0
    return rows


def test_the_portal_is_served_with_a_policy_against_injected_script(archive):
    url, _, _ = archive
    for path in ("/portal/", "/portal/js/app.js", "/portal/vendor/aladin-lite/aladin.js"):
        r = requests.get(url + path, timeout=30)
        assert r.status_code == 200, path
        policy = r.headers["Content-Security-Policy"]
        script = next(d for d in policy.split(";") if d.strip().startswith("script-src"))
        assert "'self'" in script and "unsafe-inline" not in script and "'unsafe-eval'" not in script
    assert requests.get(url + "/portal/../Cargo.toml", timeout=30).status_code == 404
    assert requests.get(url + "/portal/js/nothing.js", timeout=30).status_code == 404
    landing = requests.get(url + "/", timeout=30).text
    assert 'href="' + url + '/portal/"' in landing and url + "/consdb" in landing
    # The vendored viewer carries its licence and provenance.
    assert "GNU GENERAL PUBLIC LICENSE" in requests.get(url + "/portal/vendor/aladin-lite/COPYING", timeout=30).text
    assert "3.8.2" in requests.get(url + "/portal/vendor/aladin-lite/SOURCES.md", timeout=30).text


def test_a_search_finds_what_sia_finds(archive, browser):
    url, _, _ = archive
    images = lsst_images(url, "g")
    ra, dec = float(images["s_ra"][0]), float(images["s_dec"][0])
    radius = 0.2
    open_sky(browser, url)
    search(browser, ra=ra, dec=dec, radius=radius, band="g", collection="LSSTCam-demo")
    shown = set(table_column(browser, "search-results", "obs_id"))
    # SIAv2, through pyvo: a different service and a different client for the same question.
    wavelength = float((images["em_min"][0] + images["em_max"][0]) / 2)
    sia = pyvo.dal.SIA2Service(f"{url}/sia")
    expected = {str(r["obs_id"]) for r in sia.search(pos=(ra, dec, radius), band=wavelength, collection="LSSTCam-demo").to_table()}
    assert expected, "the oracle found nothing: the test would prove nothing"
    assert shown == expected
    # Each row's thumbnail loaded (an image, not a broken link).
    wait(browser, lambda d: all(d.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", img)
                                for img in d.find_elements(By.CSS_SELECTOR, "#search-results img.thumb")), what="the thumbnails")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#search-results img.thumb")) == len(expected)
    # A time range that ends before the images were taken finds none of them.
    search(browser, ra=ra, dec=dec, radius=radius, band="g", end="2000-01-01T00:00:00")
    assert "0 images found" in status_text(browser)
    screenshot(browser, "sky-search")
    assert console_errors(browser) == []


def canvas_image(driver):
    png = driver.find_element(By.ID, "aladin").screenshot_as_png
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def test_the_sky_draws_tiles_and_footprints_where_aladin_puts_them(archive, browser):
    url, _, _ = archive
    images = lsst_images(url, "r")
    open_sky(browser, url)
    # The r-band HiPS, centred on one image with the overlays hidden: its pixels must vary.
    Select(browser.find_element(By.ID, "sky-hips")).select_by_visible_text(
        next(o.text for o in browser.find_elements(By.CSS_SELECTOR, "#sky-hips option") if " r band" in o.text)
    )
    ra, dec = float(images["s_ra"][0]), float(images["s_dec"][0])
    browser.execute_script("const s = window.skyportPortal.sky; s.goTo(arguments[0], arguments[1], 0.06);", ra, dec)
    time.sleep(3)
    pixels = canvas_image(browser)
    h, w, _ = pixels.shape
    centre = pixels[h // 2 - 40: h // 2 + 40, w // 2 - 40: w // 2 + 40]
    # Grey levels (not the spread between colour channels) must vary.
    assert centre.mean(axis=2).std() > 3, "the HiPS tiles drew nothing where the image is"
    assert len({tuple(p) for p in centre.reshape(-1, 3)}) > 20
    screenshot(browser, "sky-tiles")

    search(browser, ra=ra, dec=dec, radius=0.3, band="r")
    regions = browser.execute_script(
        "const t = window.skyportPortal.search.table; const i = window.skyportPortal.search.index;"
        "return t.rows.map(r => r[i.s_region]);"
    )
    assert len(regions) >= 2
    vertices = [(float(a), float(b)) for region in regions for a, b in zip(region.split()[2::2], region.split()[3::2])]
    mean_ra = sum(v[0] for v in vertices) / len(vertices)
    mean_dec = sum(v[1] for v in vertices) / len(vertices)
    spread = max(max(abs(v[0] - mean_ra) * math.cos(math.radians(mean_dec)), abs(v[1] - mean_dec)) for v in vertices)
    browser.execute_script("window.skyportPortal.sky.goTo(arguments[0], arguments[1], arguments[2]);", mean_ra, mean_dec, spread * 3)
    time.sleep(2)
    pixels = canvas_image(browser)
    checked = 0
    for vra, vdec in vertices:
        xy = browser.execute_script("return window.skyportPortal.sky.aladin.world2pix(arguments[0], arguments[1]);", vra, vdec)
        if not xy:
            continue
        x, y = round(xy[0]), round(xy[1])
        if not (3 <= x < pixels.shape[1] - 3 and 3 <= y < pixels.shape[0] - 3):
            continue
        patch = pixels[y - 3: y + 4, x - 3: x + 4].reshape(-1, 3)
        distance = np.abs(patch - np.array(FOOTPRINT_RGB)).sum(axis=1).min()
        assert distance < 120, f"no footprint line at vertex ({vra}, {vdec}) → pixel ({x}, {y})"
        checked += 1
    assert checked >= 6, f"only {checked} vertices were inside the view"
    # And no footprint colour far from every footprint: a corner of the view.
    corner = pixels[5:40, 5:40].reshape(-1, 3)
    assert np.abs(corner - np.array(FOOTPRINT_RGB)).sum(axis=1).min() > 120
    screenshot(browser, "sky-footprints")
    # A click on the sky searches there.
    sky = browser.find_element(By.ID, "aladin")
    browser.execute_script("document.getElementById('status').textContent = ''")
    ActionChains(browser).move_to_element_with_offset(sky, 10, -10).click().perform()
    wait(browser, lambda d: "found" in status_text(d), what="the search from a click")
    clicked = browser.execute_script(
        "return window.skyportPortal.sky.aladin.pix2world(arguments[0], arguments[1], 'icrs');",
        sky.size["width"] / 2 + 10, sky.size["height"] / 2 - 10,
    )
    form = browser.find_element(By.ID, "search-form")
    got = [float(form.find_element(By.NAME, n).get_attribute("value")) for n in ("ra", "dec")]
    screen_pixel = browser.execute_script("return window.skyportPortal.sky.aladin.getFov()[0]") / sky.size["width"]
    assert abs(got[1] - clicked[1]) < 1.5 * screen_pixel
    assert abs((got[0] - clicked[0]) * math.cos(math.radians(got[1]))) < 1.5 * screen_pixel
    assert console_errors(browser) == []


def test_a_cutout_drawn_on_the_sky_is_centred_where_drawn(archive, browser, downloads):
    url, _, _ = archive
    images = lsst_images(url, "i")
    ra, dec = float(images["s_ra"][0]), float(images["s_dec"][0])
    open_sky(browser, url)
    search(browser, ra=ra, dec=dec, radius=0.01, band="i")
    rows = browser.find_elements(By.CSS_SELECTOR, "#search-results tbody tr")
    target = next(r for r in rows if str(images["obs_id"][0]) in r.text)
    target.click()
    wait(browser, lambda d: d.find_elements(By.ID, "draw-cutout"), what="the cutout form")
    # The chosen image's preview, from its DataLink #preview link.
    wait(browser, lambda d: d.execute_script(
        "const i = document.querySelector('#search-detail img.preview'); return i && i.complete && i.naturalWidth > 0"), what="the preview")
    # A view a few image widths wide, centred on the image; the circle is drawn off centre.
    browser.execute_script("window.skyportPortal.sky.goTo(arguments[0], arguments[1], 0.06);", ra, dec)
    time.sleep(1)
    # The button is pressed from the page's script so that the page does not scroll between
    # the press and the drag.
    sky = browser.find_element(By.ID, "aladin")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'}); document.getElementById('draw-cutout').click();", sky)
    time.sleep(0.5)
    dx, dy = -25, 18
    ActionChains(browser).move_to_element_with_offset(sky, dx, dy).click_and_hold().move_by_offset(30, 0).move_by_offset(10, 0).release().perform()
    wait(browser, lambda d: "cutout drawn" in status_text(d), what="the drawn circle")
    width, height = sky.size["width"], sky.size["height"]
    start_world = browser.execute_script(
        "return window.skyportPortal.sky.aladin.pix2world(arguments[0], arguments[1], 'icrs');", width / 2 + dx, height / 2 + dy
    )
    form = browser.find_element(By.ID, "cutout-form")
    drawn = [float(form.find_element(By.NAME, n).get_attribute("value")) for n in ("ra", "dec", "radius")]
    for f in downloads.glob("cutout*.fits"):
        f.unlink()
    form.find_element(By.ID, "download-cutout").click()
    path = wait(browser, lambda d: next((p for p in downloads.glob("cutout*.fits")), None), what="the cutout download")
    time.sleep(0.5)
    with fits.open(path) as hdus:
        hdu = next(h for h in hdus if h.data is not None and h.data.ndim == 2)
        wcs = WCS(hdu.header)
        ny, nx = hdu.data.shape
        centre = wcs.pixel_to_world_values((nx - 1) / 2, (ny - 1) / 2)
        scale = abs(wcs.proj_plane_pixel_scales()[0].to_value("deg"))
    def separation(a, b):
        return math.degrees(math.acos(min(1.0, math.sin(math.radians(a[1])) * math.sin(math.radians(b[1]))
                                          + math.cos(math.radians(a[1])) * math.cos(math.radians(b[1])) * math.cos(math.radians(a[0] - b[0])))))
    # The form holds where the mouse went down, as Aladin Lite reads that pixel (to a screen
    # pixel: Selenium places the pointer from the element's centre, rounded).
    screen_pixel = browser.execute_script("return window.skyportPortal.sky.aladin.getFov()[0]") / width
    assert separation(drawn[:2], start_world) < 1.5 * screen_pixel
    # The file is centred there (to a pixel: a cutout is whole pixels), and as wide as drawn,
    # unless the image's edge cut it.
    assert separation(centre, drawn[:2]) < 1.5 * scale
    assert nx * scale <= 2 * drawn[2] + 2 * scale
    browser.execute_script("document.getElementById('aladin').scrollIntoView()")
    screenshot(browser, "sky-cutout")
    assert console_errors(browser) == []


def run_adql(driver, query, how="adql-sync"):
    editor = driver.find_element(By.ID, "adql-query")
    driver.execute_script("arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'));", editor, query)
    driver.execute_script("document.getElementById('status').textContent = ''")
    driver.find_element(By.ID, how).click()
    wait(driver, lambda d: " rows" in status_text(d) or "failed" in status_text(d), what="the query")
    assert "failed" not in status_text(driver), status_text(driver)


def test_an_adql_run_shows_what_pyvo_gets(archive, browser, downloads):
    url, _, _ = archive
    open_page(browser, url, "adql")
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#adql-examples option")) > 1, what="the examples")
    query = "SELECT obs_id, s_ra, calib_level FROM ivoa.ObsCore WHERE obs_collection = 'pypi-real' ORDER BY obs_id"
    expected = tap(url).run_sync(query).to_table()
    for how in ("adql-sync", "adql-async"):
        run_adql(browser, query, how)
        ids = table_column(browser, "adql-results", "obs_id")
        ras = table_column(browser, "adql-results", "s_ra")
        levels = table_column(browser, "adql-results", "calib_level")
        assert ids == [str(x) for x in expected["obs_id"]]
        assert [int(x) for x in levels] == [int(x) for x in expected["calib_level"]]
        for shown, value in zip(ras, expected["s_ra"]):
            assert abs(float(shown) - float(value)) < 1e-7 * max(1.0, abs(float(value)))
    assert "COMPLETED" in browser.find_element(By.ID, "adql-progress").text
    # The async job is in the user's job list.
    browser.find_element(By.ID, "adql-refresh-jobs").click()
    wait(browser, lambda d: "COMPLETED" in d.find_element(By.ID, "adql-jobs").text, what="the job list")
    # A download in CSV holds the same rows.
    for f in downloads.glob("result*.csv"):
        f.unlink()
    browser.find_element(By.XPATH, "//p[@id='adql-downloads']/button[.='CSV']").click()
    path = wait(browser, lambda d: next((p for p in downloads.glob("result*.csv")), None), what="the CSV download")
    time.sleep(0.5)
    lines = path.read_text().splitlines()
    assert lines[0] == "obs_id,s_ra,calib_level"
    assert [line.split(",")[0] for line in lines[1:]] == [str(x) for x in expected["obs_id"]]
    # The examples load into the editor.
    Select(browser.find_element(By.ID, "adql-examples")).select_by_index(1)
    assert "SELECT" in browser.find_element(By.ID, "adql-query").get_attribute("value").upper()
    screenshot(browser, "adql")
    assert console_errors(browser) == []


def test_ten_thousand_rows_stay_paged_and_sortable(archive, browser):
    url, _, _ = archive
    open_page(browser, url, "adql")
    run_adql(browser, "SELECT TOP 10000 a.obs_id, b.s_ra FROM ivoa.ObsCore AS a, ivoa.ObsCore AS b, ivoa.ObsCore AS c, ivoa.ObsCore AS d")
    info = browser.find_element(By.CSS_SELECTOR, "#adql-results .page-info").text
    assert "of 10000" in info
    assert len(browser.find_elements(By.CSS_SELECTOR, "#adql-results tbody tr")) == 100
    browser.find_element(By.XPATH, "//div[@id='adql-results']//button[contains(., 'next')]").click()
    assert "rows 101–200" in browser.find_element(By.CSS_SELECTOR, "#adql-results .page-info").text
    browser.find_element(By.XPATH, "//div[@id='adql-results']//th//button[starts-with(., 's_ra')]").click()
    ras = [float(x) for x in table_column(browser, "adql-results", "s_ra")]
    assert ras == sorted(ras) and len(ras) == 100
    assert console_errors(browser) == []


def test_the_consdb_page_shows_nights_exposures_and_a_values_history(archive, browser):
    url, _, facts = archive
    open_page(browser, url, "consdb")
    Select(browser.find_element(By.ID, "consdb-instrument")).select_by_value("lsstcam")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#consdb-nights tbody tr"), what="the nights")
    night = next(r for r in browser.find_elements(By.CSS_SELECTOR, "#consdb-nights tbody tr") if str(facts["day_obs"]) in r.text)
    night.click()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#consdb-exposures tbody tr"), what="the exposures")
    shown = table_column(browser, "consdb-exposures", "exposure_id")
    expected = requests.post(f"{url}/consdb/query", json={"query": f"SELECT exposure_id FROM cdb_lsstcam.exposure WHERE day_obs = {facts['day_obs']} ORDER BY seq_num"}, timeout=60).json()["data"]
    assert shown == [str(e[0]) for e in expected]
    row = next(r for r in browser.find_elements(By.CSS_SELECTOR, "#consdb-exposures tbody tr") if str(facts["exposure_id"]) in r.text)
    row.send_keys("\n")  # chosen from the keyboard
    wait(browser, lambda d: d.find_elements(By.ID, "consdb-values"), what="the exposure")
    values = browser.find_element(By.ID, "consdb-values").text
    assert SCRIPT_MARKUP in values
    Select(browser.find_element(By.ID, "consdb-history-column")).select_by_value("science_program")
    browser.find_element(By.XPATH, "//button[.='Show history']").click()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#consdb-history tbody tr"), what="the history")
    history = table_column(browser, "consdb-history", "science_program")
    assert len(history) >= 2 and history[-1] == SCRIPT_MARKUP and history[0] != SCRIPT_MARKUP
    # As of the first version's time (before the write), the old value.
    recorded = table_column(browser, "consdb-history", "recorded_at")
    as_of = browser.find_element(By.ID, "consdb-as-of")
    as_of.clear()
    as_of.send_keys(recorded[0])
    browser.find_element(By.XPATH, "//button[.='Show']").click()
    wait(browser, lambda d: "as of" in d.find_element(By.CSS_SELECTOR, "#consdb-detail h3").text, what="the old values")
    assert SCRIPT_MARKUP not in browser.find_element(By.ID, "consdb-values").text
    screenshot(browser, "consdb")
    assert browser.execute_script("return window.__pwned") is None
    assert console_errors(browser) == []


def test_markup_in_archive_values_is_shown_as_text(archive, browser):
    url, _, _ = archive
    open_sky(browser, url)
    search(browser, collection="pypi-real")
    targets = table_column(browser, "search-results", "target_name")
    assert IMG_MARKUP in targets
    row = next(r for r in browser.find_elements(By.CSS_SELECTOR, "#search-results tbody tr") if EVIL_ID in r.text)
    row.click()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#search-detail ul.links a"), what="the links")
    assert IMG_MARKUP in browser.find_element(By.ID, "search-detail").text
    time.sleep(1)
    assert browser.execute_script("return window.__pwned") is None
    assert browser.find_elements(By.CSS_SELECTOR, "img[src='x'], img[src$='/x'], main script") == []
    screenshot(browser, "sky-markup")
    assert console_errors(browser) == []


def test_the_page_holds_the_rights_of_its_token_and_no_more(archive, browser):
    url, _, facts = archive
    query = "SELECT COUNT(*) AS n FROM ivoa.ObsCore WHERE obs_collection = 'demo-proprietary'"
    open_page(browser, url, "adql")
    run_adql(browser, query)
    assert table_column(browser, "adql-results", "n") == ["0"]
    open_page(browser, url, "token")
    browser.find_element(By.ID, "token-input").send_keys(facts["team_token"])
    browser.find_element(By.CSS_SELECTOR, "#token-form button[type=submit]").click()
    assert "A token is set" in browser.find_element(By.ID, "token-state").text
    screenshot(browser, "token")
    open_page(browser, url, "adql")
    run_adql(browser, query)
    with_token = int(table_column(browser, "adql-results", "n")[0])
    expected = int(tap(url, facts["team_token"]).run_sync(query).to_table()["n"][0])
    assert with_token == expected > 0
    open_page(browser, url, "token")
    browser.find_element(By.ID, "token-clear").click()
    open_page(browser, url, "adql")
    run_adql(browser, query)
    assert table_column(browser, "adql-results", "n") == ["0"]
    assert console_errors(browser) == []


def test_where_credentials_are_required_the_token_opens_the_sky_too(required_archive, browser):
    url, token = required_archive
    # Without the token the HiPS are refused: otherwise this test would prove nothing.
    assert requests.get(f"{url}/hips/list", timeout=30).status_code == 401
    hips_id = requests.get(f"{url}/hips/list", headers=bearer(token), timeout=30).text.split("hips_service_url")[1].split("=")[1].split()[0].rsplit("/", 1)[1]
    assert requests.get(f"{url}/hips/{hips_id}/properties", timeout=30).status_code == 401
    open_page(browser, url, "token")
    browser.find_element(By.ID, "token-input").send_keys(token)
    browser.find_element(By.CSS_SELECTOR, "#token-form button[type=submit]").click()
    open_sky(browser, url)
    row = tap(url, token).run_sync(
        "SELECT TOP 1 s_ra, s_dec, lsst_band FROM ivoa.ObsCore WHERE obs_collection = 'LSSTCam-demo' ORDER BY obs_id"
    ).to_table()[0]
    Select(browser.find_element(By.ID, "sky-hips")).select_by_visible_text(
        next(o.text for o in browser.find_elements(By.CSS_SELECTOR, "#sky-hips option") if f" {row['lsst_band']} band" in o.text)
    )
    browser.execute_script("window.skyportPortal.sky.goTo(arguments[0], arguments[1], 0.06);", float(row["s_ra"]), float(row["s_dec"]))
    time.sleep(3)
    pixels = canvas_image(browser)
    h, w, _ = pixels.shape
    centre = pixels[h // 2 - 40: h // 2 + 40, w // 2 - 40: w // 2 + 40]
    assert centre.mean(axis=2).std() > 3 and len({tuple(p) for p in centre.reshape(-1, 3)}) > 20, "no HiPS pixels with the token"
    # The search works with the token as well.
    search(browser, ra=float(row["s_ra"]), dec=float(row["s_dec"]), radius=0.05)
    assert table_column(browser, "search-results", "obs_id")
    screenshot(browser, "sky-required-mode")
    assert console_errors(browser) == []
