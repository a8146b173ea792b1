"""rubin_nights (Rubin's package for night summaries, from PyPI) against skyport, given nothing
but the archive's base URL and a token, as a notebook outside the RSP gives it Rubin's:

- its ConsDB clients: `ConsDbFastAPI` (the REST API at /consdb) and `ConsDbTap` (TAP at
  /api/consdbtap, where Rubin's Science Platform serves ConsDB's TAP), with its own queries
  (`get_visits`, `query_ccdvisits`);
- its exposure-log and narrative-log clients (`ExposureLogClient`, `NarrativeLogClient`), with
  the parameters they send (a limit of 50,000 among them).

The expected values are read independently: with pyvo from skyport's TAP service, and from the
logs' REST API with requests.
"""
import os
import sys
from pathlib import Path

import pytest
import pyvo
import requests
from astropy.time import Time

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "clients"))
from skyport_auth import create_token, demo_config  # noqa: E402

BASE = os.environ["SKYPORT_URL"].rstrip("/")


@pytest.fixture(scope="module")
def token():
    return create_token(demo_config(), "night-summariser", ["read:tap"], groups=["demo-team"])


def tap(token):
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    return pyvo.dal.TAPService(BASE + "/tap", session=session)


def test_both_consdb_clients_get_the_visits_and_their_detectors(token):
    from rubin_nights.consdb_query import ConsDbFastAPI, ConsDbTap

    expected = tap(token).search(
        "SELECT visit_id, exp_time, band FROM cdb_lsstcam.visit1 ORDER BY visit_id"
    ).to_table()
    assert len(expected) > 0
    want = [(int(r["visit_id"]), float(r["exp_time"]), str(r["band"])) for r in expected]
    auth = ("user", token)
    for client in [ConsDbFastAPI(BASE, auth), ConsDbTap(BASE, token)]:
        # As a notebook calls it: the visits augmented by rubin_nights (gaps, ecliptic and
        # galactic coordinates) from what ConsDB answered.
        visits = client.get_visits("lsstcam")
        assert "visit_gap" in visits.columns and "galactic_lat" in visits.columns
        got = [(int(v), float(e), str(b)) for v, e, b in zip(visits["visit_id"], visits["exp_time"], visits["band"])]
        assert got == want, client
        visit = want[0][0]
        detectors = client.query_ccdvisits("lsstcam", visit)
        count = tap(token).search(
            f"SELECT COUNT(*) AS n FROM cdb_lsstcam.ccdvisit1 WHERE visit_id = {visit}"
        ).to_table()["n"][0]
        assert len(detectors) == int(count) > 0, client


def test_the_log_clients_read_what_the_logs_hold(token):
    from rubin_nights.logging_query import ExposureLogClient, NarrativeLogClient

    auth = ("user", token)
    headers = {"Authorization": f"Bearer {token}"}
    start, end = Time("2025-11-30T12:00:00", scale="tai"), Time("2025-12-02T12:00:00", scale="tai")

    exposures = ExposureLogClient(BASE, auth).query_log(start, end)
    want = requests.get(
        BASE + "/exposurelog/messages",
        params={"min_day_obs": 20251130, "max_day_obs": 20251202, "limit": 1000},
        headers=headers,
        timeout=30,
    ).json()
    assert want
    assert sorted(exposures["id"]) == sorted(m["id"] for m in want)
    assert set(exposures["message_text"]) == {m["message_text"] for m in want}

    narrative = NarrativeLogClient(BASE, auth).query_log(start, end)
    want = requests.get(
        BASE + "/narrativelog/messages",
        params={"min_date_begin": "2025-11-30T12:00:00", "max_date_begin": "2025-12-02T12:00:00", "limit": 1000},
        headers=headers,
        timeout=30,
    ).json()
    assert want
    assert sorted(narrative["id"]) == sorted(m["id"] for m in want)
