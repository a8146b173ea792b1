"""An archive moved to another address keeps every link working: the demo is built and served
on one port, then served again on another, and every link its TAP, SIA and DataLink answers
give (ObsCore access_url, DataLink rows, service descriptors) points at the new address and
answers 200 there.
"""
import io
import tempfile
import urllib.parse
import urllib.request
import warnings

from astropy.io.votable import parse

from demo_server import free_port, start


def get(url):
    with urllib.request.urlopen(url, timeout=60) as r:
        assert r.status == 200, url
        return r.read()


def votable(url):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return parse(io.BytesIO(get(url)))


def column(document, name):
    table = document.get_first_table()
    return [str(v) for v in table.array[name].data if str(v) not in ("", "--")]


def descriptors(document):
    """Each service descriptor's accessURL with its fixed input parameters."""
    found = []
    for resource in document.resources:
        if resource.type != "meta":
            continue
        params = {p.name: p for p in resource.params}
        if "accessURL" not in params:
            continue
        fixed = {}
        for group in resource.groups:
            for p in group.entries:
                if p.name == "ID" and isinstance(p.value, str) and p.value:
                    fixed["ID"] = p.value
                if p.name == "CIRCLE" and p.values is not None and p.values.max is not None:
                    ra, dec = p.values.max[:2]
                    fixed["CIRCLE"] = f"{ra} {dec} 0.001"
        found.append((str(params["accessURL"].value), fixed))
    return found


def links_of(url):
    """Every link the archive served at `url` hands out to an anonymous client."""
    links = []
    tap = url + "/tap/sync?" + urllib.parse.urlencode(
        {"LANG": "ADQL", "QUERY": "SELECT access_url FROM ivoa.ObsCore ORDER BY obs_publisher_did"}
    )
    links += column(votable(tap), "access_url")
    sia = votable(url + "/sia/query?MAXREC=3")
    links += column(sia, "access_url")
    # SIA's descriptors take the row's DID (and, for a cutout, a region: the image's centre).
    row = sia.get_first_table().array[0]
    calls = []
    for access_url, _ in descriptors(sia):
        params = {"ID": str(row["obs_publisher_did"])}
        if access_url.endswith("/soda/sync"):
            params["CIRCLE"] = f"{row['s_ra']} {row['s_dec']} 0.001"
        calls.append(f"{access_url}?{urllib.parse.urlencode(params)}")
    for datalink in column(sia, "access_url"):
        document = votable(datalink)
        links += column(document, "access_url")
        calls += [f"{u}?{urllib.parse.urlencode(fixed)}" for u, fixed in descriptors(document)]
    return links, calls


def test_every_link_follows_the_archive_to_another_port():
    with tempfile.TemporaryDirectory() as directory:
        proc, first = start(directory, free_port())
        try:
            before, _ = links_of(first)
        finally:
            proc.terminate()
            proc.wait()
        assert before and all(link.startswith(first + "/") for link in before), before[:3]

        proc, second = start(directory, free_port())
        try:
            links, calls = links_of(second)
            assert len(links) >= len(before) > 0
            # ObsCore rows, SIA rows, DataLink files/previews/TAP queries, and the descriptors.
            assert any("/files/" in link for link in links)
            assert any("/soda/sync?" in call for call in calls)
            for link in links + calls:
                assert link.startswith(second + "/"), link
                get(link)
        finally:
            proc.terminate()
            proc.wait()
