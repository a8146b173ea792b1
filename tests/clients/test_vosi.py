"""skyport as real clients see it: pyvo for VOSI, astropy for the files.

Run by scripts/test against a running demo archive whose base URL is in SKYPORT_URL.
"""
import io
import os
import urllib.request

import pyvo
from astropy.io import fits
from astropy.wcs import WCS

BASE = os.environ["SKYPORT_URL"].rstrip("/")


def fetch(path):
    with urllib.request.urlopen(BASE + path, timeout=30) as r:
        return r.status, r.headers, r.read()


def test_pyvo_reads_availability():
    # pyvo deprecated TAPService.available (VOSI 1.2 makes availability optional); its
    # parser for the document is current.
    with urllib.request.urlopen(BASE + "/tap/availability", timeout=30) as r:
        availability = pyvo.io.vosi.parse_availability(io.BytesIO(r.read()))
    assert availability.available is True
    assert availability.upsince is not None
    assert "accepting" in availability.notes[0]


def test_pyvo_reads_the_tap_capability():
    service = pyvo.dal.TAPService(BASE + "/tap")
    caps = service.capabilities
    tap = [c for c in caps if c.standardid.lower() == "ivo://ivoa.net/std/tap"]
    assert len(tap) == 1, [c.standardid for c in caps]
    interface = tap[0].interfaces[0]
    assert interface.version == "1.1"
    assert interface.role == "std"
    assert interface.accessurls[0].content == BASE + "/tap"
    languages = {lang.name for lang in tap[0].languages}
    assert languages == {"ADQL"}
    versions = {v.content for v in tap[0].languages[0].versions}
    assert versions == {"2.0", "2.1"}
    # ObsCore's table, and ObsLocTAP's (ivoa.obsplan; the id the standard gives its table).
    assert [dm.ivo_id for dm in tap[0].datamodels] == [
        "ivo://ivoa.net/std/ObsCore#core-1.1",
        "ivo://ivoa.net/std/obsloctap#table-1.0",
    ]
    assert tap[0].outputlimit.default.content > 0


def test_landing_page_lists_services():
    status, headers, body = fetch("/")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    text = body.decode()
    for path in ("/tap/capabilities", "/tap/availability", "/metrics"):
        assert BASE + path in text


def test_astropy_reads_a_served_image_with_its_wcs():
    status, headers, body = fetch("/files/real/pypi_astropy/m13_rice.fits")
    assert status == 200
    assert headers["Content-Type"] == "application/fits"
    with fits.open(io.BytesIO(body)) as served, fits.open(
        os.path.join(os.environ["SKYPORT_REPO"], "testdata/fits/pypi_astropy/m13_rice.fits")
    ) as original:
        assert (served[1].data == original[1].data).all()
        assert WCS(served[1].header).wcs.ctype[0] == "RA---TAN"


def test_astropy_reads_a_generated_lsst_detector():
    # The demo's generated detectors are RICE-compressed image/mask/variance MEFs.
    # The gauge counts the images anyone may see: 8 generated detectors and 12 real files; the
    # 2 of the proprietary collection are not told to an open endpoint.
    status, _, body = fetch("/metrics")
    assert status == 200 and b"skyport_archive_images 20" in body
    detector = os.environ["SKYPORT_DEMO_DETECTOR"]
    status, _, body = fetch("/files/lsst/" + detector)
    assert status == 200
    with fits.open(io.BytesIO(body)) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "IMAGE", "MASK", "VARIANCE"]
        assert hdul[1].data.shape == (256, 256)
        assert WCS(hdul[1].header).sip is not None
        assert hdul[0].header["INSTRUME"] == "LSSTCam"
