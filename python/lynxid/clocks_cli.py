"""The ``lynxid clocks`` command (registered in :mod:`lynxid.cli`): every camera's clock
checked against its station's deployment, as a table on the console and in
``clock_check.csv``."""
from __future__ import annotations

from pathlib import Path

__all__ = ["add_clocks"]

DESCRIPTION = """\
Check the camera clocks: per camera (station and camera), how many records fall outside the
station's deployment (setup to retrieval of the station table, as camtrapR's cameraOperation
reads it), whether the clock looks reset to its default date (a 2006 date on a 2017 survey),
a wrong year, or hours off the other camera at the same station; without --stations, cameras
far from the survey's bulk. When one constant shift explains it, a time shift is suggested in
camtrapR's timeShiftImages format -- nothing is corrected: check it, put it in a time-shift
table and give that to capture-history (or density fit) with --time-shifts.

RESULTS is an identify output folder (detections.parquet / detections.csv) or a detections
table / camtrapR record table (CSV or Parquet).
"""

EPILOG = """\
examples:
  lynxid clocks results/ --stations stations.csv
  lynxid clocks results/ --stations stations.csv --time-shifts shifts.csv   # check a correction
  lynxid capture-history results/detections.csv --stations stations.csv --time-shifts shifts.csv --out ch/

time-shift table (CSV, camtrapR's timeShiftTable):
  Station,camera,timeshift,sign
  B,c1,11:2:0 12:0:0,+        # the clock read 2006-01-01 00:00 when set up on 2017-03-01 12:00
  D,c2,0:0:0 1:0:0,-          # ran an hour ahead (summer time)
"""


def add_clocks(sub, formatter):
    p = sub.add_parser("clocks", help="check the camera clocks against the deployments; suggest time shifts",
                       description=DESCRIPTION, epilog=EPILOG, formatter_class=formatter)
    p.add_argument("results", help="identify output folder, or a detections / camtrapR record table")
    p.add_argument("--stations", default=None, help="station table, CSV or Parquet (CTtable)")
    p.add_argument("--time-shifts", default=None, metavar="FILE", help="camtrapR time-shift table to apply first")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="the per-camera table. Default: clock_check.csv in RESULTS (a folder) or next to it")
    p.add_argument("--far-days", type=float, default=180, metavar="DAYS",
                   help="cameras without deployment: flag those this far from the survey's middle. Default: 180")
    r = p.add_argument_group("records")
    r.add_argument("--station-col", default=None, metavar="COL", help="station column of the detections (stationCol)")
    r.add_argument("--time-col", default=None, metavar="COL", help="date-time column (recordDateTimeCol)")
    r.add_argument("--camera-col", default=None, metavar="COL", help="camera column of the detections (cameraCol)")
    r.add_argument("--species", default=None, help="check only this species' records (species)")
    r.add_argument("--species-col", default=None, metavar="COL", help="species column (speciesCol)")
    r.add_argument("--tz", default=None, metavar="ZONE", help="survey time zone, e.g. Europe/Paris (timeZone)")
    r.add_argument("--time-format", default=None, metavar="FMT",
                   help="format of the record times (recordDateTimeFormat)")
    g = p.add_argument_group("station table")
    g.add_argument("--station-id-col", default="Station", metavar="COL", help="station ID column. Default: Station")
    g.add_argument("--setup-col", default="Setup_date", metavar="COL", help="setup column. Default: Setup_date")
    g.add_argument("--retrieval-col", default="Retrieval_date", metavar="COL",
                   help="retrieval column. Default: Retrieval_date")
    g.add_argument("--camera-id-col", default=None, metavar="COL", help="camera column, several cameras per station")
    g.add_argument("--session-col", default=None, metavar="COL", help="session column")
    g.add_argument("--date-format", default=None, metavar="FMT", help="format of the station table dates (dateFormat)")
    g.add_argument("--x-col", default="utm_x", metavar="COL", help="x coordinate column. Default: utm_x")
    g.add_argument("--y-col", default="utm_y", metavar="COL", help="y coordinate column. Default: utm_y")
    p.set_defaults(func=run_clocks)
    return p


def _detections(results: str) -> tuple[Path, Path]:
    """The detections table of RESULTS and the default place of clock_check.csv."""
    root = Path(results)
    if root.is_dir():
        for name in ("detections.parquet", "detections.csv"):
            if (root / name).exists():
                return root / name, root / "clock_check.csv"
        raise FileNotFoundError(f"{root} has no detections.parquet or detections.csv: give identify's output folder "
                                "or a detections table")
    if not root.exists():
        raise FileNotFoundError(f"{root} not found")
    return root, root.parent / "clock_check.csv"


def run_clocks(a) -> int:
    from . import check_clocks, storage

    det, default_out = _detections(a.results)
    opts = dict(station_col=a.station_id_col, x_col=a.x_col, y_col=a.y_col, setup_col=a.setup_col,
                retrieval_col=a.retrieval_col, camera_col=a.camera_id_col, session_col=a.session_col,
                date_format=a.date_format)
    table = check_clocks(det, a.stations, time_shifts=a.time_shifts, station_col=a.station_col, time_col=a.time_col,
                         camera_col=a.camera_col, species=a.species, species_col=a.species_col,
                         time_format=a.time_format, tz=a.tz, station_options=opts, far_days=a.far_days)
    out = Path(a.out) if a.out else default_out
    storage.write_table(table, out)
    flagged = table[table.flag != "ok"]
    print(f"clocks: {len(table)} camera(s), {len(flagged)} flagged"
          + ("" if a.stations else " (no station table: compared with the survey's bulk only)"))
    if len(table):
        show = table[["station", "camera", "n_records", "n_outside", "first_record", "last_record", "flag",
                      "suggested_timeshift", "suggested_sign"]].fillna("")
        print(show.to_string(index=False))
    for s, c, note in zip(flagged.station, flagged.camera, flagged.note):
        print(f"  station {s}" + (f", camera {c}" if c else "") + f": {note}")
    for issue in table.attrs.get("issues", []):
        if issue["stage"] == "time shifts":
            print(f"  {issue['reason']}")
    print(f"  written: {out}")
    return 0
