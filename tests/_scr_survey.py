"""A lynxid CaptureHistory made straight from a simulated SCR survey (lynxid.scr_simulate),
without photos: what the density tests need to exercise the capture-history route (folders
written by ``lynxid capture-history``, the demo's fit) in a fraction of a second."""
import numpy as np
import pandas as pd

from lynxid.capture import CaptureHistory


def capture_history_from_scr(data, detector_ids=None, animal_ids=None) -> CaptureHistory:
    """``data``: SCRData; ``detector_ids`` / ``animal_ids``: functions renaming detectors and
    animals (to exercise IDs that need quoting in secr's text files)."""
    rename_d = detector_ids or str
    rename_a = animal_ids or str
    det, usage, traps, inds = [], {}, [], []
    for s in data.sessions:
        ids = [rename_d(t) for t in s.trap_ids]
        animals = [rename_a(a) for a in s.animals]
        det.append(pd.DataFrame({"session": s.name, "individual": np.array(animals, dtype=object)[s.animal],
                                 "occasion": s.occasion + 1, "detector": np.array(ids, dtype=object)[s.trap],
                                 "count": s.count}))
        usage[s.name] = pd.DataFrame(s.usage, index=pd.Index(ids, name="detector"),
                                     columns=[f"o{k + 1}" for k in range(s.usage.shape[1])])
        traps.append(pd.DataFrame({"session": s.name, "detector": ids, "x": s.xy[:, 0], "y": s.xy[:, 1]}))
        inds.append(pd.DataFrame({"session": s.name, "individual": animals}))
    records = pd.DataFrame({c: pd.Series(dtype=object) for c in
                            ["row", "session", "station", "individual", "time", "occasion", "status", "reason"]})
    issues = pd.DataFrame({c: pd.Series(dtype=object) for c in ["row", "stage", "severity", "reason"]})
    return CaptureHistory(detections=pd.concat(det, ignore_index=True), usage=usage,
                          traps=pd.concat(traps, ignore_index=True), occasions=pd.DataFrame(),
                          individuals=pd.concat(inds, ignore_index=True), records=records, issues=issues,
                          detector_type=data.detector, settings={"occasion_length": 1})
