"""ObsLocTAP's ivoa.obsplan as pyvo reads it from the demo archive.

- Its columns against ObsLocTAP 1.0's list (names, VOTable types, units, UCDs).
- Each plan's execution_status computed here, independently, from the scheduler's file the demo
  loaded (obsplan.json) and the exposures ConsDB holds (read through TAP), by the rules of
  docs/observing.md: an exposure of the plan's instrument matches when it overlaps the planned
  interval widened by 10 minutes and is of the plan's target (same name, or a pointing within
  half the field of view, separations by astropy); Performed when the matched exposure times
  reach 90 % of the planned time, Aborted when they fall short, the scheduler's status otherwise.
"""
import json
import os

import numpy as np
import pyvo
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.time import Time

BASE = os.environ["SKYPORT_URL"].rstrip("/")
DEMO = os.environ["SKYPORT_DEMO_DIR"]

# ObsLocTAP 1.0, §4: column, datatype class, unit, UCD.
STANDARD = [
    ("t_planning", "double", "d", None),
    ("target_name", "char", None, "meta.id;src"),
    ("obs_id", "char", None, "meta.id"),
    ("obs_collection", "char", None, "meta.id"),
    ("s_ra", "double", "deg", "pos.eq.ra"),
    ("s_dec", "double", "deg", "pos.eq.dec"),
    ("s_fov", "double", "deg", "phys.angSize;instr.fov"),
    ("s_region", "char", None, "pos.outline;obs.field"),
    ("s_resolution", "double", "arcsec", "pos.angResolution"),
    ("t_min", "double", "d", "time.start;obs.exposure"),
    ("t_max", "double", "d", "time.end;obs.exposure"),
    ("t_exptime", "double", "s", "time.duration;obs.exposure"),
    ("t_resolution", "double", "s", "time.resolution"),
    ("em_min", "double", "m", "em.wl;stat.min"),
    ("em_max", "double", "m", "em.wl;stat.max"),
    ("em_res_power", "double", None, "spect.resolution"),
    ("o_ucd", "char", None, "meta.ucd"),
    ("pol_states", "char", None, "meta.code;phys.polarization"),
    ("pol_xel", "int", None, "meta.number"),
    ("facility_name", "char", None, "meta.id;instr.tel"),
    ("instrument_name", "char", None, "meta.id;instr"),
    ("t_plan_exptime", "double", "s", "time.duration;obs.exposure"),
    ("category", "char", None, None),
    ("priority", "int", None, None),
    ("execution_status", "char", None, None),
    ("tracking_type", "char", None, None),
]


def tap():
    return pyvo.dal.TAPService(BASE + "/tap")


def test_obsplan_has_every_column_of_the_standard():
    result = tap().search("SELECT TOP 1 * FROM ivoa.obsplan")
    votable = result.votable
    by_name = {f.name: f for f in votable.get_first_table().fields}
    for name, kind, unit, ucd in STANDARD:
        assert name in by_name, name
        f = by_name[name]
        if kind == "char":
            assert f.datatype in ("char", "unicodeChar"), (name, f.datatype)
        elif kind == "int":
            assert f.datatype in ("short", "int", "long"), (name, f.datatype)
        else:
            assert f.datatype in ("double", "float"), (name, f.datatype)
        assert (str(f.unit) if f.unit is not None else None) == unit, (name, f.unit)
        assert f.ucd == ucd, (name, f.ucd)


def expected_statuses():
    with open(os.path.join(DEMO, "obsplan.json")) as f:
        plans = json.load(f)["observations"]
    service = tap()
    out = {}
    for p in plans:
        instrument = "".join(c for c in p["instrument_name"] if c.isalnum()).lower()
        t0 = float(Time(p["t_min"], scale="utc").mjd) - 10 / 1440
        t1 = float(Time(p["t_max"], scale="utc").mjd) + 10 / 1440
        if p["execution_status"] not in ("Planned", "Scheduled"):
            out[p["obs_id"]] = (p["execution_status"], None)
            continue
        rows = service.search(
            f"SELECT target_name, s_ra, s_dec, obs_start_mjd, obs_end_mjd, exp_time "
            f"FROM cdb_{instrument}.exposure WHERE obs_end_mjd >= {t0!r} AND obs_start_mjd <= {t1!r}"
        ).to_table()
        taken = []
        for r in rows:
            same_name = (
                p.get("target_name") is not None
                and not np.ma.is_masked(r["target_name"])
                and str(r["target_name"]).strip().lower() == p["target_name"].strip().lower()
            )
            near = False
            if not np.ma.is_masked(r["s_ra"]) and not np.ma.is_masked(r["s_dec"]):
                sep = SkyCoord(p["s_ra"] * u.deg, p["s_dec"] * u.deg).separation(
                    SkyCoord(float(r["s_ra"]) * u.deg, float(r["s_dec"]) * u.deg))
                near = sep.deg <= p.get("s_fov", 2.0) / 2
            if same_name or near:
                taken.append(r)
        if not taken:
            out[p["obs_id"]] = (p["execution_status"], None)
            continue
        seconds = float(sum(float(r["exp_time"]) for r in taken))
        status = "Performed" if seconds >= 0.9 * p["t_plan_exptime"] else "Aborted"
        out[p["obs_id"]] = (status, (min(float(r["obs_start_mjd"]) for r in taken),
                                     max(float(r["obs_end_mjd"]) for r in taken), seconds))
    return out


def test_each_plan_has_the_status_its_exposures_give_it():
    want = expected_statuses()
    got = {str(r["obs_id"]): r for r in tap().search(
        "SELECT obs_id, execution_status, t_min, t_max, t_exptime FROM ivoa.obsplan").to_table()}
    assert set(got) == set(want)
    for obs_id, (status, taken) in want.items():
        row = got[obs_id]
        assert str(row["execution_status"]) == status, (obs_id, row["execution_status"], status)
        if taken is not None:
            assert abs(float(row["t_min"]) - taken[0]) < 1e-9, obs_id
            assert abs(float(row["t_max"]) - taken[1]) < 1e-9, obs_id
            assert abs(float(row["t_exptime"]) - taken[2]) < 1e-6, obs_id
    # The demo's nights have all kinds.
    statuses = {s for s, _ in want.values()}
    assert {"Performed", "Aborted", "Planned"} <= statuses, statuses
