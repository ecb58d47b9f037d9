"""Turn match scores into probabilities that mean what they say.

Three matchers give evidence that a query shows individual *k*: the global cosine similarity
``g``, the local score ``l`` (RANSAC-verified SIFT keypoint matches) and the dense score ``d``
(RANSAC-verified cells of a CNN feature grid, see ``dense``). A logistic regression on
``[g, log1p(l), log1p(d)]`` fuses them; an isotonic regression fitted on *out-of-fold* logistic
outputs then corrects what the logistic shape gets wrong (WildFusion's idea, with fusion and
calibration in one model). Both are fitted on the labelled catalogue itself, with queries
never compared with their own sighting, and the whole model is plain numbers in JSON.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["FusionCalibrator", "expected_calibration_error", "reliability_table", "plot_reliability"]

MIN_POSITIVES_FOR_ISOTONIC = 100   # below this, the logistic (Platt) step alone is smoother


class FusionCalibrator:
    """P(same individual | global score g, local score l, dense score d)."""

    def __init__(self, use_local: bool = True, use_dense: bool = False):
        self.use_local = use_local
        self.use_dense = use_local and use_dense
        self.coef: np.ndarray | None = None
        self.intercept: float = 0.0
        self.mu: np.ndarray | None = None
        self.sd: np.ndarray | None = None
        self.iso_x: np.ndarray | None = None
        self.iso_y: np.ndarray | None = None
        self.n_pos = 0
        self.n_neg = 0

    # -- features -------------------------------------------------------------------------
    def _x(self, g, l, d=None):
        g = np.asarray(g, np.float64).ravel()
        if not self.use_local:
            return g[:, None]
        cols = [g, np.log1p(np.maximum(np.asarray(l, np.float64).ravel(), 0))]
        if self.use_dense:
            d = np.zeros_like(g) if d is None else np.asarray(d, np.float64).ravel()
            cols.append(np.log1p(np.maximum(d, 0)))
        return np.column_stack(cols)

    def _logit_fit(self, X, y):
        """Logistic regression whose weights are kept >= 0: a higher similarity must never
        lower the probability of a match (without the bound, scores that co-vary in the
        catalogue -- say, references sharing a background -- can get negative weights that
        do not carry over to new photos)."""
        from scipy.optimize import minimize
        mu, sd = X.mean(0), X.std(0) + 1e-9
        Z = (X - mu) / sd
        y = y.astype(float)
        lam = 1e-3

        def nll(theta):
            w, b = theta[:-1], theta[-1]
            z = Z @ w + b
            # log(1 + e^z) - y z, computed stably
            loss = np.logaddexp(0, z) - y * z
            p = 1 / (1 + np.exp(-z))
            grad_w = Z.T @ (p - y) / len(y) + 2 * lam * w
            return loss.mean() + lam * (w @ w), np.append(grad_w, (p - y).mean())

        theta0 = np.zeros(Z.shape[1] + 1)
        bounds = [(0, None)] * Z.shape[1] + [(None, None)]
        res = minimize(nll, theta0, jac=True, method="L-BFGS-B", bounds=bounds)
        return res.x[:-1], float(res.x[-1]), mu, sd

    @staticmethod
    def _logit_predict(X, coef, intercept, mu, sd):
        z = ((X - mu) / sd) @ coef + intercept
        return 1.0 / (1.0 + np.exp(-z))

    # -- fit / predict --------------------------------------------------------------------
    def fit(self, g, l, y, groups=None, n_folds: int = 5, seed: int = 0, d=None) -> "FusionCalibrator":
        """Fit on labelled pairs; ``groups`` (e.g. the query's individual) keep related
        pairs in one fold when the isotonic step is fitted on out-of-fold predictions."""
        X = self._x(g, l, d)
        y = np.asarray(y, int).ravel()
        self.n_pos, self.n_neg = int(y.sum()), int((1 - y).sum())
        if self.n_pos < 2 or self.n_neg < 2:
            raise ValueError(f"calibration needs matching and non-matching pairs; got {self.n_pos} matching and "
                             f"{self.n_neg} non-matching. A catalogue needs at least two individuals with photos "
                             "from two or more sightings.")
        self.coef, self.intercept, self.mu, self.sd = self._logit_fit(X, y)
        self.iso_x = self.iso_y = None
        if self.n_pos >= MIN_POSITIVES_FOR_ISOTONIC:
            oof = self._out_of_fold_logit(X, y, groups, n_folds, seed)
            from sklearn.isotonic import IsotonicRegression
            iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip", increasing=True)
            iso.fit(oof, y)
            self.iso_x = np.asarray(iso.X_thresholds_, np.float64)
            self.iso_y = np.asarray(iso.y_thresholds_, np.float64)
        return self

    def _out_of_fold_logit(self, X, y, groups, n_folds, seed):
        from sklearn.model_selection import GroupKFold, StratifiedKFold
        oof = np.zeros(len(y))
        if groups is not None and len(np.unique(groups)) >= n_folds:
            splits = GroupKFold(n_splits=n_folds).split(X, y, groups)
        else:
            splits = StratifiedKFold(n_splits=min(n_folds, self.n_pos), shuffle=True, random_state=seed).split(X, y)
        for tr, te in splits:
            if y[tr].min() == y[tr].max():
                oof[te] = y[tr].mean()
                continue
            c, b, mu, sd = self._logit_fit(X[tr], y[tr])
            oof[te] = self._logit_predict(X[te], c, b, mu, sd)
        return oof

    def predict(self, g, l=None, d=None) -> np.ndarray:
        if self.coef is None:
            raise RuntimeError("calibrator is not fitted")
        g = np.asarray(g, np.float64).ravel()
        if l is None:
            l = np.zeros_like(g)   # no local evidence checked: zero verified matches
        X = self._x(g, l, d)
        p = self._logit_predict(X, self.coef, self.intercept, self.mu, self.sd)
        if self.iso_x is not None:
            p = np.interp(p, self.iso_x, self.iso_y)
        return np.clip(p, 1e-4, 1 - 1e-4)

    def ranking_key(self, g, l=None, d=None) -> np.ndarray:
        """The fitted logistic score (log-odds) before the isotonic step: isotonic output is a step
        function (and clipped), so many candidates share one probability; this orders them."""
        g = np.asarray(g, np.float64).ravel()
        if l is None:
            l = np.zeros_like(g)
        # the linear predictor itself: the sigmoid rounds large values to exactly 1.0
        return ((self._x(g, l, d) - self.mu) / self.sd) @ self.coef + self.intercept

    def rank(self, g, l=None, p=None, d=None) -> np.ndarray:
        """Order (best first) of candidates: probability, then the logistic score, then the
        global similarity, so tied probabilities never fall back on name order. ``p``: the
        probabilities when the caller has them already."""
        g = np.asarray(g, np.float64).ravel()
        p = self.predict(g, l, d) if p is None else p
        return np.lexsort((-g, -self.ranking_key(g, l, d), -p))

    # -- persistence ----------------------------------------------------------------------
    def to_dict(self) -> dict:
        f = lambda a: None if a is None else np.asarray(a).tolist()  # noqa: E731
        return {"use_local": self.use_local, "use_dense": self.use_dense, "coef": f(self.coef), "intercept": self.intercept,
                "mu": f(self.mu), "sd": f(self.sd), "iso_x": f(self.iso_x), "iso_y": f(self.iso_y),
                "n_pos": self.n_pos, "n_neg": self.n_neg}

    @classmethod
    def from_dict(cls, d: dict) -> "FusionCalibrator":
        c = cls(d["use_local"], d.get("use_dense", False))
        arr = lambda a: None if a is None else np.asarray(a, np.float64)  # noqa: E731
        c.coef, c.intercept, c.mu, c.sd = arr(d["coef"]), float(d["intercept"]), arr(d["mu"]), arr(d["sd"])
        c.iso_x, c.iso_y = arr(d["iso_x"]), arr(d["iso_y"])
        c.n_pos, c.n_neg = d.get("n_pos", 0), d.get("n_neg", 0)
        return c


def top_candidates(pairs, prob_col: str = "p"):
    """Per ``query``, the row of its best candidate as identify ranks them
    (:meth:`FusionCalibrator.rank`): probability, then the calibrator's log-odds ``z`` where
    the table has it, then the cosine ``g``."""
    keys = [k for k in (prob_col, "z", "g") if k in pairs]
    return pairs.sort_values(["query", *keys], ascending=[True] + [False] * len(keys)).drop_duplicates("query")


def cross_validated_probabilities(g, l, y, groups, use_local=True, n_folds=5, seed=0, d=None,
                                  use_dense=None) -> np.ndarray:
    """Out-of-fold calibrated probabilities (the whole calibrator refitted per fold): what
    the calibration error is measured on."""
    from sklearn.model_selection import GroupKFold
    g, l, y, groups = (np.asarray(a) for a in (g, l, y, groups))
    use_dense = (d is not None) if use_dense is None else use_dense
    d = np.zeros(len(g)) if d is None else np.asarray(d)
    out = np.full(len(y), np.nan)
    k = min(n_folds, len(np.unique(groups)))
    for tr, te in GroupKFold(n_splits=k).split(g, y, groups):
        if y[tr].sum() < 2 or (1 - y[tr]).sum() < 2:
            continue
        cal = FusionCalibrator(use_local, use_dense).fit(g[tr], l[tr], y[tr], groups[tr], seed=seed, d=d[tr])
        out[te] = cal.predict(g[te], l[te], d[te])
    return out


def expected_calibration_error(p, y, n_bins: int = 10) -> float:
    """ECE with equal-width bins: sum over bins of |accuracy - confidence| x share of pairs."""
    p, y = np.asarray(p, float), np.asarray(y, float)
    keep = ~np.isnan(p)
    p, y = p[keep], y[keep]
    if len(p) == 0:
        return float("nan")
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        m = bins == b
        if m.any():
            ece += m.mean() * abs(y[m].mean() - p[m].mean())
    return float(ece)


def reliability_table(p, y, n_bins: int = 10) -> pd.DataFrame:
    p, y = np.asarray(p, float), np.asarray(y, float)
    keep = ~np.isnan(p)
    p, y = p[keep], y[keep]
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    rows = []
    for b in range(n_bins):
        m = bins == b
        rows.append({"bin_low": b / n_bins, "bin_high": (b + 1) / n_bins, "n": int(m.sum()),
                     "mean_probability": float(p[m].mean()) if m.any() else np.nan,
                     "observed_frequency": float(y[m].mean()) if m.any() else np.nan})
    return pd.DataFrame(rows)


def plot_reliability(p, y, path, title: str = "Reliability of match probabilities", n_bins: int = 10):
    """Reliability diagram (observed frequency vs predicted probability) saved to ``path``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from . import storage
    t = reliability_table(p, y, n_bins)
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(4.5, 5.5), gridspec_kw={"height_ratios": [3, 1]}, sharex=True)
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1, label="perfect calibration")
    m = t["n"] > 0
    ax.plot(t.loc[m, "mean_probability"], t.loc[m, "observed_frequency"], "o-", c="#b5651d", label="lynxid")
    ax.set_ylabel("observed frequency of a true match")
    ax.set_title(f"{title}\nECE = {expected_calibration_error(p, y, n_bins):.3f}", fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    ax2.bar((t.bin_low + t.bin_high) / 2, t["n"], width=1 / n_bins * 0.9, color="#999")
    ax2.set_yscale("log")
    ax2.set_xlabel("predicted probability")
    ax2.set_ylabel("pairs")
    fig.tight_layout()
    with storage.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format=str(path).rsplit(".", 1)[-1])
    plt.close(fig)
    return path
