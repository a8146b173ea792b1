"""ConsDB exports and history as a pipeline reads them: Parquet through pyarrow (values, and
the VOTable header with units and descriptions), campaign lists, and "as of" reads after a
correction made through the pqserver-style REST API.

Expected values come from the REST and TAP answers of the same server and from the
correction this test itself makes, never from the export taken as truth. The correction is
written with an API token carrying write:consdb (ConsDB writes need credentials), made with
`skyport token create` for the demo archive, and its history names that token's user.
"""
import io
import json
import os
import functools
import time
import urllib.parse
import urllib.request
from datetime import datetime, timezone

import pyarrow.parquet as pq
from astropy.io.votable import parse_single_table

from skyport_auth import bearer, create_token, demo_config

BASE = os.environ["SKYPORT_URL"].rstrip("/")
WRITER = "consdb-export-test"


@functools.cache
def writer_token():
    return create_token(demo_config(), WRITER, ["write:consdb", "read:tap"])


def get(path, **params):
    url = BASE + path + ("?" + urllib.parse.urlencode(params) if params else "")
    with urllib.request.urlopen(url, timeout=60) as r:
        return r.headers, r.read()


def post(path, body, headers=None):
    req = urllib.request.Request(
        BASE + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json", **(headers or {})}
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)


def query(adql):
    return post("/consdb/query", {"query": adql})


def test_parquet_export_carries_values_units_and_descriptions():
    headers, data = get("/consdb/export/lsstcam/exposure", format="parquet", where="band IN ('g', 'r')")
    assert headers["Content-Type"].startswith("application/vnd.apache.parquet")
    table = pq.read_table(io.BytesIO(data))
    expected = query(
        "SELECT exposure_id, s_ra, airmass FROM cdb_lsstcam.exposure WHERE band IN ('g', 'r') ORDER BY exposure_id"
    )["data"]
    got = sorted(zip(table["exposure_id"].to_pylist(), table["s_ra"].to_pylist(), table["airmass"].to_pylist()))
    assert [g[0] for g in got] == [e[0] for e in expected]
    assert [g[1] for g in got] == [e[1] for e in expected]
    # VOParquet: the columns' metadata travels in a VOTable header in the file's key-value metadata.
    meta = pq.read_metadata(io.BytesIO(data)).metadata
    header = meta[b"IVOA.VOTable-Parquet.content"]
    fields = {f.name: f for f in parse_single_table(io.BytesIO(header)).fields}
    assert str(fields["s_ra"].unit) == "deg"
    assert "airmass" in (fields["airmass"].description or "").lower()


def test_campaign_lists_are_the_ids_of_the_rows_that_qualify():
    _, data = get("/consdb/export/lsstcam/visit1", ids="1", format="csv", where="airmass < 2")
    lines = data.decode().split()
    assert lines[0] == "visit_id"
    expected = query("SELECT visit_id FROM cdb_lsstcam.visit1 WHERE airmass < 2 ORDER BY visit_id")["data"]
    assert sorted(int(x) for x in lines[1:]) == [row[0] for row in expected]
    assert expected, "the demo has visits to list"


def now():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")


def test_a_correction_keeps_the_past_readable_through_rest_tap_and_export():
    (exposure_id, day_obs, seq_num, airmass), = query(
        "SELECT TOP 1 exposure_id, day_obs, seq_num, airmass FROM cdb_latiss.exposure ORDER BY exposure_id"
    )["data"]
    time.sleep(0.01)
    before = now()
    time.sleep(0.01)
    corrected = round(airmass + 0.5, 3)
    answer = post(
        f"/consdb/insert/latiss/exposure/by_seq_num/{day_obs}/{seq_num}?u=1",
        {"values": {"airmass": corrected}},
        headers=bearer(writer_token()),
    )
    assert answer["message"] == "Data inserted"
    _, now_obs = get(f"/consdb/query/latiss/exposure/obs/{exposure_id}")
    _, then_obs = get(f"/consdb/query/latiss/exposure/obs/{exposure_id}", as_of=before)
    assert abs(json.loads(now_obs)["airmass"] - corrected) < 1e-6
    assert abs(json.loads(then_obs)["airmass"] - airmass) < 1e-6
    _, old = get(
        "/consdb/export/latiss/exposure", format="csv", as_of=before,
        columns="exposure_id,airmass", where=f"exposure_id = {exposure_id}",
    )
    assert abs(float(old.decode().split()[1].split(",")[1]) - airmass) < 1e-6
    versions = query(
        f"SELECT version, airmass, recorded_by FROM cdb_latiss.exposure_history WHERE exposure_id = {exposure_id} ORDER BY version"
    )["data"]
    assert len(versions) >= 2
    assert abs(versions[-1][1] - corrected) < 1e-6
    assert versions[-1][2] == WRITER, "the new version is recorded under the token's user"
