"""TAP as pyvo and astropy see it: sync and async queries, uploads, overflow, every output format.

Expected values come from the images themselves (astropy's WCS of a served detector) and from
comparing formats with each other, never from skyport's own output taken as truth.
"""
import csv
import io
import json
import os
import urllib.parse
import urllib.request
import warnings

import numpy as np
import pytest
import pyvo
from astropy.io import fits, votable
from astropy.table import Table
from astropy.wcs import WCS

BASE = os.environ["SKYPORT_URL"].rstrip("/")
TAP = BASE + "/tap"
DETECTOR = os.environ["SKYPORT_DEMO_DETECTOR"]
OBS_ID = DETECTOR[: -len(".fits")]


def service():
    return pyvo.dal.TAPService(TAP)


def sync_raw(query, fmt, maxrec=None):
    params = {"LANG": "ADQL", "QUERY": query, "RESPONSEFORMAT": fmt}
    if maxrec is not None:
        params["MAXREC"] = str(maxrec)
    url = TAP + "/sync?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=60) as r:
        return r.headers["Content-Type"], r.read()


def test_sync_search_matches_the_image_wcs():
    result = service().search(
        f"SELECT obs_id, s_ra, s_dec, s_xel1, s_xel2 FROM ivoa.ObsCore WHERE obs_id = '{OBS_ID}'"
    )
    assert len(result) == 1
    row = result[0]
    with urllib.request.urlopen(BASE + "/files/lsst/" + DETECTOR, timeout=30) as r:
        with fits.open(io.BytesIO(r.read())) as hdul:
            header = hdul[1].header
            wcs = WCS(header)
            ny, nx = hdul[1].data.shape
    assert (row["s_xel1"], row["s_xel2"]) == (nx, ny)
    centre = wcs.all_pix2world([[(nx - 1) / 2, (ny - 1) / 2]], 0)[0]
    assert row["s_ra"] == pytest.approx(centre[0], abs=1e-6)
    assert row["s_dec"] == pytest.approx(centre[1], abs=1e-6)
    assert result.fieldname_with_ucd("pos.eq.ra") == "s_ra"


def test_sync_cone_search_finds_the_detector_at_its_own_centre():
    row = service().search(f"SELECT s_ra, s_dec FROM ivoa.ObsCore WHERE obs_id = '{OBS_ID}'")[0]
    found = service().search(
        "SELECT obs_id FROM ivoa.ObsCore WHERE 1 = CONTAINS(POINT('ICRS', s_ra, s_dec), "
        f"CIRCLE('ICRS', {row['s_ra']}, {row['s_dec']}, 0.001))"
    )
    assert OBS_ID in [str(x) for x in found["obs_id"]]


def test_maxrec_overflow_is_signalled():
    result = service().search("SELECT obs_id FROM ivoa.ObsCore", maxrec=3)
    assert len(result) == 3
    assert result.query_status == "OVERFLOW"
    # pyvo's TAP layer stays quiet when the client's own MAXREC cut the result; its generic
    # DAL result reader warns on any overflow.
    url = TAP + "/sync?" + urllib.parse.urlencode(
        {"LANG": "ADQL", "QUERY": "SELECT obs_id FROM ivoa.ObsCore", "MAXREC": "3"}
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        generic = pyvo.dal.DALResults.from_result_url(url)
    assert len(generic) == 3
    assert any(issubclass(w.category, pyvo.dal.DALOverflowWarning) for w in caught)


def test_bad_adql_raises_with_the_message():
    with pytest.raises(pyvo.dal.DALQueryError) as err:
        service().search("SELECT nosuch FROM ivoa.ObsCore")
    assert "nosuch" in str(err.value)


def test_run_async_and_submit_job():
    query = "SELECT TOP 7 obs_id, t_min FROM ivoa.ObsCore ORDER BY t_min, obs_id"
    sync = service().search(query)
    result = service().run_async(query)
    assert list(result["obs_id"]) == list(sync["obs_id"])
    job = service().submit_job(query, runid="client-test")
    assert job.phase == "PENDING"
    job.run()
    job.wait(phases=["COMPLETED", "ERROR", "ABORTED"], timeout=60)
    assert job.phase == "COMPLETED"
    assert job.result_uri.endswith("/results/result")
    assert list(job.fetch_result().to_table()["t_min"]) == list(sync["t_min"])
    job.delete()
    with pytest.raises(pyvo.dal.DALServiceError):
        job.phase  # noqa: B018 - a deleted job is gone (404)


def test_upload_join():
    ids = Table({"wanted": [OBS_ID, "no-such-image"], "k": [1, 2]})
    result = service().search(
        "SELECT u.k, o.obs_id FROM TAP_UPLOAD.mine AS u JOIN ivoa.ObsCore AS o ON o.obs_id = u.wanted",
        uploads={"mine": ids},
    )
    assert [(int(r["k"]), str(r["obs_id"])) for r in result] == [(1, OBS_ID)]


QUERY = (
    "SELECT TOP 25 obs_id, s_ra, s_dec, t_min, t_exptime, s_xel1, em_min, s_region, dataproduct_type "
    "FROM ivoa.ObsCore ORDER BY obs_id"
)


def reference():
    _, body = sync_raw(QUERY, "votable")
    return votable.parse_single_table(io.BytesIO(body)).to_table()


def same(a, b):
    if np.ma.is_masked(a):
        return b in ("", None)
    if isinstance(a, (float, np.floating)):
        return (np.isnan(a) and np.isnan(float(b))) or a == pytest.approx(float(b), rel=1e-15)
    return str(a) == str(b)


@pytest.mark.parametrize("fmt", ["votable/b2", "application/x-votable+xml;serialization=BINARY2"])
def test_binary2_reads_back_identically(fmt):
    ref = reference()
    content_type, body = sync_raw(QUERY, fmt)
    assert "BINARY2" in content_type
    table = votable.parse_single_table(io.BytesIO(body)).to_table()
    assert table.colnames == ref.colnames
    for name in ref.colnames:
        assert [str(x) for x in table[name]] == [str(x) for x in ref[name]], name


@pytest.mark.parametrize("fmt,delimiter", [("csv", ","), ("tsv", "\t")])
def test_csv_and_tsv_read_back_identically(fmt, delimiter):
    ref = reference()
    content_type, body = sync_raw(QUERY, fmt)
    assert content_type.startswith({"csv": "text/csv", "tsv": "text/tab-separated-values"}[fmt])
    rows = list(csv.reader(io.StringIO(body.decode()), delimiter=delimiter))
    assert rows[0] == ref.colnames
    assert len(rows) - 1 == len(ref)
    for got, want in zip(rows[1:], ref):
        for name, value in zip(ref.colnames, got):
            assert same(want[name], value), (name, want[name], value)


def test_json_reads_back_identically():
    ref = reference()
    content_type, body = sync_raw(QUERY, "json")
    assert content_type == "application/json"
    doc = json.loads(body)
    assert [c["name"] for c in doc["columns"]] == ref.colnames
    assert doc["status"] == "OK"
    for got, want in zip(doc["data"], ref):
        for name, value in zip(ref.colnames, got):
            assert same(want[name], value), (name, want[name], value)


def test_voparquet_reads_back_identically():
    ref = reference()
    content_type, body = sync_raw(QUERY, "parquet")
    assert content_type == "application/vnd.apache.parquet"
    import pyarrow.parquet as pq

    parquet = pq.read_table(io.BytesIO(body))
    meta = parquet.schema.metadata
    assert meta[b"IVOA.VOTable-Parquet.version"] == b"1.0"
    header = meta[b"IVOA.VOTable-Parquet.content"].decode()
    assert "<DATA>" not in header and 'name="s_region"' in header
    assert parquet.column_names == ref.colnames
    for name in ref.colnames:
        for want, got in zip(ref[name], parquet.column(name).to_pylist()):
            assert same(want, got), (name, want, got)
    # The embedded header is a VOTable astropy reads, with the same FIELDs as the VOTable output.
    described = votable.parse_single_table(io.BytesIO(header.encode()))
    fields = {f.name: f for f in described.fields}
    assert [f.name for f in described.fields] == ref.colnames
    assert str(fields["s_ra"].unit) == "deg" and fields["s_ra"].ucd == "pos.eq.ra"
    assert fields["s_region"].xtype == "adql:REGION"
