"""What a pair probability says about two photos the catalogue could not place.

identify's pair probabilities (``posterior.unit_pairs``, the clustering's evidence) come from
a calibrator fitted on the catalogue's pairs. Read as a likelihood ratio, the natural reading
is ``odds(p) / odds(base rate)`` -- the calibrator's own mix of same and different pairs taken
out (``imputation``'s reading). But the pairs the draws group are pairs of photos that the
catalogue did *not* place, a different population, and there that reading understates the
evidence: by 0.2-0.8 nats over the bulk of nyala's pairs and 0.8-2.5 on the simulated lynx's
(benchmarks/README.md, "Identities drawn inside the SCR model"). An SCR model that draws
identities (``latent_identity``) multiplies these ratios over an animal's photos, so that
shortfall decides how many animals it finds: read from the base rate, the pilot's nyala
surveys came out 2.6 times too dense.

So the map is measured where it is used: on pairs of held-out individuals' photos called
new, with the animal known -- exactly what ``lynxid evaluate``'s open set collects
(``open_set.new_pairs``: the unknown half's detections called new, every pair with its
probability and whether it is one animal). :class:`PairEvidence` fits
``log LR = intercept + slope * (logit(p) - logit(base rate))`` to them by a logistic
regression with the two kinds weighed equally (so the intercept holds no prior), and
``evaluate`` stores the fit in its report (``open_set.pair_evidence``). The map is stated
against the base rate of the calibrator that made the probabilities (the share of matching
pairs it was fitted on, which ``unit_pairs`` carries) because that rate follows the
catalogue's size: read against raw logit(p), a map measured with one catalogue's model said
"same animal" of the typical pair of two animals in another's (benchmarks/README.md). The
reading from the base rate alone is ``intercept 0, slope 1``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .reported import logit

__all__ = ["PairEvidence", "MIN_PAIRS"]

MIN_PAIRS = 20          # of each kind (same animal, different animals): fewer cannot fix a slope
_L2 = 1e-4              # the logistic regression's penalty: nearly none, only against separation


class PairEvidence:
    """The log likelihood ratio, same animal against different animals, of a pair probability
    (module doc). A small fitted part: :meth:`fit` on measured pairs, :meth:`log_lr`, state as
    JSON (:meth:`to_dict`, :meth:`write`, :meth:`read`). :meth:`from_base_rate` is the
    unmeasured reading, for comparison."""

    def __init__(self, min_pairs: int = MIN_PAIRS):
        self.min_pairs = int(min_pairs)

    def fit(self, p_same, same, base_rate: float) -> "PairEvidence":
        """``p_same``: pair probabilities; ``same``: whether each pair is one animal;
        ``base_rate``: the share of matching pairs the calibrator that made them was fitted on."""
        from sklearn.linear_model import LogisticRegression
        p, y = np.asarray(p_same, float), np.asarray(same, bool)
        if p.shape != y.shape or not np.all(np.isfinite(p)):
            raise ValueError("pair evidence needs one finite probability and one same/different flag per pair")
        if not 0 < float(base_rate) < 1:
            raise ValueError(f"the calibrator's base rate must be between 0 and 1, not {base_rate}")
        ns, nd = int(y.sum()), int((~y).sum())
        if min(ns, nd) < self.min_pairs:
            raise ValueError(f"pair evidence needs at least {self.min_pairs} pairs of each kind, not {ns} of one animal "
                             f"and {nd} of two: evaluate on more individuals (more photos of each)")
        w = np.where(y, 0.5 / ns, 0.5 / nd) * len(y)
        f = LogisticRegression(C=1 / _L2).fit((logit(p) - logit(base_rate))[:, None], y, sample_weight=w)
        self.intercept_, self.slope_ = float(f.intercept_[0]), float(f.coef_[0, 0])
        self.pairs_ = {"same": ns, "different": nd}
        self.base_rate_, self.source_ = float(base_rate), "measured"
        return self

    def fit_pairs(self, new_pairs, base_rate: float) -> "PairEvidence":
        """:meth:`fit` on ``lynxid evaluate``'s ``open_set.new_pairs`` (``[p, same]`` rows)."""
        pairs = np.asarray(new_pairs, float).reshape(-1, 2)
        return self.fit(pairs[:, 0], pairs[:, 1] > 0, base_rate)

    @classmethod
    def from_base_rate(cls) -> "PairEvidence":
        """``odds(p) / odds(base rate)``: the reading without a measurement (module doc)."""
        return cls.from_dict({"intercept": 0.0, "slope": 1.0, "source": "base rate"})

    def log_lr(self, p_same, base_rate) -> np.ndarray:
        """log P(p | one animal) - log P(p | two animals) of probabilities made by a calibrator
        fitted on ``base_rate`` matching pairs."""
        return self.intercept_ + self.slope_ * (logit(p_same) - logit(base_rate))

    @property
    def measured(self) -> bool:
        return getattr(self, "source_", None) == "measured"

    def to_dict(self) -> dict:
        return {"intercept": self.intercept_, "slope": self.slope_, "of": "logit(p) - logit(base rate)",
                "base_rate_measured": getattr(self, "base_rate_", None), "pairs": self.pairs_, "source": self.source_}

    @classmethod
    def from_dict(cls, d: dict) -> "PairEvidence":
        pe = cls()
        try:
            pe.intercept_, pe.slope_ = float(d["intercept"]), float(d["slope"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a pair evidence map (needs 'intercept' and 'slope'): {exc}") from None
        pe.pairs_, pe.source_ = dict(d.get("pairs") or {}), str(d.get("source", "measured"))
        pe.base_rate_ = d.get("base_rate_measured")
        return pe

    def write(self, path) -> Path:
        from . import storage
        return storage.write_json(Path(path), self.to_dict())

    @classmethod
    def read(cls, path) -> "PairEvidence":
        """A pair evidence JSON (:meth:`write`) or a ``lynxid evaluate`` report (its
        ``open_set.pair_evidence``, else fitted from its ``open_set.new_pairs``)."""
        path = Path(path)
        try:
            d = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: cannot read pair evidence ({exc})") from None
        if "open_set" in d:
            o = d["open_set"] or {}
            if o.get("pair_evidence"):
                return cls.from_dict(o["pair_evidence"])
            try:
                if not o.get("pair_base_rate"):
                    raise ValueError("the report has no pair_base_rate (written by an earlier lynxid): evaluate again")
                return cls().fit_pairs(o.get("new_pairs") or [], float(o["pair_base_rate"]))
            except ValueError as exc:
                raise ValueError(f"{path}: {exc}") from None
        try:
            return cls.from_dict(d)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}; give a file 'lynxid evaluate --out' wrote, or a pair evidence "
                             "JSON") from None

    def __repr__(self) -> str:
        if not hasattr(self, "slope_"):
            return "PairEvidence(not fitted)"
        return (f"PairEvidence(log LR = {self.intercept_:.2f} + {self.slope_:.2f} (logit(p) - logit(base rate)); "
                f"{self.source_})")
