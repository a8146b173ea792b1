"""The transformed EFD against a real InfluxDB 1.x loaded with real recorded telemetry
(summit_utils' MTMount azimuth/elevation, M1M3 hardpoint forces, azimuth motion-state events):
exposures are defined over those spans in ConsDB, `skyport efd run` summarises them, and every
function's value is checked against numpy computed here from the CSV files. Also: a packed
series, a subset, pre-aggregation, unpivoted rows, NULL for empty intervals, idempotent re-runs,
recompute with history, a failed window (InfluxDB unreachable) retried to completion, the real
LSSTCam config run end to end, and the tables in TAP_SCHEMA.

Runs on SQLite, and on PostgreSQL when scripts/test provides one (SKYPORT_BACKEND=postgres).
"""

import csv
import json
import os
import re
import socket
import time
import sqlite3
import subprocess
import textwrap
import urllib.request
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from astropy.time import Time

from skyport_auth import bearer, create_token
from test_consdb_headers import REPO, SHARED

BIN = os.environ.get("SKYPORT_BIN", str(REPO / "target" / "debug" / "skyport"))
BACKEND = os.environ.get("SKYPORT_BACKEND", "sqlite")
PG_ADMIN = os.environ.get("SKYPORT_PG_URL", "")
CSVS = SHARED / "efd_like" / "summit_utils" / "csv_derived"
TAI_UTC = 37.0  # TAI − UTC in 2023 (s)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


LISTEN = f"127.0.0.1:{_free_port()}"


def read_csv(name):
    with open(CSVS / name, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    times = np.array([int(r[0]) for r in body], dtype=np.int64)
    cols = {}
    for i, h in enumerate(header[1:], start=1):
        try:
            cols[h] = np.array([float(r[i]) if r[i] != "" else np.nan for r in body])
        except ValueError:
            pass  # text fields (private_identity…) are not telemetry values
    return times, cols


AZ_T, AZ = read_csv("test_analysis__lsst.sal.MTMount.azimuth__1.csv")
EL_T, EL = read_csv("test_analysis__lsst.sal.MTMount.elevation__1.csv")
HP_T, HP = read_csv("test_analysis__lsst.sal.MTM1M3.hardpointActuatorData__1.csv")
MS_T, MS = read_csv("test_getEfdData__lsst.sal.MTMount.logevent_azimuthMotionState__1.csv")
HP_FIELDS = [f"measuredForce{i}" for i in range(6)]
# A salIndex on the hardpoint rows (real values, labelled 1, 2, 1, 2…) for the subset column.
HP_SAL = np.where(np.arange(len(HP_T)) % 2 == 0, 1, 2)
# A packed series made of the real azimuth positions: rows of 10 samples, one row per second,
# stamped with cRIO_timestamp (TAI seconds) as the ATMCS packs its encoders.
PACK = 10
PACK_ROWS = len(AZ_T) // PACK
PACK_CRIO = AZ_T[0] / 1e9 + TAI_UTC + np.arange(PACK_ROWS)
PACK_VALUES = AZ["actualPosition"][: PACK_ROWS * PACK].reshape(PACK_ROWS, PACK)
PACK_TIMES = np.round(((PACK_CRIO - TAI_UTC)[:, None] + np.arange(PACK)[None, :] / PACK) * 1e9).astype(np.int64)


def exports(directory):
    """The same series as offline exports: <topic>.csv (time in ns, then the fields), and for
    two topics <topic>.parquet (a timestamp[ns] time column, float and int64 fields)."""
    tables = {}
    for l in influx_lines():
        name, fields, t = l.split(" ")
        values = dict(kv.split("=") for kv in fields.split(","))
        tables.setdefault(name, []).append((t, {k: v.rstrip("i") for k, v in values.items()}))
    for name, rows in tables.items():
        keys = sorted({k for _, v in rows for k in v})
        if name in ("lsst.sal.MTMount.azimuth", "lsst.sal.MTM1M3.hardpointActuatorData"):
            columns = {"time": pa.array([int(t) for t, _ in rows], type=pa.timestamp("ns"))}
            for k in keys:
                cells = [v.get(k) for _, v in rows]
                if k == "salIndex":
                    columns[k] = pa.array([None if c is None else int(c) for c in cells], type=pa.int64())
                else:
                    columns[k] = pa.array([None if c is None else float(c) for c in cells], type=pa.float64())
            pq.write_table(pa.table(columns), directory / f"{name}.parquet")
            continue
        with open(directory / f"{name}.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["time", *keys])
            for t, v in rows:
                w.writerow([t, *(v.get(k, "") for k in keys)])


def line(measurement, t, fields):
    parts = []
    for k, v in fields.items():
        if isinstance(v, (int, np.integer)):
            parts.append(f"{k}={int(v)}i")
        elif not np.isnan(v):
            parts.append(f"{k}={float(v)!r}")
    return f"{measurement} {','.join(parts)} {int(t)}"


def influx_lines():
    out = []
    for name, times, cols in [("lsst.sal.MTMount.azimuth", AZ_T, AZ), ("lsst.sal.MTMount.elevation", EL_T, EL)]:
        for i, t in enumerate(times):
            out.append(line(name, t, {k: v[i] for k, v in cols.items()}))
    for i, t in enumerate(HP_T):
        fields = {k: HP[k][i] for k in HP_FIELDS}
        fields["salIndex"] = int(HP_SAL[i])
        out.append(line("lsst.sal.MTM1M3.hardpointActuatorData", t, fields))
    for i, t in enumerate(MS_T):
        out.append(line("lsst.sal.MTMount.logevent_azimuthMotionState", t, {"state": int(MS["state"][i])}))
    for r in range(PACK_ROWS):
        fields = {f"azimuthCalculatedAngle{i}": PACK_VALUES[r, i] for i in range(PACK)}
        fields["cRIO_timestamp"] = PACK_CRIO[r]
        out.append(line("lsst.sal.ATMCS.mount_AzEl_Encoders", PACK_TIMES[r, 0], fields))
    return out


def utc_ns(iso):
    return int(round((Time(iso, scale="utc").unix) * 1e9 / 1000)) * 1000


def iso(ns):
    return Time(ns / 1e9, format="unix", scale="utc").isot


# The exposures (UTC): long, short, one azimuth sample, empty, two over the events, and one
# after midnight: first in its (1 d) window, with no sample inside, so the latest samples
# before the window alone give its most_recent_value columns.
ONE = int(AZ_T[100])
MS_GAP = int(np.argmax(np.diff(MS_T)))  # the longest quiet spell of the motion-state events
QUIET = (int(MS_T[MS_GAP]) + 10**9, int(MS_T[MS_GAP + 1]) - 10**9)
EXPOSURES = [
    (20230728, 1, utc_ns("2023-07-28T23:36:20"), utc_ns("2023-07-28T23:36:35")),
    (20230728, 2, utc_ns("2023-07-28T23:36:40"), utc_ns("2023-07-28T23:36:41.5")),
    (20230728, 3, ONE - 1000, ONE + 1000),
    (20230728, 4, utc_ns("2023-07-28T23:37:30"), utc_ns("2023-07-28T23:37:40")),
    (20230531, 1, QUIET[0], min(QUIET[0] + 30 * 10**9, QUIET[1])),
    (20230531, 2, int(MS_T[20]) - 5 * 10**9, int(MS_T[22]) + 5 * 10**9),
    (20230728, 5, utc_ns("2023-07-29T00:10:00"), utc_ns("2023-07-29T00:10:30")),
]
SINCE, UNTIL = "2023-05-30T00:00:00", "2023-07-30T00:00:00"

CONFIG = textwrap.dedent(
    """\
    version: 1.0.0
    columns:
    - {name: az_mean, tables: [exposure_efd, visit1_efd], function: mean, datatype: float, ivoa: {unit: deg, ucd: "pos.az;stat.mean"}, description: Mean azimuth, packed_series: false, topics: [{name: lsst.sal.MTMount.azimuth, fields: [{name: actualPosition}]}]}
    - {name: az_stddev, tables: [exposure_efd, visit1_efd], function: stddev, function_args: {ddof: 1}, datatype: float, description: x, packed_series: false, topics: [{name: lsst.sal.MTMount.azimuth, fields: [{name: actualPosition}]}]}
    - {name: az_min, tables: [exposure_efd], function: min, datatype: float, description: x, packed_series: false, topics: [{name: lsst.sal.MTMount.azimuth, fields: [{name: actualPosition}]}]}
    - {name: az_max, tables: [exposure_efd], function: max, datatype: float, description: x, packed_series: false, topics: [{name: lsst.sal.MTMount.azimuth, fields: [{name: actualPosition}]}]}
    - {name: az_torque_median, tables: [exposure_efd], function: median, datatype: float, description: x, packed_series: false, topics: [{name: lsst.sal.MTMount.azimuth, fields: [{name: actualTorque}]}]}
    - {name: az_rms_jitter, tables: [exposure_efd], function: rms_from_polynomial_fit, function_args: {degree: 4, fit_basis: index}, datatype: float, description: x, packed_series: false, topics: [{name: lsst.sal.MTMount.azimuth, fields: [{name: actualPosition}]}]}
    - {name: el_rms_time, tables: [exposure_efd], function: rms_from_polynomial_fit, function_args: {degree: 2, fit_basis: time}, datatype: float, description: x, packed_series: false, topics: [{name: lsst.sal.MTMount.elevation, fields: [{name: actualPosition}]}]}
    - {name: hp_mean, tables: [exposure_efd], function: mean, datatype: float, description: All six forces, packed_series: false, topics: [{name: lsst.sal.MTM1M3.hardpointActuatorData, fields: [{name: measuredForce0}, {name: measuredForce1}, {name: measuredForce2}, {name: measuredForce3}, {name: measuredForce4}, {name: measuredForce5}]}]}
    - {name: hp_forces_max, tables: [exposure_efd_unpivoted, visit1_efd_unpivoted], store_unpivoted: true, function: max, datatype: float, description: Each force, packed_series: false, topics: [{name: lsst.sal.MTM1M3.hardpointActuatorData, fields: [{name: measuredForce0}, {name: measuredForce1}, {name: measuredForce2}, {name: measuredForce3}, {name: measuredForce4}, {name: measuredForce5}]}]}
    - {name: hp_salindex1_force0_max, tables: [exposure_efd], function: max, datatype: float, description: x, packed_series: false, subset_field: salIndex, subset_value: 1, topics: [{name: lsst.sal.MTM1M3.hardpointActuatorData, fields: [{name: measuredForce0}, {name: salIndex}]}]}
    - {name: az_state_recent, tables: [exposure_efd], function: most_recent_value, start_offset: -24, datatype: float, description: x, packed_series: false, topics: [{name: lsst.sal.MTMount.logevent_azimuthMotionState, fields: [{name: state}]}]}
    - {name: el_recent, tables: [exposure_efd], function: most_recent_value, start_offset: -24, datatype: float, description: x, packed_series: false, topics: [{name: lsst.sal.MTMount.elevation, fields: [{name: actualPosition}]}]}
    - {name: hp_sal1_force1_recent, tables: [exposure_efd], function: most_recent_value, start_offset: -24, datatype: float, description: x, packed_series: false, subset_field: salIndex, subset_value: 1, topics: [{name: lsst.sal.MTM1M3.hardpointActuatorData, fields: [{name: measuredForce1}, {name: salIndex}]}]}
    - {name: az_state_interp, tables: [exposure_efd], function: interpolated_value, function_args: {at: middle, max_gap: 24h}, datatype: float, description: x, packed_series: false, topics: [{name: lsst.sal.MTMount.logevent_azimuthMotionState, fields: [{name: state}]}]}
    - {name: az_packed_mean, tables: [exposure_efd], function: mean, datatype: float, description: x, packed_series: true, topics: [{name: lsst.sal.ATMCS.mount_AzEl_Encoders, fields: [{name: azimuthCalculatedAngle}]}]}
    - {name: az_torque_1s_max, tables: [exposure_efd], function: max, pre_aggregate_interval: 1s, datatype: float, description: x, packed_series: false, topics: [{name: lsst.sal.MTMount.azimuth, fields: [{name: actualTorque}]}]}
    """
)


def select(times, start, end):
    return (times >= start) & (times <= end)


def expected(start, end):
    """Every column of one exposure, computed with numpy from the CSV files."""
    out = {}
    m = select(AZ_T, start, end)
    pos, torque = AZ["actualPosition"][m], AZ["actualTorque"][m]
    n = len(pos)
    out["az_mean"] = pos.mean() if n else None
    out["az_stddev"] = pos.std(ddof=1) if n > 1 else None
    out["az_min"] = pos.min() if n else None
    out["az_max"] = pos.max() if n else None
    out["az_torque_median"] = float(np.median(torque)) if n else None
    if n > 4:
        x = np.arange(n)
        out["az_rms_jitter"] = float(np.sqrt(np.mean((pos - np.polyval(np.polyfit(x, pos, 4), x)) ** 2)))
    else:
        out["az_rms_jitter"] = None
    me = select(EL_T, start, end)
    el = EL["actualPosition"][me]
    if len(el) > 2:
        x = (EL_T[me] - EL_T[me][0]).astype(float)
        out["el_rms_time"] = float(np.sqrt(np.mean((el - np.polyval(np.polyfit(x, el, 2), x)) ** 2)))
    else:
        out["el_rms_time"] = None
    mh = select(HP_T, start, end)
    forces = np.stack([HP[f][mh] for f in HP_FIELDS], axis=1)
    forces = forces[~np.isnan(forces).any(axis=1)]
    out["hp_mean"] = forces.mean() if forces.size else None
    f0 = HP["measuredForce0"][mh & (HP_SAL == 1)]
    out["hp_salindex1_force0_max"] = f0.max() if f0.size else None
    reach = select(MS_T, start - 24 * 3600 * 10**9, end)
    out["az_state_recent"] = MS["state"][reach][-1] if reach.any() else None
    reach = select(EL_T, start - 24 * 3600 * 10**9, end) & ~np.isnan(EL["actualPosition"])
    out["el_recent"] = EL["actualPosition"][reach][-1] if reach.any() else None
    reach = select(HP_T, start - 24 * 3600 * 10**9, end) & (HP_SAL == 1) & ~np.isnan(HP["measuredForce1"])
    out["hp_sal1_force1_recent"] = HP["measuredForce1"][reach][-1] if reach.any() else None
    mid = start + (end - start) // 2
    before, after = MS_T[MS_T <= mid], MS_T[MS_T >= mid]
    if before.size and after.size and after[0] - before[-1] <= 24 * 3600 * 10**9:
        out["az_state_interp"] = float(np.interp(mid, MS_T.astype(float), MS["state"]))
    else:
        out["az_state_interp"] = None
    mp = select(PACK_TIMES.ravel(), start, end)
    out["az_packed_mean"] = PACK_VALUES.ravel()[mp].mean() if mp.any() else None
    # InfluxDB buckets of 1 s aligned on the epoch, each its maximum; then their maximum —
    # only the buckets that start within the interval (their stamp is their start).
    buckets = {}
    for t, v in zip(AZ_T, AZ["actualTorque"]):
        b = t // 10**9 * 10**9
        buckets[b] = max(buckets.get(b, -np.inf), v)
    inside = [v for b, v in buckets.items() if start <= b <= end]
    out["az_torque_1s_max"] = max(inside) if inside else None
    return out


def expected_unpivoted(start, end):
    mh = select(HP_T, start, end)
    return {f: HP[f][mh].max() for f in HP_FIELDS if mh.any()}


class Db:
    """The archive's database, through sqlite3 or psql."""

    def __init__(self, kind, where):
        self.kind, self.where = kind, where

    def name(self, schema, table):
        return f'"{schema}.{table}"' if self.kind == "sqlite" else f'"{schema}"."{table}"'

    def execute(self, sql):
        if self.kind == "sqlite":
            with sqlite3.connect(self.where) as c:
                c.executescript(sql)
        else:
            subprocess.run(["psql", "-q", "-X", "-v", "ON_ERROR_STOP=1", self.where, "-c", sql], check=True)

    def rows(self, sql):
        if self.kind == "sqlite":
            with sqlite3.connect(self.where) as c:
                return [tuple(r) for r in c.execute(sql)]
        out = subprocess.run(
            ["psql", "-At", "-X", "-F", "\t", self.where, "-c", sql], check=True, capture_output=True, text=True
        ).stdout
        rows = []
        for l in out.splitlines():
            rows.append(tuple(None if c == "" else _number(c) for c in l.split("\t")))
        return rows


def _number(text):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    work = tmp_path_factory.mktemp("efd")
    influx = work / "influx"
    url = subprocess.run(
        [str(REPO / "scripts" / "influx-server"), "start", str(influx)], check=True, capture_output=True, text=True
    ).stdout.strip()
    try:
        body = "\n".join(influx_lines()).encode()
        request = urllib.request.Request(f"{url}/write?db=efd&precision=n", data=body, method="POST")
        with urllib.request.urlopen(request, timeout=60) as r:
            assert r.status == 204
        (work / "data").mkdir()
        (work / "exports").mkdir()
        exports(work / "exports")
        (work / "config_test.yaml").write_text(CONFIG)
        if BACKEND == "postgres":
            name = f"skyport_efd_{os.getpid()}"
            admin = PG_ADMIN.rsplit("/", 1)[0] + "/postgres"
            subprocess.run(["psql", "-q", admin, "-c", f"CREATE DATABASE {name} TEMPLATE skyport"], check=True)
            database = f'url = "{PG_ADMIN.rsplit("/", 1)[0]}/{name}"'
            db = Db("postgres", PG_ADMIN.rsplit("/", 1)[0] + "/" + name)
        else:
            database = 'sqlite = "archive.sqlite"'
            db = Db("sqlite", str(work / "archive.sqlite"))
        real = SHARED / "consdb" / "transformed_efd_config" / "config_lsstcam.yaml"
        for file, influx_url in [("skyport.toml", url), ("down.toml", "http://127.0.0.1:9")]:
            (work / file).write_text(
                textwrap.dedent(
                    f"""\
                    [server]
                    listen = "{LISTEN}"
                    [database]
                    {database}
                    [archive]
                    authority = "test.efd"
                    [[archive.roots]]
                    name = "d"
                    path = "data"
                    collection = "c"
                    [consdb]
                    enabled = true
                    [[efd]]
                    instrument = "lsstcomcam"
                    config = "config_test.yaml"
                    influxdb_url = "{influx_url}"
                    window = "1d"
                    backoff = "1ms"
                    [[efd]]
                    instrument = "lsstcomcamsim"
                    config = "config_test.yaml"
                    exports = "exports"
                    window = "1d"
                    [[efd]]
                    instrument = "lsstcam"
                    config = "{real}"
                    influxdb_url = "{influx_url}"
                    window = "1d"
                    """
                )
            )
        # The exposures, as ConsDB holds them (TAI), through its REST API.
        obs = {}
        for day_obs, seq, start, end in EXPOSURES:
            t0, t1 = Time(start / 1e9, format="unix", scale="utc").tai, Time(end / 1e9, format="unix", scale="utc").tai
            t0.precision = t1.precision = 6  # microseconds: exposure 3 spans 2 µs
            obs[str(day_obs * 100000 + seq)] = {
                "exposure_name": f"CC_O_{day_obs}_{seq:06d}", "controller": "O", "day_obs": day_obs,
                "seq_num": seq, "obs_start": t0.isot, "obs_end": t1.isot,
                "obs_start_mjd": float(t0.mjd), "obs_end_mjd": float(t1.mjd),
            }
        server = subprocess.Popen([BIN, "serve", "--config", str(work / "skyport.toml")], stderr=subprocess.DEVNULL)
        try:
            for _ in range(200):
                try:
                    urllib.request.urlopen(f"http://{LISTEN}/consdb/", timeout=2)
                    break
                except OSError:
                    time.sleep(0.1)
            # ConsDB writes need credentials: a token of this archive with write:consdb, as
            # the summit's loaders hold.
            token = create_token(work / "skyport.toml", "efd-test-loader", ["write:consdb", "read:tap"])
            for instrument in ("lsstcomcam", "lsstcomcamsim", "lsstcam"):
                request = urllib.request.Request(
                    f"http://{LISTEN}/consdb/insert/{instrument}/exposure?u=1",
                    data=json.dumps({"obs_dict": obs}).encode(),
                    headers={"Content-Type": "application/json", **bearer(token)},
                    method="POST",
                )
                with urllib.request.urlopen(request, timeout=60) as r:
                    assert r.status == 200
        finally:
            server.terminate()
            server.wait(30)
        yield work, db, url
    finally:
        subprocess.run([str(REPO / "scripts" / "influx-server"), "stop", str(influx)], check=False)
        if BACKEND == "postgres":
            admin = PG_ADMIN.rsplit("/", 1)[0] + "/postgres"
            subprocess.run(["psql", "-q", admin, "-c", f"DROP DATABASE IF EXISTS skyport_efd_{os.getpid()}"], check=False)


def skyport(*args, ok=(0,)):
    r = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=600)
    assert r.returncode in ok, f"{args}: {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def run(work, *extra, config="skyport.toml", ok=(0,)):
    return skyport(
        "efd", "run", "--config", str(work / config), "--instrument", "lsstcomcam",
        "--since", SINCE, "--until", UNTIL, *extra, ok=ok,
    )


def close(got, want, what):
    if want is None:
        assert got is None, f"{what}: {got} where no sample gives NULL"
    else:
        assert got is not None, f"{what}: NULL, expected {want}"
        assert np.isclose(got, want, rtol=1e-6, atol=1e-12), f"{what}: {got} vs numpy {want}"


def test_every_function_matches_numpy_and_empty_intervals_are_null(archive):
    work, db, _ = archive
    out = run(work)
    assert re.search(r"^\d+ windows completed, 0 failed; 7 exposures and 7 visits", out.stdout), out.stdout
    cols = list(expected(0, 1))
    got = {
        r[0]: dict(zip(cols, r[1:]))
        for r in db.rows(
            f"SELECT exposure_id, {', '.join(cols)} FROM {db.name('efd_lsstcomcam', 'exposure_efd')} ORDER BY exposure_id"
        )
    }
    assert len(got) == len(EXPOSURES)
    for day_obs, seq, start, end in EXPOSURES:
        want = expected(start, end)
        for column, value in want.items():
            close(got[day_obs * 100000 + seq][column], value, f"exposure {day_obs}/{seq} {column}")
    # The preconditions the exposures were chosen for: every column has values to check,
    # and NULLs where there is no sample.
    wants = [expected(start, end) for _, _, start, end in EXPOSURES]
    for column in cols:
        assert any(w[column] is not None for w in wants), column
        assert any(w[column] is None for w in wants), column
    assert select(AZ_T, EXPOSURES[2][2], EXPOSURES[2][3]).sum() == 1
    assert expected(*EXPOSURES[3][2:])["az_mean"] is None
    assert not select(MS_T, *EXPOSURES[4][2:]).any() and expected(*EXPOSURES[4][2:])["az_state_recent"] is not None
    assert select(MS_T, *EXPOSURES[5][2:]).sum() >= 2
    last = EXPOSURES[6][2:]
    assert not select(EL_T, *last).any() and not select(HP_T, *last).any()
    assert expected(*last)["el_recent"] is not None and expected(*last)["hp_sal1_force1_recent"] is not None
    # ... and the latest salIndex-1 sample is not the latest sample, so the subset matters.
    assert HP_SAL[-1] != 1
    # Visits (each a single-exposure visit1) get the same values in visit1_efd.
    visits = {
        r[0]: r[1:]
        for r in db.rows(f"SELECT visit_id, az_mean, az_stddev FROM {db.name('efd_lsstcomcam', 'visit1_efd')}")
    }
    for day_obs, seq, start, end in EXPOSURES:
        want = expected(start, end)
        close(visits[day_obs * 100000 + seq][0], want["az_mean"], "visit az_mean")
        close(visits[day_obs * 100000 + seq][1], want["az_stddev"], "visit az_stddev")


def test_parquet_and_csv_exports_of_the_same_series_give_the_same_summaries(archive):
    work, db, _ = archive
    out = skyport(
        "efd", "run", "--config", str(work / "skyport.toml"), "--instrument", "lsstcomcamsim",
        "--since", SINCE, "--until", UNTIL,
    )
    assert "0 failed; 7 exposures" in out.stdout, out.stdout
    cols = list(expected(0, 1))
    got = {
        r[0]: dict(zip(cols, r[1:]))
        for r in db.rows(
            f"SELECT exposure_id, {', '.join(cols)} FROM {db.name('efd_lsstcomcamsim', 'exposure_efd')}"
        )
    }
    for day_obs, seq, start, end in EXPOSURES:
        for column, value in expected(start, end).items():
            close(got[day_obs * 100000 + seq][column], value, f"CSV: exposure {day_obs}/{seq} {column}")


def test_unpivoted_rows_hold_each_field(archive):
    work, db, _ = archive
    run(work, "--redo")
    for table_name, key in [("exposure_efd_unpivoted", "exposure_id"), ("visit1_efd_unpivoted", "visit_id")]:
        rows = db.rows(
            f"SELECT {key}, property, field, value FROM {db.name('efd_lsstcomcam', table_name)} ORDER BY {key}, field"
        )
        got = {}
        for ident, prop, field, value in rows:
            assert prop == "hp_forces_max"
            got.setdefault(ident, {})[field] = value
        for day_obs, seq, start, end in EXPOSURES:
            want = expected_unpivoted(start, end)
            have = got.get(day_obs * 100000 + seq, {})
            assert set(have) == set(want), f"{table_name} {seq}: {sorted(have)}"
            for field, value in want.items():
                close(have[field], value, f"{table_name} {day_obs}/{seq} {field}")


def snapshot(db):
    out = {}
    for t in ("exposure_efd", "visit1_efd", "exposure_efd_unpivoted", "exposure_efd_history"):
        out[t] = sorted(db.rows(f"SELECT * FROM {db.name('efd_lsstcomcam', t)}"), key=repr)
    return out


def test_rerunning_windows_gives_the_same_rows_and_records_no_new_version(archive):
    work, db, _ = archive
    run(work)
    before = snapshot(db)
    out = run(work, "--redo")
    assert "0 failed" in out.stdout
    after = snapshot(db)
    assert after == before


def test_recompute_writes_one_column_and_history_keeps_the_old_value(archive):
    work, db, url = archive
    run(work)
    ident = EXPOSURES[0][0] * 100000 + EXPOSURES[0][1]
    start, end = EXPOSURES[0][2:]
    old = db.rows(f"SELECT az_mean, az_max FROM {db.name('efd_lsstcomcam', 'exposure_efd')} WHERE exposure_id = {ident}")[0]
    # A late, large azimuth sample inside the first exposure arrives in the EFD.
    late = start + (end - start) // 3 + 7
    body = f"lsst.sal.MTMount.azimuth actualPosition=1000.0 {late}".encode()
    urllib.request.urlopen(urllib.request.Request(f"{url}/write?db=efd&precision=n", data=body, method="POST"), timeout=30)
    skyport(
        "efd", "recompute", "--config", str(work / "skyport.toml"), "--instrument", "lsstcomcam",
        "--column", "az_mean", "--since", SINCE, "--until", UNTIL,
    )
    new = db.rows(f"SELECT az_mean, az_max FROM {db.name('efd_lsstcomcam', 'exposure_efd')} WHERE exposure_id = {ident}")[0]
    m = select(AZ_T, start, end)
    want = np.append(AZ["actualPosition"][m], 1000.0).mean()
    close(new[0], want, "recomputed az_mean")
    assert new[1] == old[1], "az_max was not recomputed, so keeps its value"
    history = db.rows(
        f"SELECT az_mean, superseded_at FROM {db.name('efd_lsstcomcam', 'exposure_efd_history')} "
        f"WHERE exposure_id = {ident} ORDER BY version"
    )
    assert [h[0] for h in history][-2:] == [old[0], new[0]]
    assert history[-2][1] is not None and history[-1][1] is None


def test_a_failed_window_is_retried_and_ends_completed(archive):
    work, db, _ = archive
    out = run(work, "--redo", config="down.toml", ok=(2,))
    assert "failed" in out.stdout
    status = skyport("efd", "status", "--config", str(work / "down.toml"), "--instrument", "lsstcomcam").stdout
    assert re.search(r"failed [1-9]", status) and "cannot reach" in status, status
    out = run(work)
    assert " 0 failed" in out.stdout and "windows completed" in out.stdout
    rows = db.rows(
        f"SELECT status, retries, error FROM {db.name('efd_lsstcomcam', 'efd_scheduler')} ORDER BY start_time"
    )
    assert rows and all(r[0] == "completed" for r in rows)
    assert any(r[1] >= 1 for r in rows), "the failures were counted"
    assert all(r[2] is None for r in rows)


def test_the_real_lsstcam_config_runs_and_its_tables_are_in_tap_schema(archive):
    work, db, _ = archive
    skyport(
        "efd", "run", "--config", str(work / "skyport.toml"), "--instrument", "lsstcam",
        "--since", SINCE, "--until", UNTIL,
    )
    rows = db.rows(f"SELECT * FROM {db.name('efd_lsstcam', 'exposure_efd')}")
    assert len(rows) == len(EXPOSURES)
    # None of its 31 topics is in this InfluxDB: every summary is NULL, none is 0.
    assert all(v is None for r in rows for v in r[4:])
    tap = db.name("TAP_SCHEMA", "columns")
    n = db.rows(f"SELECT COUNT(*) FROM {tap} WHERE table_name = 'efd_lsstcam.exposure_efd'")[0][0]
    assert n == 477
    unit, ucd, description = db.rows(
        f"SELECT unit, ucd, description FROM {tap} WHERE table_name = 'efd_lsstcam.exposure_efd' "
        "AND column_name = 'mt_salindex110_sonic_temperature_mean'"
    )[0]
    assert (unit, ucd) == ("deg_C", "meta.ucd;stat.mean") and description.startswith("Mean median sonic")
