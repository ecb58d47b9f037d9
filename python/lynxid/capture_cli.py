"""The ``lynxid capture-history`` and ``lynxid camera-operation`` commands (registered in
:mod:`lynxid.cli`). Every option names its camtrapR equivalent."""
from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["add_capture_history", "add_camera_operation", "add_capture_options", "capture_kwargs"]

CH_DESCRIPTION = """\
Build a capture history from identified detections and a station table and write it for
secr, oSCR, nimble/JAGS, Rcapture, RMark and/or Camtrap DP (camtrapR's cameraOperation +
spatialDetectionHistory in one step).

DETECTIONS is lynxid identify's detections table or a camtrapR record table (CSV or
Parquet). Column names are found automatically (station/Station, timestamp/DateTimeOriginal,
individual_id/Individual, camera/Camera); override them with --station-col etc.
STATIONS is a camtrapR station table (CTtable): Station, utm_x, utm_y, Setup_date,
Retrieval_date, optional Problem1_from/Problem1_to, ..., Camera, session.

Written to --out: the chosen formats, summary.json (settings and counts), usage.csv (days of
effort per station and occasion), issues.csv (every record left out or questionable, with
its row and the reason) and records_not_used.csv.
"""

CH_EPILOG = """\
examples:
  lynxid capture-history results/detections.csv --stations stations.csv --out ch/
  lynxid capture-history results/detections.csv --stations stations.csv --out ch_left/ --flank left
  lynxid capture-history recordTable.csv --stations camtraps.csv --out ch/ --date-format dmy \\
      --species LeopardCat --occasion-length 10 --tz Asia/Kuching --format secr,oscr,rmark
  Rscript -e 'setwd("ch"); source("read_secr.R")'     # secr capthist with usage

semantics: by default camtrapR's rules, quirks included, so that the result equals
camtrapR's cameraOperation + spatialDetectionHistory cell for cell: day values rounded to 4
decimals, occasions (start, end] (a record at exactly 00:00:00 belongs to the day before),
two cameras set up the same day count 1 for that day, records after their station's last day
left out, one occasion grid over all sessions from the survey's first setup day.
--semantics exact uses lynxid's exact time line instead: effort to the second, several
cameras as the union of their working time, occasions [start, end), each session's grid from
its own first setup day. Either way, overlapping Problem periods count once and records left
out are listed in issues.csv, never dropped silently.
"""


def _common_station_options(p):
    g = p.add_argument_group("station table (camtrapR CTtable / cameraOperation arguments)")
    g.add_argument("--station-id-col", default="Station", metavar="COL",
                   help="station ID column of the station table (stationCol). Default: Station")
    g.add_argument("--x-col", default="utm_x", metavar="COL", help="x coordinate in metres, projected CRS (Xcol). Default: utm_x")
    g.add_argument("--y-col", default="utm_y", metavar="COL", help="y coordinate in metres (Ycol). Default: utm_y")
    g.add_argument("--setup-col", default="Setup_date", metavar="COL", help="setup date(-time) (setupCol). Default: Setup_date")
    g.add_argument("--retrieval-col", default="Retrieval_date", metavar="COL",
                   help="retrieval date(-time) (retrievalCol). Default: Retrieval_date")
    g.add_argument("--camera-id-col", default=None, metavar="COL",
                   help="camera ID column, several cameras per station (cameraCol)")
    g.add_argument("--session-col", default=None, metavar="COL",
                   help="session / season column: a multi-session capture history (sessionCol)")
    g.add_argument("--date-format", default=None, metavar="FMT",
                   help="format of the station table dates, e.g. dmy, ymd HMS or %%d/%%m/%%Y (dateFormat). "
                        "Default: inferred; ambiguous dates stop with an error. Dates without time are taken as 12:00")
    pg = g.add_mutually_exclusive_group()
    pg.add_argument("--has-problems", dest="has_problems", action="store_const", const=True, default=None,
                    help="use the ProblemN_from / ProblemN_to malfunction columns (hasProblems = TRUE); "
                         "default: use them when present")
    pg.add_argument("--no-problems", dest="has_problems", action="store_const", const=False,
                    help="ignore malfunction columns (hasProblems = FALSE)")
    g.add_argument("--station-covariates", default=None, metavar="COLS",
                   help="comma-separated station covariate columns (stationCovariateCols)")
    g.add_argument("--all-cams-on", action="store_true",
                   help="with several cameras, a station works only while all its cameras work (allCamsOn = TRUE)")
    g.add_argument("--cameras-independent", action="store_true",
                   help="several cameras count as independent detectors: effort adds up (camerasIndependent = TRUE)")
    g.add_argument("--occasion-start-time", type=float, default=0, metavar="H",
                   help="hour of day at which days/occasions begin, 0-23 (occasionStartTime). Default: 0")
    g.add_argument("--semantics", choices=["camtrapR", "exact"], default="camtrapR",
                   help="camtrapR's rules, quirks included (default), or lynxid's exact time line (see the epilog "
                        "of capture-history)")
    return g


def _station_options(a) -> dict:
    return dict(station_col=a.station_id_col, x_col=a.x_col, y_col=a.y_col, setup_col=a.setup_col,
                retrieval_col=a.retrieval_col, camera_col=a.camera_id_col, session_col=a.session_col,
                has_problems=a.has_problems, date_format=a.date_format,
                station_covariates=[c.strip() for c in a.station_covariates.split(",")] if a.station_covariates else None)


def add_capture_options(p) -> None:
    """The options that say how detections become a capture history (occasions, records,
    station table): ``capture-history``'s, and ``density fit --imputations``'s, which builds
    one per draw of the identities."""
    o = p.add_argument_group("occasions (spatialDetectionHistory arguments)")
    o.add_argument("--occasion-length", type=float, default=1, metavar="DAYS",
                   help="days per occasion (occasionLength); fractions with --semantics exact. Default: 1")
    o.add_argument("--day1", default="survey", metavar="WHEN",
                   help="first occasion starts at: survey (first setup), station (each station's setup) or a date "
                        "YYYY-MM-DD (day1). Default: survey")
    o.add_argument("--buffer-days", type=int, default=0, metavar="DAYS",
                   help="days after each station's setup day before its first occasion (buffer). Default: 0")
    o.add_argument("--max-days", type=float, default=None, metavar="DAYS",
                   help="at most this many days per station (maxNumberDays)")
    o.add_argument("--output", choices=["binary", "count"], default="binary",
                   help="binary = secr proximity detectors, count = secr count detectors (output). Default: binary")
    o.add_argument("--keep-empty-occasions", action="store_true",
                   help="keep occasions without effort at any station (camtrapR always drops them)")
    r = p.add_argument_group("records (recordTableIndividual / spatialDetectionHistory arguments)")
    r.add_argument("--station-col", default=None, metavar="COL", help="station column of the detections (stationCol)")
    r.add_argument("--time-col", default=None, metavar="COL", help="date-time column (recordDateTimeCol)")
    r.add_argument("--individual-col", default=None, metavar="COL", help="individual ID column (individualCol)")
    r.add_argument("--camera-col", default=None, metavar="COL", help="camera column of the detections (cameraCol)")
    r.add_argument("--species", default=None, help="use only this species (species)")
    r.add_argument("--species-col", default=None, metavar="COL", help="species column (speciesCol)")
    r.add_argument("--flank", choices=["left", "right"], default=None,
                   help="only the detections of this flank (column flank), for surveys whose left and right flanks "
                        "are not linked; the others are listed in issues.csv. Default: every detection, flanks "
                        "linked by identity")
    r.add_argument("--tz", default=None, metavar="ZONE",
                   help="survey time zone for local days, e.g. Europe/Zurich or +01:00 (timeZone). Times without "
                        "offset are taken as local times in this zone; times with offset are converted to it")
    r.add_argument("--time-format", default=None, metavar="FMT",
                   help="format of the record times, e.g. ymd HMS or %%Y-%%m-%%d %%H:%%M:%%S (recordDateTimeFormat). "
                        "Default: ISO 8601 / inferred")
    r.add_argument("--min-delta-minutes", type=float, default=0, metavar="MIN",
                   help="keep only records at least MIN minutes after the last independent record of the same "
                        "individual at the station (minDeltaTime). Default: 0 = use all records")
    r.add_argument("--delta-compared-to", choices=["last_independent", "last"], default="last_independent",
                   help="compare with the last independent record or the last record (deltaTimeComparedTo)")
    r.add_argument("--remove-duplicates", action="store_true",
                   help="drop records of the same individual, station and time (removeDuplicateRecords)")
    r.add_argument("--unknown-stations", choices=["error", "exclude"], default="error",
                   help="records at stations missing from the station table: stop (default, like camtrapR) or "
                        "leave them out and list them in issues.csv")
    r.add_argument("--strict", action="store_true", help="stop if any record would be left out")
    r.add_argument("--time-shifts", default=None, metavar="FILE",
                   help="cameras whose clock was wrong: camtrapR time-shift table (CSV: Station, camera (optional), "
                        "timeshift 'Y:M:D h:m:s', sign +/-; timeShiftImages' format), applied to the record times "
                        "first. Suspicious clocks are listed either way: see lynxid clocks")
    _common_station_options(p)


def capture_kwargs(a) -> dict:
    """:func:`lynxid.capture.capture_history`'s keyword arguments from :func:`add_capture_options`'s."""
    return dict(occasion_length=a.occasion_length, day1=a.day1, occasion_start_time=a.occasion_start_time,
                buffer_days=a.buffer_days, max_days=a.max_days, output=a.output,
                drop_empty_occasions=not a.keep_empty_occasions, all_cams_on=a.all_cams_on,
                cameras_independent=a.cameras_independent, min_delta_minutes=a.min_delta_minutes,
                delta_compared_to=a.delta_compared_to, remove_duplicates=a.remove_duplicates, species=a.species,
                tz=a.tz, time_format=a.time_format, station_col=a.station_col, time_col=a.time_col,
                individual_col=a.individual_col, camera_col=a.camera_col, species_col=a.species_col,
                unknown_stations=a.unknown_stations, strict=a.strict, station_options=_station_options(a),
                semantics=a.semantics, flank=a.flank, time_shifts=a.time_shifts)


def add_capture_history(sub, formatter):
    p = sub.add_parser("capture-history", help="capture histories for secr, oSCR, nimble, Rcapture, RMark, Camtrap DP",
                       description=CH_DESCRIPTION, epilog=CH_EPILOG, formatter_class=formatter)
    p.add_argument("detections", help="detections (lynxid identify output) or camtrapR record table, CSV, Parquet "
                                      "or .rds (saveRDS; needs R and rpy2) (recordTableIndividual)")
    p.add_argument("--stations", required=True, help="station table, CSV, Parquet or .rds (CTtable)")
    p.add_argument("--camera-operation", default=None, metavar="FILE",
                   help="camtrapR's camera operation matrix (camOp) as .rds (saveRDS) or CSV: checked cell for cell "
                        "against the effort lynxid computes from --stations; a difference stops with the cells listed")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--format", default="secr", metavar="LIST",
                   help="comma-separated: secr, oscr, nimble, closed (Rcapture), rmark, camtrapdp, rds (a secr capthist "
                        "saved for R's readRDS: capthist.rds; needs R and rpy2, and secr for the capthist itself), or "
                        "all. Default: secr")
    add_capture_options(p)
    x = p.add_argument_group("formats")
    x.add_argument("--augment-to", type=int, default=None, metavar="M",
                   help="nimble/JAGS: data augmentation to M individuals. Default: max(5 n, n + 1) for the n "
                        "detected in each session (as R's as_nimble())")
    x.add_argument("--crs", default=None,
                   help="Camtrap DP: UTM zone of the coordinates (EPSG:326NN / EPSG:327NN / 'UTM 33N') for latitude/longitude")
    x.add_argument("--scientific-name", default=None, help="Camtrap DP: scientific name, e.g. 'Lynx lynx'")
    p.set_defaults(func=run_capture_history)
    return p


def run_capture_history(a) -> int:
    from .capture import capture_history
    from .export import write_formats

    if a.camera_operation:
        from .camera_operation_check import check_camera_operation
        camop = check_camera_operation(a.camera_operation, a.stations, all_cams_on=a.all_cams_on, tz=a.tz,
                                       cameras_independent=a.cameras_independent,
                                       occasion_start_time=a.occasion_start_time, **_station_options(a))
        print(f"camera operation {a.camera_operation}: the same as lynxid's, cell for cell "
              f"({camop.shape[0]} rows x {camop.shape[1]} days)")
    formats = [f.strip() for f in a.format.split(",") if f.strip()]
    rds = "rds" in formats
    if rds:
        from .rbridge import robjects
        robjects()                     # R and rpy2 there? Say so before the work, not after
    ch = capture_history(a.detections, a.stations, **capture_kwargs(a))
    written = write_formats(ch, a.out, [f for f in formats if f != "rds"], augment_to=a.augment_to, crs=a.crs,
                            scientific_name=a.scientific_name)
    print(ch)
    for f, w in written.items():
        if isinstance(w, dict):
            for note in w.get("issues", []):
                print(f"  {f}: {note}")
    if rds:
        from .capthist import to_rds
        w = written["rds"] = to_rds(ch, Path(a.out) / "capthist.rds")
        print(f"  rds: {w['path']}: " + ("a secr capthist: ch <- readRDS(...)" if w["kind"] == "capthist" else
                                        "secr is not installed in this R, so the capthist's ingredients as an R list; "
                                        "its $note says how to build the capthist with make.capthist"))
    iss = ch.issues
    for note in iss.reason[iss.stage.isin(["clocks", "time shifts"])]:
        print(f"  clock: {note}")
    if len(iss):
        counts = ", ".join(f"{n} {k}" for k, n in iss.severity.value_counts().items())
        print(f"  issues: {counts} -> {Path(a.out) / 'issues.csv'}")
    print(f"  written to {a.out}: {', '.join(written)} (+ summary.json, usage, issues.csv)")
    return 0


def add_camera_operation(sub, formatter):
    p = sub.add_parser("camera-operation", help="camera operation (effort) matrix: station x day (cameraOperation)",
                       description="camtrapR's cameraOperation: days of effort per station (row) and day (column); "
                                   "fractions on setup/retrieval days (0.5 for date-only entries, exact with times), "
                                   "0 while broken (Problem periods), empty (NA) while not deployed.",
                       formatter_class=formatter)
    p.add_argument("stations", help="station table, CSV or Parquet (CTtable)")
    p.add_argument("--out", required=True, help="output table (.csv or .parquet)")
    p.add_argument("--by-camera", action="store_true", help="one row per camera (byCamera = TRUE); needs --camera-id-col")
    p.add_argument("--resolution-hours", type=float, default=24, metavar="H",
                   help="bin width in hours; 24 = days as in camtrapR (others need --semantics exact). Default: 24")
    p.add_argument("--unit", choices=["days", "fraction"], default="days",
                   help="values in days of effort (default) or as the fraction of each bin")
    _common_station_options(p)
    p.set_defaults(func=run_camera_operation)
    return p


def run_camera_operation(a) -> int:
    from . import storage
    from .effort import camera_operation

    opts = _station_options(a)
    co = camera_operation(a.stations, by_camera=a.by_camera, all_cams_on=a.all_cams_on,
                          cameras_independent=a.cameras_independent, occasion_start_time=a.occasion_start_time,
                          resolution_hours=a.resolution_hours, unit=a.unit, semantics=a.semantics, **opts)
    storage.write_table(co.reset_index(), a.out)
    print(f"camera operation: {co.shape[0]} rows x {co.shape[1]} bins, {float(co.sum().sum()):g} trap-days -> {a.out}",
          file=sys.stdout)
    return 0
