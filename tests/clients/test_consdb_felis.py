"""ConsDB's TAP_SCHEMA as skyport serves it, against what Rubin's own tool makes of the same files.

The reference is PyPI ``lsst-felis`` (pinned in requirements.txt), run as Rubin runs it for the
ConsDB TAP service (lsst/sdm_schemas tap-schema/build-all: ``load-tap-schema --unique-keys``,
schema_index = position in the file list): ``felis init-tap-schema`` and ``felis
load-tap-schema`` for every ``cdb_*.yaml`` that skyport ships, into a throw-away SQLite file.
skyport's rows come from its TAP service. Every field of every row is compared; a difference
fails naming table, column, field, felis's value and skyport's value.

The only differences accepted are listed (and asserted, not skipped) in KNOWN DIFFERENCES below:
- visit1 and ccdvisit1 are views in skyport (as in Rubin's database), tables to felis;
- column names that are ADQL reserved words (``key``, ``value``) are delimited in skyport, as
  TAP 1.1 §4.3 requires ("the value must include the quotes"), and felis does not delimit them;
  key_columns must use the same spelling (TAP 1.1 §4.4: they refer to TAP_SCHEMA.columns);
- key_id is an opaque join handle (TAP 1.1 §4.4: "used only to join with the key_columns
  table"), so keys are matched by what they say (from/target table and column pairs);
- schema_index is a display order (TAP 1.1 §4.1 leaves values to the service; felis takes it
  from the command line), so only the order of the cdb schemas is compared.
- column_index: felis leaves it NULL where the YAML gives no ``tap:column_index`` (every cdb
  column); skyport numbers the columns in declaration order (TAP 1.1 §4.3 allows either), so
  skyport's must be exactly the 1-based declaration position;
- indexed: skyport also says 1 for the leading column of a multi-column primary key or index
  (and for single-column keys written as a YAML list, which felis miscounts): those columns
  are indexed, which is what TAP 1.1 §4.3 asks ``indexed`` to say. Checked against the YAML;
  any other difference fails;
- a Felis ``string`` of length 1 is ``1*`` (size 1) in skyport, as TAP 1.1 §4.3 maps
  varchar(n) to ``n*``; felis gives no arraysize there.
skyport's ``<table>_history`` tables are not in Felis and are left out (and checked to be
nothing else).

Run as a script, ``python tests/clients/test_consdb_felis.py --dump OUT.json`` writes felis's
rows as JSON without a server.
"""
import argparse
import io
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(os.environ.get("SKYPORT_REPO") or Path(__file__).resolve().parents[2])
SCHEMA_DIR = REPO / "crates" / "skyport-consdb" / "schemas"
TAP_TABLES = ["schemas", "tables", "columns", "keys", "key_columns"]
HISTORY_SUFFIX = "_history"
# skyport's one addition beside the history tables: the view of visits made of snaps, over
# `exposure` (docs/consdb.md); checked to be a view where the exposure table has group_id.
SNAP_VISIT = "snap_visit"

# --- KNOWN DIFFERENCES -------------------------------------------------------------------------

# skyport serves these as views of their base table where the schema has it (docs/consdb.md;
# crates/skyport-consdb/src/schemas.rs); Felis has no word for a view, so felis says "table".
VIEWS = {"visit1": "exposure", "ccdvisit1": "ccdexposure"}

# ADQL 2.1 §2.1.2 reserved words (SQL-92's and ADQL's own). A column of such a name must be
# written delimited in a query, so TAP 1.1 §4.3 wants its column_name stored with the quotes.
ADQL_RESERVED = set(
    """
    ABSOLUTE ACTION ADD ALL ALLOCATE ALTER AND ANY ARE AS ASC ASSERTION AT AUTHORIZATION AVG
    BEGIN BETWEEN BIT BIT_LENGTH BOTH BY CASCADE CASCADED CASE CAST CATALOG CHAR CHARACTER
    CHAR_LENGTH CHARACTER_LENGTH CHECK CLOSE COALESCE COLLATE COLLATION COLUMN COMMIT CONNECT
    CONNECTION CONSTRAINT CONSTRAINTS CONTINUE CONVERT CORRESPONDING COUNT CREATE CROSS CURRENT
    CURRENT_DATE CURRENT_TIME CURRENT_TIMESTAMP CURRENT_USER CURSOR DATE DAY DEALLOCATE DECIMAL
    DECLARE DEFAULT DEFERRABLE DEFERRED DELETE DESC DESCRIBE DESCRIPTOR DIAGNOSTICS DISCONNECT
    DISTINCT DOMAIN DOUBLE DROP ELSE END END-EXEC ESCAPE EXCEPT EXCEPTION EXEC EXECUTE EXISTS
    EXTERNAL EXTRACT FALSE FETCH FIRST FLOAT FOR FOREIGN FOUND FROM FULL GET GLOBAL GO GOTO GRANT
    GROUP HAVING HOUR IDENTITY IMMEDIATE IN INDICATOR INITIALLY INNER INPUT INSENSITIVE INSERT
    INT INTEGER INTERSECT INTERVAL INTO IS ISOLATION JOIN KEY LANGUAGE LAST LEADING LEFT LEVEL
    LIKE LOCAL LOWER MATCH MAX MIN MINUTE MODULE MONTH NAMES NATIONAL NATURAL NCHAR NEXT NO NOT
    NULL NULLIF NUMERIC OCTET_LENGTH OF ON ONLY OPEN OPTION OR ORDER OUTER OUTPUT OVERLAPS PAD
    PARTIAL POSITION PRECISION PREPARE PRESERVE PRIMARY PRIOR PRIVILEGES PROCEDURE PUBLIC READ
    REAL REFERENCES RELATIVE RESTRICT REVOKE RIGHT ROLLBACK ROWS SCHEMA SCROLL SECOND SECTION
    SELECT SESSION SESSION_USER SET SIZE SMALLINT SOME SPACE SQL SQLCODE SQLERROR SQLSTATE
    SUBSTRING SUM SYSTEM_USER TABLE TEMPORARY THEN TIME TIMESTAMP TIMEZONE_HOUR TIMEZONE_MINUTE
    TO TRAILING TRANSACTION TRANSLATE TRANSLATION TRIM TRUE UNION UNIQUE UNKNOWN UPDATE UPPER
    USAGE USER USING VALUE VALUES VARCHAR VARYING VIEW WHEN WHENEVER WHERE WITH WORK WRITE YEAR
    ZONE
    ABS ACOS ASIN ATAN ATAN2 CEILING COS COT DEGREES EXP FLOOR LOG LOG10 MOD PI POWER RADIANS
    RAND ROUND SIN SQRT TAN TRUNCATE AREA BOX CENTROID CIRCLE CONTAINS COORD1 COORD2 COORDSYS
    DISTANCE INTERSECTS POINT POLYGON REGION BIGINT ILIKE IN_UNIT OFFSET TOP
    """.split()
)


def adql_name(name):
    """A column name as a query must write it (TAP 1.1 §4.3: delimited names keep the quotes)."""
    return f'"{name}"' if name.upper() in ADQL_RESERVED else name


def bare(name):
    return name[1:-1] if len(name) >= 2 and name[0] == name[-1] == '"' else name


# --- felis's rows ------------------------------------------------------------------------------


def schema_files():
    files = sorted(SCHEMA_DIR.glob("cdb_*.yaml"))
    assert len(files) == 7, f"expected the seven cdb_*.yaml in {SCHEMA_DIR}, found {files}"
    return files


def felis(*args):
    # felis's own command line, from the interpreter running this (the client-test virtualenv).
    cmd = [sys.executable, "-m", "felis.cli", "--log-level", "ERROR", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr}")


def felis_tap_schema(files):
    """felis's TAP_SCHEMA rows for the files: {TAP_SCHEMA table: [row dict]}.

    As Rubin builds the ConsDB TAP_SCHEMA (lsst/sdm_schemas tap-schema/build-all): unique key
    ids (several schemas declare constraints of the same name), schema_index = file position.
    """
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/tap_schema.sqlite"
        felis("init-tap-schema", "--engine-url", url, "--no-insert-metadata")
        for index, path in enumerate(files):
            felis("load-tap-schema", "--engine-url", url, "--unique-keys",
                  "--tap-schema-index", str(index), str(path))
        db = sqlite3.connect(f"{tmp}/tap_schema.sqlite")
        db.row_factory = sqlite3.Row
        try:
            return {t: [dict(r) for r in db.execute(f'SELECT * FROM "{t}"')] for t in TAP_TABLES}
        finally:
            db.close()


def felis_version():
    from importlib.metadata import version

    return version("lsst-felis")


# --- skyport's rows ----------------------------------------------------------------------------


def tap_rows(base, query):
    """Rows of a sync ADQL query, read from BINARY2 (which, unlike TABLEDATA, keeps NULL and ''
    apart), as dicts of plain Python values (NULL → None)."""
    import numpy as np
    from astropy.io import votable

    params = {"LANG": "ADQL", "QUERY": query, "RESPONSEFORMAT": "votable/b2", "MAXREC": "1000000"}
    url = base.rstrip("/") + "/tap/sync?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=120) as r:
        body = r.read()
    doc = votable.parse(io.BytesIO(body))
    status = [i.value for res in doc.resources for i in res.infos if i.name == "QUERY_STATUS"]
    assert status == ["OK"], f"{query}: QUERY_STATUS {status}"
    table = doc.get_first_table().to_table()
    rows = []
    for rec in table:
        row = {}
        for name in table.colnames:
            v = rec[name]
            if v is None or np.ma.is_masked(v):
                v = None
            elif isinstance(v, bytes):
                v = v.decode()
            elif hasattr(v, "item"):
                v = v.item()
            row[name] = v
        rows.append(row)
    return rows


def skyport_tap_schema(base, schema_names):
    """skyport's TAP_SCHEMA rows for the named schemas, history tables left out."""
    like = "'cdb_%'"  # ADQL LIKE: '_' is a wildcard too; the exact filter is below.
    schemas = tap_rows(base, f"SELECT * FROM TAP_SCHEMA.schemas WHERE schema_name LIKE {like}")
    tables = tap_rows(base, f"SELECT * FROM TAP_SCHEMA.tables WHERE schema_name LIKE {like}")
    columns = tap_rows(base, f"SELECT * FROM TAP_SCHEMA.columns WHERE table_name LIKE {like}")
    keys = tap_rows(base, f"SELECT * FROM TAP_SCHEMA.keys WHERE from_table LIKE {like}")
    key_columns = tap_rows(base, "SELECT * FROM TAP_SCHEMA.key_columns")

    def ours(table_name):
        schema, _, name = table_name.partition(".")
        return schema in schema_names and not name.endswith(HISTORY_SUFFIX) and name != SNAP_VISIT

    keys = [k for k in keys if ours(k["from_table"])]
    key_ids = {k["key_id"] for k in keys}
    return {
        "schemas": [s for s in schemas if s["schema_name"] in schema_names],
        "tables": [t for t in tables if ours(t["table_name"])],
        "columns": [c for c in columns if ours(c["table_name"])],
        "keys": keys,
        "key_columns": [kc for kc in key_columns if kc["key_id"] in key_ids],
        "history_tables": sorted(
            t["table_name"] for t in tables
            if t["schema_name"] in schema_names and t["table_name"].endswith(HISTORY_SUFFIX)
        ),
        "snap_visits": {
            t["table_name"]: t["table_type"] for t in tables
            if t["schema_name"] in schema_names and t["table_name"].endswith("." + SNAP_VISIT)
        },
    }


# --- comparison --------------------------------------------------------------------------------


def norm(value):
    # NULL and '' are one value here: TAP's mandatory output is VOTable, whose TABLEDATA
    # serialization "does not distinguish empty and null strings" (VOTable 1.4 §6), so no TAP
    # client can tell a service storing '' from one storing NULL. Nothing else is normalised.
    return None if value == "" else value


class Diffs:
    """Differences found, reported per field: a count for each, then up to PER_FIELD examples."""

    PER_FIELD = 25

    def __init__(self):
        self.by_field = {}

    def field(self, where, field, felis_value, skyport_value):
        if norm(felis_value) != norm(skyport_value):
            self.by_field.setdefault(field, []).append(
                f"{where}: {field}: felis {felis_value!r} != skyport {skyport_value!r}"
            )

    def note(self, line, kind="rows"):
        self.by_field.setdefault(kind, []).append(line)

    def check(self, what):
        __tracebackhide__ = True
        if not self.by_field:
            return
        total = sum(len(v) for v in self.by_field.values())
        counts = ", ".join(f"{k} {len(v)}" for k, v in self.by_field.items())
        out = [f"{what}: {total} difference(s) ({counts})"]
        for lines in self.by_field.values():
            out += ["  " + line for line in lines[: self.PER_FIELD]]
            if len(lines) > self.PER_FIELD:
                out.append(f"  ... and {len(lines) - self.PER_FIELD} more like that")
        raise AssertionError("\n".join(out))


def one_per(rows, key, where):
    out = {}
    for r in rows:
        k = key(r)
        assert k not in out, f"{where}: duplicate row for {k}"
        out[k] = r
    return out


def view_of(table_name, felis_table_names):
    """The base table when skyport serves `table_name` as a view (see VIEWS), else None."""
    schema, _, name = table_name.partition(".")
    base = VIEWS.get(name)
    return base if base and f"{schema}.{base}" in felis_table_names else None


def compare_schemas(felis_rows, sky_rows):
    d = Diffs()
    f = one_per(felis_rows, lambda r: r["schema_name"], "felis schemas")
    s = one_per(sky_rows, lambda r: r["schema_name"], "skyport schemas")
    for name in sorted(set(f) - set(s)):
        d.note(f"schema {name}: missing from skyport")
    for name in sorted(set(s) - set(f)):
        d.note(f"schema {name}: in skyport, not in felis")
    for name in sorted(set(f) & set(s)):
        for field in ("utype", "description"):
            d.field(f"schema {name}", field, f[name][field], s[name][field])
        if s[name]["schema_index"] is None:
            d.note(f"schema {name}: schema_index: skyport has none")
    # schema_index: the display order of the cdb schemas, not its numbers (felis takes them from
    # its command line, skyport numbers schemas after its own).
    common = sorted(set(f) & set(s))
    felis_order = sorted(common, key=lambda n: f[n]["schema_index"])
    sky_order = sorted(common, key=lambda n: (s[n]["schema_index"] is None, s[n]["schema_index"] or 0))
    if felis_order != sky_order:
        d.note(f"schema_index order: felis {felis_order} != skyport {sky_order}")
    d.check("TAP_SCHEMA.schemas")


def compare_tables(schema, felis_rows, sky_rows, history_tables, snap_visits=None):
    d = Diffs()
    # KNOWN ADDITION, asserted: a snap_visit view exactly where the exposure table has
    # group_id and exposure_id.
    if snap_visits is not None:
        import yaml

        doc = yaml.safe_load((SCHEMA_DIR / f"{schema}.yaml").read_text())
        exposure = [t for t in doc.get("tables", []) if t["name"] == "exposure"]
        names = {c["name"] for t in exposure for c in t.get("columns", [])}
        # Snaps are grouped by group_id; the visit is named by its first exposure_id.
        has_exposure = {"group_id", "exposure_id"} <= names
        got = snap_visits.get(f"{schema}.{SNAP_VISIT}")
        if has_exposure and got != "view":
            d.note(f"{schema}.{SNAP_VISIT}: expected skyport's snap-visit view, got {got!r}")
        if not has_exposure and got is not None:
            d.note(f"{schema}.{SNAP_VISIT}: present without an exposure table")
    f = one_per([r for r in felis_rows if r["schema_name"] == schema], lambda r: r["table_name"], "felis")
    s = one_per([r for r in sky_rows if r["schema_name"] == schema], lambda r: r["table_name"], "skyport")
    for name in sorted(set(f) - set(s)):
        d.note(f"{name}: missing from skyport")
    for name in sorted(set(s) - set(f)):
        d.note(f"{name}: in skyport, not in felis")
    for name in sorted(set(f) & set(s)):
        for field in ("schema_name", "utype", "description", "table_index"):
            d.field(name, field, f[name][field], s[name][field])
        if view_of(name, f):
            # KNOWN DIFFERENCE, asserted: felis says "table" (Felis cannot say view).
            if f[name]["table_type"] != "table" or s[name]["table_type"] != "view":
                d.note(
                    f"{name}: table_type: expected felis 'table' and skyport 'view' (a view of "
                    f"{view_of(name, f)}), got felis {f[name]['table_type']!r} and skyport "
                    f"{s[name]['table_type']!r}"
                )
        else:
            d.field(name, "table_type", f[name]["table_type"], s[name]["table_type"])
    # The history tables left out must be history tables of felis's stored tables, nothing else.
    for h in history_tables:
        if not h.startswith(schema + "."):
            continue
        base = h[: -len(HISTORY_SUFFIX)]
        if base not in f or view_of(base, f):
            d.note(f"{h}: a history table of no stored felis table")
    d.check(f"TAP_SCHEMA.tables of {schema}")


COLUMN_FIELDS = [
    "datatype", "arraysize", "xtype", "size", "unit", "ucd", "utype", "description",
    "principal", "std", "indexed", "column_index",
]


def index_leaders(schema):
    """Columns that lead the primary key or an index of each table, from the Felis YAML."""
    import yaml

    doc = yaml.safe_load((SCHEMA_DIR / f"{schema}.yaml").read_text())
    leaders = set()
    for table in doc.get("tables", []):
        name = f"{schema}.{table['name']}"
        ids = {c.get("@id"): c["name"] for c in table.get("columns", [])}
        pk = table.get("primaryKey")
        firsts = [pk] if isinstance(pk, str) else list(pk or [])[:1]
        for index in table.get("indexes", []) or []:
            firsts.extend((index.get("columns") or [])[:1])
        for ref in firsts:
            leaders.add((name, ids.get(ref, str(ref).rsplit(".", 1)[-1])))
    return leaders


def single_char_strings(schema):
    """(table, column) of Felis ``string`` columns of length 1, from the YAML."""
    import yaml

    doc = yaml.safe_load((SCHEMA_DIR / f"{schema}.yaml").read_text())
    return {
        (f"{schema}.{t['name']}", c["name"])
        for t in doc.get("tables", [])
        for c in t.get("columns", [])
        if c.get("datatype") == "string" and c.get("length") == 1
    }


def compare_columns(schema, felis_rows, sky_rows):
    d = Diffs()
    leaders = index_leaders(schema)
    single = single_char_strings(schema)
    # Declaration position of every column, from felis's rows (inserted in YAML order).
    position = {}
    for r in [r for r in felis_rows if r["table_name"].partition(".")[0] == schema]:
        position[(r["table_name"], bare(r["column_name"]))] = (
            sum(1 for k in position if k[0] == r["table_name"]) + 1
        )

    def mine(rows):
        return [r for r in rows if r["table_name"].partition(".")[0] == schema]

    # Matched by (table, undelimited name); the spelling of the name is then a field of its own.
    f = one_per(mine(felis_rows), lambda r: (r["table_name"], bare(r["column_name"])), "felis")
    s = one_per(mine(sky_rows), lambda r: (r["table_name"], bare(r["column_name"])), "skyport")
    for t, c in sorted(set(f) - set(s)):
        d.note(f"{t}.{c}: missing from skyport")
    for t, c in sorted(set(s) - set(f)):
        d.note(f"{t}.{c}: in skyport, not in felis")
    for key in sorted(set(f) & set(s)):
        where = f"{key[0]}.{key[1]}"
        fr, sr = f[key], s[key]
        # KNOWN DIFFERENCE, asserted: a reserved word is stored delimited (TAP 1.1 §4.3);
        # felis stores it bare.
        d.field(where, "column_name [felis name delimited where ADQL needs it]",
                adql_name(fr["column_name"]), sr["column_name"])
        for field in COLUMN_FIELDS:
            felis_value = fr[field]
            # KNOWN DIFFERENCES, asserted (see the module doc).
            if field == "column_index" and felis_value is None:
                felis_value = position[key]
                field = "column_index [felis NULL: declaration position]"
            elif field == "indexed" and norm(fr[field]) == 0 and key in leaders:
                felis_value = 1
                field = "indexed [felis 0: leads a key or index in the YAML]"
            elif field in ("arraysize", "size") and key in single and fr[field] in (None, ""):
                felis_value = "1*" if field == "arraysize" else 1
                field = f"{field} [felis none: string(1) is 1*]"
            d.field(where, field, felis_value, sr[field.split(" ")[0]])
    d.check(f"TAP_SCHEMA.columns of {schema}")


def compare_keys(schema, felis_tap, sky_tap):
    d = Diffs()

    def collect(tap, side):
        keys = [k for k in tap["keys"] if k["from_table"].partition(".")[0] == schema]
        by_key = {}
        for kc in tap["key_columns"]:
            by_key.setdefault(kc["key_id"], []).append(kc)
        out = {}
        for k in keys:
            # Column pairs sorted: nothing in TAP orders key_columns rows.
            pairs = sorted((c["from_column"], c["target_column"]) for c in by_key.get(k["key_id"], []))
            # Matched by what the key says, names undelimited; their spelling is checked below.
            content = (k["from_table"], k["target_table"], tuple((bare(a), bare(b)) for a, b in pairs))
            if content in out:
                d.note(f"{side}: keys {out[content][0]['key_id']} and {k['key_id']} say the same: {content}")
            out[content] = (k, pairs)
        return out

    f = collect(felis_tap, "felis")
    s = collect(sky_tap, "skyport")
    for content in sorted(set(f) - set(s)):
        d.note(f"key {f[content][0]['key_id']} {content}: missing from skyport")
    for content in sorted(set(s) - set(f)):
        d.note(f"key {s[content][0]['key_id']} {content}: in skyport, not in felis")
    for content in sorted(set(f) & set(s)):
        (fk, fpairs), (sk, spairs) = f[content], s[content]
        where = f"key {fk['key_id']} (skyport {sk['key_id']})"
        for field in ("description", "utype"):
            d.field(where, field, fk[field], sk[field])
        # KNOWN DIFFERENCE, asserted: key_columns name columns of TAP_SCHEMA.columns (TAP 1.1
        # §4.4), so they carry the same delimiting as column_name; felis leaves them bare.
        d.field(where, "key_columns (from, target) [felis names delimited where ADQL needs it]",
                [(adql_name(a), adql_name(b)) for a, b in fpairs], [tuple(p) for p in spairs])
    d.check(f"TAP_SCHEMA.keys/key_columns of {schema}")


# --- pytest ------------------------------------------------------------------------------------

SCHEMA_NAMES = [p.stem for p in sorted(SCHEMA_DIR.glob("cdb_*.yaml"))]

try:
    import pytest
except ImportError:  # script mode needs no pytest
    pytest = None

if pytest is not None:

    @pytest.fixture(scope="module")
    def felis_tap():
        return felis_tap_schema(schema_files())

    @pytest.fixture(scope="module")
    def sky_tap(felis_tap):
        names = {r["schema_name"] for r in felis_tap["schemas"]}
        return skyport_tap_schema(os.environ["SKYPORT_URL"], names)

    def test_felis_reads_all_seven_schemas(felis_tap):
        assert sorted(r["schema_name"] for r in felis_tap["schemas"]) == SCHEMA_NAMES
        assert felis_tap["columns"] and felis_tap["keys"]

    def test_schemas(felis_tap, sky_tap):
        compare_schemas(felis_tap["schemas"], sky_tap["schemas"])

    @pytest.mark.parametrize("schema", SCHEMA_NAMES)
    def test_tables(felis_tap, sky_tap, schema):
        compare_tables(
            schema, felis_tap["tables"], sky_tap["tables"], sky_tap["history_tables"],
            sky_tap["snap_visits"],
        )

    @pytest.mark.parametrize("schema", SCHEMA_NAMES)
    def test_columns(felis_tap, sky_tap, schema):
        compare_columns(schema, felis_tap["columns"], sky_tap["columns"])

    @pytest.mark.parametrize("schema", SCHEMA_NAMES)
    def test_keys(felis_tap, sky_tap, schema):
        compare_keys(schema, felis_tap, sky_tap)

    def test_views_are_the_documented_ones(felis_tap, sky_tap):
        # The one table_type difference, stated positively: exactly visit1/ccdvisit1 where the
        # schema has their base table.
        felis_names = {t["table_name"] for t in felis_tap["tables"]}
        views = sorted(t["table_name"] for t in sky_tap["tables"] if t["table_type"] == "view")
        assert views == sorted(n for n in felis_names if view_of(n, felis_names))
        assert views, "no ConsDB views served"


# --- script mode -------------------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dump", metavar="OUT.json", required=True,
                        help="write felis's TAP_SCHEMA rows for the cdb_*.yaml files as JSON")
    args = parser.parse_args(argv)
    files = schema_files()
    rows = felis_tap_schema(files)
    doc = {
        "felis": f"lsst-felis {felis_version()}",
        "how": "felis init-tap-schema --no-insert-metadata; then per file, in this order: "
               "felis load-tap-schema --unique-keys --tap-schema-index <position>",
        "files": [str(p.relative_to(REPO)) for p in files],
        **rows,
    }
    Path(args.dump).write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n")
    print(f"{args.dump}: " + ", ".join(f"{t} {len(rows[t])}" for t in TAP_TABLES))


if __name__ == "__main__":
    main()
