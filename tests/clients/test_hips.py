"""HiPS as independent tools see them.

- astropy's reproject builds its own HiPS of the same images (`reproject_to_hips`, bilinear),
  one per image, at the served order and tile width; where several images overlap, their mean
  (the rule the demo's HiPS use). The served tiles must hold the same values on the same pixels.
- Aladin's Hipsgen (Debian package aladin) lints every served HiPS against HiPS 1.0, and
  Aladin itself, headless under Xvfb, draws one and must show the image.
- mocpy reads each HiPS's Moc.fits: it must cover the footprints ObsCore lists.
"""
import io
import os
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
import warnings

import numpy as np
import pytest
import pyvo
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS
from mocpy import MOC

BASE = os.environ["SKYPORT_URL"].rstrip("/")
DEMO = os.environ["SKYPORT_DEMO_DIR"]
ROOTS = {"lsst": os.path.join(DEMO, "data/lsst"), "real": os.path.join(DEMO, "data/real")}
# The mask planes skyport leaves out by default ([hips] mask_planes).
PLANES = {"BAD", "SAT", "CR", "EDGE", "NO_DATA", "SUSPECT", "INTRP"}
ALADIN = "/usr/share/java/aladin.jar"


def fetch(path):
    with urllib.request.urlopen(BASE + path) as r:
        return r.read()


def hips_list():
    """The served HiPS: id → properties."""
    out = {}
    for block in fetch("/hips/list").decode().split("\n\n"):
        props = {}
        for line in block.splitlines():
            if "=" in line:
                k, v = line.split("=", 1)
                props[k.strip()] = v.strip()
        if props:
            out[props["hips_service_url"].rsplit("/", 1)[1]] = props
    return out


def images_of(collection, band):
    tap = pyvo.dal.TAPService(BASE + "/tap")
    band_test = "c.band IS NULL" if band is None else f"c.band = '{band}'"
    return tap.search(
        "SELECT c.obs_publisher_did, f.root_name, f.rel_path, f.science_hdu, o.s_region, "
        "h.hdu_index AS mask_hdu FROM skyport.image_coverage AS c "
        "JOIN skyport.image_file AS f ON f.obs_publisher_did = c.obs_publisher_did "
        "JOIN ivoa.ObsCore AS o ON o.obs_publisher_did = c.obs_publisher_did "
        "LEFT JOIN skyport.image_hdu AS h ON h.obs_publisher_did = c.obs_publisher_did "
        f"AND h.role = 'mask' WHERE c.obs_collection = '{collection}' AND {band_test}",
        maxrec=10000,
    ).to_table()


def science(row):
    """The image's pixels (mask planes as skyport reads them left out) and WCS."""
    path = os.path.join(ROOTS[str(row["root_name"])], str(row["rel_path"]))
    with fits.open(path) as f:
        hdu = int(row["science_hdu"])
        data = f[hdu].data.astype(np.float64)
        header = f[hdu].header.copy()
        if hdu > 0:
            for k, v in f[0].header.items():
                if k not in header and k not in ("SIMPLE", "EXTEND", "NAXIS", "BITPIX"):
                    header[k] = v
        if not np.ma.is_masked(row["mask_hdu"]):
            mask = f[int(row["mask_hdu"])]
            declared = {k[3:]: int(v) for k, v in mask.header.items() if k.startswith("MP_")}
            bits = sum(1 << b for name, b in declared.items() if name in PLANES) if declared else ~0
            data[(mask.data.astype(np.int64) & bits) != 0] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return data, WCS(header)


@pytest.fixture(scope="module")
def served():
    found = hips_list()
    assert found, "the demo serves no HiPS"
    return found


def lsst_bands(served):
    return {i: p for i, p in served.items() if p["obs_collection"] == "LSSTCam-demo"}


def band_of(hips_id):
    """The band of a HiPS id (`<collection>-<band>`; collections' own dashes are written `_`)."""
    return hips_id.rsplit("-", 1)[1] if "-" in hips_id else None


def test_every_collection_and_band_has_its_hips(served):
    tap = pyvo.dal.TAPService(BASE + "/tap")
    pairs = tap.search(
        "SELECT DISTINCT obs_collection, band FROM skyport.image_coverage"
    ).to_table()
    want = {(str(r["obs_collection"]), None if np.ma.is_masked(r["band"]) or not str(r["band"]) else str(r["band"]))
            for r in pairs if str(r["obs_collection"]) != "demo-proprietary"}
    have = {(p["obs_collection"], band_of(i)) for i, p in served.items()}
    assert have == want
    # The embargoed collection has no HiPS for anonymous callers (its images are not released).
    assert not any(p["obs_collection"] == "demo-proprietary" for p in served.values())


def test_tiles_hold_what_reproject_makes_of_the_same_images(served):
    from reproject import reproject_interp
    from reproject.hips import reproject_to_hips

    compared = 0
    for hips_id, props in lsst_bands(served).items():
        order, width = int(props["hips_order"]), int(props["hips_tile_width"])
        rows = images_of(props["obs_collection"], band_of(hips_id))
        assert len(rows) >= 1
        work = tempfile.mkdtemp()
        outputs = []
        try:
            for k, row in enumerate(rows):
                data, wcs = science(row)
                out = os.path.join(work, f"h{k}")
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    reproject_to_hips(
                        (data, wcs),
                        coord_system_out="equatorial",
                        reproject_function=reproject_interp,
                        output_directory=out,
                        level=order,
                        tile_size=width,
                    )
                outputs.append(out)
            names = set()
            for out in outputs:
                for d, _, files in os.walk(os.path.join(out, f"Norder{order}")):
                    names |= {os.path.relpath(os.path.join(d, f), out) for f in files if f.endswith(".fits")}
            assert names
            for rel in sorted(names):
                stack = [fits.getdata(os.path.join(o, rel)).astype(np.float64)
                         for o in outputs if os.path.exists(os.path.join(o, rel))]
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    want = np.nanmean(np.array(stack), axis=0)
                if not np.isfinite(want).any():
                    continue
                got = fits.getdata(io.BytesIO(fetch(f"/hips/{hips_id}/{rel}"))).astype(np.float64)
                assert got.shape == want.shape
                # The same pixels are covered...
                assert (np.isfinite(got) == np.isfinite(want)).mean() > 0.999, rel
                both = np.isfinite(got) & np.isfinite(want)
                # ...with the same values, to float32 rounding.
                diff = np.abs(got[both] - want[both]) / np.maximum(np.abs(want[both]), 1.0)
                assert np.percentile(diff, 99) < 1e-5, (rel, np.percentile(diff, 99))
                compared += both.sum()
        finally:
            shutil.rmtree(work, ignore_errors=True)
    assert compared > 1000, compared


def test_hipsgen_finds_every_hips_standard(served):
    for hips_id in served:
        out = subprocess.run(
            ["java", "-jar", ALADIN, "-hipsgen", f"out={BASE}/hips/{hips_id}", "LINT"],
            capture_output=True, text=True, timeout=180,
        ).stdout
        assert "IVOA HiPS 1.0 compatible" in out and "ERROR" not in out, out
        if band_of(hips_id):
            # A band gives the wavelengths and regime the standard recommends: nothing missing.
            assert "fully IVOA HiPS 1.0 compatible" in out and "*WARN*" not in out, out
        else:
            warned = [l for l in out.splitlines() if "*WARN*" in l]
            assert all(k in l for l in warned for k in ["recommended keyword missing"]), out
            assert not any(k in l for l in warned for k in ["obs_description", "hips_"]), out


def test_aladin_draws_the_image(served, tmp_path):
    hips_id, props = sorted(lsst_bands(served).items())[0]
    rows = images_of(props["obs_collection"], band_of(hips_id))
    data, wcs = science(rows[0])
    centre = wcs.pixel_to_world(data.shape[1] / 2, data.shape[0] / 2)
    picture = tmp_path / "aladin.png"
    script = (
        f"load {BASE}/hips/{hips_id}; {centre.ra.deg} {centre.dec.deg}; zoom 1arcmin; "
        f"sync; save {picture}; quit"
    )
    subprocess.run(
        ["xvfb-run", "-a", "java", "-Xmx1g", "-jar", ALADIN, "-local", "-nogui", "-noreleasetest",
         "-nosamp", "-nolog", "-noplugin", f"-script={script}"],
        capture_output=True, timeout=240, check=False,
    )
    assert picture.exists(), "Aladin saved no view"
    from PIL import Image

    view = np.asarray(Image.open(picture).convert("L"), dtype=float)
    middle = view[view.shape[0] // 4: 3 * view.shape[0] // 4, view.shape[1] // 4: 3 * view.shape[1] // 4]
    # Aladin's empty sky is plain white; the image is drawn as shades of grey.
    assert (middle < 250).mean() > 0.5, (middle < 250).mean()
    assert middle.std() > 5, middle.std()


def test_moc_covers_the_footprints(served):
    for hips_id, props in served.items():
        moc = MOC.from_fits(io.BytesIO(fetch(f"/hips/{hips_id}/Moc.fits")))
        rows = images_of(props["obs_collection"], band_of(hips_id))
        for row in rows:
            words = str(row["s_region"]).split()
            nums = [float(w) for w in words[2:]]
            corners = SkyCoord(nums[0::2] * u.deg, nums[1::2] * u.deg)
            assert moc.contains_skycoords(corners).all(), (hips_id, row["obs_publisher_did"])
        assert abs(float(props["moc_sky_fraction"]) - moc.sky_fraction) < 1e-6


def test_paths_outside_a_hips_are_refused(served):
    hips_id = next(iter(served))
    for path in [f"/hips/{hips_id}/../../skyport.toml", f"/hips/{hips_id}/hips.json",
                 f"/hips/{hips_id}/Norder40/Allsky.fits", "/hips/nothing/properties"]:
        with pytest.raises(urllib.error.HTTPError) as e:
            fetch(path)
        assert e.value.code == 404, path


def test_tiles_are_of_the_images_own_pixel_type(served):
    """A HiPS's FITS tiles store values as its images do when they all agree (BITPIX, BSCALE,
    BZERO, as astropy reads their headers), else as 32-bit floats."""
    for hips_id, props in served.items():
        rows = images_of(props["obs_collection"], band_of(hips_id))
        types = set()
        for row in rows:
            path = os.path.join(ROOTS[str(row["root_name"])], str(row["rel_path"]))
            with fits.open(path) as f:
                h = f[int(row["science_hdu"])].header
                types.add((h["BITPIX"], h.get("BSCALE", 1.0), h.get("BZERO", 0.0)))
        want = next(iter(types))[0] if len(types) == 1 else -32
        assert int(props["hips_pixel_bitpix"]) == want, (hips_id, types)
        tile = fits.getheader(io.BytesIO(fetch(f"/hips/{hips_id}/Norder3/Allsky.fits")))
        assert tile["BITPIX"] == want, hips_id
        if want > 0:
            assert "BLANK" in tile, hips_id
