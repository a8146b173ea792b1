"""SIAv2 and DataLink as pyvo and astropy see them.

Expected answers are computed here from the standard's rules (SIA 2.0 §2.1: intervals
intersect or contain, repeats ORed, parameters ANDed) over the ObsCore table read through TAP,
and for positions from the image files themselves through astropy's WCS, never taken from the
SIA service's own output.
"""
import io
import os
import struct
import urllib.parse
import urllib.request
import zlib

import numpy as np
import pytest
import pyvo
from pyvo.dal.adhoc import DatalinkResults
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.time import Time
from astropy.wcs import WCS

BASE = os.environ["SKYPORT_URL"].rstrip("/")
DEMO = os.environ["SKYPORT_DEMO_DIR"]
ROOTS = {"lsst": os.path.join(DEMO, "data/lsst"), "real": os.path.join(DEMO, "data/real")}


def sia():
    return pyvo.dal.SIA2Service(BASE + "/sia")


def obscore():
    """Every ObsCore row with its file's root, path and science HDU, through TAP."""
    tap = pyvo.dal.TAPService(BASE + "/tap")
    t = tap.search(
        "SELECT o.*, f.root_name, f.rel_path, f.science_hdu FROM ivoa.ObsCore AS o "
        "JOIN skyport.image_file AS f ON f.obs_publisher_did = o.obs_publisher_did",
        maxrec=100000,
    ).to_table()
    return t


TABLE = None


def table():
    global TABLE
    if TABLE is None:
        TABLE = obscore()
    return TABLE


def dids(result):
    return {str(d) for d in result.to_table()["obs_publisher_did"]}


def expect(predicate):
    """DIDs of the rows satisfying predicate(row); masked (NULL) values never match."""
    out = set()
    for row in table():
        try:
            if predicate(row):
                out.add(str(row["obs_publisher_did"]))
        except (TypeError, ValueError):
            pass
    return out


def value(row, col):
    v = row[col]
    if np.ma.is_masked(v):
        raise ValueError("NULL")
    return v


def footprint(row):
    """Centre and the corners of the image, from the file with astropy."""
    path = os.path.join(ROOTS[str(row["root_name"])], str(row["rel_path"]))
    with fits.open(path) as hdul:
        hdu = hdul[int(row["science_hdu"])]
        wcs = WCS(hdu.header)
        ny, nx = hdu.shape[-2:]
    corners = wcs.pixel_to_world([-0.5, nx - 0.5, nx - 0.5, -0.5], [-0.5, -0.5, ny - 0.5, ny - 0.5])
    centre = wcs.pixel_to_world((nx - 1) / 2, (ny - 1) / 2)
    return centre, corners


def test_pos_circle_range_and_polygon_agree_with_the_files():
    rows = [r for r in table() if str(r["root_name"]) == "lsst"]
    target, _ = footprint(rows[0])
    radius = 0.15
    surely_in, maybe = set(), set()
    for row in rows:
        centre, corners = footprint(row)
        half = max(centre.separation(corners).deg)
        sep = centre.separation(target).deg
        did = str(row["obs_publisher_did"])
        if sep <= radius:
            surely_in.add(did)
        if sep <= radius + half:
            maybe.add(did)
    assert surely_in and len(maybe) < len(rows), "the circle must split the archive"
    got = dids(sia().search(pos=(target.ra.deg * u.deg, target.dec.deg * u.deg, radius * u.deg)))
    assert surely_in <= got <= maybe

    # RANGE: a box of ±0.1° in RA·cos(dec) and Dec around the same place.
    dra = 0.1 / np.cos(target.dec.radian)
    box = (target.ra.deg - dra, target.ra.deg + dra, target.dec.deg - 0.1, target.dec.deg + 0.1)
    got = dids(sia().search(pos=tuple(v * u.deg for v in box)))
    inside = {
        str(r["obs_publisher_did"])
        for r in rows
        if box[0] <= footprint(r)[0].ra.deg <= box[1] and box[2] <= footprint(r)[0].dec.deg <= box[3]
    }
    assert inside and inside <= got

    # POLYGON: the image's own outline finds the image.
    _, corners = footprint(rows[0])
    poly = [v for c in corners for v in (c.ra.deg, c.dec.deg)]
    got = dids(sia().search(pos=tuple(v * u.deg for v in poly)))
    assert str(rows[0]["obs_publisher_did"]) in got


def test_band_time_and_ranges_follow_the_standard():
    s = sia()
    lo, hi = 5.0e-7, 6.0e-7
    assert dids(s.search(band=(lo * u.m, hi * u.m))) == expect(
        lambda r: value(r, "em_min") <= hi and value(r, "em_max") >= lo
    )
    t_all = [float(t) for t in table()["t_min"] if not np.ma.is_masked(t)]
    t0 = sorted(t_all)[len(t_all) // 2]
    window = (Time(t0 - 0.01, format="mjd"), Time(t0 + 0.01, format="mjd"))
    got = dids(s.search(time=window))
    assert got and got == expect(lambda r: value(r, "t_min") <= t0 + 0.01 and value(r, "t_max") >= t0 - 0.01)
    assert dids(s.search(exptime=(20 * u.s, 40 * u.s))) == expect(lambda r: 20 <= value(r, "t_exptime") <= 40)
    assert dids(s.search(field_of_view=(0.0 * u.deg, 0.05 * u.deg))) == expect(lambda r: 0 <= value(r, "s_fov") <= 0.05)
    assert dids(s.search(spatial_resolution=(0.6 * u.arcsec, 0.7 * u.arcsec))) == expect(
        lambda r: 0.6 <= value(r, "s_resolution") <= 0.7
    )


def test_string_and_integer_parameters_match_exactly():
    s = sia()
    for kw, col, v in [
        ("collection", "obs_collection", "LSSTCam-demo"),
        ("facility", "facility_name", "Rubin:Simonyi"),
        ("instrument", "instrument_name", "LSSTCam"),
        ("data_type", "dataproduct_type", "image"),
        ("target_name", "target_name", "ECDFS"),
    ]:
        got = dids(s.search(**{kw: v}))
        assert got and got == expect(lambda r: str(value(r, col)) == v), kw
    assert dids(s.search(calib_level=2)) == expect(lambda r: int(value(r, "calib_level")) == 2)
    # ID: IVOIDs compare case-insensitively.
    one = str(table()[0]["obs_publisher_did"])
    assert dids(s.search(publisher_did=[one.upper()])) == {one}
    # Repeats are ORed, parameters ANDed.
    both = dids(s.search(collection=["LSSTCam-demo", "pypi-real"]))
    assert both == {str(d) for d in table()["obs_publisher_did"]}
    assert dids(s.search(collection="pypi-real", instrument="LSSTCam")) == set()


def test_maxrec_overflow_and_self_description():
    r = sia().search(maxrec=3)
    assert len(r) == 3
    with urllib.request.urlopen(BASE + "/sia/query?MAXREC=0", timeout=30) as resp:
        body = resp.read()
    from astropy.io.votable import parse

    doc = parse(io.BytesIO(body))
    this = [res for res in doc.resources if res.type == "meta" and res.name == "this"]
    assert len(this) == 1 and this[0].utype == "adhoc:this"
    assert doc.resources[0] is this[0], "the self-description comes first, as in Rubin's SIA"
    names = {p.name for g in this[0].groups if g.name == "inputParams" for p in g.entries}
    assert {"POS", "BAND", "TIME", "POL", "FOV", "SPATRES", "EXPTIME", "ID", "COLLECTION", "FACILITY",
            "INSTRUMENT", "DPTYPE", "DPSUBTYPE", "CALIB", "TARGET", "TIMERES", "SPECRP", "FORMAT", "MAXREC"} <= names
    bands = next(p for g in this[0].groups for p in g.entries if p.name == "BAND")
    assert [o[0] for o in bands.values.options] == ["u", "g", "r", "i", "z", "y"]


def test_bad_input_gives_usage_faults():
    for query, says in [
        ("POS=CIRCLE 1 2", "CIRCLE takes three numbers"),
        ("BAND=abc", "not a number"),
        ("TIME=60010 60000", "lower bound is above"),
    ]:
        url = BASE + "/sia/query?" + urllib.parse.urlencode(dict([query.split("=", 1)]))
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(url, timeout=30)
        assert e.value.code == 400
        text = e.value.read().decode()
        assert "UsageFault" in text and says in text, text


def detector_row():
    rows = [r for r in table() if str(r["root_name"]) == "lsst"]
    return rows[0]


def test_getdatalink_from_sia_and_tap_rows_reaches_file_planes_and_previews():
    row = detector_row()
    did = str(row["obs_publisher_did"])
    result = sia().search(publisher_did=[did])
    assert len(result) == 1
    links = result[0].getdatalink()
    by = {}
    for link in links:
        assert link["ID"] == did
        by.setdefault(link["semantics"], []).append(link)
    assert set(by) >= {"#this", "#preview", "#preview-image", "#cutout", "#auxiliary"}
    path = os.path.join(ROOTS["lsst"], str(row["rel_path"]))
    with urllib.request.urlopen(by["#this"][0]["access_url"], timeout=30) as r:
        served = r.read()
    assert served == open(path, "rb").read()
    assert by["#this"][0]["content_length"] == len(served)
    # The mask and variance planes alone: same pixels as in the whole file.
    with fits.open(path) as whole:
        for link in by["#auxiliary"]:
            if link["local_semantics"] not in ("mask", "variance"):
                continue
            with urllib.request.urlopen(link["access_url"], timeout=30) as r:
                with fits.open(io.BytesIO(r.read())) as plane:
                    name = link["local_semantics"].upper()
                    assert plane[1].header["EXTNAME"] == name
                    np.testing.assert_array_equal(plane[1].data, whole[name].data)
    for sem in ("#preview", "#preview-image"):
        with urllib.request.urlopen(by[sem][0]["access_url"], timeout=60) as r:
            assert r.headers["Content-Type"] == "image/png"
            assert r.read()[:8] == b"\x89PNG\r\n\x1a\n"
    # The cutout row points at a descriptor with the image's ID fixed.
    svc = links.get_adhocservice_by_id(by["#cutout"][0]["service_def"])
    params = {p.name: p for p in svc.params}
    assert params["standardID"].value == "ivo://ivoa.net/std/SODA#sync-1.0"
    inputs = {p.name: p for g in svc.groups if g.name == "inputParams" for p in g.entries}
    assert str(inputs["ID"].value) == did
    assert inputs["CIRCLE"].xtype == "circle" and inputs["POLYGON"].xtype == "polygon"
    # From a TAP row too, through the descriptor TAP results carry.
    tap = pyvo.dal.TAPService(BASE + "/tap")
    r = tap.search(f"SELECT obs_id, obs_publisher_did FROM ivoa.ObsCore WHERE obs_publisher_did = '{did}'")
    assert {l["semantics"] for l in r[0].getdatalink()} >= {"#this", "#cutout"}


def png_pixels(data):
    """Decodes an 8-bit grey+alpha PNG (enough for the previews; no interlace)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert (depth, colour) == (8, 4)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    bpp, stride = 2, width * 2
    out = np.zeros((height, stride), dtype=np.int32)
    prev = np.zeros(stride, dtype=np.int32)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = np.frombuffer(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)], dtype=np.uint8).astype(np.int32)
        cur = np.zeros(stride, dtype=np.int32)
        for x in range(stride):
            a = cur[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 0:
                p = 0
            elif f == 1:
                p = a
            elif f == 2:
                p = b
            elif f == 3:
                p = (a + b) // 2
            else:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                p = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            cur[x] = (line[x] + p) & 0xFF
        out[y] = cur
        prev = cur
    return out.reshape(height, width, 2)


def test_preview_puts_north_up_and_east_left():
    """Bright stars' offsets from the centre, east and north as astropy's WCS gives them, must
    appear to the left and up in the preview, by the same number of pixels."""
    row = detector_row()
    path = os.path.join(ROOTS["lsst"], str(row["rel_path"]))
    with fits.open(path) as hdul:
        data = hdul["IMAGE"].data.astype(float)
        wcs = WCS(hdul["IMAGE"].header)
        ny, nx = data.shape
    centre = wcs.pixel_to_world((nx - 1) / 2, (ny - 1) / 2)
    scale = np.sqrt(abs(np.linalg.det(wcs.pixel_scale_matrix))) * 3600
    # Local maxima well above the sky, at least 10 pixels apart, brightest first.
    sky = np.median(data)
    noise = 1.4826 * np.median(np.abs(data - sky))
    peaks = []
    for y, x in sorted(np.argwhere(data > sky + 30 * noise), key=lambda p: -data[p[0], p[1]]):
        if 2 <= x < nx - 2 and 2 <= y < ny - 2 and all((x - a) ** 2 + (y - b) ** 2 > 100 for b, a in peaks):
            peaks.append((y, x))
    peaks = peaks[:8]
    assert len(peaks) >= 3
    rel = urllib.parse.quote(str(row["rel_path"]))
    with urllib.request.urlopen(f"{BASE}/previews/lsst/{rel}", timeout=60) as r:
        img = png_pixels(r.read())
    h, w, _ = img.shape
    grey = np.where(img[:, :, 1] == 255, img[:, :, 0], 0)
    background = np.median(img[:, :, 0][img[:, :, 1] == 255])
    hits = 0
    for y, x in peaks:
        east, north = centre.spherical_offsets_to(wcs.pixel_to_world(x, y))
        col = w / 2 - east.to(u.arcsec).value / scale
        row_ = h / 2 - north.to(u.arcsec).value / scale
        r0, c0 = int(row_), int(col)
        box = grey[max(r0 - 2, 0) : r0 + 3, max(c0 - 2, 0) : c0 + 3]
        hits += box.size > 0 and box.max() >= background + 60
    # A mirrored or rotated picture puts (almost) every star elsewhere.
    assert hits >= len(peaks) - 1, (hits, len(peaks))


def test_datalink_faults_are_rows_and_order_is_kept():
    row = detector_row()
    did = str(row["obs_publisher_did"])
    q = urllib.parse.urlencode([("ID", "ivo://skyport.demo/none?x"), ("ID", did), ("ID", "nonsense")])
    links = DatalinkResults.from_result_url(BASE + "/datalink/links?" + q)
    ids = [l["ID"] for l in links]
    assert ids[0] == "ivo://skyport.demo/none?x" and ids[-1] == "nonsense"
    assert all(i == did for i in ids[1:-1]) and len(ids) > 3
    assert links[0]["error_message"].startswith("NotFoundFault")
    assert links[len(ids) - 1]["error_message"].startswith("UsageFault")


def by_semantics(links, term):
    """The rows with exactly this term (pyvo's bysemantics would fetch the vocabulary)."""
    return [l for l in links if l["semantics"] == term]


def visits_from_headers():
    """The demo's LSSTCam images grouped by visit, from their headers with astropy: Rubin's
    exposure (and single-exposure visit) id is DAYOBS·10⁵ + SEQNUM; DETECTOR is the number."""
    visits = {}
    for row in table():
        if str(row["root_name"]) != "lsst":
            continue
        header = fits.getheader(os.path.join(ROOTS["lsst"], str(row["rel_path"])), 0)
        visit = int(header["DAYOBS"]) * 100000 + int(header["SEQNUM"])
        visits.setdefault(visit, {})[str(row["obs_publisher_did"])] = int(header["DETECTOR"])
    return visits


def test_a_detector_image_links_its_visit_and_the_visit_all_its_detector_images():
    visits = visits_from_headers()
    assert len(visits) > 1 and all(len(v) > 1 for v in visits.values())
    for visit, detectors in list(visits.items())[:2]:
        did = sorted(detectors)[-1]
        links = DatalinkResults.from_result_url(
            BASE + "/datalink/links?" + urllib.parse.urlencode({"ID": did})
        )
        up = list(by_semantics(links, "#derivation"))
        assert len(up) == 1
        assert up[0]["content_type"] == "application/x-votable+xml;content=datalink"
        visit_links = DatalinkResults.from_result_url(up[0]["access_url"])
        ids = {l["ID"] for l in visit_links}
        assert ids == {f"ivo://skyport.demo/consdb/lsstcam/visit?{visit}"}
        # Every detector image of the visit, each reached through its own links' #this.
        found = {}
        for link in by_semantics(visit_links, "#progenitor"):
            image = DatalinkResults.from_result_url(link["access_url"])
            (this,) = by_semantics(image, "#this")
            found[this["ID"]] = this["access_url"]
        assert set(found) == set(detectors)
        for image_did, url in found.items():
            with urllib.request.urlopen(url, timeout=60) as r:
                with fits.open(io.BytesIO(r.read())) as served:
                    assert int(served[0].header["DETECTOR"]) == detectors[image_did]
        # The visit's ConsDB records, through the TAP queries it links.
        aux = {l["local_semantics"]: l["access_url"] for l in by_semantics(visit_links, "#auxiliary")}
        record = pyvo.dal.TAPResults.from_result_url(aux["visit"]).to_table()
        assert list(record["visit_id"]) == [visit]
        rows = pyvo.dal.TAPResults.from_result_url(aux["detectors"]).to_table()
        assert sorted(int(d) for d in rows["detector"]) == sorted(detectors.values())
        # The image's own ConsDB detector record has its detector.
        (own,) = [l for l in by_semantics(links, "#auxiliary") if l["local_semantics"] == "ccdexposure"]
        row = pyvo.dal.TAPResults.from_result_url(own["access_url"]).to_table()
        assert list(row["detector"]) == [detectors[did]] and list(row["exposure_id"]) == [visit]


def test_unknown_and_malformed_visits_are_fault_rows():
    q = urllib.parse.urlencode(
        [
            ("ID", "ivo://skyport.demo/consdb/lsstcam/visit?1"),
            ("ID", "ivo://skyport.demo/consdb/lsstcam/visit?tomorrow"),
            ("ID", "ivo://skyport.demo/consdb/LSST Cam/visit?1"),
        ]
    )
    links = DatalinkResults.from_result_url(BASE + "/datalink/links?" + q)
    messages = [l["error_message"] for l in links]
    assert len(messages) == 3
    assert messages[0].startswith("NotFoundFault") and "visit 1" in messages[0]
    assert messages[1].startswith("UsageFault") and "tomorrow" in messages[1]
    assert messages[2].startswith("UsageFault") and "instrument" in messages[2]
