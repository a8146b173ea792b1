"""The exposure log and the night log as a Rubin client drives them, over HTTP with `requests`
and a write:consdb token, against the demo archive; and the DataLink link from an image to the
exposure-log messages of its exposure, followed with pyvo, must give the messages the REST API
gives for that exposure.
"""
import io
import os

import pyvo
import requests
from astropy.io.votable import parse as parse_votable
from pyvo.dal.adhoc import DatalinkResults

import skyport_auth

BASE = os.environ["SKYPORT_URL"].rstrip("/")
OBS_ID = "MC_O_20251201_000114"
# The demo's exposure whose log message was corrected by an edit.
EDITED = "MC_O_20251201_000107"


def token_headers():
    token = skyport_auth.create_token(skyport_auth.demo_config(), "night-observer", ["write:consdb", "read:tap"])
    return skyport_auth.bearer(token)


def test_a_message_is_added_edited_and_found_as_rubins_service_answers():
    headers = token_headers()
    body = {
        "obs_id": OBS_ID, "instrument": "LSSTCam", "message_text": "Tracking jitter",
        "level": 30, "tags": ["Tracking"], "urls": [], "user_id": "night-observer",
        "user_agent": "pytest", "is_human": True, "is_new": False,
    }
    r = requests.post(f"{BASE}/exposurelog/messages", json=body)
    assert r.status_code in (401, 403), r.text
    r = requests.post(f"{BASE}/exposurelog/messages", json=body, headers=headers)
    assert r.status_code == 200, r.text
    added = r.json()
    assert (added["day_obs"], added["seq_num"]) == (20251201, 114)
    assert added["tags"] == ["tracking"] and added["exposure_flag"] == "none"
    r = requests.patch(f"{BASE}/exposurelog/messages/{added['id']}",
                       json={"message_text": "Tracking jitter, 0.3 arcsec rms"}, headers=headers)
    assert r.status_code == 200, r.text
    edited = r.json()
    assert edited["parent_id"] == added["id"]
    found = requests.get(f"{BASE}/exposurelog/messages",
                         params={"obs_id": OBS_ID, "is_valid": "either", "order_by": "date_added"}).json()
    ids = [m["id"] for m in found]
    assert added["id"] in ids and edited["id"] in ids
    assert [m["is_valid"] for m in found if m["id"] in (added["id"], edited["id"])] == [False, True]
    r = requests.patch(f"{BASE}/exposurelog/messages/{added['id']}", json={"level": "high"}, headers=headers)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "level"]


def test_an_images_datalink_lists_its_exposures_log_messages():
    tap = pyvo.dal.TAPService(BASE + "/tap")
    did = str(tap.search(
        "SELECT obs_publisher_did FROM ivoa.ObsCore "
        f"WHERE obs_publisher_did LIKE '%{EDITED}_R22_S00'").to_table()[0][0])
    links = DatalinkResults.from_result_url(f"{BASE}/datalink/links?ID={requests.utils.quote(did, safe='')}")
    log_links = [l for l in links if l["local_semantics"] == "exposurelog"]
    assert len(log_links) == 1
    rows = parse_votable(io.BytesIO(requests.get(log_links[0]["access_url"]).content)).get_first_table().to_table()
    want = requests.get(f"{BASE}/exposurelog/messages", params={"obs_id": EDITED}).json()
    # The demo's message about this exposure was edited: only the edited version is valid.
    assert len(want) == 1 and want[0]["parent_id"] is not None
    assert sorted(str(x) for x in rows["id"]) == sorted(m["id"] for m in want)
    assert sorted(str(x) for x in rows["message_text"]) == sorted(m["message_text"] for m in want)


def test_the_night_logs_time_lost_agrees_between_rest_and_tap():
    messages = requests.get(f"{BASE}/narrativelog/messages", params={"limit": 1000}).json()
    assert len(messages) >= 2
    tap = pyvo.dal.TAPService(BASE + "/tap")
    total = tap.search(
        "SELECT SUM(time_lost) AS lost FROM narrativelog.message WHERE date_invalidated IS NULL"
    ).to_table()[0]["lost"]
    assert abs(float(total) - sum(m["time_lost"] for m in messages)) < 1e-9
    assert any(m["components_json"] for m in messages)
