"""Step 8: hand the capture history to R as an .rds file -- a secr capthist where R has secr,
else its ingredients with a note on building it -- and fit it with both engines where secr is
installed. Needs R and rpy2 (pip install 'lynxid[r]'); examples/rds_handover.R reads the file.

    python examples/rds_handover.py [FOLDER]
"""
from _common import RESULTS, SURVEY, WORK

import lynxid
from lynxid.rbridge import RUnavailable

ch = lynxid.capture_history(RESULTS / "detections.parquet", SURVEY / "stations.csv", occasion_length=5,
                             unknown_stations="exclude")
try:
    written = lynxid.to_rds(ch, WORK / "capture_history" / "capthist.rds")
except RUnavailable as exc:            # no R or no rpy2 here: say what is missing, as lynxid does
    print(f"rds hand-over skipped: {exc}")
    raise SystemExit(0)
print(f"written {written['path']}: a {'secr capthist' if written['kind'] == 'capthist' else 'list of its ingredients'}")
print("in R:  ch <- readRDS(\"" + written["path"] + "\")" +
      ("; secr::secr.fit(ch, buffer = 15000, details = list(fastproximity = FALSE))" if written["kind"] == "capthist"
       else "; cat(ch$note)   # how to build the capthist with secr::make.capthist"))

# the same capture history fitted by lynxid and, where R has secr, by secr.fit on the same mask
fit = lynxid.fit_density(ch, "HN", buffer=15000)
print(f"lynxid: D = {fit.estimates_dict()['D_100km2']['estimate']:.3g} per 100 km²")
try:
    fit_secr = lynxid.fit_density(ch, "HN", buffer=15000, engine="secr")
    print(f"secr:   D = {fit_secr.estimates_dict()['D_100km2']['estimate']:.3g} per 100 km²")
except RUnavailable as exc:
    print(f"secr engine not run: {exc}")
