"""Rubin's own clients against skyport, changed in nothing but the URL they are given.

`rubin-repertoire` and `lsst-rsp` find the services through the discovery document
(`/repertoire/discovery`); `lsst-rsp`'s older helpers find them from the environment variables
a Rubin notebook sets. A search, its DataLink document and a cutout through Rubin's descriptor
ids follow, and the cutout's pixels are checked against the parent file with astropy.
"""
import asyncio
import io
import os
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "clients"))
from skyport_auth import create_token, demo_config  # noqa: E402

BASE = os.environ["SKYPORT_URL"].rstrip("/")
DEMO = os.environ["SKYPORT_DEMO_DIR"]
DETECTOR = os.environ["SKYPORT_DEMO_DETECTOR"]
DISCOVERY = BASE + "/repertoire"
DATASET = "skyport"


@pytest.fixture(scope="module")
def token():
    return create_token(demo_config(), "rubin-user", ["read:tap", "read:image"], groups=["demo-team"])


def detector_did():
    return "ivo://skyport.demo/LSSTCam-demo?" + DETECTOR[: -len(".fits")]


def test_repertoire_finds_every_service_from_the_base_url():
    from rubin.repertoire import DiscoveryClient

    async def lookups():
        client = DiscoveryClient(base_url=DISCOVERY)
        try:
            return {
                "datasets": await client.datasets(),
                "tap": await client.url_for_data("tap", DATASET),
                "sia": await client.url_for_data("sia", DATASET, version="sia-query-2.0"),
                "datalink": await client.url_for_data("datalink", DATASET, version="datalink-links-1.1"),
                "cutout": await client.url_for_data("cutout", DATASET, version="soda-sync-1.0"),
                "consdbtap": await client.url_for_data("tap", "efd"),
                "consdb": await client.url_for_internal("consdb"),
            }
        finally:
            await client.aclose()

    found = asyncio.run(lookups())
    assert DATASET in found["datasets"]
    assert found["tap"] == BASE + "/tap"
    assert found["sia"] == BASE + "/sia/query"
    assert found["datalink"] == BASE + "/datalink/links"
    assert found["cutout"] == BASE + "/soda/sync"
    assert found["consdbtap"] == BASE + "/tap"
    assert found["consdb"] == BASE + "/consdb"
    # Every URL answers (VOSI where the service has it).
    for url in (found["tap"] + "/availability", found["sia"].rsplit("/", 1)[0] + "/capabilities",
                found["datalink"].rsplit("/", 1)[0] + "/availability", found["cutout"].rsplit("/", 1)[0] + "/capabilities",
                found["consdb"] + "/openapi.json"):
        with urllib.request.urlopen(url, timeout=30) as r:
            assert r.status == 200, url


def test_rsp_discovery_search_datalink_and_cutouts_by_rubins_descriptor_ids(token):
    from lsst.rsp import RSPDiscovery
    from pyvo.dal.adhoc import SodaQuery

    assert DATASET in RSPDiscovery.list_datasets(discovery_url=DISCOVERY)
    rsp = RSPDiscovery(DATASET, discovery_url=DISCOVERY, token=token)
    tap = rsp.get_tap_client()
    rows = tap.run_sync(
        f"SELECT obs_publisher_did, s_ra, s_dec, em_min, em_max FROM ivoa.ObsCore WHERE obs_publisher_did = '{detector_did()}'"
    ).to_table()
    assert len(rows) == 1
    ra, dec = float(rows["s_ra"][0]), float(rows["s_dec"][0])
    # The proprietary collection is visible through the token's group, and not without it.
    secret = "SELECT COUNT(*) AS n FROM ivoa.ObsCore WHERE obs_collection = 'demo-proprietary'"
    assert tap.run_sync(secret).to_table()["n"][0] > 0
    import pyvo

    assert pyvo.dal.TAPService(BASE + "/tap").run_sync(secret).to_table()["n"][0] == 0

    sia = rsp.get_sia_client()
    band = (float(rows["em_min"][0]), float(rows["em_max"][0]))
    found = sia.search(pos=(ra, dec, 0.001), band=band, maxrec=50)
    record = next(r for r in found if str(r["obs_publisher_did"]) == detector_did())
    links = rsp.get_datalink_results(record)
    path = os.path.join(DEMO, "data/lsst", DETECTOR)
    with fits.open(path) as parent:
        planes = {h.name: h.data for h in parent if h.is_image and h.data is not None}
        pwcs = WCS(parent["IMAGE"].header)
    for ident, expected in (("cutout-sync", {"IMAGE"}), ("cutout-sync-maskedimage", {"IMAGE", "MASK", "VARIANCE"})):
        query = SodaQuery.from_resource(links, links.get_adhocservice_by_id(ident), session=rsp.get_session())
        query.circle = (ra, dec, 0.003)
        with fits.open(io.BytesIO(query.execute_stream().read())) as cut:
            got = {h.name: h.data for h in cut if h.data is not None}
            assert set(got) == expected, ident
            image = got["IMAGE"]
            # Where the cutout sits in the parent, from the sky position of its first pixel.
            cwcs = WCS(cut["IMAGE"].header)
            sky = cwcs.pixel_to_world(0, 0)
            px, py = (int(round(float(v))) for v in pwcs.world_to_pixel(sky))
            h, w = image.shape
            for name, data in got.items():
                np.testing.assert_array_equal(data, planes[name][py : py + h, px : px + w])


def test_rsp_helpers_from_a_notebooks_environment(token, monkeypatch):
    import lsst.rsp

    monkeypatch.setenv("EXTERNAL_INSTANCE_URL", BASE + "/")
    monkeypatch.setenv("ACCESS_TOKEN", token)
    monkeypatch.setenv("RSP_SITE_TYPE", "science")
    for name, route in (("TAP", "tap"), ("CONSDBTAP", "tap"), ("SIA", "sia"), ("SIA/DP1", "sia"),
                        ("DATALINK", "datalink"), ("CUTOUT", "soda")):
        monkeypatch.setenv(f"{name}_ROUTE", route)
    tap = lsst.rsp.get_tap_service("tap")
    assert tap.run_sync("SELECT TOP 1 obs_id FROM ivoa.ObsCore").to_table()["obs_id"][0]
    consdb = lsst.rsp.get_tap_service("consdbtap")
    exposures = consdb.run_sync("SELECT COUNT(*) AS n FROM cdb_lsstcam.exposure").to_table()
    assert exposures["n"][0] > 0
    sia = lsst.rsp.get_siav2_service("dp1")
    assert len(sia.search(collection="LSSTCam-demo", maxrec=5)) > 0
    # The token rides along: the proprietary collection is visible.
    from lsst.rsp.utils import get_pyvo_auth

    assert get_pyvo_auth() is not None
    secret = "SELECT COUNT(*) AS n FROM ivoa.ObsCore WHERE obs_collection = 'demo-proprietary'"
    assert tap.run_sync(secret).to_table()["n"][0] > 0
