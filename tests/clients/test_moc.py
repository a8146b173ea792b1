"""Coverage maps (/moc) as mocpy reads them, against maps mocpy builds itself.

For every collection, mocpy makes the space MOC of the footprints ObsCore lists (read through
TAP, one polygon per image, the cells each polygon touches at the served order) and the
space-time MOC of the same footprints over their exposure times. The served maps must be the
same cells: both sides use cdshealpix, so any difference is a cell skyport dropped or added.
"""
import io
import json
import os
import urllib.error
import urllib.request

import numpy as np
import pytest
import pyvo
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.time import Time
from mocpy import MOC, STMOC, TimeMOC

BASE = os.environ["SKYPORT_URL"].rstrip("/")
ORDER = 10


def fetch(path):
    with urllib.request.urlopen(BASE + path) as r:
        return r.headers.get("Content-Type"), r.read()


def footprints():
    """ObsCore rows with a footprint, by collection."""
    tap = pyvo.dal.TAPService(BASE + "/tap")
    t = tap.search(
        "SELECT obs_collection, s_region, t_min, t_max FROM ivoa.ObsCore "
        "WHERE s_region IS NOT NULL",
        maxrec=100000,
    ).to_table()
    out = {}
    for row in t:
        out.setdefault(str(row["obs_collection"]), []).append(row)
    return out


def polygon(s_region):
    words = str(s_region).split()
    assert words[0].upper() == "POLYGON", s_region
    numbers = [float(w) for w in words[1:] if w.upper() not in ("ICRS", "FK5", "UNKNOWNFRAME")]
    ra, dec = np.array(numbers[0::2]), np.array(numbers[1::2])
    return SkyCoord(ra * u.deg, dec * u.deg, frame="icrs")


def expected_space(rows, order=ORDER):
    mocs = [MOC.from_polygon_skycoord(polygon(r["s_region"]), max_depth=order) for r in rows]
    union = mocs[0]
    for m in mocs[1:]:
        union = union.union(m)
    return union


@pytest.fixture(scope="module")
def collections():
    found = footprints()
    assert found, "the demo archive lists no footprints"
    return found


def test_the_list_names_every_collection_with_footprints(collections):
    kind, body = fetch("/moc")
    assert kind.startswith("application/json")
    listed = {c["collection"]: c for c in json.loads(body)["collections"]}
    assert set(listed) == set(collections)
    for name, entry in listed.items():
        assert entry["url"].endswith("/moc/" + urllib.request.quote(name))
        assert 0 < entry["moc_sky_fraction"] < 1


def test_space_maps_are_the_cells_mocpy_finds(collections):
    for name, rows in collections.items():
        kind, body = fetch(f"/moc/{urllib.request.quote(name)}")
        assert kind == "application/fits"
        served = MOC.from_fits(io.BytesIO(body))
        want = expected_space(rows)
        assert served.max_order == ORDER
        missing = want.difference(served)
        extra = served.difference(want)
        assert missing.empty(), f"{name}: cells of footprints not served: {missing}"
        assert extra.empty(), f"{name}: cells served without a footprint: {extra}"
        # JSON carries the same map.
        _, text = fetch(f"/moc/{urllib.request.quote(name)}?format=json")
        from_json = MOC.from_json({k: v for k, v in json.loads(text).items()})
        assert from_json == served


def test_coarser_orders_match_mocpy_degrading(collections):
    name, rows = next(iter(collections.items()))
    _, body = fetch(f"/moc/{urllib.request.quote(name)}?order=6")
    served = MOC.from_fits(io.BytesIO(body))
    assert served.max_order == 6
    assert served == expected_space(rows).degrade_to_order(6)


def test_space_time_maps_are_the_ones_mocpy_builds(collections):
    checked = 0
    for name, rows in collections.items():
        timed = [r for r in rows if not (np.ma.is_masked(r["t_min"]) or np.ma.is_masked(r["t_max"]))]
        if not timed:
            continue
        _, body = fetch(f"/moc/{urllib.request.quote(name)}?type=space-time")
        served = STMOC.from_fits(io.BytesIO(body))
        time_order, space_order = served.max_depth
        # The same observations through mocpy: UTC exposure times (mocpy turns them into TCB,
        # MOC 2.0's time scale), each footprint's cells degraded to the map's space order.
        want = STMOC.from_spatial_coverages(
            Time([float(r["t_min"]) for r in timed], format="mjd", scale="utc"),
            Time([float(r["t_max"]) for r in timed], format="mjd", scale="utc"),
            [MOC.from_polygon_skycoord(polygon(r["s_region"]), max_depth=ORDER).degrade_to_order(space_order)
             for r in timed],
            time_depth=time_order,
        )
        assert served == want, name
        # And at each exposure's middle, its footprint is observed.
        for r in timed:
            mid = Time((float(r["t_min"]) + float(r["t_max"])) / 2, format="mjd", scale="utc")
            sky = served.query_by_time(TimeMOC.from_times(mid, order=time_order))
            assert sky.contains_skycoords(polygon(r["s_region"])[:1])[0], name
            checked += 1
    assert checked > 0


def test_bad_requests_are_refused_with_the_reason():
    for path, status, word in [
        ("/moc/nowhere", 404, "nowhere"),
        ("/moc/x?order=30", 400, "order"),
        ("/moc/x?format=png", 400, "format"),
    ]:
        with pytest.raises(urllib.error.HTTPError) as e:
            fetch(path)
        assert e.value.code == status
        assert word in e.value.read().decode().lower()
