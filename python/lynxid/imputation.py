"""Draw complete identity assignments of a survey from identify's probabilities.

A capture history built from the single best call per photo treats every name as certain. To
carry identification error into what follows (``density_imputation``), :class:`IdentitySampler`
draws K complete assignments -- every detection a known animal, a new animal, or left out --
each as probable as identify's calibrated probabilities say, and a capture history is built
from each.

How one draw is made (the sampler):

1. **Reviewed detections are fixed.** A detection a person confirmed, reassigned or called
   new keeps that identity; a rejected one stays out. A unit (an event: one passage, both
   flanks; ``events``) with a reviewed detection takes the reviewed identity as a whole.
2. **Each other unit draws its answer** -- a catalogue animal or "new" -- from its calibrated
   posterior (``posterior``), visiting units in a fresh random order each draw. A known name
   already drawn by a unit that cannot be the same animal (at another station within
   ``cannot_link_minutes``, or another box of the same photo: ``cluster.cannot_link``'s rule)
   is not available; the rest is renormalised. Units less likely new than
   ``posterior.NEW_FLOOR`` are never drawn new.
3. **Units drawn new are grouped into animals**, again in random order, by a Chinese
   restaurant process whose tables are weighed by the evidence: a unit joins the animal C
   with weight ``|C| * prod_v LR_uv`` over C's units v with evidence, or starts a new animal
   of its own with weight ``alpha`` (:data:`NEW_ANIMAL_WEIGHT`). The tables are the new
   animals of the draw so far and also the known animals drawn in step 2: "new" says the
   catalogue's photos did not place the unit, but the survey's own photos of a known animal
   may (another season's coat, the same camera's light), and a unit drawn new that matches
   them is that animal, not one more. Without those tables, each photo of a known animal
   drawn new would add an animal with a single capture, the very error that inflates D.
   ``LR_uv`` is the pairwise
   probability (``posterior.unit_pairs``) as a likelihood ratio: its odds divided by the odds
   of the pairs the calibrator was fitted on (``base_rate``), so that evidence from each of
   an animal's events adds up and the calibration's own mix of same and different pairs is
   not counted as evidence. Animals holding a unit it cannot be, or with no evidence between
   them (opposite flanks only, not compared), are not joinable.

Assumptions, stated: units are identified independently given the catalogue (apart from the
constraints above), so step 2 can carry an animal's other units after one unit step 1 named
wrongly, the joins following their own animal's evidence (benchmarks/README.md, "Inside the
draws": an animal's events together would decide known or new far more surely than each
alone); the calibrated probabilities are taken at face value (they are fitted so that they
can be: ``reported``); the pairs' evidence is independent given the animals (it
is not quite: one animal's photos share pose and light, so joins may be a little too
eager, and a known animal's many units weigh its table even where few were compared: at
low accuracy the draws join too readily, benchmarks/README.md); the prior over animals is
the Chinese restaurant's with ``alpha = 1``; the sequential construction approximates the
joint distribution over partitions of the units drawn new -- a draw is a plausible
assignment, not an exact posterior sample (an exact one would need the joint likelihood of
all photos, which no pairwise model gives). A new animal seen only on its left flank and
one seen only on its right are never joined (no evidence links them): with flanks that
cannot be linked, use a flank-specific capture history as well.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .cluster import CANNOT_LINK_MINUTES
from .posterior import NEW_ANSWER, NEW_FLOOR
from .reported import logit
from .times import as_datetimes

__all__ = ["IdentitySampler", "DRAWN_NEW_PREFIX"]

DRAWN_NEW_PREFIX = "NEW*"     # names of new animals in a draw (a draw's own numbering)
NEW_ANIMAL_WEIGHT = 1.0       # the Chinese restaurant's alpha: prior weight of one more new animal


class _Units:
    """The units of a detections table: where and when each was seen, what it may be."""

    def __init__(self, det: pd.DataFrame, minutes: float):
        uid = det["unit_id"].astype(str).to_numpy()
        self.ids, self.of_det = np.unique(uid, return_inverse=True)
        n = len(self.ids)
        t = as_datetimes(det["timestamp"]) if "timestamp" in det else pd.Series(pd.NaT, index=det.index)
        if getattr(t.dt, "tz", None) is not None:
            t = t.dt.tz_convert("UTC").dt.tz_localize(None)
        secs = ((t - pd.Timestamp("1970-01-01")).dt.total_seconds()).to_numpy(float)
        self.t0 = np.full(n, np.inf)
        self.t1 = np.full(n, -np.inf)
        np.minimum.at(self.t0, self.of_det, np.where(np.isnan(secs), np.inf, secs))
        np.maximum.at(self.t1, self.of_det, np.where(np.isnan(secs), -np.inf, secs))
        st = det["station"].astype(str).to_numpy() if "station" in det else np.full(len(det), "")
        self.station = np.empty(n, object)
        self.station[self.of_det] = st
        self.files = [set() for _ in range(n)]
        for u, f in zip(self.of_det, det["file"].astype(str) if "file" in det else [""] * len(det)):
            self.files[u].add(f)
        self.gap = minutes * 60.0

    def conflict(self, u: int, vs) -> bool:
        """Can unit ``u`` not be the same animal as one of the units ``vs``?"""
        for v in vs:
            if self.files[u] & self.files[v]:
                return True
            if self.station[u] != self.station[v] and np.isfinite(self.t0[u]) and np.isfinite(self.t0[v]):
                if max(self.t0[u] - self.t1[v], self.t0[v] - self.t1[u]) < self.gap:
                    return True
        return False

    def conflict_lists(self, block: int = 256) -> list:
        """Per unit, the units it cannot be one animal with (:meth:`conflict`'s rule, for all
        pairs at once: a box of the same photo, or another station within the gap), computed
        in blocks of rows so that memory stays small."""
        n = len(self.ids)
        out = [set() for _ in range(n)]
        by_file: dict = {}
        for u, files in enumerate(self.files):
            for f in files:
                by_file.setdefault(f, []).append(u)
        for us in by_file.values():
            for u in us:
                out[u].update(v for v in us if v != u)
        fin = np.isfinite(self.t0)
        st = pd.factorize(pd.Series(self.station).astype(str))[0]
        for lo in range(0, n, block):
            a = slice(lo, min(n, lo + block))
            gap = np.maximum(self.t0[a, None] - self.t1[None], self.t0[None] - self.t1[a, None])
            bad = (gap < self.gap) & (st[a, None] != st[None]) & fin[a, None] & fin[None]
            for i, j in zip(*np.nonzero(bad)):
                out[lo + i].add(int(j))
        return [np.array(sorted(c), int) for c in out]


class IdentitySampler:
    """Draws complete identity assignments (module doc). Settings: ``seed``,
    ``cannot_link_minutes``. :meth:`fit` takes an identification result (or its tables);
    :meth:`sample` returns the draws."""

    def __init__(self, seed: int = 0, cannot_link_minutes: float = CANNOT_LINK_MINUTES):
        self.seed = seed
        self.cannot_link_minutes = cannot_link_minutes

    def fit(self, detections: pd.DataFrame, posterior: pd.DataFrame | None,
            unit_pairs: pd.DataFrame | None) -> "IdentitySampler":
        """Take identify's detections table, ``posterior`` and ``unit_pairs``
        (``results.IdentifyResult``). Without a posterior (results of an earlier lynxid)
        every unit keeps its call: the draws then equal the hard calls."""
        need = [c for c in ("detection_id", "unit_id", "individual_id") if c not in detections]
        if need:
            raise ValueError(f"the detections lack {', '.join(need)}: give identify's detections table "
                             "(rerun identify with this lynxid if it was written by an earlier one)")
        det = detections.reset_index(drop=True)
        self.detection_ids_ = det["detection_id"].astype(str).to_numpy()
        self.units_ = _Units(det, self.cannot_link_minutes)
        self._fixed(det)
        self._answers(posterior)
        self._pairs(unit_pairs)
        return self

    def _fixed(self, det: pd.DataFrame) -> None:
        """Reviewed detections' identities (None: rejected), and the units they fix."""
        rev = det["reviewed_by"].notna().to_numpy() if "reviewed_by" in det else np.zeros(len(det), bool)
        ind = det["individual_id"].astype(object).where(det["individual_id"].notna(), None).to_numpy()
        self.det_fixed_ = rev
        self.det_fixed_id_ = np.where(rev, ind, None)
        self.hard_ = ind
        new = det["is_new"].fillna(False).astype(bool).to_numpy() if "is_new" in det else np.zeros(len(det), bool)
        self.unit_fixed_ = np.full(len(self.units_.ids), None, object)
        self.unit_fixed_new_ = np.zeros(len(self.units_.ids), bool)   # fixed as an animal not in the catalogue
        for i in np.flatnonzero(rev):
            u = self.units_.of_det[i]
            if ind[i] is not None and self.unit_fixed_[u] is None:
                self.unit_fixed_[u], self.unit_fixed_new_[u] = str(ind[i]), bool(new[i])

    def _answers(self, posterior: pd.DataFrame | None) -> None:
        """Per unit: its answers and their probabilities ("new" last); a unit the posterior
        does not cover keeps its hard call."""
        n = len(self.units_.ids)
        self.answers_: list = [None] * n
        self.probs_: list = [None] * n
        if posterior is None or not len(posterior):
            return
        pos = {u: k for k, u in enumerate(self.units_.ids)}
        for uid, g in posterior.groupby(posterior["unit_id"].astype(str), sort=False):
            k = pos.get(uid)
            if k is None:
                continue
            g = g.sort_values("rank", key=lambda r: np.where(r == 0, np.inf, r))
            self.answers_[k] = g["answer"].astype(str).to_numpy()
            p = g["probability"].to_numpy(float)
            self.probs_[k] = np.where((self.answers_[k] == NEW_ANSWER) & (p < NEW_FLOOR), 0.0, p)

    def _pairs(self, unit_pairs: pd.DataFrame | None) -> None:
        n = len(self.units_.ids)
        self.pairs_ = [dict() for _ in range(n)]
        if unit_pairs is None or not len(unit_pairs):
            return
        pos = {u: k for k, u in enumerate(self.units_.ids)}
        # each pair's evidence as a log likelihood ratio: its probability's log-odds less those
        # of the pairs the calibrator was fitted on (without that base rate: even odds)
        base = float(unit_pairs["base_rate"].iat[0]) if "base_rate" in unit_pairs else 0.5
        llr = logit(unit_pairs["p_same"].to_numpy(float)) - float(logit(base))
        for a, b, x in zip(unit_pairs["unit_a"].astype(str), unit_pairs["unit_b"].astype(str), llr):
            if a in pos and b in pos:
                self.pairs_[pos[a]][pos[b]] = self.pairs_[pos[b]][pos[a]] = float(x)

    # ------------------------------------------------------------------ drawing
    def sample(self, n_draws: int) -> pd.DataFrame:
        """``n_draws`` assignments: a table with ``detection_id`` and one column per draw
        (``draw_1`` ...), each detection's individual in that draw (None: left out)."""
        rng = np.random.default_rng(self.seed)
        cols = {f"draw_{k + 1}": self.draw_one(rng) for k in range(int(n_draws))}
        return pd.DataFrame({"detection_id": self.detection_ids_, **cols})

    def draw_one(self, rng: np.random.Generator) -> np.ndarray:
        """One assignment (module doc): each detection's individual, None where left out."""
        return self.to_detections(self.draw_units(rng))

    def draw_units(self, rng: np.random.Generator) -> np.ndarray:
        """One assignment of the units (module doc): each unit's individual."""
        label = self._known_or_new(rng)
        self._group_new(label, rng)
        return label

    def to_detections(self, label: np.ndarray) -> np.ndarray:
        """Each detection's individual given its unit's ``label``: a reviewed detection keeps
        its reviewed identity, and one identify left without an animal stays without (None)."""
        out = np.asarray(label, object)[self.units_.of_det].astype(object)
        hard_none = np.array([h is None for h in self.hard_])
        out[hard_none & ~self.det_fixed_] = None          # detections identify left without an animal
        return np.where(self.det_fixed_, self.det_fixed_id_, out)

    def _known_or_new(self, rng) -> np.ndarray:
        """Each unit's drawn answer: a known name, the fixed identity, or NEW_ANSWER."""
        U, n = self.units_, len(self.units_.ids)
        label = np.full(n, None, object)
        taken: dict = {}
        for u in np.flatnonzero(self.unit_fixed_ != None):   # noqa: E711 (elementwise)
            label[u] = self.unit_fixed_[u]
            taken.setdefault(label[u], []).append(u)
        hard = pd.Series(self.hard_).groupby(U.of_det).first().reindex(range(n)).to_numpy(object)
        for u in rng.permutation(n):
            if label[u] is not None:
                continue
            if self.answers_[u] is None:                    # no posterior: the hard call
                label[u] = hard[u] if hard[u] is not None else NEW_ANSWER
                taken.setdefault(label[u], []).append(u)
                continue
            answers, p = self.answers_[u], self.probs_[u].copy()
            for j, a in enumerate(answers):
                if a != NEW_ANSWER and U.conflict(u, taken.get(a, ())):
                    p[j] = 0.0
            a = answers[rng.choice(len(p), p=p / p.sum())] if p.sum() > 0 else NEW_ANSWER
            label[u] = a
            if a != NEW_ANSWER:
                taken.setdefault(a, []).append(u)
        return label

    def _group_new(self, label: np.ndarray, rng) -> None:
        """Units drawn new grouped into animals (module doc), in place: joining a known
        animal drawn in this draw (or one a reviewer named) or a new animal of the draw."""
        U = self.units_
        # tables: the known animals drawn (and reviewed new animals), each with its units
        drawn = np.flatnonzero(label != NEW_ANSWER)
        tables = pd.Series(drawn).groupby(label[drawn].astype(str)).indices
        names = [str(k) for k in tables]
        groups = [list(drawn[v]) for v in tables.values()]
        for u in rng.permutation(np.flatnonzero(label == NEW_ANSWER)):
            logw = np.full(len(groups) + 1, -np.inf)
            logw[-1] = np.log(NEW_ANIMAL_WEIGHT)
            for c, members in enumerate(groups):
                lr = [self.pairs_[u][v] for v in members if v in self.pairs_[u]]
                if lr and not U.conflict(u, members):
                    logw[c] = np.log(len(members)) + float(np.sum(lr))
            w = np.exp(logw - logw.max())
            c = rng.choice(len(w), p=w / w.sum())
            if c == len(groups):
                groups.append([u])
                names.append(f"{DRAWN_NEW_PREFIX}{len(groups):03d}")
            else:
                groups[c].append(u)
        for name, members in zip(names, groups):
            label[members] = name
