"""Access control as a real client sees it: pyvo with credentials, against the demo archive.

The demo's collection demo-proprietary (data/proprietary, released only in 2099) is for group
demo-team. Tokens are made here with `skyport token create` for the demo's configuration:
alice (member of demo-team), bob (no group), a revoked token, a reader without write:consdb
and a member of the throttled group demo-throttled (5 requests a minute).

What must hold, checked on content: alice sees exactly the public rows plus the proprietary
ones (the DIDs of the files in data/proprietary) through TAP sync and async, with a Bearer
token and with the token as HTTP Basic password, finds them through SIA, follows DataLink and
gets a SODA cutout whose pixels and WCS are the file's own; anonymous callers and bob see
exactly the public rows, and a proprietary image answers them word for word like an image that
does not exist; revoked and garbage tokens are refused at once with a 401 and both challenges;
a ConsDB write without write:consdb is a 403 with a JSON detail and changes nothing; the
throttled member is refused after a burst of five with a 429 carrying Retry-After.

How pyvo 1.9.1 reports a refusal depends on the call: where it checks the HTTP status first
(the UWS calls of async TAP) a 401 is DALServiceError with code 401; on sync queries (TAP sync,
SIA, DataLink) it parses the body first, and a 401 is a DALI error document, so it raises
DALQueryError with the server's message. A 429's body is plain text (not a VOTable), so pyvo
raises DALRateLimitError, with the wait, on sync and async calls alike.

pyvo (1.9.1) attaches credentials only to URLs it has learned security methods for, from the
capabilities of the service it was opened on; skyport's capabilities declare the services a
search leads to (DataLink, SODA, files, previews) with their security methods, so no URL needs
registering by hand. `DatalinkRecord.processed()` builds its SodaQuery without the record's
session (a pyvo bug), so the session is passed to it explicitly (`processed(..., session=auth)`).
"""
import io
import os
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
import pyvo
import requests
from astropy import units as u
from astropy.io import fits
from astropy.wcs import WCS
from pyvo.auth import AuthSession, securitymethods
from pyvo.dal import DALQueryError, DALRateLimitError, DALServiceError
from pyvo.dal.adhoc import DatalinkResults

from skyport_auth import bearer, create_token, demo_config, revoke_token
from test_soda import check_wcs, image_hdu, inside_circle_box, locate

BASE = os.environ["SKYPORT_URL"].rstrip("/")
DEMO = Path(os.environ["SKYPORT_DEMO_DIR"])
CONFIG = demo_config()
AUTHORITY = "ivo://skyport.demo"
COLLECTION = "demo-proprietary"
PROPRIETARY = DEMO / "data" / "proprietary"
TOKEN = "ivo://ivoa.net/sso#token"
BASIC = securitymethods.BASIC
# Users of this run only: a rerun against the same server starts with fresh rate-limit counts.
RUN = uuid.uuid4().hex[:8]


def proprietary_dids():
    """The DIDs of the proprietary images, from the files the demo wrote."""
    names = sorted(p.stem for p in PROPRIETARY.glob("*.fits"))
    assert len(names) == 2, names
    return {f"{AUTHORITY}/{COLLECTION}?{n}" for n in names}


def m13():
    """The proprietary m13 image: its DID, pixels, WCS and the sky position of its centre."""
    path = PROPRIETARY / "m13_proprietary.fits"
    with fits.open(path) as hdul:
        hdu = image_hdu(hdul)
        data, wcs = hdu.data.copy(), WCS(hdu.header, hdul)
    h, w = data.shape
    ra, dec = wcs.all_pix2world([[(w - 1) / 2, (h - 1) / 2]], 0)[0]
    return f"{AUTHORITY}/{COLLECTION}?m13_proprietary", path, data, wcs, float(ra), float(dec)


# --- callers


@pytest.fixture(scope="module")
def alice():
    return create_token(CONFIG, f"alice-{RUN}", ["read:tap", "read:image"], groups=["demo-team"])


@pytest.fixture(scope="module")
def bob():
    return create_token(CONFIG, f"bob-{RUN}", ["read:tap", "read:image"])


def with_bearer(token):
    """pyvo's AuthSession presenting `token` as `Authorization: Bearer` (ivo://ivoa.net/sso#token)
    below the server's base URL. Capabilities name SSO 2.0's methods only (the token as a Basic
    password) unless `[auth] declare_token_method` is set, so the method is named for the
    service here, as pyvo's documentation shows for methods a service does not declare."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    auth = AuthSession()
    auth.credentials.set(TOKEN, session)
    auth.add_security_method_for_url(BASE, TOKEN)
    return auth


def with_basic(user, token):
    """pyvo's AuthSession presenting `token` as HTTP Basic password (ivo://ivoa.net/sso#BasicAA)."""
    auth = AuthSession()
    auth.credentials.set_password(user, token)
    return auth


def anonymous():
    return AuthSession()


def tap(session):
    return pyvo.dal.TAPService(BASE + "/tap", session=session)


ROWS = "SELECT obs_publisher_did, obs_id, obs_collection FROM ivoa.ObsCore"
COUNTS = "SELECT obs_collection, COUNT(*) AS n FROM ivoa.ObsCore GROUP BY obs_collection"


def rows(result):
    t = result.to_table()
    return {(str(r["obs_publisher_did"]), str(r["obs_id"]), str(r["obs_collection"])) for r in t}


def counts(result):
    return {str(r["obs_collection"]): int(r["n"]) for r in result.to_table()}


@pytest.fixture(scope="module")
def public():
    """The rows an anonymous caller sees, through TAP without credentials."""
    seen = rows(tap(None).search(ROWS, maxrec=100000))
    assert seen and not {r for r in seen if r[2] == COLLECTION}
    return seen


# --- members see more


@pytest.mark.parametrize("kind", ["bearer", "basic"])
def test_a_member_sees_the_proprietary_rows_through_tap_sync_and_async(alice, public, kind):
    auth = with_bearer(alice) if kind == "bearer" else with_basic(f"alice-{RUN}", alice)
    service = tap(auth)
    for mode, run in (("sync", service.run_sync), ("async", service.run_async)):
        seen = rows(run(ROWS, maxrec=100000))
        extra = seen - public
        assert public <= seen, f"{kind} {mode}: the member lost public rows"
        assert {r[0] for r in extra} == proprietary_dids(), f"{kind} {mode}"
        assert {r[2] for r in extra} == {COLLECTION}
        assert {r[1] for r in extra} == {did.split("?", 1)[1] for did in proprietary_dids()}
        n = counts(run(COUNTS))
        assert n[COLLECTION] == 2
        assert sum(n.values()) == len(public) + 2, f"{kind} {mode}: the member counts 2 more"


def test_a_member_finds_the_image_with_sia_and_cuts_it_out_through_datalink_and_soda(alice):
    did, path, pdata, pwcs, ra, dec = m13()
    auth = with_bearer(alice)
    sia = pyvo.dal.SIA2Service(BASE + "/sia", session=auth)
    found = sia.search(pos=(ra * u.deg, dec * u.deg, 0.01 * u.deg))
    mine = {str(r["obs_publisher_did"]): r for r in found if str(r["obs_collection"]) == COLLECTION}
    assert set(mine) == proprietary_dids()
    assert set(str(d) for d in sia.search(collection=COLLECTION).to_table()["obs_publisher_did"]) == proprietary_dids()

    links = mine[did].getdatalink()
    assert all(not link.error_message for link in links), [link.error_message for link in links]
    whole = next(links.bysemantics("#this", include_narrower=False))  # no vocabulary download
    assert whole.access_url.endswith("/files/proprietary/m13_proprietary.fits")
    assert whole.content_length == path.stat().st_size
    # The file itself, through the member's session.
    response = auth.get(whole.access_url, timeout=60)
    assert response.status_code == 200 and response.content == path.read_bytes()

    proc = links.get_first_proc()
    assert proc.semantics == "#cutout"
    h, w = pdata.shape
    cra, cdec = pwcs.all_pix2world([[w * 0.4, h * 0.55]], 0)[0]
    r = 0.2 * min(h, w) * np.sqrt(abs(np.linalg.det(pwcs.celestial.pixel_scale_matrix)))
    stream = proc.processed(circle=(cra * u.deg, cdec * u.deg, r * u.deg), session=auth)
    with fits.open(io.BytesIO(stream.read())) as cut:
        c = image_hdu(cut)
        cwcs = WCS(c.header)
        assert cwcs.has_celestial
        dx, dy = locate(pdata, c.data)
        check_wcs(pwcs, cwcs, c.data.shape, dx, dy)
        x0, x1, y0, y1 = inside_circle_box(pwcs, pdata.shape, cra, cdec, r)
        ch, cw = c.data.shape
        # Every pixel whose centre is inside, and at most one more each side.
        assert dx <= x0 and dx + cw - 1 >= x1 and dy <= y0 and dy + ch - 1 >= y1
        assert dx >= x0 - 1 and dx + cw - 1 <= x1 + 1 and dy >= y0 - 1 and dy + ch - 1 <= y1 + 1


# --- non-members see nothing of it


def test_non_members_never_see_a_proprietary_row(bob, public):
    did, _, _, _, ra, dec = m13()
    hidden_ids = {d.split("?", 1)[1] for d in proprietary_dids()}
    for who, auth in (("bob", with_bearer(bob)), ("anonymous", anonymous())):
        service = tap(auth)
        for mode, run in (("sync", service.run_sync), ("async", service.run_async)):
            seen = rows(run(ROWS, maxrec=100000))
            assert seen == public, f"{who} {mode}"
            assert not {r[1] for r in seen} & hidden_ids
            assert COLLECTION not in counts(run(COUNTS)), f"{who} {mode}"
        by_did = service.run_sync(f"SELECT COUNT(*) AS n FROM ivoa.ObsCore WHERE obs_publisher_did = '{did}'")
        assert int(by_did.to_table()["n"][0]) == 0, who
        files = service.run_sync("SELECT COUNT(*) AS n FROM skyport.image_file WHERE root_name = 'proprietary'")
        assert int(files.to_table()["n"][0]) == 0, who
        sia = pyvo.dal.SIA2Service(BASE + "/sia", session=auth)
        near = sia.search(pos=(ra * u.deg, dec * u.deg, 0.01 * u.deg)).to_table()
        assert len(near) > 0, "the public m13 images are there"
        assert not {str(d) for d in near["obs_publisher_did"]} & proprietary_dids(), who
        assert COLLECTION not in {str(c) for c in near["obs_collection"]}, who
        assert len(sia.search(collection=COLLECTION)) == 0, who


def test_a_hidden_image_answers_like_one_that_does_not_exist(bob):
    did, _, _, _, ra, dec = m13()
    unknown = f"{AUTHORITY}/{COLLECTION}?no_such_image"
    for who, auth in (("bob", with_bearer(bob)), ("anonymous", anonymous())):
        answers = {}
        for d, name in ((did, "m13_proprietary"), (unknown, "no_such_image")):
            links = DatalinkResults.from_result_url(
                f"{BASE}/datalink/links?{requests.compat.urlencode({'ID': d})}", session=auth
            )
            table = [
                {k: str(v).replace(d, "<ID>") for k, v in zip(links.fieldnames, row)} for row in links.to_table()
            ]
            cut = auth.get(f"{BASE}/soda/sync", params={"ID": d, "CIRCLE": f"{ra} {dec} 0.01"}, timeout=60)
            files = auth.get(f"{BASE}/files/proprietary/{name}.fits", timeout=60)
            preview = auth.get(f"{BASE}/previews/proprietary/{name}.fits", timeout=60)
            answers[d] = (
                table,
                (cut.status_code, cut.headers["Content-Type"], cut.text.replace(d, "<ID>")),
                (files.status_code, files.text.replace(name, "<NAME>")),
                (preview.status_code, preview.text.replace(name, "<NAME>")),
            )
        hidden, absent = answers[did], answers[unknown]
        assert hidden == absent, who
        # ... and that answer is "not found", in each service's own form.
        (link,) = hidden[0]
        assert link["error_message"].startswith("NotFoundFault") and link["semantics"] == "#this"
        assert hidden[1][0] == 404 and hidden[1][1].startswith("text/plain")
        assert hidden[2][0] == 404 and "NotFoundFault" in hidden[2][1]
        assert hidden[3][0] == 404 and "NotFoundFault" in hidden[3][1]


# --- bad credentials are refused cleanly


def refused(call, error, what):
    """The exception `call` raises, of type `error`, within a few seconds."""
    started = time.monotonic()
    with pytest.raises(error) as caught:
        call()
    assert time.monotonic() - started < 10, f"{what}: the refusal took too long"
    assert not isinstance(caught.value, DALRateLimitError), what
    return caught.value


def assert_challenged(response, what):
    assert response.status_code == 401, f"{what}: {response.status_code}"
    challenges = response.headers.get("WWW-Authenticate", "")
    assert 'Bearer realm="skyport"' in challenges and 'error="invalid_token"' in challenges, challenges
    assert 'ivoa_bearer standard_id="ivo://ivoa.net/sso#token"' in challenges, challenges


def test_revoked_and_garbage_tokens_are_a_prompt_401_from_pyvo():
    revoked = create_token(CONFIG, f"revoked-{RUN}", ["read:tap", "read:image"], groups=["demo-team"])
    # Revoked before its first use, so no server has it cached.
    revoke_token(CONFIG, revoked)
    query = "SELECT TOP 1 obs_id FROM ivoa.ObsCore"
    for what, auth, reason in (
        ("revoked token (Bearer)", with_bearer(revoked), "expired or was revoked"),
        ("revoked token (Basic)", with_basic("whoever", revoked), "expired or was revoked"),
        ("garbage Bearer", with_bearer("not-a-token"), "not one this service issued"),
        ("unknown skyport token", with_bearer("skp_AAAAAAAAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBB"), "not valid"),
    ):
        # The capabilities are an open door: the service opens; its queries are refused.
        service = tap(auth)
        # Sync queries and SIA: pyvo reads the DALI error document of the 401 and raises
        # DALQueryError with its message (the HTTP status is not kept on that path).
        e = refused(lambda: service.run_sync(query), DALQueryError, f"{what}: TAP sync")
        assert reason in str(e), f"{what}: {e}"
        sia = pyvo.dal.SIA2Service(BASE + "/sia", session=auth)
        e = refused(lambda: sia.search(collection=COLLECTION), DALQueryError, f"{what}: SIA")
        assert reason in str(e), f"{what}: {e}"
        # Async: the job is refused at its creation, DALServiceError with the code.
        e = refused(lambda: service.submit_job(query), DALServiceError, f"{what}: TAP async")
        assert e.code == 401, f"{what}: {e}"
        assert_challenged(e.cause.response, what)
        # The same request through the same session: a 401 with both challenges.
        r = auth.get(BASE + "/tap/sync", params={"LANG": "ADQL", "QUERY": query}, timeout=30)
        assert_challenged(r, what)
        assert reason in r.text
    # The refusal of the revoked token is the token's, not the user's: a fresh token works.
    fresh = create_token(CONFIG, f"revoked-{RUN}", ["read:tap", "read:image"], groups=["demo-team"])
    n = counts(tap(with_bearer(fresh)).search(COUNTS))
    assert n[COLLECTION] == 2


def test_a_consdb_write_without_write_consdb_is_403_with_a_detail_and_changes_nothing():
    reader = create_token(CONFIG, f"reader-{RUN}", ["read:tap"])
    (exposure_id, day_obs, seq_num, airmass), = requests.post(
        f"{BASE}/consdb/query",
        json={"query": "SELECT TOP 1 exposure_id, day_obs, seq_num, airmass FROM cdb_latiss.exposure ORDER BY exposure_id DESC"},
        headers=bearer(reader),
        timeout=60,
    ).json()["data"]
    url = f"{BASE}/consdb/insert/latiss/exposure/by_seq_num/{day_obs}/{seq_num}?u=1"
    body = {"values": {"airmass": round(airmass + 1.0, 3)}}
    r = requests.post(url, json=body, headers=bearer(reader), timeout=60)
    assert r.status_code == 403
    assert r.headers["Content-Type"].startswith("application/json")
    assert "write:consdb" in r.json()["detail"]
    # Without credentials: 401, with the challenges, and also a JSON detail.
    r = requests.post(url, json=body, timeout=60)
    assert r.status_code == 401
    assert "write:consdb" in r.json()["detail"]
    assert 'Bearer realm="skyport"' in r.headers["WWW-Authenticate"]
    after = requests.get(f"{BASE}/consdb/query/latiss/exposure/obs/{exposure_id}", headers=bearer(reader), timeout=60)
    assert after.status_code == 200
    assert abs(after.json()["airmass"] - airmass) < 1e-9, "a refused write changed the row"


# --- quotas


def test_the_throttled_group_is_refused_with_retry_after_and_pyvo_says_so(public):
    """Five requests a minute to a service (GCRA: a burst of five, then one each 12 s). pyvo
    raises DALRateLimitError, with Retry-After, on sync queries and on the UWS calls of async
    TAP alike."""
    token = create_token(CONFIG, f"throttled-{RUN}", ["read:tap", "read:image"], groups=["demo-throttled"])
    auth = with_bearer(token)
    service = tap(auth)  # the capabilities are an open door, not counted
    query = "SELECT COUNT(*) AS n FROM ivoa.ObsCore"
    started = time.monotonic()
    # The first through the session itself, to see the counting headers.
    first = auth.get(BASE + "/tap/sync", params={"LANG": "ADQL", "QUERY": query, "FORMAT": "csv"}, timeout=60)
    assert first.status_code == 200 and first.text.split() == ["n", str(len(public))]
    assert first.headers["X-RateLimit-Limit"] == "5"
    assert first.headers["X-RateLimit-Remaining"] == "4"
    done = 1
    with pytest.raises(DALRateLimitError) as caught:
        for _ in range(20):
            result = service.run_sync(query)
            assert int(result.to_table()["n"][0]) == len(public)
            done += 1
    elapsed = time.monotonic() - started
    assert 5 <= done <= 5 + int(elapsed // 12), (done, elapsed)
    assert caught.value.code == 429
    assert caught.value.retry_after_seconds is not None and 1 <= caught.value.retry_after_seconds <= 60
    # Async TAP: refused at the job's creation, as DALRateLimitError with the wait.
    with pytest.raises(DALRateLimitError) as caught:
        service.submit_job(query)
    e = caught.value
    assert e.code == 429
    assert e.retry_after_seconds is not None and 1 <= e.retry_after_seconds <= 60
    headers = e.cause.response.headers
    assert headers["Retry-After"] == str(e.retry_after_seconds)
    assert headers["X-RateLimit-Limit"] == "5" and headers["X-RateLimit-Remaining"] == "0"
    # The sync refusal on the wire: 429, Retry-After, and a plain-text message saying why.
    r = auth.get(BASE + "/tap/sync", params={"LANG": "ADQL", "QUERY": query}, timeout=60)
    assert r.status_code == 429
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert r.headers["X-RateLimit-Remaining"] == "0"
    assert r.headers["Content-Type"].startswith("text/plain")
    assert "over the limit of 5 requests per minute" in r.text
    # Each service has its own count: SIA still answers this caller, with content.
    sia = pyvo.dal.SIA2Service(BASE + "/sia", session=auth)
    assert len(sia.search(maxrec=1000)) == len(public)
