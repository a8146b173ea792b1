"""Whole-server TAP behaviour: a 2-million-row BINARY2 result streamed in bounded memory, and an
async job interrupted by a crash that ends in a final phase after the restart.
"""
import io
import os
import signal
import tempfile
import time
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

import pyvo

from demo_server import free_port, start

BASE = os.environ["SKYPORT_URL"].rstrip("/")
SERVER_PID = int(os.environ["SKYPORT_SERVER_PID"])
UWS = "{http://www.ivoa.net/xml/UWS/v1.0}"

# 85 TAP_SCHEMA columns to the fourth power is 52 million combinations: any row count we need.
CROSS = "FROM TAP_SCHEMA.columns AS a, TAP_SCHEMA.columns AS b, TAP_SCHEMA.columns AS c, TAP_SCHEMA.columns AS d"


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_two_million_rows_stream_in_bounded_memory():
    rows = 2_000_000
    # What the stream itself takes: the peak is reset to the server's present size first
    # (Linux's clear_refs), so the tests before this one (whatever their allocator left
    # resident) do not count, and a server that held the 100 MB result would.
    before = rss_mb(SERVER_PID)
    with open(f"/proc/{SERVER_PID}/clear_refs", "w") as f:
        f.write("5")
    query = f"SELECT TOP {rows} a.column_index AS i, b.column_name AS name, c.datatype AS t, d.column_index * 0.5 AS x {CROSS}"
    url = BASE + "/tap/sync?" + urllib.parse.urlencode(
        {"LANG": "ADQL", "QUERY": query, "MAXREC": str(rows), "RESPONSEFORMAT": "votable/b2"}
    )
    total = 0
    tail = b""
    with urllib.request.urlopen(url, timeout=1200) as r:
        assert "BINARY2" in r.headers["Content-Type"]
        while True:
            chunk = r.read(1 << 20)
            if not chunk:
                break
            total += len(chunk)
            tail = (tail + chunk)[-4096:]
    assert b"</VOTABLE>" in tail and b"ERROR" not in tail and b"OVERFLOW" not in tail
    # Each row: 1 flag byte + 8 (long) + 4+name + 4+type + 8 (double) before base64; > 30 bytes.
    assert total > rows * 30 * 4 / 3
    peak = peak_rss_mb(SERVER_PID)
    print(f"2,000,000-row BINARY2 result: {total / 1e6:.0f} MB sent; server RSS {before:.0f} MB before, "
          f"peak {peak:.0f} MB while streaming")
    assert peak - before < 40, f"the stream took {peak - before:.0f} MB (from {before:.0f} to {peak:.0f})"
    # And the whole server, after every client test before this one, stays small.
    assert peak < 200, f"server peak RSS {peak:.0f} MB"


def job_phase(job_url):
    with urllib.request.urlopen(job_url, timeout=30) as r:
        doc = ET.fromstring(r.read())
    return doc.find(UWS + "phase").text, doc


def test_a_job_interrupted_by_a_crash_ends_in_a_final_phase():
    with tempfile.TemporaryDirectory() as directory:
        proc, url = start(directory, free_port())
        try:
            service = pyvo.dal.TAPService(url + "/tap")
            slow = f"SELECT COUNT(*) AS n {CROSS}, TAP_SCHEMA.columns AS e WHERE a.column_index + e.column_index > 0"
            job = service.submit_job(slow)
            job.run()
            job_url = job.url
            # Polled: pyvo's wait() blocks with WAIT=-1 for as long as the job stays EXECUTING.
            for _ in range(300):
                phase, _ = job_phase(job_url)
                if phase != "QUEUED":
                    break
                time.sleep(0.05)
            assert phase == "EXECUTING"
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        proc, url2 = start(directory, free_port())
        try:
            phase, doc = job_phase(job_url.replace(url, url2))
            assert phase == "ERROR", phase
            message = doc.find(f"{UWS}errorSummary/{UWS}message").text
            assert "server stopped" in message
        finally:
            proc.terminate()
            proc.wait()
