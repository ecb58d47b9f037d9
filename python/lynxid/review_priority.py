"""Which photos to review first: those whose identity moves the density estimate most.

Reviewing the least certain calls first spends a reviewer's time on doubts that may not
matter: an uncertain name between two animals both seen at the same stations changes no
capture history's estimate, while one event that may be a new animal -- one more animal
with one capture, exactly what SCR uses to estimate how many were missed -- can move D a
lot. So units (events) are ranked by how much confirming them is expected to shrink the
part of D's variance that comes from identification.

From the draws of a multiple-imputation fit (``density_imputation``): the between-draw
variance of log D, B, splits as ``B = E[Var(log D | a_u)] + Var(E[log D | a_u])`` for any
unit u with drawn answer ``a_u`` (a known animal, or new). Confirming u fixes ``a_u``, which
removes the second term in expectation: it is estimated over the draws as
``sum_c p_c (m_c - m)^2`` (``p_c``: the share of draws giving u answer c; ``m_c``: their
mean log D; ``m``: all draws'), and reported as the expected fall of the identification
share of the variance, ``(1 + 1/K) * that / T``. Units no draw disagreed on score 0 and
come last, least certain first. With K draws a score is an estimate: a unit drawn otherwise
in only a few draws is ranked on few of them (more draws, steadier ranking).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .posterior import NEW_ANSWER

__all__ = ["rank_for_review", "PRIORITY_COLUMNS", "PRIORITY_FILE"]

PRIORITY_COLUMNS = ["priority", "unit_id", "event_id", "station", "individual_id", "probability", "p_other",
                    "variance_reduction", "share_reduction"]
PRIORITY_FILE = "review_priority.csv"     # written beside identify's results by a density fit with imputations


def rank_for_review(detections: pd.DataFrame, draws: pd.DataFrame, log_d: pd.Series, known,
                    total_variance: float) -> pd.DataFrame:
    """Units ranked for review (module doc), best first (:data:`PRIORITY_COLUMNS`).

    ``draws``: ``imputation.IdentitySampler.sample``'s table (``detection_id``, ``draw_*``);
    ``log_d``: each draw's log D by draw name (draws that could not be fitted left out);
    ``known``: the catalogue's names (any other drawn name is a new animal);
    ``total_variance``: Rubin's T of log D. Reviewed and rejected units are left out."""
    det = detections.reset_index(drop=True)
    if "unit_id" not in det:
        raise ValueError("the detections lack unit_id: give identify's detections table")
    known = set(map(str, known))
    names = [c for c in draws.columns if c != "detection_id" and c in log_d.index and np.isfinite(log_d[c])]
    k = len(names)
    if k < 2:
        return pd.DataFrame(columns=PRIORITY_COLUMNS)
    y = log_d[names].to_numpy(float)
    open_ = det["reviewed_by"].isna() if "reviewed_by" in det else pd.Series(True, index=det.index)
    first = det[open_ & det["individual_id"].notna()].groupby(det["unit_id"].astype(str), sort=False).head(1)
    pos = pd.Series(np.arange(len(draws)), index=draws["detection_id"].astype(str))
    rows = []
    for r in first.itertuples():
        drawn = draws.loc[pos[str(r.detection_id)], names].to_numpy(object)
        cat = np.array([str(a) if a is not None and str(a) in known else NEW_ANSWER for a in drawn])
        hard = str(r.individual_id) if not bool(r.is_new) else NEW_ANSWER
        score = sum((np.mean(cat == c)) * (y[cat == c].mean() - y.mean()) ** 2 for c in np.unique(cat))
        rows.append({"unit_id": str(r.unit_id), "event_id": r.event_id, "station": getattr(r, "station", None),
                     "individual_id": r.individual_id, "probability": float(r.probability),
                     "p_other": float(np.mean(cat != hard)), "variance_reduction": float(score),
                     "share_reduction": float((1 + 1 / k) * score / total_variance) if total_variance > 0 else 0.0})
    out = pd.DataFrame(rows, columns=PRIORITY_COLUMNS[1:])
    out = out.sort_values(["variance_reduction", "probability", "unit_id"], ascending=[False, True, True],
                          kind="stable").reset_index(drop=True)
    out.insert(0, "priority", np.arange(1, len(out) + 1))
    return out
