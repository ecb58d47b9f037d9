"""The identification model on simulated photos with known truth: fused calibration, open-set
decisions, event pooling, flank awareness and the clustering of new individuals."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lynxid.calibrate import expected_calibration_error
from lynxid.catalogue import Catalogue
from lynxid.match import Evidence, Matcher, References, evidence, flank_compatible, pool
from lynxid.openset import IdentificationModel, choose_new_weight, describe_calibration
from lynxid.reported import ReportedProbability



@pytest.fixture(scope="module")
def run(small_run):
    return small_run


@pytest.fixture(scope="module")
def cat(run):
    return Catalogue.load(run.catalogue)


def test_model_fitted_on_the_catalogue_is_stored_and_sane(cat):
    m = IdentificationModel.from_dict(cat.meta["model"])
    d = m.diagnostics_
    assert d["matching_pairs"] > 0 and d["pairs"] > d["matching_pairs"]
    # leave-one-out on the catalogue: most known queries found, most "unknown" ones called new
    assert d["baks"] >= 0.6 and d["baus"] >= 0.6, d
    assert 0 <= d["ece_all_pairs"] <= 0.15
    assert 0 <= d["ece_top1"] <= 1 and d["ece_in_sample"] is False
    # what users read in detections.csv, and which number says how calibrated it is
    text = describe_calibration(d)
    if d.get("reported_recalibrated"):
        assert 0 <= d["ece_reported_in_sample"] <= 1
        assert f"{d['ece_reported_in_sample']:.3f} on them (in-sample; before the map {d['ece_top1']:.3f})" in text
    else:
        assert "too few decisions" in text and f"{d['ece_top1']:.3f}" in text
    # the local evidence carries weight, and probabilities rise with it
    p = m.calibrator_.predict(np.full(4, 0.7), np.array([0, 10, 40, 120]))
    assert np.all(np.diff(p) >= 0) and p[-1] > 0.5 > p[0]


def test_known_individual_found_and_removed_individual_called_new(cat):
    m = IdentificationModel.from_dict(cat.meta["model"])
    refs = cat.references(m)       # in the model's space (its learned metric, if any)
    wins_known = wins_new = n = 0
    for q in range(len(refs)):
        own = refs.individuals[q]
        same_sighting = refs.sightings == refs.sightings[q]
        ev = evidence(refs.vectors[q], refs.local[q], refs.flanks[q], refs, exclude=same_sighting,
                      verifier=m.matcher_.verifier)
        names, pk, pnew = m.posterior(ev)
        wins_known += names[0] == own and pk[0] > pnew
        # the same photo when its individual is not in the catalogue at all
        ev_u = evidence(refs.vectors[q], refs.local[q], refs.flanks[q], refs,
                        exclude=same_sighting | (refs.individuals == own), verifier=m.matcher_.verifier)
        names_u, pk_u, pnew_u = m.posterior(ev_u)
        wins_new += pnew_u >= (pk_u[0] if len(pk_u) else 0)
        n += 1
        # probabilities form a distribution over {candidates, new}
        assert abs(pk.sum() + pnew - 1) < 1e-6 and abs(pk_u.sum() + pnew_u - 1) < 1e-6
    assert wins_known / n >= 0.6, (wins_known, n)
    assert wins_new / n >= 0.6, (wins_new, n)


def test_new_weight_choice_maximises_the_target():
    # 3 individuals, 2 queries each; own odds high for known queries, others low
    rows = []
    for q, (truth, own_o, other_o) in enumerate([("A", 9, 0.1), ("A", 4, 0.2), ("B", 6, 0.3), ("B", 0.5, 0.4),
                                                  ("C", 8, 0.05), ("C", 3, 0.5)]):
        for ind in "ABC":
            o = own_o if ind == truth else other_o
            rows.append((q, ind, o / (1 + o), int(ind == truth), True, truth))
    pairs = pd.DataFrame(rows, columns=["query", "individual", "p", "y", "eligible", "truth"])
    c, m = choose_new_weight(pairs, "p", "gmean")
    # every own odds > c > every other odds is possible except query 3 (0.5 vs 0.4): best is c in (0.5, 3)
    assert 0.5 <= c < 3
    assert m["baus"] == 1.0 and m["baks"] == pytest.approx((1 + 0.5 + 1) / 3)


def test_leave_one_out_queries_meet_only_their_flank():
    """In a catalogue's leave-one-out a left photo only ever meets left references (as a
    tagged survey photo does); with the flanks unknown (an untagged survey photo, or the
    event-pooling benchmark's flank-blind variant) it meets both."""
    import dataclasses
    from lynxid.pairs import leave_one_out
    rng = np.random.default_rng(0)
    v = rng.normal(size=(4, 8)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    refs = References(v, [None] * 4, np.array(["A", "A", "B", "B"]),
                      np.array(["left", "right", "left", "right"], dtype=object), np.array(["a1", "a2", "b1", "b2"]))
    matcher = Matcher(use_local=False, n_individuals=60, per_individual=2)
    flanked, _ = leave_one_out(refs, matcher, False)
    blind, _ = leave_one_out(dataclasses.replace(refs, flanks=np.full(4, None, dtype=object)), matcher, False)
    q0f, q0b = flanked[flanked["query"] == 0], blind[blind["query"] == 0]
    # with its flank, photo 0 (A, left) has no other left photo of A: not findable, compared with B's left only
    assert not q0f["eligible"].any() and list(q0f["individual"]) == ["B"]
    assert q0f["g"].iat[0] == pytest.approx(float(v[0] @ v[2]), abs=1e-6)
    # flank-blind, A's right photo (another sighting) is a candidate and the query counts as findable
    assert q0b["eligible"].all() and set(q0b["individual"]) == {"A", "B"}
    assert q0b.set_index("individual").loc["A", "g"] == pytest.approx(float(v[0] @ v[1]), abs=1e-6)


def test_flank_awareness():
    assert list(flank_compatible(["left", "left", None, "right"], ["left", "right", "right", None])) == \
        [True, False, True, True]
    # a right-flank query is never scored against left-flank references
    rng = np.random.default_rng(0)
    v = rng.normal(size=(4, 8)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    refs = References(v, [None] * 4, np.array(["A", "A", "B", "B"]), np.array(["left", "right", "left", "left"],
                                                                              dtype=object), np.arange(4).astype(str))
    ev = evidence(v[0], None, "right", refs, use_local=False)
    assert list(ev.individuals) == ["A"]            # B has only left-flank photos
    assert ev.g[0] == pytest.approx(float(v[1] @ v[0]), abs=1e-6)


def _two_photos():
    a = Evidence(np.array(["A", "B"], object), np.array([0.8, 0.6]), np.array([5.0, 30.0]), np.array([0, 2]),
                 np.array([0, 3]), d=np.array([0.2, 1.4]))
    b = Evidence(np.array(["B", "C"], object), np.array([0.9, 0.5]), np.array([2.0, 1.0]), np.array([2, 4]),
                 np.array([2, 4]), d=np.array([0.0, 0.6]))
    return a, b


def test_event_pooling_max_takes_the_best_evidence_per_individual():
    p = pool(list(_two_photos()), "max")
    got = dict(zip(p.individuals, zip(p.g, p.l, p.d)))
    assert got == {"A": (0.8, 5.0, 0.2), "B": (0.9, 30.0, 1.4), "C": (0.5, 1.0, 0.6)}


def test_event_pooling_mean_keeps_single_photo_scale():
    p = pool(list(_two_photos()))           # the default
    got = {k: tuple(round(x, 6) for x in v) for k, v in zip(p.individuals, zip(p.g, p.l, p.d))}
    # B is in both photos: averaged; A and C in one each: as that photo saw them
    assert got == {"A": (0.8, 5.0, 0.2), "B": (0.75, 16.0, 0.7), "C": (0.5, 1.0, 0.6)}
    # the mean never exceeds the max, and a single photo passes through unchanged
    m = pool(list(_two_photos()), "max")
    assert (p.g <= m.g + 1e-12).all() and (p.l <= m.l).all() and (p.d <= m.d).all()
    a, _ = _two_photos()
    assert pool([a]) is a
    with pytest.raises(ValueError, match="pooling must be one of"):
        pool([a, a], "sum")


def test_detections_of_one_event_share_one_decision(run):
    det = run.result.detections
    per_event = det.groupby("event_id").agg(ids=("individual_id", "nunique"), p=("probability", "nunique"))
    # several photos per event exist in the simulated survey, and each event got one answer
    assert (det.groupby("event_id").size() > 1).any()
    assert (per_event.ids == 1).all() and (per_event.p == 1).all()


def test_new_individuals_clustered_not_one_id_per_photo(run):
    det = run.result.detections.merge(run.survey.truth("images")[["file", "individual", "in_catalogue"]], on="file")
    new = det[det.is_new.astype(bool)]
    if new.empty:
        pytest.skip("no detection called new in this run")
    # fewer provisional IDs than new events, and each provisional ID shows one true animal
    assert new.individual_id.nunique() < new.event_id.nunique() or new.event_id.nunique() == 1
    purity = new.groupby("individual_id").individual.nunique()
    assert (purity == 1).mean() >= 0.75


def test_calibration_on_simulated_photos(cat):
    refs = cat.references()
    model = IdentificationModel().fit(refs, progress=False)
    assert model.diagnostics_["ece_all_pairs"] <= 0.15
    assert expected_calibration_error([0.1, 0.9], [0, 1]) == pytest.approx(0.1)


def test_model_learns_the_metric_cross_fitted_and_keeps_it(cat, monkeypatch):
    """The model's fit decides on the catalogue whether to whiten the embedding, and its
    leave-one-out measures each query with a map fitted without the query's individual;
    the model stores the map; models fitted before it are refused."""
    import json
    from lynxid import metric
    refs = cat.references()
    # this 4-animal catalogue is below the sizes a map is learned from: lower them
    monkeypatch.setattr(metric, "MIN_INDIVIDUALS", 3)
    monkeypatch.setattr(metric, "MIN_WITHIN", 8)
    seen = []
    real = metric.cross_fitted_similarities
    monkeypatch.setattr(metric, "cross_fitted_similarities",
                        lambda X, ind, folds, rows=None, **kw: seen.append((folds, rows)) or real(X, ind, folds, rows, **kw))
    assert IdentificationModel(whiten=False).fit(refs, progress=False).whitening_ is None and not seen
    m = IdentificationModel(whiten=True).fit(refs, progress=False)
    d = m.diagnostics_
    assert (m.whitening_ is not None) == d["whitening"] == (d["mrr_whitened"] > d["mrr_raw"])
    # choose() cross-fits, and so does the leave-one-out when the map is kept; by whole individuals
    assert len(seen) == (2 if m.whitening_ is not None else 1)
    assert all(set(f) == set(refs.individuals) for f, _ in seen)
    # forced on: the map round-trips with the model
    monkeypatch.setattr(metric, "choose", lambda X, ind, *a, **k: (metric.fit(X, ind), {"whitening": True}))
    n0 = len(seen)
    m = IdentificationModel(whiten=True).fit(refs, progress=False)
    assert m.whitening_ is not None and len(seen) == n0 + 1     # the leave-one-out, cross-fitted
    back = IdentificationModel.from_dict(json.loads(json.dumps(m.to_dict())))
    assert np.array_equal(back.embed(refs.vectors), m.whitening_.apply(refs.vectors))
    assert np.allclose(cat.references(back).vectors, m.whitening_.apply(cat.vectors))
    dd = m.to_dict()
    dd.pop("whitening")
    with pytest.raises(ValueError, match="rebuild it with `lynxid catalogue build`"):
        IdentificationModel.from_dict(dd)       # a model of lynxid 0.1.0 from before the learned metric
    off = IdentificationModel(whiten=False).fit(refs, progress=False)
    assert off.whitening_ is None and off.diagnostics_["whitening"] is False


def test_identify_compares_in_the_model_metric(run, monkeypatch, tmp_path):
    """With a whitened model, identify matches query and reference vectors in its space."""
    import shutil
    import lynxid.identification as ident
    from lynxid import match, metric
    from _pipeline import copy_results
    root = tmp_path / "cat"
    shutil.copytree(run.catalogue, root)
    c = Catalogue.load(root)
    monkeypatch.setattr(metric, "MIN_INDIVIDUALS", 3)
    monkeypatch.setattr(metric, "MIN_WITHIN", 8)
    monkeypatch.setattr(metric, "choose", lambda X, ind, *a, **k: (metric.fit(X, ind), {"whitening": True}))
    m = IdentificationModel(whiten=True).fit(c.references(), progress=False)
    c.meta["model"] = m.to_dict()
    c.save()
    calls = []
    real = match.evidence
    monkeypatch.setattr(match, "evidence", lambda q, *a, **k: calls.append((q, a[2])) or real(q, *a, **k))
    res = ident.identify(run.survey.images, root, megadetector=run.survey.megadetector_json,
                         out=copy_results(run, tmp_path / "res"), progress=False, decisions=False)
    assert len(calls) == len(res.detections)
    W = m.whitening_.apply(c.vectors)
    for q, refs in calls:
        assert np.allclose(refs.vectors, W, atol=1e-6)
        assert abs(np.linalg.norm(q) - 1) < 1e-5 and q.shape == (m.whitening_.dim,)


def test_metric_for_the_shortlist_only(cat, run, monkeypatch, tmp_path):
    """whiten="shortlist": the learned metric picks what local matching checks (in the
    catalogue's leave-one-out, cross-fitted, and in identify) while g stays the raw cosine;
    the choice round-trips with the model."""
    import json
    import shutil
    import lynxid.identification as ident
    from lynxid import match, metric
    from _pipeline import copy_results
    with pytest.raises(ValueError, match="whiten"):
        IdentificationModel(whiten="yes")
    monkeypatch.setattr(metric, "MIN_INDIVIDUALS", 3)
    monkeypatch.setattr(metric, "MIN_WITHIN", 8)
    monkeypatch.setattr(metric, "choose", lambda X, ind, *a, **k: (metric.fit(X, ind), {"whitening": True}))
    root = tmp_path / "cat"
    shutil.copytree(run.catalogue, root)
    c = Catalogue.load(root)
    refs = c.references()
    calls = []
    real = match.evidence
    spy = lambda q, *a, **k: calls.append((q, a[2], k.get("sims"), k.get("rank_sims"))) or real(q, *a, **k)  # noqa: E731
    monkeypatch.setattr(match, "evidence", spy)
    m = IdentificationModel(whiten="shortlist").fit(refs, progress=False)
    assert m.whitening_ is not None and m.shortlist_only_
    assert m.diagnostics_["whitening_use"] == "shortlist"
    # the leave-one-out: raw cosine for g, the cross-fitted metric for the shortlist
    assert calls and all(r is not None for *_, r in calls)
    for q, rf, sims, _ in calls:
        assert np.allclose(sims, refs.vectors @ q, atol=1e-5)
    back = IdentificationModel.from_dict(json.loads(json.dumps(m.to_dict())))
    assert back.shortlist_only_ and back.embed(c.vectors) is c.vectors
    assert np.allclose(back.rank_embed(c.vectors), m.whitening_.apply(c.vectors))
    c.meta["model"] = m.to_dict()
    c.save()
    calls.clear()
    res = ident.identify(run.survey.images, root, megadetector=run.survey.megadetector_json,
                         out=copy_results(run, tmp_path / "res"), progress=False, decisions=False)
    assert len(calls) == len(res.detections)
    W = m.whitening_.apply(c.vectors)
    for q, rf, sims, rank in calls:
        assert np.allclose(rf.vectors, c.vectors) and q.shape == c.vectors.shape[1:]     # g: raw
        qw = m.whitening_.apply(q[None])[0]
        assert np.allclose(rank, W @ qw, atol=1e-5) and np.allclose(sims, c.vectors @ q, atol=1e-5)
    # behind a faiss shortlist (large catalogues): the metric scores only the references it kept
    monkeypatch.setattr(ident, "EXACT_SIMILARITY_UP_TO", 0)
    monkeypatch.setattr(ident, "SHORTLIST_REFERENCES", 10)
    calls.clear()
    ident.identify(run.survey.images, root, megadetector=run.survey.megadetector_json,
                   out=copy_results(run, tmp_path / "res_big"), progress=False, decisions=False)
    assert calls
    for q, rf, sims, rank in calls:
        kept = np.isfinite(sims)
        assert kept.sum() == 10 and np.array_equal(np.isfinite(rank), kept)
        qw = m.whitening_.apply(q[None])[0]
        assert np.allclose(rank[kept], (W @ qw)[kept], atol=1e-5)


def test_large_catalogue_path_uses_the_faiss_shortlist(run, monkeypatch, tmp_path):
    import lynxid.identification as ident
    from _pipeline import copy_results
    calls = []
    real = ident.shortlist_similarities
    monkeypatch.setattr(ident, "shortlist_similarities", lambda cat, q, *a: calls.append(1) or real(cat, q, *a))
    monkeypatch.setattr(ident, "EXACT_SIMILARITY_UP_TO", 0)
    out = copy_results(run, tmp_path / "res")
    res = ident.identify(run.survey.images, run.catalogue, megadetector=run.survey.megadetector_json, out=out,
                         progress=False, decisions=False)
    assert len(calls) == len(res.detections)
    # the shortlist holds every reference of this small catalogue: same answers as exact search
    a = res.detections.set_index("detection_id")
    b = run.result.detections.set_index("detection_id").loc[a.index]
    assert (a.individual_id == b.individual_id).all()
    assert np.allclose(a.probability.astype(float), b.probability.astype(float), atol=1e-4)


def test_new_weight_needs_matchable_sightings():
    """A catalogue where no photo has another sighting of its individual cannot learn when to
    call an animal new: a clear ValueError (build_catalogue records it), not an IndexError."""
    import pandas as pd
    from lynxid.openset import choose_new_weight
    pairs = pd.DataFrame({"query": [0, 0, 1, 1], "individual": ["A", "B", "A", "B"], "g": [0.5, 0.4, 0.3, 0.6],
                          "l": 0.0, "y": [1, 0, 0, 1], "eligible": False, "truth": ["A", "A", "B", "B"],
                          "p_cv": [0.3, 0.2, 0.1, 0.4]})
    with pytest.raises(ValueError, match="two sightings"):
        choose_new_weight(pairs, "p_cv", "gmean")


def test_model_stores_the_pair_verifier_behind_dense_evidence(cat):
    from lynxid.verify import PAIR_FEATURES
    m = IdentificationModel.from_dict(cat.meta["model"])
    assert m.matcher_.verifier is not None and len(m.matcher_.verifier.coef) == len(PAIR_FEATURES)
    assert m.diagnostics_["photo_pairs_verified"] > 0
    # d is a sum of pair probabilities: with the verifier, evidence never exceeds the pairs checked
    refs = cat.references(m)
    ev = evidence(refs.vectors[0], refs.local[0], refs.flanks[0], refs, exclude=refs.sightings == refs.sightings[0],
                  verifier=m.matcher_.verifier)
    from lynxid.verify import BEST_PAIRS
    assert (ev.d >= 0).all() and (ev.d <= BEST_PAIRS + 1e-9).all() and ev.d.max() > 0


def test_catalogue_of_other_local_features_is_refused(run, tmp_path):
    import shutil
    from lynxid.enrol import local_features_version
    from lynxid.identification import identify
    root = tmp_path / "cat"
    shutil.copytree(run.catalogue, root)
    c = Catalogue.load(root)
    assert c.meta["local_version"] == local_features_version()
    c.meta["local_version"] = "rootsift-v0+effl0-s2-v1"
    c.save()
    with pytest.raises(ValueError, match="rebuild it"):
        identify(run.survey.images, root, megadetector=run.survey.megadetector_json, out=tmp_path / "res",
                 progress=False)


def test_decision_table_scores_both_scenarios():
    from lynxid.openset import decision_table
    pairs = pd.DataFrame({"query": [0, 0, 1, 1], "individual": ["a", "b", "a", "b"], "p_cv": [0.8, 0.5, 0.2, 0.6],
                          "y": [1, 0, 1, 0], "eligible": True, "truth": ["a", "a", "a", "a"]})
    t = decision_table(pairs, "p_cv", c=1.0).set_index(["query", "scenario"])
    # query 0 known: a (odds 4) beats b (1) and new (1): named, right, reported 4 / 6
    assert t.loc[(0, "known"), "right"] and t.loc[(0, "known"), "shown"] == pytest.approx(4 / 6)
    # query 1 known: b (odds 1.5) is on top, a wrong name
    assert not t.loc[(1, "known"), "right"]
    # without their own individual: query 0 is called new (1 >= 1), query 1 is named b, wrongly
    assert t.loc[(0, "unknown"), "right"] and t.loc[(0, "unknown"), "shown"] == pytest.approx(0.5)
    assert not t.loc[(1, "unknown"), "right"] and t.loc[(1, "unknown"), "shown"] == pytest.approx(0.6)


def test_named_and_new_decisions_are_mapped_apart():
    """The same reported 0.6 can mean right 30 % of the time for a named animal and 90 % for
    a "new" call: one pooled map fits only their mixture (calibrated on a survey only while the
    survey mixes them as the catalogue did), the split maps fit each."""
    from lynxid.reported import MIN_SPLIT_DECISIONS
    rng = np.random.default_rng(1)
    n = 2000
    shown = rng.uniform(0.3, 0.9, n)
    new = rng.uniform(size=n) < 0.5
    right = rng.uniform(size=n) < np.where(new, np.minimum(shown + 0.3, 1.0), shown - 0.3)
    table = pd.DataFrame({"query": np.arange(n), "scenario": np.where(np.arange(n) % 2, "known", "unknown"),
                          "shown": shown, "called_new": new, "right": right})
    fit, test = table.iloc[:n // 2], table.iloc[n // 2:]
    rep = ReportedProbability().fit(fit)
    assert {"named", "new"} <= set(rep.maps)
    split = rep.predict(test.shown, test.called_new)
    pooled = rep.predict(test.shown)
    nm = ~test.called_new.to_numpy()
    for kind in (nm, ~nm):      # each kind of decision on its own
        assert expected_calibration_error(split[kind], test.right[kind]) < 0.08   # logistic maps, truth not logistic here
        assert expected_calibration_error(pooled[kind], test.right[kind]) > 0.2
    # a survey where most decisions name an animal (test mixture 4:1, the catalogue's 1:1)
    mix = np.flatnonzero(nm | (np.arange(len(test)) % 4 == 0))
    assert (expected_calibration_error(pooled[mix], test.right.to_numpy()[mix])
            > expected_calibration_error(split[mix], test.right.to_numpy()[mix]) + 0.1)
    # a catalogue fitted with the pooled map only is read with its one map
    old = {k: rep.maps[k] for k in ("map", "all", "decisions")}
    assert np.allclose(ReportedProbability.from_dict(old).predict(test.shown, test.called_new), pooled)
    # maps of lynxid 0.1.0 catalogues (isotonic x, y; or one unsplit map without "all") are refused
    iso = {"x": [0.0, 0.5, 1.0], "y": [0.0, 0.2, 0.9], "decisions": 100}
    for stale in (iso, {**iso, "new": {"x": [0.0, 1.0], "y": [0.5, 1.0]}}, {"slope": 1.0, "intercept": 0.0},
                  {**rep.maps, "map": "isotonic"}):
        with pytest.raises(ValueError, match="rebuild it with `lynxid catalogue build`"):
            ReportedProbability.from_dict(stale)
    # too few decisions of one kind: that kind keeps the pooled map
    few = fit[~fit.called_new | (np.arange(len(fit)) < 300)]
    rep_few = ReportedProbability().fit(few).maps
    assert 0 < few.called_new.sum() < MIN_SPLIT_DECISIONS <= (~few.called_new).sum()
    assert "named" in rep_few and "new" not in rep_few


def test_crowded_new_probabilities_are_not_overfitted():
    """P(new) of the "new" calls crowds in a band a few thousandths wide (set by the "new"
    weight) where it says nothing about being right (lion's open set). A map must not read
    steps into that noise: on fresh decisions of the same kind the default (logistic) maps stay
    flat and calibrated; isotonic ones, fitted the same way, scatter their answers and score
    worse (Brier) on the same decisions. Over several draws, as one draw's noise decides little."""
    from lynxid.openset_evaluation import REPORTED_MAPS
    from lynxid.reported import MIN_SPLIT_DECISIONS
    spread, worse = [], []
    for seed in range(5):
        rng = np.random.default_rng(seed)

        def table(n):
            new = rng.uniform(size=n) < 0.6
            shown = np.where(new, rng.uniform(0.100, 0.106, n), rng.uniform(0.1, 0.9, n))
            right = rng.uniform(size=n) < np.where(new, 0.55, shown)
            return pd.DataFrame({"query": np.arange(n), "scenario": np.where(np.arange(n) % 2, "known", "unknown"),
                                 "shown": shown, "called_new": new, "right": right})
        fit, test = table(600), table(4000)
        assert fit.called_new.sum() >= MIN_SPLIT_DECISIONS
        new = test.called_new.to_numpy()
        y = test.right.to_numpy(float)[new]
        mapped = {kind: REPORTED_MAPS[kind]().fit(fit).predict(test.shown, test.called_new)[new]
                  for kind in ("logistic", "isotonic")}
        assert expected_calibration_error(mapped["logistic"], y) < 0.06 and np.ptp(mapped["logistic"]) < 0.02
        spread.append(np.ptp(mapped["isotonic"]))
        worse.append(np.mean((mapped["isotonic"] - y) ** 2) > np.mean((mapped["logistic"] - y) ** 2))
    assert np.mean(spread) > 0.2 and all(worse)       # the steps the default does not read into noise


def test_reported_probability_is_recalibrated_on_the_catalogue_decisions():
    rng = np.random.default_rng(0)
    n = 400
    shown = rng.uniform(0.3, 1.0, n)
    right = rng.uniform(size=n) < shown ** 3            # over-confident: right less often than reported
    table = pd.DataFrame({"query": np.arange(n), "scenario": np.where(np.arange(n) % 2, "known", "unknown"),
                          "shown": shown, "right": right})
    fit, test = table.iloc[:n // 2], table.iloc[n // 2:]
    rep = ReportedProbability().fit(fit)
    mapped = rep.predict(test.shown)
    assert np.all(np.diff(rep.predict(np.linspace(0, 1, 50))) >= 0)          # monotone
    assert expected_calibration_error(mapped, test.right) < expected_calibration_error(test.shown, test.right) - 0.05
    few = ReportedProbability().fit(table.iloc[:20])
    assert few.maps is None and np.allclose(few.predict([0.2, 0.7]), [0.2, 0.7])
    # stored with the model
    from lynxid.calibrate import FusionCalibrator
    d = IdentificationModel(whiten=False).set_fitted(FusionCalibrator(False), 1.0,
                                                     Matcher(use_local=False, per_individual=2), rep).to_dict()
    assert IdentificationModel.from_dict(json.loads(json.dumps(d))).reported_.maps == rep.maps


def test_new_unit_pairs_not_local_matched_carry_no_evidence(monkeypatch):
    """Clustering new events: a pair local matching never checked is unknown (NaN), not
    "checked and no match" (an embedding-only probability that splits one animal apart)."""
    from lynxid import cluster
    from lynxid.calibrate import FusionCalibrator
    from lynxid.features import FeatureSet
    rng = np.random.default_rng(0)
    base = rng.normal(size=(2, 16))
    v = np.stack([base[0], base[0] + 0.1 * rng.normal(size=16), base[1], base[1] + 0.1 * rng.normal(size=16)])
    v = (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)
    y = rng.integers(0, 2, 400)
    cal = FusionCalibrator(True).fit(rng.uniform(0, 1, 400), y * 30 + rng.uniform(0, 5, 400), y,
                                     groups=np.arange(400) % 20)

    class Match:
        inliers, dense, dense_features = 30, 0.0, None

    checked = []
    monkeypatch.setattr(cluster, "match_local", lambda a, b: checked.append((a, b)) or Match)
    fs = FeatureSet(v, np.ones(4, bool), local=[f"photo{i}" for i in range(4)])
    units = [np.array([i]) for i in range(4)]
    flanks = np.full(4, None, dtype=object)
    P = cluster.unit_pair_probability(cal, Matcher(use_local=True, per_individual=1), fs.vectors, fs.local, units,
                                      flanks, k_local=1)
    # each unit checked only its nearest: 0-1 and 2-3
    assert {frozenset(c) for c in checked} == {frozenset(("photo0", "photo1")), frozenset(("photo2", "photo3"))}
    assert np.isfinite(P[0, 1]) and np.isfinite(P[2, 3]) and P[0, 1] > 0.5
    assert np.isnan(P[[0, 0, 1, 1], [2, 3, 2, 3]]).all()
    # without local features every pair is judged by the embedding
    P0 = cluster.unit_pair_probability(cal, Matcher(use_local=False), fs.vectors, fs.local, units, flanks, k_local=1)
    assert np.isfinite(P0[~np.eye(4, dtype=bool)]).all()


def test_unmapped_reported_probability_is_reported_not_silent(run, cat):
    m = IdentificationModel.from_dict(cat.meta["model"])
    iss = run.result.issues
    said = iss["reason"].astype(str).str.contains("too few to map reported probabilities") if len(iss) else []
    # the small catalogue here has too few leave-one-out decisions for the map; if that ever
    # changes, the warning must go with it
    assert bool(np.any(said)) == (m.reported_.maps is None)
    if m.reported_.maps is None:
        assert (iss.loc[said, "severity"] == "warning").all()


def test_catalogue_keeps_its_metric_setting_for_refits(run, monkeypatch, tmp_path):
    """build_catalogue(metric=...) is stored with the catalogue (its configuration), and adding
    photos refits the model with the same use of the metric; an unknown setting is refused up
    front, and a catalogue of lynxid 0.1.0 built before the configuration was stored is refused."""
    import shutil
    import lynxid.enrol as ident
    with pytest.raises(ValueError, match="metric must be one of"):
        ident.build_catalogue(tmp_path / "bad", run.survey.catalogue_images, metric="sometimes")
    assert not (tmp_path / "bad").exists()
    root = tmp_path / "cat"
    shutil.copytree(run.catalogue, root)
    c = Catalogue.load(root)
    assert c.meta["config"]["metric"] == "shortlist"          # the default
    c.meta["config"]["metric"] = "off"
    c.save()
    seen = []

    class Spy(ident.IdentificationModel):
        def fit(self, refs, progress=True):
            seen.append(self.whiten)
            return super().fit(refs, progress)
    monkeypatch.setattr(ident, "IdentificationModel", Spy)
    ident.add_to_catalogue(root, run.survey.catalogue_images, megadetector=run.survey.catalogue_megadetector_json,
                           progress=False)
    assert seen == [False]
    assert Catalogue.load(root).meta["config"]["metric"] == "off"
    c = Catalogue.load(root)
    del c.meta["config"]
    c.save()
    with pytest.raises(ValueError, match="rebuild it with `lynxid catalogue build`"):
        ident.add_to_catalogue(root, run.survey.catalogue_images,
                               megadetector=run.survey.catalogue_megadetector_json, progress=False)
    assert seen == [False]


def test_catalogue_configuration_travels_with_it_and_old_catalogues_are_refused(run, tmp_path):
    """The settings a catalogue was built with are one configuration in catalogue.json; a
    catalogue of lynxid 0.1.0 (no configuration, or a model with isotonic reported maps or
    without the second look) gets a clear "rebuild it" error, not a silent other behaviour."""
    import shutil
    from lynxid.config import IdentificationConfig
    from lynxid.identification import identify
    c = Catalogue.load(run.catalogue)
    config = IdentificationConfig.of(c)
    assert IdentificationConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert (config.backbone, config.local, config.metric, config.target) == ("efficientnet-lite0", True, "shortlist",
                                                                             "gmean")
    m = IdentificationModel.from_dict(c.meta["model"])
    assert m.matcher_.n_individuals == config.matcher.n_individuals and m.target == config.target
    stale = {"no config": lambda meta: meta.pop("config"),
             "isotonic maps": lambda meta: meta["model"].update(reported={"x": [0, 1], "y": [0, 1], "decisions": 60}),
             "no second look": lambda meta: meta["model"].pop("deep_individuals")}
    for name, damage in stale.items():
        root = tmp_path / name.replace(" ", "_")
        shutil.copytree(run.catalogue, root)
        old = Catalogue.load(root)
        damage(old.meta)
        old.save()
        with pytest.raises(ValueError, match="rebuild it with `lynxid catalogue build`"):
            identify(run.survey.images, root, megadetector=run.survey.megadetector_json, progress=False)
