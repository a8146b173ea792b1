"""Images in an object store, with a real S3-protocol server on loopback (moto's `moto_server`,
started here): the demo's LSST and proprietary images are copied to a bucket, ingested from it
by `skyport ingest s3://…`, and served by skyport processes beside the running demo, which serves
the same images from local files.

- Cutouts, previews, whole files, byte ranges and planes are the same bytes from either.
- A 100×100 cutout of a RICE-tiled 4096² image reads its header, its tile index and the tiles it
  touches (the store's counters, in /metrics), not the file.
- Pre-signed links: a member is redirected to one and downloads the image; the link is signed
  for two seconds (moto does not enforce the expiry: the signature and its time are checked
  here); a caller who may not read the pixels never receives one.
- Faults: an object that vanished or was truncated is a clear error for that image; ingest from
  an unreachable store fails with a message, without hanging; the credentials appear nowhere.
- On PostgreSQL, three servers on one database and one bucket answer alike: sync queries,
  async jobs made on one and read on another, cutouts and previews.
"""
import datetime
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import boto3
import numpy as np
import pytest
from astropy.io import fits

import skyport_auth
from demo_server import free_port

DEMO = Path(os.environ["SKYPORT_DEMO_DIR"])
LOCAL = os.environ["SKYPORT_URL"]
BIN = os.environ["SKYPORT_BIN"]
DETECTOR = os.environ["SKYPORT_DEMO_DETECTOR"]
BACKEND = os.environ.get("SKYPORT_BACKEND", "sqlite")
PG_URL = os.environ.get("SKYPORT_PG_URL", "")
BUCKET = "skyport-test"
SECRET = "s3cr3t-never-logged"
ENV = dict(
    os.environ,
    AWS_ACCESS_KEY_ID="AKIATESTSKYPORT",
    AWS_SECRET_ACCESS_KEY=SECRET,
    AWS_DEFAULT_REGION="us-east-1",
)
DID_LSST = "ivo://skyport.demo/LSSTCam-demo?" + DETECTOR[: -len(".fits")]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def fetch(url, headers=None, follow=True):
    """(status, headers with lower-case names, body) of a GET."""
    opener = urllib.request.build_opener() if follow else urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with opener.open(request, timeout=60) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def wait_for(url, proc, log):
    for _ in range(600):
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if proc.poll() is not None:
                raise AssertionError(f"exited: {Path(log).read_text()}")
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer")


def rice_image(path):
    """A 4096×4096 32-bit integer image, RICE-compressed a row per tile (astropy's default),
    with a TAN WCS."""
    rng = np.random.default_rng(7)
    data = rng.poisson(1000, size=(4096, 4096)).astype(np.int32)
    header = fits.Header()
    for key, value in {
        "CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRPIX1": 2048.5, "CRPIX2": 2048.5,
        "CRVAL1": 150.0, "CRVAL2": 2.0, "CD1_1": -0.2 / 3600, "CD1_2": 0.0, "CD2_1": 0.0,
        "CD2_2": 0.2 / 3600, "DATE-OBS": "2025-12-01T03:00:00", "EXPTIME": 30.0, "FILTER": "r",
    }.items():
        header[key] = value
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data, header, compression_type="RICE_1")]).writeto(path)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """The S3 endpoint and a client of it, with the demo's images and a large RICE image in a
    bucket."""
    work = tmp_path_factory.mktemp("s3")
    port = free_port()
    moto = Path(sys.executable).parent / "moto_server"
    log = work / "moto.log"
    proc = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(port)], stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    wait_for(endpoint + "/", proc, log)
    s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ENV["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=SECRET, region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    for root in ["lsst", "proprietary"]:
        base = DEMO / "data" / root
        for path in sorted(base.rglob("*.fits")):
            s3.upload_file(str(path), BUCKET, f"archive/{root}/{path.relative_to(base).as_posix()}")
    big = work / "rice4096.fits"
    rice_image(big)
    s3.upload_file(str(big), BUCKET, "big/rice4096.fits")
    yield {"endpoint": endpoint, "s3": s3, "big": big, "work": work}
    proc.terminate()
    proc.wait(timeout=10)


def config_text(endpoint, database, listen, links, read_only=False, jobs="jobs", extra=""):
    demo = (DEMO / "skyport.toml").read_text()
    templates = re.search(r"\[archive\.roots\.obscore\]\n(.*?)\n\n", demo, re.S).group(1)
    return f"""
[server]
listen = "{listen}"
title = "skyport on an object store"

[database]
{database}
read_only = {"true" if read_only else "false"}
jobs = "{jobs}"

[archive]
authority = "skyport.demo"
obscore = "{DEMO / 'rubin_ivoa_obscore.yaml'}"

[[archive.roots]]
name = "lsst"
url = "s3://{BUCKET}/archive/lsst"
collection = "LSSTCam-demo"
calib_level = 2
instrument = "lsstcam"

[archive.roots.obscore]
{templates}

[[archive.roots]]
name = "proprietary"
url = "s3://{BUCKET}/archive/proprietary/"
collection = "demo-proprietary"
calib_level = 2
groups = ["demo-team"]
release_date = "2099-01-01T00:00:00"

[[archive.roots]]
name = "big"
url = "s3://{BUCKET}/big"
collection = "s3-big"

# The demo's other images stay on disk: one archive of both kinds.
[[archive.roots]]
name = "real"
path = "{DEMO / 'data' / 'real'}"
collection = "pypi-real"
calib_level = 2

[hips]
after_ingest = false

[auth]
mode = "open"

[auth.scopes.group_scopes]
demo-team = ["read:tap", "read:image"]

[object_store]
endpoint = "{endpoint}"
allow_http = true
links = "{links}"
link_seconds = 2
meta_seconds = 1
timeout_seconds = 5
retries = 1
{extra}
"""


def skyport(*args, env=ENV, timeout=300):
    return subprocess.run([BIN, *args], capture_output=True, text=True, env=env, timeout=timeout)


@pytest.fixture(scope="module")
def archive(store):
    """Servers of the bucket: `signed` (links pre-signed) and `proxy` (bytes passed on), and on
    PostgreSQL a third; all on one database."""
    work = store["work"]
    if BACKEND == "postgres":
        name = f"skyport_s3_{os.getpid()}"
        admin = PG_URL.rsplit("/", 1)[0] + "/postgres"
        subprocess.run(["psql", "-q", admin, "-c", f"CREATE DATABASE {name} TEMPLATE skyport"], check=True)
        database = f'url = "{PG_URL.rsplit("/", 1)[0]}/{name}"'
    else:
        database = 'sqlite = "archive.sqlite"'
    names = ["signed", "proxy"] + (["third"] if BACKEND == "postgres" else [])
    configs = {}
    for i, n in enumerate(names):
        d = work / n
        d.mkdir()
        # One database; on SQLite the second server reads the first's file, as a replica would.
        db = database if BACKEND == "postgres" else f'sqlite = "{work / "signed" / "archive.sqlite"}"'
        port = free_port()
        links = "signed" if n == "signed" else "proxy"
        # Async jobs' results are files on a volume every server mounts (docs/deploy.md).
        # The proxy server keeps 1 MiB of blocks in memory and 64 MiB on disk below it.
        extra = "cache_mb = 1\ndisk_cache_mb = 64" if n == "proxy" else ""
        (d / "skyport.toml").write_text(config_text(store["endpoint"], db, f"127.0.0.1:{port}", links, read_only=(i > 0 and BACKEND != "postgres"), jobs=work / "jobs", extra=extra))
        configs[n] = (d / "skyport.toml", f"http://127.0.0.1:{port}")
    first = configs["signed"][0]
    r = skyport("ingest", "--config", str(first), f"s3://{BUCKET}/archive/lsst", f"s3://{BUCKET}/archive/proprietary", str(DEMO / "data" / "real"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 failed" in r.stdout, r.stdout
    assert SECRET not in r.stdout + r.stderr
    procs = []
    for n, (config, url) in configs.items():
        log = config.parent / "server.log"
        proc = subprocess.Popen([BIN, "serve", "--config", str(config)], stdout=open(log, "wb"), stderr=subprocess.STDOUT, env=ENV)
        procs.append((proc, log))
        wait_for(url + "/tap/availability", proc, log)
    yield {n: url for n, (_, url) in configs.items()} | {"config": first, "logs": [log for _, log in procs]}
    for proc, _ in procs:
        proc.terminate()
        proc.wait(timeout=20)
    for _, log in procs:
        assert SECRET not in log.read_text(errors="replace"), "a secret in a server's log"


def links(document, base):
    """The (semantics, URL below `base`, content length) of a DataLink document's links to the
    image itself: its file, previews and planes."""
    from astropy.io.votable import parse_single_table
    import io
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = parse_single_table(io.BytesIO(document)).to_table()
    return {
        (str(r["semantics"]), str(r["access_url"]).replace(base, ""), str(r["content_length"]))
        for r in t
        if str(r["access_url"]).startswith(base + "/files/") or str(r["access_url"]).startswith(base + "/previews/")
    }


def signed_for(link):
    """When the pre-signed `link` was made and for how many seconds, after checking its
    signature as AWS Signature Version 4 defines it for query-string authentication."""
    import hmac
    url = urllib.parse.urlsplit(link)
    query = urllib.parse.parse_qsl(url.query, keep_blank_values=True)
    params = dict(query)
    assert params["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert params["X-Amz-Credential"].startswith(ENV["AWS_ACCESS_KEY_ID"] + "/")
    scope = params["X-Amz-Credential"].split("/", 1)[1]
    date, region, service, _ = scope.split("/")
    quote = lambda v: urllib.parse.quote(v, safe="-_.~")
    canonical_query = "&".join(f"{quote(k)}={quote(v)}" for k, v in sorted(query) if k != "X-Amz-Signature")
    signed_headers = params["X-Amz-SignedHeaders"]
    assert signed_headers == "host", signed_headers
    canonical = "\n".join(["GET", url.path, canonical_query, f"host:{url.netloc}", "", "host", "UNSIGNED-PAYLOAD"])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", params["X-Amz-Date"], scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + SECRET).encode()
    for part in [date, region, service, "aws4_request"]:
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    assert hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest() == params["X-Amz-Signature"]
    made = datetime.datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    return made, int(params["X-Amz-Expires"])


def counters(base):
    text = fetch(base + "/metrics")[2].decode()
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^skyport_object_store_(\w+) (\d+)$", text, re.M)}


def soda(base, did, shape, headers=None):
    return fetch(f"{base}/soda/sync?ID={urllib.parse.quote(did)}&{shape}", headers)


def test_every_image_product_is_the_same_bytes_from_the_bucket_as_from_disk(archive):
    rel = DETECTOR
    for base in [archive["proxy"], archive["signed"]] + ([archive["third"]] if "third" in archive else []):
        for path in [
            f"/soda/sync?ID={urllib.parse.quote(DID_LSST)}&CIRCLE=53.52%20-28.18%200.01",
            f"/soda/sync?ID={urllib.parse.quote(DID_LSST)}&POLYGON=53.50%20-28.20%2053.54%20-28.20%2053.52%20-28.16",
            f"/previews/lsst/{rel}",
            f"/files/lsst/{rel}",
            f"/files/lsst/{rel}?hdu=2",
            f"/datalink/links?ID={urllib.parse.quote(DID_LSST)}",
        ]:
            here = fetch(LOCAL + path)
            there = fetch(base + path)
            assert here[0] == 200, (path, here[2][:300])
            assert there[0] == 200, (base, path, there[2][:300])
            if path.startswith("/datalink"):
                # The image's own links (#this, previews, planes) are the same, each under its
                # own server's URL (the demo has HiPS and ConsDB links besides).
                assert links(there[2], base) <= links(here[2], LOCAL) and len(links(there[2], base)) >= 3
            else:
                assert hashlib.sha256(there[2]).hexdigest() == hashlib.sha256(here[2]).hexdigest(), (base, path)
    # Byte ranges, passed on by the proxy and by the store behind a pre-signed link.
    for base in [archive["proxy"], archive["signed"]]:
        for spec in ["bytes=0-2879", "bytes=5000-", "bytes=-100"]:
            here = fetch(f"{LOCAL}/files/lsst/{rel}", {"Range": spec})
            there = fetch(f"{base}/files/lsst/{rel}", {"Range": spec})
            assert (there[0], there[2]) == (206, here[2]), (base, spec, there[0])


def test_the_soda_sia_and_datalink_suites_pass_on_the_bucket(archive):
    """The client suites of SODA, SIA and DataLink, run again against the server whose LSST and
    proprietary images are objects. Left out: the visit links, which need the demo's ConsDB
    rows (made from headers on disk by `skyport consdb ingest-headers`, not part of this
    archive)."""
    here = Path(__file__).parent
    env = dict(ENV, SKYPORT_URL=archive["signed"], PYTHONDONTWRITEBYTECODE="1")
    env.pop("SKYPORT_SERVER_PID", None)
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "ignore",
         str(here / "test_soda.py"), str(here / "test_sia_datalink.py"),
         "-k", "not visit_all_its_detector_images"],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert " passed" in r.stdout and " failed" not in r.stdout, r.stdout[-2000:]


def test_a_small_cutout_of_a_large_rice_image_reads_only_the_tiles_it_touches(archive, store):
    base = archive["proxy"]
    # What the file holds where, found by astropy: the compressed HDU's header and tile index
    # (the binary table without its heap), and the bytes of each row's tile.
    with fits.open(store["big"], disable_image_compression=True) as hdul:
        table = hdul[1]
        index_end = table._data_offset + table.header["NAXIS1"] * table.header["NAXIS2"]
        tiles = [len(t) for t in table.data["COMPRESSED_DATA"]]
    size = store["big"].stat().st_size
    # Ingested here, after the suites above, which expect the demo's collections alone.
    r = skyport("ingest", "--config", str(archive["config"]), f"s3://{BUCKET}/big/")
    assert r.returncode == 0 and "1 new" in r.stdout, r.stdout + r.stderr
    before = counters(base)
    # 0.2"/px: a 10" radius circle at the centre is a 100×100 pixel box.
    did = "ivo://skyport.demo/s3-big?rice4096"
    status, headers, body = soda(base, did, "CIRCLE=150.0%202.0%200.002777")
    assert status == 200, body[:300]
    after = counters(base)
    with fits.open(__import__("io").BytesIO(body)) as cut:
        image = [h for h in cut if h.data is not None][0]
        ny, nx = image.data.shape
        y0 = int(round(-image.header.get("LTV2", 0)))
    assert 95 <= nx <= 110 and 95 <= ny <= 110, (nx, ny)
    touched = sum(tiles[y0:y0 + ny])
    block = 64 << 10
    read = after["range_bytes_total"] - before["range_bytes_total"]
    # Header and tile index (from the file's start), the touched tiles, a block of rounding at
    # each end of each of the two runs, and the read-ahead of a sequential run (4 blocks).
    bound = index_end + touched + 8 * block
    assert read <= bound, f"read {read} bytes, at most {bound} expected (file {size})"
    assert read < size / 10, (read, size)
    # The same cutout again comes from the block cache.
    again = soda(base, did, "CIRCLE=150.0%202.0%200.002777")
    assert again[2] == body
    assert counters(base)["range_bytes_total"] == after["range_bytes_total"]
    # Cutouts elsewhere push its blocks out of the 1 MiB memory cache; it comes back from the
    # disk cache, with no request to the store.
    for dec in [1.95, 1.97, 2.03, 2.05]:
        assert soda(base, did, f"CIRCLE=150.0%20{dec}%200.002777")[0] == 200
    held = counters(base)
    third = soda(base, did, "CIRCLE=150.0%202.0%200.002777")
    assert third[2] == body
    last = counters(base)
    assert last["range_bytes_total"] == held["range_bytes_total"]
    assert last["disk_hits_total"] > held["disk_hits_total"]
    # The pixels are the file's (astropy reads the same box).
    with fits.open(store["big"]) as original:
        x0 = int(round(-image.header.get("LTV1", 0)))
        assert np.array_equal(original[1].data[y0:y0 + ny, x0:x0 + nx], image.data)


def test_signed_links_reach_members_only_and_expire(archive):
    base = archive["signed"]
    rel = sorted((DEMO / "data" / "proprietary").rglob("*.fits"))[0].relative_to(DEMO / "data" / "proprietary").as_posix()
    url = f"{base}/files/proprietary/{rel}"
    member = skyport_auth.create_token(archive["config"], "alice", ["read:tap", "read:image"], ["demo-team"])
    outsider = skyport_auth.create_token(archive["config"], "bob", ["read:tap", "read:image"])
    status, headers, _ = fetch(url, skyport_auth.bearer(member), follow=False)
    assert status == 307, status
    link = headers["location"]
    assert "X-Amz-Signature=" in link and "X-Amz-Expires=2" in link, link
    assert SECRET not in link
    status, _, body = fetch(link)
    assert status == 200 and body == (DEMO / "data" / "proprietary" / rel).read_bytes()
    # A caller without the rights gets no link: the image is as absent as one never ingested.
    for headers in [{}, skyport_auth.bearer(outsider)]:
        status, h, body = fetch(url, headers, follow=False)
        assert status in (401, 403, 404), status
        assert "location" not in h and b"X-Amz" not in body
    # The link expires two seconds after it was made, and its signature is a valid SigV4 one
    # for our credentials. moto serves pre-signed URLs without checking either, so both are
    # checked here, the signature derived again from the AWS Signature Version 4 rules.
    made, expires = signed_for(link)
    assert expires == 2
    assert abs((made - datetime.datetime.now(datetime.timezone.utc)).total_seconds()) < 60


def test_a_vanished_or_truncated_object_is_a_clear_error_for_that_image(archive, store):
    s3 = store["s3"]
    base = archive["proxy"]
    others = sorted((DEMO / "data" / "lsst").rglob("*.fits"))
    victim = others[-1].relative_to(DEMO / "data" / "lsst").as_posix()
    key = f"archive/lsst/{victim}"
    original = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    try:
        s3.put_object(Bucket=BUCKET, Key=key, Body=original[: len(original) // 3])
        time.sleep(1.5)  # the server believes an object's size for a second (meta_seconds)
        status, _, body = fetch(f"{base}/previews/lsst/{victim}")
        # A damaged archive is the server's fault (500), said as it is.
        assert status == 500 and b"truncated" in body, (status, body[:400])
        assert SECRET.encode() not in body
        s3.delete_object(Bucket=BUCKET, Key=key)
        time.sleep(1.5)
        status, _, body = fetch(f"{base}/files/lsst/{victim}")
        assert status == 404, (status, body[:300])
        status, _, body = fetch(f"{base}/previews/lsst/{victim}")
        assert status == 500 and b"cannot" in body, (status, body[:400])
        # The other images are served as before.
        assert fetch(f"{base}/previews/lsst/{DETECTOR}")[0] == 200
    finally:
        s3.put_object(Bucket=BUCKET, Key=key, Body=original)


def test_ingest_from_an_unreachable_store_fails_clearly_and_quickly(archive, tmp_path):
    text = archive["config"].read_text()
    dead = re.sub(r'endpoint = "[^"]+"', f'endpoint = "http://127.0.0.1:{free_port()}"', text)
    dead = dead.replace('sqlite = "', 'sqlite = "').replace("read_only = false", "read_only = false")
    config = tmp_path / "skyport.toml"
    config.write_text(re.sub(r'(sqlite|url) = "[^"]+"', 'sqlite = "dead.sqlite"', dead, count=1))
    started = time.monotonic()
    r = skyport("ingest", "--config", str(config), f"s3://{BUCKET}/archive/lsst", timeout=120)
    took = time.monotonic() - started
    assert r.returncode != 0
    assert "s3://" in r.stdout + r.stderr and "failed" in (r.stdout + r.stderr).lower(), r.stdout + r.stderr
    assert SECRET not in r.stdout + r.stderr
    assert took < 60, took


def test_servers_on_one_database_and_one_bucket_answer_alike(archive):
    if "third" not in archive:
        pytest.skip("three servers share a PostgreSQL database (the PostgreSQL run)")
    servers = [archive["signed"], archive["proxy"], archive["third"]]
    query = urllib.parse.quote("SELECT obs_publisher_did, s_ra, s_dec FROM ivoa.ObsCore ORDER BY obs_publisher_did")
    answers = {fetch(f"{s}/tap/sync?LANG=ADQL&FORMAT=csv&QUERY={query}")[2] for s in servers}
    assert len(answers) == 1
    # An async job made on one is read on the others.
    data = urllib.parse.urlencode({"LANG": "ADQL", "QUERY": "SELECT COUNT(*) AS n FROM ivoa.ObsCore", "PHASE": "RUN"}).encode()
    request = urllib.request.Request(servers[0] + "/tap/async", data=data)
    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(request, timeout=30)
        raise AssertionError("no redirect")
    except urllib.error.HTTPError as e:
        assert e.code == 303
        job = e.headers["Location"].rsplit("/", 1)[1]
    for _ in range(200):
        if fetch(f"{servers[1]}/tap/async/{job}/phase")[2].strip() == b"COMPLETED":
            break
        time.sleep(0.1)
    results = {fetch(f"{s}/tap/async/{job}/results/result")[2] for s in servers}
    assert len(results) == 1 and b"<TD>" in next(iter(results))
    cut = f"/soda/sync?ID={urllib.parse.quote(DID_LSST)}&CIRCLE=53.52%20-28.18%200.01"
    assert len({fetch(s + cut)[2] for s in servers}) == 1
    assert len({fetch(f"{s}/previews/lsst/{DETECTOR}")[2] for s in servers}) == 1


def test_wrong_credentials_are_a_clear_error_and_never_shown(tmp_path):
    """moto checks signatures only with its IAM authentication on (`INITIAL_NO_AUTH_ACTION_COUNT`:
    the first four requests, which make a user, its key and its policy, go unchecked): then a request signed with
    a key it does not know is refused, and one signed with the user's key is served."""
    port = free_port()
    moto = Path(sys.executable).parent / "moto_server"
    log = tmp_path / "moto.log"
    proc = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(port)], stdout=open(log, "wb"),
                            stderr=subprocess.STDOUT, env=dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="4"))
    try:
        endpoint = f"http://127.0.0.1:{port}"
        wait_for(endpoint + "/", proc, log)
        iam = boto3.client("iam", endpoint_url=endpoint, aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1")
        iam.create_user(UserName="archive")
        key = iam.create_access_key(UserName="archive")["AccessKey"]
        iam.put_user_policy(UserName="archive", PolicyName="all", PolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}')
        s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key["AccessKeyId"],
                          aws_secret_access_key=key["SecretAccessKey"], region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        s3.upload_file(str(DEMO / "data" / "lsst" / DETECTOR), BUCKET, f"archive/lsst/{DETECTOR}")
        config = tmp_path / "skyport.toml"
        config.write_text(config_text(endpoint, 'sqlite = "archive.sqlite"', "127.0.0.1:1", "signed"))
        wrong = dict(ENV, AWS_ACCESS_KEY_ID="AKIAWRONGWRONGWRONG", AWS_SECRET_ACCESS_KEY=SECRET)
        started = time.monotonic()
        r = skyport("ingest", "--config", str(config), f"s3://{BUCKET}/archive/lsst", env=wrong)
        out = r.stdout + r.stderr
        assert r.returncode == 2 and f"s3://{BUCKET}/archive/lsst" in out, out
        assert re.search(r"InvalidAccessKeyId|403|Forbidden|denied", out, re.I), out
        assert SECRET not in out and key["SecretAccessKey"] not in out
        assert time.monotonic() - started < 60
        right = dict(ENV, AWS_ACCESS_KEY_ID=key["AccessKeyId"], AWS_SECRET_ACCESS_KEY=key["SecretAccessKey"])
        r = skyport("ingest", "--config", str(config), f"s3://{BUCKET}/archive/lsst", env=right)
        assert r.returncode == 0 and "1 new" in r.stdout, r.stdout + r.stderr
        assert key["SecretAccessKey"] not in r.stdout + r.stderr
        # A prefix below a root that holds nothing is a failure, not a quiet success.
        r = skyport("ingest", "--config", str(config), f"s3://{BUCKET}/archive/lsst/nothing", env=right)
        assert r.returncode == 2 and "no FITS object there" in r.stdout + r.stderr, r.stdout + r.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=10)
