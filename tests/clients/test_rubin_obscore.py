"""Rubin's ObsCore columns in the demo archive, as Rubin's notebooks and tools see them.

The demo extends its ObsCore with Rubin's declaration (lsst-sdm-schemas' ivoa_obscore.yaml,
`archive.obscore`) and fills Rubin's columns for its LSSTCam images from templates
(`[archive.roots.obscore]`). Checked here:
- TAP_SCHEMA describes every column Rubin's file adds exactly as Rubin's own tool (lsst-felis)
  reads the same file (obs_title, a standard ObsCore column, is built in, with the standard's
  utype, which taplint checks);
- every column of Rubin's file is queryable;
- the values are those the file names and headers give, derived here independently: the
  exposure id from the Rubin observation id (day_obs · 10⁵ + seq_num), the detector number from
  the raft and sensor in the file name (LSSTCam's science rafts in order, nine sensors each),
  the band and physical filter from the FILTER card read with astropy;
- Rubin's notebook queries (lsst_band, dataproduct_subtype) and SIA's DPSUBTYPE select them.
"""
import io
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import yaml
from astropy.io import fits, votable

from test_consdb_felis import felis_tap_schema, norm, tap_rows

BASE = os.environ["SKYPORT_URL"].rstrip("/")
DEMO = Path(os.environ["SKYPORT_DEMO_DIR"])
REPO = Path(os.environ.get("SKYPORT_REPO") or Path(__file__).resolve().parents[2])
RUBIN = REPO / "testdata" / "schemas" / "pypi_lsst_sdm_schemas" / "ivoa_obscore.yaml"
BUILTIN = REPO / "crates" / "skyport-schema" / "schemas" / "ivoa_obscore.yaml"

# LSSTCam's science rafts in detector order (nine sensors each): R22 S00 is detector 90.
SCIENCE_RAFTS = ["R01", "R02", "R03", "R10", "R11", "R12", "R13", "R14", "R20", "R21", "R22",
                 "R23", "R24", "R30", "R31", "R32", "R33", "R34", "R41", "R42", "R43"]


def column_names(path):
    doc = yaml.safe_load(path.read_text())
    table = next(t for t in doc["tables"] if t["name"].lower() == "obscore")
    return [c["name"] for c in table["columns"]]


def test_tap_schema_describes_rubins_columns_as_felis_reads_them():
    added = [c for c in column_names(RUBIN) if c not in set(column_names(BUILTIN))]
    assert {"lsst_visit", "lsst_detector", "lsst_tract", "lsst_patch", "lsst_band", "lsst_filter"} <= set(added)
    reference = {c["column_name"]: c for c in felis_tap_schema([RUBIN])["columns"]}
    ours = {c["column_name"]: c for c in tap_rows(
        BASE, "SELECT * FROM TAP_SCHEMA.columns WHERE table_name = 'ivoa.ObsCore'")}
    for name in added:
        theirs = reference[name]
        mine = ours.get(name)
        assert mine is not None, f"{name} is not in TAP_SCHEMA"
        for field in ("datatype", "arraysize", "xtype", "unit", "ucd", "utype", "description",
                      "principal", "std", "column_index"):
            # NULL and '' are one value in VOTable (see test_consdb_felis.norm).
            assert norm(mine[field]) == norm(theirs[field]), f"{name}.{field}: felis {theirs[field]!r}, skyport {mine[field]!r}"
    # Every column of Rubin's ObsCore can be asked for.
    query = "SELECT TOP 1 " + ", ".join(column_names(RUBIN)) + " FROM ivoa.ObsCore"
    assert len(tap_rows(BASE, query)) == 1


def test_rubins_columns_hold_what_the_files_say():
    rows = tap_rows(BASE, "SELECT obs_id, dataproduct_subtype, lsst_visit, lsst_detector, lsst_band, "
                          "lsst_filter, obs_title FROM ivoa.ObsCore WHERE obs_collection = 'LSSTCam-demo'")
    assert rows
    for row in rows:
        obs_id = row["obs_id"]
        name = obs_id.rsplit("/", 1)[-1]  # MC_O_20251201_000100_R22_S00
        _, _, day_obs, seq_num, raft, sensor = name.split("_")
        with fits.open(DEMO / "data" / "lsst" / f"{obs_id}.fits") as f:
            physical_filter = next(h.header["FILTER"] for h in f if "FILTER" in h.header).strip()
        detector = SCIENCE_RAFTS.index(raft) * 9 + int(sensor[1]) * 3 + int(sensor[2])
        band = physical_filter.split("_")[0]
        assert row["dataproduct_subtype"] == "lsst.visit_image"
        assert row["lsst_visit"] == int(day_obs) * 100000 + int(seq_num), obs_id
        assert row["lsst_detector"] == detector, obs_id
        assert row["lsst_band"] == band and row["lsst_filter"] == physical_filter, obs_id
        assert row["obs_title"] == f"visit_image - {band} - MC_O_{day_obs}_{seq_num}-{detector}"
    # Files of roots without templates have none of Rubin's values.
    others = tap_rows(BASE, "SELECT lsst_visit, dataproduct_subtype FROM ivoa.ObsCore "
                            "WHERE obs_collection = 'pypi-real'")
    assert others and all(r["lsst_visit"] is None and norm(r["dataproduct_subtype"]) is None for r in others)


def test_notebook_queries_and_sia_dpsubtype_select_by_rubins_columns():
    by_band = tap_rows(BASE, "SELECT obs_id, lsst_band FROM ivoa.ObsCore WHERE lsst_band = 'r' "
                             "AND dataproduct_subtype = 'lsst.visit_image'")
    assert by_band and all(r["lsst_band"] == "r" for r in by_band)
    everything = tap_rows(BASE, "SELECT obs_id FROM ivoa.ObsCore WHERE dataproduct_subtype = 'lsst.visit_image'")
    url = BASE + "/sia/query?" + urllib.parse.urlencode({"DPSUBTYPE": "lsst.visit_image", "MAXREC": "1000"})
    with urllib.request.urlopen(url, timeout=60) as r:
        table = votable.parse_single_table(io.BytesIO(r.read())).to_table()
    assert sorted(str(x) for x in table["obs_id"]) == sorted(r["obs_id"] for r in everything)
    url = BASE + "/sia/query?" + urllib.parse.urlencode({"DPSUBTYPE": "lsst.deep_coadd"})
    with urllib.request.urlopen(url, timeout=60) as r:
        assert len(votable.parse_single_table(io.BytesIO(r.read())).to_table()) == 0


def post_rows(query):
    """Rows of a sync query sent as a form POST, as pyvo sends one (a long query needs no URL)."""
    body = urllib.parse.urlencode({"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": query,
                                   "MAXREC": "100000"}).encode()
    try:
        with urllib.request.urlopen(BASE + "/tap/sync", data=body, timeout=60) as r:
            doc = votable.parse(io.BytesIO(r.read()))
    except urllib.error.HTTPError as e:
        raise AssertionError(f"{query[:200]}: {e.code} {e.read()[:2000]!r}") from None
    status = [i.value for res in doc.resources for i in res.infos if i.name == "QUERY_STATUS"]
    assert status == ["OK"], f"{query[:200]}: QUERY_STATUS {status}"
    return doc.get_first_table().to_table()


def test_queries_laid_out_as_rubins_notebooks_lay_them_out():
    """The shapes Rubin's published notebooks give their ObsCore queries (f-strings spread over
    lines, no spaces after commas or around `=`, a literal tested BETWEEN two columns, and a
    long OR of (visit, detector) pairs built from a list) run unchanged and select what they
    say; the expected rows are picked here in Python from a plain listing."""
    rows = tap_rows(BASE, "SELECT obs_id, s_ra, s_dec, lsst_band, lsst_visit, lsst_detector, "
                          "em_min, em_max FROM ivoa.ObsCore WHERE lsst_visit IS NOT NULL "
                          "AND lsst_detector IS NOT NULL")
    assert len(rows) >= 4
    target = next(r for r in rows if r["em_min"] is not None and r["em_max"] is not None)
    found = post_rows(f"""
        SELECT *  FROM ivoa.ObsCore
        WHERE CONTAINS(POINT('ICRS', {target['s_ra']},{target['s_dec']}), s_region)=1
        AND dataproduct_subtype='lsst.visit_image'
        AND lsst_band = '{target['lsst_band']}'
        """)
    assert target["obs_id"] in [str(x) for x in found["obs_id"]]
    assert all(str(b) == target["lsst_band"] for b in found["lsst_band"])

    wavelength = (target["em_min"] + target["em_max"]) / 2
    found = post_rows(f"SELECT obs_id FROM ivoa.ObsCore WHERE lsst_visit IS NOT NULL "
                      f"AND lsst_detector IS NOT NULL AND ( {wavelength!r} BETWEEN em_min AND em_max )")
    assert sorted(str(x) for x in found["obs_id"]) == sorted(
        r["obs_id"] for r in rows
        if r["em_min"] is not None and r["em_max"] is not None and r["em_min"] <= wavelength <= r["em_max"])

    # 250 pairs, those of every demo image among pairs of no image (some 750 operators): a
    # chain that long was once refused as "nested too deeply".
    pairs = [(r["lsst_visit"], r["lsst_detector"]) for r in rows]
    pairs += [(2025120100000 + i, 200 + i % 9) for i in range(250 - len(pairs))]
    condition = " OR ".join(f"(lsst_visit = {v} AND lsst_detector = {d})" for v, d in pairs)
    found = post_rows(f"SELECT obs_id FROM ivoa.ObsCore WHERE {condition} ORDER by obs_id")
    assert [str(x) for x in found["obs_id"]] == sorted(r["obs_id"] for r in rows)


def test_consdb_queries_written_as_rubins_clients_write_them():
    """ConsDB through TAP as Rubin's clients and documents write it: `*` beside a table's own
    `q.*`, tables joined by a comma, a literal on the left of a comparison, and a string glued
    to the keyword after it (`'x'ORDER BY`, from joining Python strings); the expected rows
    come from ConsDB's REST query."""
    body = json.dumps({"query": "SELECT visit_id, science_program, day_obs FROM cdb_lsstcam.visit1"})
    request = urllib.request.Request(BASE + "/consdb/query", data=body.encode(),
                                      headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as r:
        rest = json.load(r)
    visits = sorted(row[0] for row in rest["data"])
    assert visits
    program, day_obs = next((row[1], row[2]) for row in rest["data"]
                            if row[1] is not None and row[2] is not None)

    found = post_rows("select *, q.* from  cdb_lsstcam.visit1 left join cdb_lsstcam.visit1_quicklook "
                      "as q on visit1.visit_id = q.visit_id  where  visit1.visit_id > 0 "
                      "order by visit1.visit_id")
    assert [int(x) for x in found["visit_id"]] == visits
    # Every column of visit1 and of the quicklook table is there.
    assert "science_program" in found.colnames and len(found.colnames) > 20

    found = post_rows(f"select v.visit_id from cdb_lsstcam.visit1 as v, cdb_lsstcam.visit1 as w "
                      f"where w.visit_id = v.visit_id and {day_obs} <= v.day_obs "
                      f"and v.science_program = '{program}'ORDER by v.visit_id")
    assert [int(x) for x in found["visit_id"]] == sorted(
        row[0] for row in rest["data"] if row[1] == program and row[2] >= day_obs)
