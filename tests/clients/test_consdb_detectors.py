"""Detector-exposure rows from headers (`skyport consdb translate-headers`), checked against
values derived without skyport:

* LSST cameras: the detector numbers and detector-exposure ids obs_lsst's own test suite expects
  for the same header files (lsst/obs_lsst tests/test_translator.py, commit 0e84d755, the
  ``detector_num`` and ``detector_exposure_id`` of each case), transcribed below;
* DECam and HSC: Rubin's astro_metadata_translator run on the same header (``detector_num``,
  ``detector_exposure_id``), and astropy's WCS footprint of the header for ``s_region``.
"""

import json
import os
import subprocess
import warnings

import pytest

from test_consdb_headers import SHARED

# file in headers/obs_lsst → (instrument, detector_num, detector_exposure_id), from obs_lsst's
# tests (see the module docstring).
OBS_LSST_EXPECTED = {
    "lsstCam-MC_O_20260315_000051_R01_S01.yaml": ("lsstcam", 1, 49635406593),
    "lsstCam-MC_C_20190319_000001_R10_S02.yaml": ("lsstcam", 29, 165658231069),
    "lsstCam-MC_C_20190319_000001_R22_S21.yaml": ("lsstcam", 97, 165658231137),
    "lsstCam-MC_C_20190322_000002_R10_S22.yaml": ("lsstcam", 35, 165683397155),
    "lsstCam-MC_C_20190406_000643_R10_S00.yaml": ("lsstcam", 27, 165809390363),
    "lsstCam-MC_C_20231107_000078_R01_S01.json": ("lsstcam", 1, 42429599233),
    "lsstCam-MC_O_20250415_000060_R01_S01.yaml": ("lsstcam", 1, 46833613825),
    "lsstCam-MC_O_20250415_000228_R10_S20.yaml": ("lsstcam", 33, 46833656865),
    "lsstCam-MC_O_20250422_000250_R01_S01.yaml": ("lsstcam", 1, 46892382721),
    "lsstCam-MC_C_20250425_000031_R01_S01.yaml": ("lsstcam", 1, 46917492481),
    "lsstCam-MC_O_20250609_000578_R01_S01.yaml": ("lsstcam", 1, 47295119873),
    "lsstCam-MC_H_20100217_000032_R22_S00.yaml": ("lsstcam", 90, 275272179802),
    "comCam-CC_C_20190530_000001_R22_S00.yaml": ("lsstcomcam", 0, 166262210816),
    "comCam-CC_C_20190526_000223_R22_S01.yaml": ("lsstcomcam", 1, 166228713217),
    "comCam-CC_O_20241108_000266_R22_S00.yaml": ("lsstcomcam", 0, 45508266496),
    "comCam-CC_H_20100217_006001_R22_S00.yaml": ("lsstcomcam", 0, 275273707776),
    "latiss-2018-09-20-05700065-det000.yaml": ("latiss", 0, 164148297984),
    "latiss-AT_O_20190306_000014.yaml": ("latiss", 0, 28110228992),
    "latiss-AT_O_20190329_000022-ats-wfs_ccd.yaml": ("latiss", 0, 28303169024),
    "latiss-future.yaml": ("latiss", 0, 31373399552),
    "latiss-AT_O_20190915_000037.yaml": ("latiss", 0, 29729236224),
    "latiss-AT_O_20191031_000004.yaml": ("latiss", 0, 30115103744),
    "latiss-AT_O_20191104_000003.yaml": ("latiss", 0, 30148657920),
    "latiss-AT_O_20191113_000061.yaml": ("latiss", 0, 30224170240),
    "latiss-AT_O_20191118_000011.yaml": ("latiss", 0, 30266100480),
    "latiss-AT_O_20200121_000045.yaml": ("latiss", 0, 30802980096),
    "latiss-AT_O_20200128_000379.yaml": ("latiss", 0, 30861785856),
    "latiss-AT_O_20220405_000348.yaml": ("latiss", 0, 37555887104),
    "latiss-AT_O_20220405_000349.yaml": ("latiss", 0, 37555887360),
    "latiss-AT_C_20220426_000004_R00_S00.yaml": ("latiss", 0, 175170913280),
    "latiss-AT_O_20230321_000053.yaml": ("latiss", 0, 40491824384),
    "latiss-AT_O_20230705_000379_R00_S00.json": ("latiss", 0, 41381100288),
    "latiss-AT_O_20240624_000106_R00_S00.yaml": ("latiss", 0, 44358986240),
    "latiss-AT_O_20240624_000106_R00_S00-patched.yaml": ("latiss", 0, 44358986240),
    "latiss-AT_O_20240624_000169_R00_S00.yaml": ("latiss", 0, 44359002368),
}

DECAM_HSC = [
    ("fitsheader-decam-0160496.yaml", "decam"),
    ("fitsheader-decam-calexp-0412037_10.yaml", "decam"),
    ("fitsheader-decam-instcal-c4d_190402_050618_ooi_VR_v1.yaml", "decam"),
    ("fitsheader-decam-raw_dec050441_25.yaml", "decam"),
    ("fitsheader-decam.yaml", "decam"),
    ("fitsheader-hsc-HSCA04090107.yaml", "hsc"),
    ("fitsheader-hsc-HSCA04090107.json", "hsc"),
    ("fitsheader-hsc.yaml", "hsc"),
]


def translate(instrument, path):
    binary = os.environ.get("SKYPORT_BIN")
    if not binary:
        pytest.fail("SKYPORT_BIN is not set (path of the skyport binary)")
    proc = subprocess.run(
        [binary, "consdb", "translate-headers", "--instrument", instrument, str(path)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[0])


@pytest.mark.parametrize("name", sorted(OBS_LSST_EXPECTED))
def test_lsst_detector_exposure_ids_match_obs_lsst(name):
    instrument, detector, ccdexposure_id = OBS_LSST_EXPECTED[name]
    got = translate(instrument, SHARED / "headers" / "obs_lsst" / name)
    assert "error" not in got, got
    rows = got["detectors"]
    assert [(r["detector"], r["ccdexposure_id"]) for r in rows] == [(detector, ccdexposure_id)]
    row = rows[0]
    for key in ("exposure_id", "day_obs", "seq_num"):
        assert row[key] == got["exposure"][key], key


def test_header_service_dump_gives_one_row_per_detector_section():
    got = translate("latiss", SHARED / "consdb" / "tests" / "ATHeaderService_header_AT_O_20240801_000302.yaml")
    rows = got["detectors"]
    assert [r["detector"] for r in rows] == [0]
    # TEMP_SET is in the PRIMARY section, CCDTEMP (.nan there: unknown) in R00S00_PRIMARY.
    assert rows[0]["temp_set"] == pytest.approx(-104.15)
    assert rows[0]["ccd_temp"] is None


def _oracle(path):
    from astro_metadata_translator import ObservationInfo
    from astro_metadata_translator.tests import read_test_file

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        header = read_test_file(str(path))
        return header, ObservationInfo(header, pedantic=False)


def _astropy_footprint(header):
    """The image's outer corners by astropy, or None without a celestial WCS."""
    from astropy.io import fits
    from astropy.wcs import WCS

    cards = fits.Header()
    for key, value in header.items():
        if isinstance(value, (str, int, float, bool)) and len(key) <= 8:
            try:
                cards[key] = value
            except (ValueError, KeyError):
                pass
    if cards.get("ZIMAGE"):
        cards["NAXIS1"], cards["NAXIS2"] = cards["ZNAXIS1"], cards["ZNAXIS2"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wcs = WCS(cards)
        if not wcs.has_celestial:
            return None
        wcs = wcs.celestial
        n1, n2 = cards["NAXIS1"], cards["NAXIS2"]
        corners = [(0.5, 0.5), (n1 + 0.5, 0.5), (n1 + 0.5, n2 + 0.5), (0.5, n2 + 0.5)]
        return [tuple(float(v) for v in wcs.all_pix2world([c], 1)[0]) for c in corners]


@pytest.mark.parametrize("name,instrument", DECAM_HSC)
def test_decam_and_hsc_detectors_match_astro_metadata_translator(name, instrument):
    import math

    path = SHARED / "headers" / "astro_metadata_translator" / name
    header, info = _oracle(path)
    got = translate(instrument, path)
    assert "error" not in got, got
    rows = got["detectors"]
    assert [(r["detector"], r["ccdexposure_id"]) for r in rows] == [
        (info.detector_num, info.detector_exposure_id)
    ]
    region = rows[0]["s_region"]
    sees_sky = info.can_see_sky is not False and info.observation_type not in (
        "bias", "dark", "flat", "zero"
    )
    # A footprint only where the pixels look at the sky.
    expected = _astropy_footprint(header) if sees_sky else None
    if expected is None:
        assert region is None
        return
    words = region.split()
    assert words[:2] == ["Polygon", "ICRS"], region
    vertices = [(float(words[i]), float(words[i + 1])) for i in range(2, len(words), 2)]
    assert len(vertices) == 4
    # Same corners (the order follows the DALI orientation rule), to 6 decimals; skyport
    # reads DECam's TPV distortion as its TAN core (documented), so to 5 arcsec there.
    tolerance = 5.0 / 3600.0 if "TPV" in str(header.get("CTYPE1")) else 2e-6
    for ra, dec in expected:
        best = min(
            math.hypot(((ra - v[0] + 180) % 360 - 180) * math.cos(math.radians(dec)), dec - v[1])
            for v in vertices
        )
        assert best < tolerance, (ra, dec, best * 3600.0, region)
