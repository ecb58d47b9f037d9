"""The probability reported with a decision, mapped to how often such decisions are right.

P(k) and P(new) come from pairwise probabilities calibrated pair by pair, but a decision picks
the largest of them, and that choice is not what the pairwise calibration saw: the most
probable of several candidates is right less often than its probability says. So the
probability shown with a decision (P of the named individual, or P(new)) is mapped, on the
catalogue's own leave-one-out decisions (``openset.decision_table``), to the share of such
decisions that were right, so that "0.8" means right four times in five.

A named animal and a "new" call are mapped apart: the same 0.6 means something else for
each, and one map could only fit their mixture. A named animal's map also reads P(new): the
same probability shown means something else when the rest sits on rival candidates (a
look-alike in the catalogue) than when it sits on "new"; on the catalogues measured the name
was right more often in the second case (benchmarks/README.md, "Calibration of the
posterior"). The maps are logistic in logit(probability), two parameters each (three for a
named animal's, with logit(P(new))): step-wise (isotonic) maps overfit where the values crowd, as P(new) of
the "new" calls does in a band a few thousandths wide set by the "new" weight
(benchmarks/README.md, "Identification defaults").
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["ReportedProbability", "MIN_DECISIONS", "MIN_SPLIT_DECISIONS", "logit", "NEW"]

MIN_DECISIONS = 30           # of each scenario (known, unknown) before any map is fitted
MIN_SPLIT_DECISIONS = 200    # of one kind (named / new) before it gets a map of its own
KINDS = ("named", "new")
NEW = -1                     # :meth:`ReportedProbability.posterior`'s index of the answer "new"

REBUILD = "rebuild it with `lynxid catalogue build`"


def logit(p) -> np.ndarray:
    p = np.clip(np.asarray(p, float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _logistic_map(shown, right, w) -> dict:
    """``P(right) = sigmoid(slope * logit(shown) + intercept)``, weighted, mildly L2-regularised
    and monotone: with one kind of outcome only (every decision right, or none) or a slope that
    is not positive, a flat map at the smoothed share of right decisions."""
    from sklearn.linear_model import LogisticRegression
    w = w * len(w) / w.sum()                 # mean weight 1: the penalty means the same at any size
    share = (np.sum(w * right) + 0.5) / (np.sum(w) + 1.0)
    flat = {"slope": 0.0, "intercept": float(np.log(share / (1 - share)))}
    if len(np.unique(right)) < 2:
        return flat
    f = LogisticRegression(C=1.0).fit(logit(shown)[:, None], right, sample_weight=w)
    if f.coef_[0, 0] <= 0:                   # never rank a decision as surer because it scored lower
        return flat
    return {"slope": float(f.coef_[0, 0]), "intercept": float(f.intercept_[0])}


def _logistic_map_with_new(shown, p_new, right, w) -> dict:
    """``P(right) = sigmoid(slope * logit(shown) + slope_new * logit(p_new) + intercept)``,
    weighted and mildly L2-regularised like the one-input map, which it falls back to where
    ``slope`` is not positive (a decision never surer because it scored lower). The sign of
    ``slope_new`` is the catalogue's to say (module doc)."""
    from sklearn.linear_model import LogisticRegression
    if len(np.unique(right)) < 2:
        return _logistic_map(shown, right, w)
    f = LogisticRegression(C=1.0).fit(np.c_[logit(shown), logit(p_new)], right, sample_weight=w * len(w) / w.sum())
    a, b = f.coef_[0]
    if a <= 0:                               # never rank a decision as surer because it scored lower
        return _logistic_map(shown, right, w)
    return {"slope": float(a), "slope_new": float(b), "intercept": float(f.intercept_[0])}


class ReportedProbability:
    """Maps from the reported probability to the share of right decisions.

    One map is :meth:`fit_map` / :meth:`apply_map` (a harness may measure another kind by
    overriding both). Settings: ``min_decisions`` (of each scenario before anything is mapped),
    ``min_split`` (of one kind of decision before it gets its own map). Fitted state:
    ``maps`` -- ``{"map": "logistic", "all": ..., "named": ..., "new": ..., "decisions": n}``
    (``named``/``new`` only with enough decisions of that kind), or None when there were too
    few decisions: the probability is then reported as is."""

    KIND = "logistic"

    def __init__(self, min_decisions: int = MIN_DECISIONS, min_split: int = MIN_SPLIT_DECISIONS):
        self.min_decisions = min_decisions
        self.min_split = min_split
        self.maps: dict | None = None

    def fit(self, table: pd.DataFrame) -> "ReportedProbability":
        """Fit on ``openset.decision_table`` (columns ``scenario``, ``shown``, ``right`` and
        ``called_new``), known and unknown scenarios weighted equally: the balance the "new"
        weight is chosen for."""
        self.maps = None
        k, u = table[table.scenario == "known"], table[table.scenario == "unknown"]
        if min(len(k), len(u)) < self.min_decisions:
            return self
        w = np.where(table.scenario == "known", 1.0 / len(k), 1.0 / len(u))
        shown, right = table["shown"].to_numpy(float), table["right"].to_numpy(float)
        maps = {"map": self.KIND, "all": self.fit_map(shown, right, w), "decisions": int(len(table))}
        if "called_new" in table:
            new = table["called_new"].to_numpy(bool)
            p_new = table["p_new"].to_numpy(float) if "p_new" in table else None
            for name, m in zip(KINDS, (~new, new)):
                if m.sum() < self.min_split:
                    continue
                maps[name] = (self.fit_named_map(shown[m], p_new[m], right[m], w[m])
                              if name == "named" and p_new is not None else self.fit_map(shown[m], right[m], w[m]))
        self.maps = maps
        return self

    def predict(self, shown, called_new=None, p_new=None) -> np.ndarray:
        """The mapped probability: a decision's own kind's map where there is one
        (``called_new``: per value, a "new" call; ``p_new``: P(new) before the map, which a
        named animal's map reads), else the pooled one; unchanged without maps."""
        shown = np.asarray(shown, float)
        if not self.maps:
            return shown
        out = self.apply_map(self.maps["all"], shown)
        if called_new is not None:
            new = np.broadcast_to(np.asarray(called_new, bool), shown.shape)
            pn = None if p_new is None else np.broadcast_to(np.asarray(p_new, float), shown.shape)
            for name, m in zip(KINDS, (~new, new)):
                if name in self.maps and m.any():
                    out[m] = self.apply_map(self.maps[name], shown[m], None if pn is None else pn[m])
        return out

    def posterior(self, pk, p_new: float, answer: int) -> tuple[np.ndarray, float]:
        """The whole posterior over {each candidate, new}, calibrated: the decided answer
        (``answer``: an index into the candidates ``pk``, or :data:`NEW`) gets its mapped
        probability (:meth:`predict`), and the other answers share what is left in the
        proportions the model gave them. So the probabilities sum to one, the decided answer's
        is the one reported, and a sampler drawing identities from them (``imputation``) draws
        the decided answer as often as such decisions are right. Returns ``(pk, p_new)``."""
        # answers as one vector: the candidates, then "new"
        p = np.append(np.asarray(pk, float), float(p_new))
        i = len(p) - 1 if answer == NEW else int(answer)
        shown = float(self.predict(p[i:i + 1], np.array([answer == NEW]), np.array([float(p_new)]))[0])
        rest = np.delete(p, i)
        if rest.sum() > 1e-12:
            rest = rest / rest.sum()
        elif len(rest):                      # the model was sure: what the map takes away, evenly
            rest = np.full(len(rest), 1.0 / len(rest))
        out = np.insert(rest * (1.0 - shown), i, shown)
        return out[:-1], float(out[-1])

    @staticmethod
    def fit_map(shown: np.ndarray, right: np.ndarray, w: np.ndarray) -> dict:
        """One map, fitted on decisions weighted ``w``: logistic in logit(shown)."""
        return _logistic_map(shown, right, w)

    @staticmethod
    def fit_named_map(shown: np.ndarray, p_new: np.ndarray, right: np.ndarray, w: np.ndarray) -> dict:
        """A named animal's map, which also reads P(new) (module doc)."""
        return _logistic_map_with_new(shown, p_new, right, w)

    @staticmethod
    def apply_map(m: dict, shown: np.ndarray, p_new: np.ndarray | None = None) -> np.ndarray:
        z = m["slope"] * logit(shown) + m["intercept"]
        if m.get("slope_new"):
            if p_new is None:
                raise ValueError("this map of a named animal's probability reads P(new): give p_new")
            z = z + m["slope_new"] * logit(p_new)
        return 1.0 / (1.0 + np.exp(-z))

    def to_dict(self) -> dict | None:
        return self.maps

    @classmethod
    def from_dict(cls, d: dict | None) -> "ReportedProbability":
        """Maps as ``to_dict`` stored them (None: no maps). Maps of catalogues built by
        lynxid 0.1.0 before the logistic maps (isotonic ``x``/``y``, or unsplit) are refused."""
        r = cls()
        if d is not None and (d.get("map") != "logistic" or "all" not in d
                              or any("slope" not in d[k] for k in ("all", *KINDS) if k in d)):
            raise ValueError("the catalogue's maps of reported probabilities are of an earlier lynxid "
                             f"(isotonic or unsplit); {REBUILD}")
        r.maps = d
        return r
