"""Step 5: camera operation and the capture history, written as secr's capt.txt/traps.txt
(and oSCR, nimble/JAGS, Rcapture, RMark files).

    python examples/capture_history.py [FOLDER]
"""
from _common import RESULTS, SURVEY, WORK

import lynxid

camop = lynxid.camera_operation(SURVEY / "stations.csv")
print(f"camera operation: {camop.shape[0]} stations x {camop.shape[1]} days, {camop.sum().sum():.1f} trap-days")
ch = lynxid.capture_history(RESULTS / "detections.parquet", SURVEY / "stations.csv", occasion_length=5,
                             unknown_stations="exclude")
print(ch.summary().to_string(index=False))
written = lynxid.write_capture_history(ch, WORK / "capture_history", formats=("secr", "oscr", "nimble"))
print(f"secr files: {written['secr']}")
left = ch.issues[ch.issues.severity.isin(["excluded", "error"])]
print(f"{len(left)} record(s) left out, each with its reason in capture_history/issues.csv")
