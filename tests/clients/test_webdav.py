"""Users' own files over WebDAV, driven by real clients against the demo archive: `curl -T`
uploads, `requests` for the other WebDAV methods, the multistatus answers read with Python's
own XML parser, a served FITS image stored in a user's tree and read back with astropy.
Sharing with a group, read-only; the demo's quota (64 MiB a user) refusing an upload.

Users are made per run (a random suffix), so the test can run again on the same demo.
"""
import io
import os
import subprocess
import uuid
import xml.etree.ElementTree as ET
from urllib.parse import unquote

import requests
from astropy.io import fits
from pyvo.dal.adhoc import DatalinkResults

import skyport_auth

BASE = os.environ["SKYPORT_URL"].rstrip("/")
DAV = "{DAV:}"
DEMO_QUOTA = 64 << 20


def user(name, groups=()):
    """A fresh user `name-<random>` with write:files, and their request headers."""
    who = f"{name}-{uuid.uuid4().hex[:8]}"
    token = skyport_auth.create_token(skyport_auth.demo_config(), who, ["write:files", "read:image"], groups)
    return who, skyport_auth.bearer(token), token


def curl_put(token, url, path):
    """`curl -T path url` with the token; the HTTP status."""
    r = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", f"Authorization: Bearer {token}",
         "-T", str(path), url],
        capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return int(r.stdout)


def listing(headers, url, depth="1", body=None):
    """PROPFIND `url`: {decoded href: {property name: text}}."""
    r = requests.request("PROPFIND", url, headers={**headers, "Depth": depth}, data=body)
    assert r.status_code == 207, (r.status_code, r.text)
    out = {}
    for response in ET.fromstring(r.content).iter(f"{DAV}response"):
        href = unquote(response.find(f"{DAV}href").text)
        props = {}
        for prop in response.iter(f"{DAV}prop"):
            for p in prop:
                props[p.tag.replace(DAV, "")] = p.text
        out[href] = props
    return out


def test_files_are_uploaded_listed_read_moved_and_deleted(tmp_path):
    who, headers, token = user("astro")
    top = f"{BASE}/webdav/{who}"
    # A real image of the archive, kept in the user's own tree.
    r = requests.get(f"{BASE}/tap/sync", params={
        "LANG": "ADQL", "FORMAT": "csv",
        "QUERY": "SELECT TOP 1 access_url FROM ivoa.ObsCore WHERE obs_collection = 'pypi-real' "
                 "ORDER BY obs_id"})
    assert r.status_code == 200, r.text
    links = DatalinkResults.from_result_url(r.text.splitlines()[1].strip().strip('"'))
    image = requests.get(next(link for link in links if link.semantics == "#this").access_url)
    assert image.status_code == 200
    local = tmp_path / "image.fits"
    local.write_bytes(image.content)

    assert requests.request("MKCOL", f"{top}/images/", headers=headers).status_code == 201
    assert curl_put(token, f"{top}/images/m13.fits", local) == 201
    notes = tmp_path / "notes.txt"
    notes.write_text("seeing 0.7 arcsec\n")
    assert curl_put(token, f"{top}/notes.txt", notes) == 201

    listed = listing(headers, f"{top}/")
    assert set(listed) == {f"/webdav/{who}/", f"/webdav/{who}/images/", f"/webdav/{who}/notes.txt"}
    assert int(listed[f"/webdav/{who}/notes.txt"]["getcontentlength"]) == notes.stat().st_size
    inner = listing(headers, f"{top}/images/")
    assert int(inner[f"/webdav/{who}/images/m13.fits"]["getcontentlength"]) == len(image.content)

    # Read back whole: the same bytes, a FITS file astropy opens with the same header.
    back = requests.get(f"{top}/images/m13.fits", headers=headers)
    assert back.status_code == 200 and back.content == image.content
    with fits.open(io.BytesIO(back.content)) as a, fits.open(local) as b:
        assert a[0].header == b[0].header
    # A range: the second FITS block.
    part = requests.get(f"{top}/images/m13.fits", headers={**headers, "Range": "bytes=2880-5759"})
    assert part.status_code == 206 and part.content == image.content[2880:5760]

    # Move, copy, delete.
    r = requests.request("MOVE", f"{top}/notes.txt",
                         headers={**headers, "Destination": f"{top}/images/notes.txt"})
    assert r.status_code == 201, r.text
    r = requests.request("COPY", f"{top}/images/notes.txt",
                         headers={**headers, "Destination": f"{top}/copy.txt"})
    assert r.status_code == 201, r.text
    assert requests.get(f"{top}/copy.txt", headers=headers).text == "seeing 0.7 arcsec\n"
    assert requests.get(f"{top}/notes.txt", headers=headers).status_code == 404
    assert requests.delete(f"{top}/images/", headers=headers).status_code == 204
    assert set(listing(headers, f"{top}/")) == {f"/webdav/{who}/", f"/webdav/{who}/copy.txt"}

    # Without credentials: asked for them.
    r = requests.get(f"{top}/copy.txt")
    assert r.status_code == 401 and "WWW-Authenticate" in r.headers


def test_a_share_is_read_by_its_group_and_by_nobody_else(tmp_path):
    group = f"team-{uuid.uuid4().hex[:8]}"
    owner, owner_h, owner_t = user("owner", [group])
    member, member_h, _ = user("member", [group])
    stranger, stranger_h, _ = user("stranger")
    top = f"{BASE}/webdav/{owner}"
    for d in ("public", "private"):
        assert requests.request("MKCOL", f"{top}/{d}/", headers=owner_h).status_code == 201
    for d in ("public", "private"):
        f = tmp_path / f"{d}.txt"
        f.write_text(f"{d} notes\n")
        assert curl_put(owner_t, f"{top}/{d}/notes.txt", f) == 201

    r = requests.put(f"{BASE}/workspace/{owner}/shares", headers=owner_h,
                     json=[{"path": "/public", "group": group, "access": "read"}])
    assert r.status_code == 200, r.text
    assert r.json() == [{"path": "/public", "group": group, "access": "read"}]

    assert requests.get(f"{top}/public/notes.txt", headers=member_h).text == "public notes\n"
    assert set(listing(member_h, f"{top}/public/")) == {
        f"/webdav/{owner}/public/", f"/webdav/{owner}/public/notes.txt"}
    absent = requests.get(f"{BASE}/webdav/{owner}-gone/public/notes.txt", headers=member_h)
    assert absent.status_code == 404
    for url in (f"{top}/private/notes.txt", f"{top}/", f"{top}/public/../private/notes.txt"):
        r = requests.get(url, headers=member_h)
        assert (r.status_code, r.text) == (404, absent.text), url
    r = subprocess.run(["curl", "-s", "--path-as-is", "-H", f"Authorization: {member_h['Authorization']}",
                        f"{top}/public/%2e%2e/private/notes.txt"], capture_output=True, text=True, timeout=60)
    assert "private notes" not in r.stdout
    # Read-only for the member.
    r = requests.put(f"{top}/public/mine.txt", headers=member_h, data=b"x")
    assert r.status_code == 403, r.text
    assert requests.delete(f"{top}/public/notes.txt", headers=member_h).status_code == 403
    # Nothing for someone outside the group.
    r = requests.get(f"{top}/public/notes.txt", headers=stranger_h)
    assert (r.status_code, r.text) == (404, absent.text)
    # Nor may the member read or change the owner's shares.
    assert requests.get(f"{BASE}/workspace/{owner}/shares", headers=member_h).status_code == 404
    # Shares said wrong are refused with a reason.
    r = requests.put(f"{BASE}/workspace/{owner}/shares", headers=owner_h,
                     json=[{"path": "/a/../../x", "group": group, "access": "read"}])
    assert r.status_code == 400 and ".." in r.text


def test_the_quota_refuses_an_upload_and_keeps_the_tree(tmp_path):
    who, headers, token = user("big")
    top = f"{BASE}/webdav/{who}"
    small = tmp_path / "small.bin"
    small.write_bytes(os.urandom(100_000))
    assert curl_put(token, f"{top}/small.bin", small) == 201
    huge = tmp_path / "huge.bin"
    with open(huge, "wb") as f:
        f.truncate(DEMO_QUOTA)  # sparse: 64 MiB of zeros without writing them
    assert curl_put(token, f"{top}/huge.bin", huge) == 507
    assert requests.get(f"{top}/huge.bin", headers=headers).status_code == 404
    # RFC 4331's properties say what is used and what is left.
    props = listing(headers, f"{top}/", depth="0", body=(
        '<?xml version="1.0"?><propfind xmlns="DAV:"><prop>'
        '<quota-used-bytes/><quota-available-bytes/></prop></propfind>'))[f"/webdav/{who}/"]
    assert int(props["quota-used-bytes"]) == 100_000
    assert int(props["quota-available-bytes"]) == DEMO_QUOTA - 100_000
    summary = requests.get(f"{BASE}/workspace/{who}", headers=headers).json()
    assert summary["usage"]["bytes"] == 100_000 and summary["usage"]["quota_bytes"] == DEMO_QUOTA
    # The administrator's view.
    r = subprocess.run([skyport_auth.BIN, "workspace", "list", "--config", str(skyport_auth.demo_config())],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    line = next(l for l in r.stdout.splitlines() if l.startswith(who + "\t"))
    assert f"100000 bytes of {DEMO_QUOTA}" in line


def _run_job(url, headers, params):
    """Creates and runs an async job; its URL and its final document."""
    r = requests.post(url, data={**params, "PHASE": "RUN"}, headers=headers, allow_redirects=False)
    assert r.status_code == 303, (r.status_code, r.text)
    job = r.headers["Location"]
    for _ in range(60):
        doc = requests.get(job, params={"WAIT": 5}, headers=headers).text
        if any(f"<uws:phase>{p}</uws:phase>" in doc for p in ("COMPLETED", "ERROR", "ABORTED")):
            return job, doc
    raise AssertionError(f"job {job} did not end")


def test_async_results_are_delivered_to_the_users_files():
    who, headers, _ = user("jobs")
    headers_tap = skyport_auth.bearer(skyport_auth.create_token(
        skyport_auth.demo_config(), who, ["write:files", "read:tap", "read:image"]))
    # A TAP query's result.
    job, doc = _run_job(f"{BASE}/tap/async", headers_tap, {
        "LANG": "ADQL", "QUERY": "SELECT obs_id, s_ra, s_dec FROM ivoa.ObsCore WHERE obs_collection = 'pypi-real'",
        "DEST": f"{BASE}/webdav/{who}/queries/real.xml"})
    assert "<uws:phase>COMPLETED</uws:phase>" in doc, doc
    at_job = requests.get(f"{job}/results/result", headers=headers_tap).content
    kept = requests.get(f"{BASE}/webdav/{who}/queries/real.xml", headers=headers)
    assert kept.status_code == 200 and kept.content == at_job

    # A SODA cutout of a real image, around its own centre.
    r = requests.get(f"{BASE}/tap/sync", params={
        "LANG": "ADQL", "FORMAT": "csv",
        "QUERY": "SELECT obs_publisher_did, s_ra, s_dec FROM ivoa.ObsCore "
                 "WHERE obs_publisher_did = 'ivo://skyport.demo/pypi-real?pypi_astropy/comp'"})
    did, ra, dec = r.text.splitlines()[1].split(",")
    job, doc = _run_job(f"{BASE}/soda/async", headers_tap, {
        "ID": did, "CIRCLE": f"{ra} {dec} 0.01", "DEST": f"/webdav/{who}/cutouts/"})
    assert "<uws:phase>COMPLETED</uws:phase>" in doc, doc
    job_id = job.rstrip("/").rsplit("/", 1)[1]
    listed = listing(headers, f"{BASE}/webdav/{who}/cutouts/")
    kept = [h for h in listed if h.startswith(f"/webdav/{who}/cutouts/{job_id}-")]
    assert len(kept) == 1, listed
    cutout = requests.get(f"{BASE}{kept[0]}", headers=headers).content
    results = ET.fromstring(requests.get(f"{job}/results", headers=headers_tap).content)
    hrefs = [r.get("{http://www.w3.org/1999/xlink}href") for r in results]
    assert len(hrefs) == 1, hrefs
    assert requests.get(hrefs[0], headers=headers_tap).content == cutout
    with fits.open(io.BytesIO(cutout)) as hdus:
        image = next(h for h in hdus if h.data is not None)
        assert 0 < image.data.size < 100_000
