"""Users' tables driven by pyvo's table-management calls (CADC youcat's conventions) against
the demo archive: a table made from a VOSI description, filled from TSV and CSV, indexed by a
UWS job, queried and joined with ObsCore, granted to a group read-only, dropped. The join's
answer is checked against astropy's own angular separations, not against skyport.

Users are made per run (a random suffix), so the test can run again on the same demo.
"""
import io
import os
import re
import uuid

import numpy as np
import pytest
import pyvo
import requests
from astropy import units as u
from astropy.coordinates import SkyCoord

import skyport_auth

BASE = os.environ["SKYPORT_URL"].rstrip("/")
pyvo.utils.activate_features("cadc-tb-upload")

VOSI = """<vosi:table xmlns:vosi="http://www.ivoa.net/xml/VOSITables/v1.0"
    xmlns:vs="http://www.ivoa.net/xml/VODataService/v1.1"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" type="output">
  <name>{name}</name>
  <description>Targets</description>
  <column><name>target</name><dataType xsi:type="vs:VOTableType" arraysize="*">char</dataType></column>
  <column><name>ra</name><unit>deg</unit><ucd>pos.eq.ra;meta.main</ucd>
    <dataType xsi:type="vs:VOTableType">double</dataType></column>
  <column><name>dec</name><unit>deg</unit><ucd>pos.eq.dec;meta.main</ucd>
    <dataType xsi:type="vs:VOTableType">double</dataType></column>
  <column><name>priority</name><dataType xsi:type="vs:VOTableType">int</dataType></column>
</vosi:table>"""


def person(name, groups=()):
    who = f"{name}-{uuid.uuid4().hex[:8]}"
    token = skyport_auth.create_token(skyport_auth.demo_config(), who, ["read:tap", "write:files"], groups)
    session = requests.Session()
    session.headers.update(skyport_auth.bearer(token))
    schema = "user_" + re.sub(r"[^a-z0-9_]", "_", who.lower())
    return who, schema, session, pyvo.dal.TAPService(f"{BASE}/tap", session=session)


def test_pyvo_makes_fills_indexes_queries_shares_and_drops_a_table():
    group = f"team-{uuid.uuid4().hex[:8]}"
    owner, schema, owner_s, tap = person("owner", [group])
    _, _, _, member_tap = person("member", [group])
    _, _, stranger_s, stranger_tap = person("stranger")
    name = f"{schema}.targets"

    # Targets at the demo's real images and one far from everything.
    images = tap.run_sync(
        "SELECT obs_id, s_ra, s_dec FROM ivoa.ObsCore WHERE obs_collection = 'pypi-real' ORDER BY obs_id"
    ).to_table()
    assert len(images) >= 3
    tap.create_table(name, io.StringIO(VOSI.format(name=name)))
    tsv = "target\tra\tdec\tpriority\n" + "".join(
        f"{r['obs_id']}\t{float(r['s_ra'])!r}\t{float(r['s_dec'])!r}\t{i}\n" for i, r in enumerate(images[:2]))
    tap.load_table(name, io.StringIO(tsv), format="tsv")
    csv = "priority,target,ra,dec\n" + f"9,\"{images[2]['obs_id']}\",{float(images[2]['s_ra'])!r},{float(images[2]['s_dec'])!r}\n" \
        + "10,empty sky,0.0,-89.0\n"
    tap.load_table(name, io.StringIO(csv), format="csv")
    tap.create_index(name, "target", unique=True)

    rows = tap.run_sync(f"SELECT target, ra, dec, priority FROM {name} ORDER BY priority").to_table()
    assert list(rows["priority"]) == [0, 1, 9, 10]
    assert rows["ra"].unit == u.deg
    described = {t.name: t for t in tap.tables}
    assert name in described
    assert [c.name for c in described[name].columns] == ["target", "ra", "dec", "priority"]
    assert "indexed" in next(c for c in described[name].columns if c.name == "target").flags

    # The join: images within 0.5 degrees of each target, counted by ADQL...
    joined = tap.run_sync(
        f"SELECT t.target, COUNT(o.obs_id) AS n FROM {name} AS t LEFT JOIN ivoa.ObsCore AS o "
        "ON 1 = CONTAINS(POINT('ICRS', o.s_ra, o.s_dec), CIRCLE('ICRS', t.ra, t.dec, 0.5)) "
        "GROUP BY t.target").to_table()
    counted = {r["target"]: int(r["n"]) for r in joined}
    # ...and by astropy over every image's centre.
    every = tap.run_sync("SELECT s_ra, s_dec FROM ivoa.ObsCore", maxrec=100000).to_table()
    centres = SkyCoord(np.array(every["s_ra"], dtype=float) * u.deg, np.array(every["s_dec"], dtype=float) * u.deg)
    for r in rows:
        here = SkyCoord(r["ra"] * u.deg, r["dec"] * u.deg)
        assert counted[r["target"]] == int((centres.separation(here) < 0.5 * u.deg).sum()), r["target"]
    assert counted["empty sky"] == 0

    # Not shared: the member and the stranger see nothing.
    for other in (member_tap, stranger_tap):
        with pytest.raises(pyvo.dal.DALQueryError):
            other.run_sync(f"SELECT COUNT(*) FROM {name}")
    # Shared with the group, read-only.
    r = owner_s.post(f"{BASE}/tap/permissions/{name}", data=f"r-group={group}\n",
                     headers={"Content-Type": "text/plain"})
    assert r.status_code == 200, r.text
    assert member_tap.run_sync(f"SELECT COUNT(*) AS n FROM {name}").to_table()["n"][0] == 4
    with pytest.raises(requests.HTTPError) as refused:
        member_tap.load_table(name, io.StringIO("target\tra\tdec\tpriority\nx\t1\t2\t3\n"), format="tsv")
    assert refused.value.response.status_code == 403
    with pytest.raises(pyvo.dal.DALQueryError):
        stranger_tap.run_sync(f"SELECT COUNT(*) FROM {name}")
    assert name not in [t.name for t in stranger_tap.tables]

    # A repeated target breaks the unique index: refused, nothing added.
    with pytest.raises(requests.HTTPError):
        tap.load_table(name, io.StringIO("target\tra\tdec\tpriority\nempty sky\t1\t2\t3\n"), format="tsv")
    assert tap.run_sync(f"SELECT COUNT(*) AS n FROM {name}").to_table()["n"][0] == 4

    tap.remove_table(name)
    with pytest.raises(pyvo.dal.DALQueryError):
        tap.run_sync(f"SELECT COUNT(*) FROM {name}")


def test_a_query_result_is_kept_as_a_table_by_an_async_job():
    _, schema, _, tap = person("keeper")
    name = f"{schema}.real_images"
    query = "SELECT obs_id, s_ra, s_dec, t_min FROM ivoa.ObsCore WHERE obs_collection = 'pypi-real'"
    job = tap.submit_job(query, DEST=name)
    job.run().wait(timeout=120)
    job.raise_if_error()
    direct = tap.run_sync(query + " ORDER BY obs_id").to_table()
    kept = tap.run_sync(f"SELECT obs_id, s_ra, s_dec, t_min FROM {name} ORDER BY obs_id").to_table()
    assert list(kept["obs_id"]) == list(direct["obs_id"])
    assert np.allclose(np.array(kept["s_ra"], dtype=float), np.array(direct["s_ra"], dtype=float))
    # Refine and join server side: the kept table with the archive.
    joined = tap.run_sync(
        f"SELECT COUNT(*) AS n FROM {name} AS k JOIN ivoa.ObsCore AS o ON o.obs_id = k.obs_id").to_table()
    assert joined["n"][0] == len(direct)
    tap.remove_table(name)


def test_fits_and_parquet_tables_are_loaded():
    import pyarrow as pa
    import pyarrow.parquet as pq
    from astropy.table import Table

    _, schema, session, tap = person("loader")
    name = f"{schema}.targets"
    tap.create_table(name, io.StringIO(VOSI.format(name=name)))
    # A FITS binary table written by astropy, sent by pyvo.
    t = Table({"target": ["a", "bb"], "ra": [10.5, 20.25], "dec": [-1.0, 2.0],
               "priority": np.array([1, 2], dtype=np.int32)})
    fits_bytes = io.BytesIO()
    t.write(fits_bytes, format="fits")
    tap.load_table(name, io.BytesIO(fits_bytes.getvalue()), format="FITSTable")
    # Parquet written by pyarrow, columns in another order, a NULL.
    parquet = io.BytesIO()
    pq.write_table(pa.table({"priority": pa.array([3, None], type=pa.int64()), "dec": [3.5, 4.5],
                             "ra": [30.0, 40.0], "target": ["ccc", "dddd"]}), parquet)
    r = session.post(f"{BASE}/tap/load/{name}", data=parquet.getvalue(),
                     headers={"Content-Type": "application/vnd.apache.parquet"})
    assert r.status_code == 200, r.text
    rows = tap.run_sync(f"SELECT target, ra, dec, priority FROM {name} ORDER BY ra").to_table()
    assert list(rows["target"]) == ["a", "bb", "ccc", "dddd"]
    assert list(rows["ra"]) == [10.5, 20.25, 30.0, 40.0]
    assert list(rows["priority"][:3]) == [1, 2, 3] and rows["priority"].mask[3]
    # A column of lists is refused, naming it, and nothing is added.
    bad = io.BytesIO()
    pq.write_table(pa.table({"target": ["e"], "ra": [1.0], "dec": [2.0], "priority": [[1, 2]]}), bad)
    r = session.post(f"{BASE}/tap/load/{name}", data=bad.getvalue(),
                     headers={"Content-Type": "application/vnd.apache.parquet"})
    assert r.status_code == 400 and "priority" in r.text, r.text
    assert tap.run_sync(f"SELECT COUNT(*) AS n FROM {name}").to_table()["n"][0] == 4
    tap.remove_table(name)
