"""Data releases of the demo archive as pyvo and requests see them (docs/observing.md).

The demo froze release dr1 (collections pypi-real and demo-proprietary) when it was built, and
serves prompt, a label of the live LSSTCam-demo collection. Each answers under
/releases/<name>/ with TAP, SIA, DataLink and SODA. Expected rows come from the live archive's
own TAP, read independently, and the files from the demo's directory.
"""
import os
from datetime import datetime

import pyvo
import requests

import skyport_auth

BASE = os.environ["SKYPORT_URL"].rstrip("/")
DEMO = os.environ["SKYPORT_DEMO_DIR"]
DR1 = ["pypi-real", "demo-proprietary"]


def rows_by_did(service, where=""):
    table = service.search(f"SELECT * FROM ivoa.ObsCore {where}", maxrec=100000).to_table()
    return {str(r["obs_publisher_did"]): r for r in table}, table.colnames


def member_session():
    token = skyport_auth.create_token(
        skyport_auth.demo_config(), "release-reader", ["read:tap", "read:image"], groups=["demo-team"]
    )
    session = requests.Session()
    session.headers.update(skyport_auth.bearer(token))
    return session


def test_the_releases_are_listed_with_their_services():
    listed = requests.get(f"{BASE}/releases", timeout=30)
    assert listed.status_code == 200
    releases = {r["name"]: r for r in listed.json()["releases"]}
    assert set(releases) == {"dr1", "prompt"}
    assert releases["dr1"]["frozen"] is True and releases["dr1"]["frozen_at"]
    assert releases["prompt"]["frozen"] is False and releases["prompt"]["frozen_at"] is None
    assert sorted(releases["dr1"]["collections"]) == sorted(DR1)
    for name, r in releases.items():
        assert r["tap"] == f"{BASE}/releases/{name}/tap"
        assert requests.get(r["tap"] + "/capabilities", timeout=30).status_code == 200


def assert_same_rows(release, live, columns, base):
    assert set(release) == set(live)
    for did, row in release.items():
        for column in columns:
            got, want = row[column], live[did][column]
            if column == "access_url":
                assert str(got) == str(want).replace(BASE, base, 1), did
            elif column == "obs_release_date" and str(got) != str(want):
                # The same instant; a PostgreSQL archive writes it without a zero fraction.
                assert datetime.fromisoformat(str(got)) == datetime.fromisoformat(str(want)), did
            else:
                assert str(got) == str(want), (did, column, got, want)


def test_each_release_answers_with_its_collections_rows():
    live = pyvo.dal.TAPService(BASE + "/tap")
    for name, collections in [("dr1", DR1), ("prompt", ["LSSTCam-demo"])]:
        base = f"{BASE}/releases/{name}"
        release = pyvo.dal.TAPService(base + "/tap")
        names = ", ".join(f"'{c}'" for c in collections)
        want, _ = rows_by_did(live, f"WHERE obs_collection IN ({names})")
        got, columns = rows_by_did(release)
        assert got, name
        assert_same_rows(got, want, columns, base)
    # A release's TAP describes the image tables and no ConsDB table (those stay with the live
    # archive), in /tables and in TAP_SCHEMA alike; a label's too, though it reads the live
    # database.
    consdb = "SELECT COUNT(*) AS n FROM TAP_SCHEMA.columns WHERE table_name LIKE 'cdb%'"
    assert int(live.search(consdb).to_table()["n"][0]) > 0
    for name in ["dr1", "prompt"]:
        release = pyvo.dal.TAPService(f"{BASE}/releases/{name}/tap")
        tables = [t.name for t in release.tables]
        assert "ivoa.ObsCore" in tables and "caom2.Plane" in tables, name
        assert not [t for t in tables if t.startswith("cdb_")], name
        assert int(release.search(consdb).to_table()["n"][0]) == 0, name
        schemas = {str(s) for s in release.search("SELECT schema_name FROM TAP_SCHEMA.schemas").to_table()["schema_name"]}
        assert "ivoa" in schemas and not [s for s in schemas if s.startswith("cdb_")], (name, schemas)


def test_data_rights_hold_within_a_release():
    anonymous = pyvo.dal.TAPService(BASE + "/releases/dr1/tap")
    member = pyvo.dal.TAPService(BASE + "/releases/dr1/tap", session=member_session())
    count = "SELECT COUNT(*) AS n FROM ivoa.ObsCore WHERE obs_collection = 'demo-proprietary'"
    assert int(anonymous.search(count).to_table()["n"][0]) == 0
    assert int(member.search(count).to_table()["n"][0]) == 2


def test_sia_datalink_and_files_of_a_release():
    release = pyvo.dal.TAPService(BASE + "/releases/dr1/tap")
    row = release.search(
        "SELECT TOP 1 obs_publisher_did, s_ra, s_dec, access_url FROM ivoa.ObsCore "
        "WHERE obs_collection = 'pypi-real' AND s_ra IS NOT NULL ORDER BY obs_publisher_did"
    ).to_table()[0]
    sia = pyvo.dal.SIA2Service(BASE + "/releases/dr1/sia")
    found = sia.search(pos=(float(row["s_ra"]), float(row["s_dec"]), 0.01))
    dids = {str(r["obs_publisher_did"]) for r in found.to_table()}
    assert str(row["obs_publisher_did"]) in dids
    assert all(d.split("?")[0].rsplit("/", 1)[1] in DR1 for d in dids), dids
    links = pyvo.dal.adhoc.DatalinkResults.from_result_url(str(row["access_url"]))
    this = [link for link in links if link.semantics == "#this"]
    assert len(this) == 1
    url = str(this[0].access_url)
    assert url.startswith(f"{BASE}/releases/dr1/files/real/"), url
    path = os.path.join(DEMO, "data", url[len(f"{BASE}/releases/dr1/files/"):])
    got = requests.get(url, timeout=60)
    assert got.status_code == 200
    with open(path, "rb") as f:
        assert got.content == f.read()
    # An image of a collection outside the release is not found through it.
    live = pyvo.dal.TAPService(BASE + "/tap")
    other = live.search(
        "SELECT TOP 1 obs_publisher_did FROM ivoa.ObsCore WHERE obs_collection = 'LSSTCam-demo'"
    ).to_table()[0]["obs_publisher_did"]
    outside = requests.get(f"{BASE}/releases/dr1/datalink/links", params={"ID": str(other)}, timeout=30)
    assert "NotFoundFault" in outside.text


def test_an_images_consdb_records_are_linked_to_the_live_archive():
    # A release's TAP has no ConsDB: DataLink through prompt links an LSSTCam image's ConsDB
    # records and exposure-log messages to the archive's own TAP, and the links answer.
    prompt = pyvo.dal.TAPService(BASE + "/releases/prompt/tap")
    did = str(prompt.search("SELECT TOP 1 obs_publisher_did FROM ivoa.ObsCore").to_table()[0]["obs_publisher_did"])
    links = pyvo.dal.adhoc.DatalinkResults.from_result_url(
        f"{BASE}/releases/prompt/datalink/links?ID={requests.utils.quote(did, safe='')}"
    )
    records = [str(link.access_url) for link in links if "cdb_" in str(link.access_url)]
    assert records, [str(link.access_url) for link in links]
    for url in records:
        assert url.startswith(BASE + "/tap/sync?"), url
        assert requests.get(url, timeout=30).status_code == 200, url
    assert all(str(link.access_url).startswith(BASE + "/releases/prompt/")
               for link in links if link.semantics in ("#this", "#preview"))
