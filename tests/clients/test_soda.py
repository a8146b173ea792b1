"""SODA cutouts as pyvo and astropy see them.

Nothing here trusts the cutout's own bookkeeping: where a cutout sits in its parent is found
by searching the parent's pixels for the cutout's pixels, the pixels that must be inside a
circle are found with astropy's WCS of the parent, and the cutout's WCS (astropy reading the
cutout's header) must put every pixel where the parent's WCS puts the same pixel.
"""
import io
import os
import tarfile
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import pytest
import pyvo
from astropy.io import fits
from astropy.wcs import WCS

BASE = os.environ["SKYPORT_URL"].rstrip("/")
DEMO = os.environ["SKYPORT_DEMO_DIR"]
DETECTOR = os.environ.get("SKYPORT_DEMO_DETECTOR", "")
REAL = os.path.join(DEMO, "data/real")

# (file below data/real, HDU with the image): real SIP, SIN (RICE), ZPN, TAN (HCOMPRESS).
REAL_IMAGES = [
    ("pypi_astropy/sip-wcs.fits", 0),
    ("pypi_astropy/comp.fits", 1),
    ("pypi_astroquery/ukidss_wfcam_image.fits", 1),
    ("pypi_astropy/m13_hcomp.fits", 1),
]


def did_of(rel):
    return "ivo://skyport.demo/pypi-real?" + rel[: -len(".fits")]


def detector_did():
    return "ivo://skyport.demo/LSSTCam-demo?" + DETECTOR[: -len(".fits")]


def fetch(query, data=None):
    """(status, content type, body) of a /soda/sync request."""
    url = BASE + "/soda/sync" + ("?" + query if query and data is None else "")
    req = urllib.request.Request(url, data=data)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def q(**params):
    return urllib.parse.urlencode(params)


def image_hdu(hdul):
    return next(h for h in hdul if h.is_image and h.data is not None)


def locate(parent, cut):
    """Where `cut` lies in `parent` (0-based x, y), found from the pixels alone."""
    h, w = cut.shape
    finite = np.isfinite(cut)
    j, i = np.unravel_index(np.argmax(np.where(finite, cut, -np.inf)), cut.shape)
    matches = []
    for y, x in zip(*np.nonzero(parent == cut[j, i])):
        y0, x0 = y - j, x - i
        if y0 < 0 or x0 < 0 or y0 + h > parent.shape[0] or x0 + w > parent.shape[1]:
            continue
        if np.array_equal(parent[y0 : y0 + h, x0 : x0 + w], cut, equal_nan=True):
            matches.append((x0, y0))
    assert len(matches) == 1, f"cutout found {len(matches)} times in its parent"
    return matches[0]


def check_wcs(parent_wcs, cut_wcs, shape, dx, dy):
    """Every (sampled) cutout pixel has its parent pixel's sky position within 0.01 pixel."""
    h, w = shape
    step = max(1, max(h, w) // 60)
    ys, xs = np.mgrid[0:h:step, 0:w:step]
    xs, ys = xs.ravel().astype(float), ys.ravel().astype(float)
    a = np.array(cut_wcs.all_pix2world(xs, ys, 0))
    b = np.array(parent_wcs.all_pix2world(xs + dx, ys + dy, 0))
    ra1, dec1, ra2, dec2 = map(np.radians, (a[0], a[1], b[0], b[1]))
    sep = np.degrees(
        2 * np.arcsin(np.sqrt(np.sin((dec2 - dec1) / 2) ** 2 + np.cos(dec1) * np.cos(dec2) * np.sin((ra2 - ra1) / 2) ** 2))
    )
    scale = np.sqrt(abs(np.linalg.det(parent_wcs.celestial.pixel_scale_matrix)))
    assert np.max(sep) / scale < 0.01, f"WCS off by {np.max(sep) / scale} pixel"


def inside_circle_box(parent_wcs, shape, ra, dec, r):
    """Bounding box (x0, x1, y0, y1, 0-based) of the parent pixels whose centre is inside."""
    h, w = shape
    ys, xs = np.mgrid[0:h, 0:w]
    sky = np.array(parent_wcs.all_pix2world(xs.ravel(), ys.ravel(), 0))
    ra1, dec1, ra2, dec2 = map(np.radians, (sky[0], sky[1], np.full(sky[0].shape, ra), np.full(sky[0].shape, dec)))
    sep = np.degrees(
        2 * np.arcsin(np.sqrt(np.sin((dec2 - dec1) / 2) ** 2 + np.cos(dec1) * np.cos(dec2) * np.sin((ra2 - ra1) / 2) ** 2))
    )
    inside = (sep <= r).reshape(shape)
    yy, xx = np.nonzero(inside)
    return xx.min(), xx.max(), yy.min(), yy.max()


@pytest.mark.parametrize("rel,hdu", REAL_IMAGES)
def test_circle_cutouts_of_real_images_keep_pixels_and_sky_positions(rel, hdu):
    with fits.open(os.path.join(REAL, rel)) as parent:
        pdata = parent[hdu].data
        pwcs = WCS(parent[hdu].header, parent)
    h, w = pdata.shape
    # A circle around a point off the centre, reaching past one edge.
    ra, dec = pwcs.all_pix2world([[w * 0.3, h * 0.6]], 0)[0]
    r = 0.3 * min(h, w) * np.sqrt(abs(np.linalg.det(pwcs.celestial.pixel_scale_matrix)))
    status, ctype, body = fetch(q(ID=did_of(rel), CIRCLE=f"{ra} {dec} {r}"))
    assert status == 200, body[:300]
    assert ctype == "application/fits"
    with fits.open(io.BytesIO(body)) as cut:
        c = image_hdu(cut)
        dx, dy = locate(pdata, c.data)
        check_wcs(pwcs, WCS(c.header), c.data.shape, dx, dy)
        x0, x1, y0, y1 = inside_circle_box(pwcs, pdata.shape, ra, dec, r)
        ch, cw = c.data.shape
        # Holds every pixel whose centre is inside, and at most one more pixel each side.
        assert dx <= x0 and dx + cw - 1 >= x1 and dy <= y0 and dy + ch - 1 >= y1
        assert dx >= x0 - 1 and dx + cw - 1 <= x1 + 1 and dy >= y0 - 1 and dy + ch - 1 <= y1 + 1


def test_pyvo_processed_from_the_datalink_descriptor():
    sia = pyvo.dal.SIA2Service(BASE + "/sia")
    rec = sia.search(publisher_did=[detector_did()])[0]
    ra, dec = float(rec["s_ra"]), float(rec["s_dec"])
    stream = rec.processed(circle=(ra, dec, 0.004))
    data = stream.read()
    path = os.path.join(DEMO, "data/lsst", DETECTOR)
    with fits.open(io.BytesIO(data)) as cut, fits.open(path) as parent:
        c = image_hdu(cut)
        p = next(h for h in parent if h.is_image and h.data is not None)
        dx, dy = locate(p.data, c.data)
        check_wcs(WCS(p.header), WCS(c.header), c.data.shape, dx, dy)
        assert c.data.shape[0] > 10 and c.data.shape[1] > 10


def test_range_polygon_and_masked_planes_on_a_detector():
    path = os.path.join(DEMO, "data/lsst", DETECTOR)
    with fits.open(path) as parent:
        names = [h.name for h in parent]
        p = parent["IMAGE"] if "IMAGE" in names else image_hdu(parent)
        pdata, pwcs = p.data, WCS(p.header)
        planes = {n: parent[n].data for n in ("IMAGE", "MASK", "VARIANCE") if n in names}
    h, w = pdata.shape
    corners = pwcs.all_pix2world([[w * 0.2, h * 0.2], [w * 0.4, h * 0.25], [w * 0.3, h * 0.45]], 0)
    polygon = " ".join(f"{a} {b}" for a, b in corners)
    ras, decs = corners[:, 0], corners[:, 1]
    for params in (
        {"POLYGON": polygon},
        {"POS": f"RANGE {ras.min()} {ras.max()} {decs.min()} {decs.max()}"},
    ):
        status, _, body = fetch(q(ID=detector_did(), CUTOUTDETAIL="masked", **params))
        assert status == 200, body[:300]
        with fits.open(io.BytesIO(body)) as cut:
            got = {hdu.name: hdu.data for hdu in cut if hdu.data is not None}
            assert set(got) == set(planes)
            dx, dy = locate(pdata, got["IMAGE"])
            check_wcs(pwcs, WCS(cut["IMAGE"].header), got["IMAGE"].shape, dx, dy)
            ch, cw = got["IMAGE"].shape
            for name, data in got.items():
                np.testing.assert_array_equal(data, planes[name][dy : dy + ch, dx : dx + cw])


def test_no_overlap_is_204_and_bad_input_is_a_text_error():
    status, _, body = fetch(q(ID=did_of("pypi_astropy/m13.fits"), CIRCLE="10 10 0.1"))
    assert (status, body) == (204, b"")
    for params, code, start in (
        ({"ID": did_of("pypi_astropy/m13.fits"), "CIRCLE": "250 36 -1"}, 400, b"UsageError"),
        ({"ID": did_of("pypi_astropy/m13.fits"), "CIRCLE": "250 36 200"}, 400, b"UsageError"),
        ({"ID": did_of("pypi_astropy/m13.fits"), "POLYGON": "250 36 251 36"}, 400, b"UsageError"),
        ({"ID": "ivo://skyport.demo/none?x", "CIRCLE": "250 36 0.1"}, 404, b"Error"),
    ):
        status, ctype, body = fetch(q(**params))
        assert status == code, body
        assert ctype.startswith("text/plain")
        assert body.startswith(start), body


def test_many_cutouts_in_one_mef_and_one_tar():
    ids = [did_of(rel) for rel, _ in REAL_IMAGES[1:]] + [did_of("pypi_astropy/m13.fits")]
    with fits.open(os.path.join(REAL, "pypi_astropy/m13.fits")) as m13:
        ra, dec = WCS(m13[0].header).all_pix2world([[150, 150]], 0)[0]
    query = urllib.parse.urlencode([("ID", i) for i in ids] + [("CIRCLE", f"{ra} {dec} 0.01")])
    status, ctype, body = fetch(query)
    assert status == 200 and ctype == "application/fits"
    with fits.open(io.BytesIO(body)) as mef:
        index = mef["INDEX"].data
        assert list(index["ID"]) == ids
        ok = [i for i, s in enumerate(index["STATUS"]) if s == "ok"]
        # Only the M13 images hold M13.
        assert [ids[i] for i in ok] == [did_of("pypi_astropy/m13_hcomp.fits"), did_of("pypi_astropy/m13.fits")]
        for i in ok:
            assert mef[int(index["HDU"][i])].data is not None
    status, ctype, body = fetch(query + "&RESPONSEFORMAT=application%2Fx-tar")
    assert status == 200 and ctype == "application/x-tar"
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        names = tar.getnames()
        assert names[-1] == "index.csv" and len(names) == 3
        for name in names[:-1]:
            with fits.open(io.BytesIO(tar.extractfile(name).read())) as f:
                assert image_hdu(f).data.size > 0


def test_rubin_notebook_cutouts_by_descriptor_id_for_each_cutoutdetail():
    """As Rubin's tutorial notebooks cut out: the DataLink document of an SIA row, the SODA
    descriptor picked by Rubin's id, a circle set on pyvo's SodaQuery. Each CUTOUTDETAIL gives
    the planes it names, pixel for pixel those of the parent, with the parent's WCS."""
    from pyvo.dal.adhoc import DatalinkResults, SodaQuery

    sia = pyvo.dal.SIA2Service(BASE + "/sia")
    rec = sia.search(publisher_did=[detector_did()])[0]
    links = DatalinkResults.from_result_url(str(rec["access_url"]))
    ra, dec = float(rec["s_ra"]), float(rec["s_dec"])
    path = os.path.join(DEMO, "data/lsst", DETECTOR)
    with fits.open(path) as parent:
        science = parent["IMAGE"]
        planes = {h.name: h.data for h in parent if h.is_image and h.data is not None}
        pwcs = WCS(science.header)
        pdata = science.data
    same_size = {n for n, d in planes.items() if d.shape == pdata.shape}
    for ident, expected in (
        ("cutout-sync", {"IMAGE"}),
        ("cutout-sync-maskedimage", {"IMAGE", "MASK", "VARIANCE"}),
        ("cutout-sync-exposure", same_size),
    ):
        query = SodaQuery.from_resource(links, links.get_adhocservice_by_id(ident))
        query.circle = (ra, dec, 0.004)
        with fits.open(io.BytesIO(query.execute_stream().read())) as cut:
            got = {h.name: h.data for h in cut if h.data is not None}
            assert set(got) == expected, ident
            dx, dy = locate(pdata, got["IMAGE"])
            check_wcs(pwcs, WCS(cut["IMAGE"].header), got["IMAGE"].shape, dx, dy)
            ch, cw = got["IMAGE"].shape
            for name, data in got.items():
                np.testing.assert_array_equal(data, planes[name][dy : dy + ch, dx : dx + cw])
    # Rubin's CUTOUTDETAIL names in any case, and skyport's earlier ones, say the same.
    circle = f"{ra} {dec} 0.004"
    bodies = {}
    for detail in ("MaskedImage", "maskedimage", "masked", "MASKED"):
        status, _, body = fetch(q(ID=detector_did(), CIRCLE=circle, CUTOUTDETAIL=detail))
        assert status == 200, body[:300]
        with fits.open(io.BytesIO(body)) as cut:
            bodies[detail] = sorted(h.name for h in cut if h.data is not None)
    assert all(names == ["IMAGE", "MASK", "VARIANCE"] for names in bodies.values()), bodies
    status, _, body = fetch(q(ID=detector_did(), CIRCLE=circle, CUTOUTDETAIL="Everything"))
    assert status == 400 and b"Image, MaskedImage or Exposure" in body
