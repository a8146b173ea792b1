"""CAOM 2.4 as pyvo reads it from the demo archive, checked against ObsCore and the files.

- ObsCore derived from CAOM2 (Observation JOIN Plane JOIN Artifact, the query in
  docs/observing.md) equals ivoa.ObsCore row by row, column by column.
- Each Chunk's WCS (reference pixel and value, CD matrix, axis types) equals what astropy
  reads from the file's HDU header.
"""
import os

import numpy as np
import pyvo
from astropy.io import fits
from astropy.wcs import WCS

BASE = os.environ["SKYPORT_URL"].rstrip("/")
DEMO = os.environ["SKYPORT_DEMO_DIR"]
ROOTS = {"lsst": os.path.join(DEMO, "data/lsst"), "real": os.path.join(DEMO, "data/real")}

DERIVED = """SELECT p.publisherID AS obs_publisher_did, o.observationID AS obs_id,
 o.collection AS obs_collection, p.dataProductType AS dataproduct_type,
 p.calibrationLevel AS calib_level, o.target_name AS target_name,
 o.telescope_name AS facility_name, o.instrument_name AS instrument_name,
 p.position_center_ra AS s_ra, p.position_center_dec AS s_dec, p.position_bounds_size AS s_fov,
 p.position_bounds AS s_region, p.position_resolution AS s_resolution,
 p.position_sampleSize AS s_pixel_scale, p.position_dimension_naxis1 AS s_xel1,
 p.position_dimension_naxis2 AS s_xel2, p.time_bounds_lower AS t_min,
 p.time_bounds_upper AS t_max, p.time_exposure AS t_exptime,
 p.energy_bounds_lower AS em_min, p.energy_bounds_upper AS em_max,
 p.observable_ucd AS o_ucd, p.dataRelease AS obs_release_date, a.contentLength AS content_length
 FROM caom2.Observation AS o JOIN caom2.Plane AS p ON p.obsID = o.obsID
 JOIN caom2.Artifact AS a ON a.planeID = p.planeID"""


def tap():
    return pyvo.dal.TAPService(BASE + "/tap")


def by_did(table):
    return {str(r["obs_publisher_did"]): r for r in table}


def test_obscore_equals_its_derivation_from_caom2():
    obscore = by_did(tap().search("SELECT * FROM ivoa.ObsCore", maxrec=100000).to_table())
    derived_table = tap().search(DERIVED, maxrec=100000).to_table()
    derived = by_did(derived_table)
    assert obscore and set(obscore) == set(derived)
    for did, d in derived.items():
        o = obscore[did]
        for column in derived_table.colnames:
            if column == "content_length":
                assert int(o["access_estsize"]) == int(np.ceil(int(d[column]) / 1024)), did
                continue
            want, got = o[column], d[column]
            if np.ma.is_masked(want) or np.ma.is_masked(got):
                assert np.ma.is_masked(want) and np.ma.is_masked(got), (did, column, want, got)
            elif isinstance(want, (float, np.floating)):
                assert abs(float(got) - float(want)) <= 1e-9 * max(1.0, abs(float(want))), (did, column)
            else:
                assert str(got) == str(want), (did, column, got, want)


def test_chunks_hold_the_wcs_astropy_reads():
    rows = tap().search(
        "SELECT f.root_name, f.rel_path, p.name, c.* FROM caom2.Chunk AS c "
        "JOIN caom2.Part AS p ON p.partID = c.partID "
        "JOIN caom2.Artifact AS a ON a.artifactID = p.artifactID "
        "JOIN caom2.Plane AS pl ON pl.planeID = a.planeID "
        "JOIN skyport.image_file AS f ON f.obs_publisher_did = pl.publisherID",
        maxrec=100000,
    ).to_table()
    assert len(rows) >= 10
    checked = 0
    for r in rows:
        path = os.path.join(ROOTS[str(r["root_name"])], str(r["rel_path"]))
        name = str(r["name"])
        with fits.open(path) as f:
            header = f[int(name)].header.copy()
        w = WCS(header, relax=True).celestial
        assert str(r["position_axis_axis1_ctype"]) == w.wcs.ctype[0], path
        assert str(r["position_axis_axis2_ctype"]) == w.wcs.ctype[1], path
        np.testing.assert_allclose(
            [r["position_axis_function_refCoord_coord1_pix"], r["position_axis_function_refCoord_coord2_pix"]],
            w.wcs.crpix, rtol=1e-12)
        np.testing.assert_allclose(
            [r["position_axis_function_refCoord_coord1_val"], r["position_axis_function_refCoord_coord2_val"]],
            w.wcs.crval, rtol=1e-12)
        cd = np.array([[r["position_axis_function_cd11"], r["position_axis_function_cd12"]],
                       [r["position_axis_function_cd21"], r["position_axis_function_cd22"]]], dtype=float)
        np.testing.assert_allclose(cd, w.pixel_scale_matrix, rtol=1e-9, atol=1e-15)
        checked += 1
    assert checked >= 10
