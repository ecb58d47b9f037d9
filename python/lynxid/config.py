"""How a catalogue identifies: one configuration, stored with the catalogue.

A catalogue is built with an image model, with or without local features, a use of the
learned metric, an open-set target and a way of matching queries (``match.Matcher``: the
shortlist and the second look). Every refit of its model (more photos, reviewed detections)
and every survey identified against it must use the same, so the configuration travels with
the catalogue as a pretrained model's configuration travels with its weights: in
``catalogue.json`` under ``config``. The fitted model (``openset.IdentificationModel``,
under ``model``) records what it was fitted with as well.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from . import metric as metric_mod
from .match import Matcher

__all__ = ["IdentificationConfig", "METRIC_USES", "DEFAULT_METRIC", "metric_whiten"]

# how a catalogue uses the embedding's learned metric (``openset.IdentificationModel.fit``'s ``whiten``)
METRIC_USES = metric_mod.NAMES
DEFAULT_METRIC = metric_mod.DEFAULT_NAME
_MATCHER_SETTINGS = ("n_individuals", "per_individual", "deep_individuals", "deep_per_individual")


def metric_whiten(use: str):
    """``IdentificationModel``'s ``whiten`` for a ``metric`` setting (:data:`METRIC_USES`)."""
    if use not in METRIC_USES:
        raise ValueError(f"metric must be one of {sorted(METRIC_USES)}, not {use!r}")
    return METRIC_USES[use]


@dataclass
class IdentificationConfig:
    """``backbone`` and ``weights``: the image model; ``local``: keypoint and dense local
    features (without, the embedding alone); ``metric``: the embedding's learned metric,
    "shortlist" (to choose what local matching checks), "on" (also in the fusion) or "off";
    ``target``: what the "new" weight maximises ("gmean" or "balanced" of the balanced
    accuracies on known and unknown animals); ``matcher``: the local-matching shortlist and
    second look (``per_individual`` None: sized for the catalogue at each fit)."""
    backbone: str = "efficientnet-lite0"
    weights: str | None = None
    local: bool = True
    metric: str = DEFAULT_METRIC
    target: str = "gmean"
    matcher: Matcher = field(default_factory=Matcher)

    def __post_init__(self):
        metric_whiten(self.metric)

    @property
    def whiten(self):
        return metric_whiten(self.metric)

    def fit_matcher(self) -> Matcher:
        """The matcher a fit starts from: these settings, local matching as ``local`` says."""
        return dataclasses.replace(self.matcher, use_local=self.local, verifier=None)

    def embedder(self, **kw):
        from .embed import Embedder
        return Embedder(self.backbone, weights=self.weights, **kw)

    def to_dict(self) -> dict:
        m = self.matcher.to_dict()
        return {"backbone": self.backbone, "weights": self.weights, "local": self.local, "metric": self.metric,
                "target": self.target, "matcher": {k: m[k] for k in _MATCHER_SETTINGS}}

    @classmethod
    def from_dict(cls, d: dict) -> "IdentificationConfig":
        return cls(d["backbone"], d["weights"], bool(d["local"]), d["metric"], d["target"],
                   Matcher(use_local=bool(d["local"]), **{k: d["matcher"][k] for k in _MATCHER_SETTINGS}))

    @classmethod
    def of(cls, cat) -> "IdentificationConfig":
        """The configuration a catalogue (``catalogue.Catalogue``) was built with."""
        if "config" not in cat.meta:
            raise ValueError(f"catalogue {cat.root} was built by an earlier lynxid (no identification configuration); "
                             "rebuild it with `lynxid catalogue build`")
        return cls.from_dict(cat.meta["config"])
