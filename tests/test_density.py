"""lynxid's spatial capture-recapture fit (lynxid.density) against secr 5.5.0, on simulated
surveys, and on bad input.

The secr reference fits live outside the repository (../shared/data/secr-reference, or
$LYNXID_SHARED_DATA/secr-reference): every row of every secr_fits.csv is refitted with the
mask secr used and must agree to 3 significant figures (estimates, logLik) and 2 % (SEs).
Those tests skip when the folder is absent.
"""
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lynxid.density import DensityFitWarning, buffer_check, fit_density
from lynxid.density_result import DensityFit
from lynxid.mask import Mask, make_mask, read_mask
from lynxid.scr_data import SCRData, read_secr_tables
from lynxid.scr_likelihood import SCRLikelihood, link, LINKS
from lynxid.scr_simulate import simulate_scr, trap_grid

SHARED = Path(os.environ.get("LYNXID_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
REF = SHARED / "secr-reference"
NO_REF = f"secr reference data not found at {REF}"


def _reference_rows():
    if not REF.is_dir():
        return []
    return [(f.parent.name, fn) for f in sorted(REF.glob("*/secr_fits.csv"))
            for fn in pd.read_csv(f).detectfn.drop_duplicates()]


def _readme(folder):
    out = {}
    for line in (REF / folder / "README.txt").read_text().splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


def _reference(folder):
    info = _readme(folder)
    data = read_secr_tables(REF / folder / "traps.csv", REF / folder / "captures.csv", info["detector"])
    return data, read_mask(REF / folder / "mask.csv"), info


_FITS = {}


def _ref_fit(folder, fn):
    if (folder, fn) not in _FITS:
        data, mask, _ = _reference(folder)
        _FITS[folder, fn] = fit_density(data, fn, mask=mask)
    return _FITS[folder, fn]


# --------------------------------------------------------------------------------------
# equal to secr
# --------------------------------------------------------------------------------------
@pytest.mark.skipif(not REF.is_dir(), reason=NO_REF)
@pytest.mark.parametrize("folder,fn", _reference_rows() or [("none", "none")])
def test_equals_secr(folder, fn):
    ref = pd.read_csv(REF / folder / "secr_fits.csv")
    ref = ref[ref.detectfn == fn].set_index("parameter")
    fit = _ref_fit(folder, fn)
    assert fit.convergence["converged"], fit.convergence
    got = fit.estimates.set_index("parameter")
    checked = 0
    for p in ("D", "g0", "lambda0", "sigma", "z"):
        if p not in ref.index:
            continue
        r, g = ref.loc[p], got.loc[p]
        assert g.estimate == pytest.approx(r.estimate, rel=5e-4), (p, g.estimate, r.estimate)
        assert g.SE == pytest.approx(r.SE, rel=0.02), (p, g.SE, r.SE)
        assert g.lcl == pytest.approx(r.lcl, rel=0.005) and g.ucl == pytest.approx(r.ucl, rel=0.005)
        checked += 1
    assert checked == len(fit.det_names) + 1
    assert fit.logLik == pytest.approx(ref.loc["logLik", "estimate"], rel=5e-4, abs=1e-3)
    assert fit.AIC == pytest.approx(ref.loc["AIC", "estimate"], abs=0.01)
    assert fit.npar == ref.loc["npar", "estimate"]
    # per 100 km2 and E(N) follow from D
    D = got.loc["D"]
    assert got.loc["D_100km2"].estimate == pytest.approx(D.estimate * 1e4)
    assert got.loc["EN"].estimate == pytest.approx(D.estimate * fit.sessions[0]["mask"].area)


@pytest.mark.skipif(not REF.is_dir(), reason=NO_REF)
@pytest.mark.parametrize("folder", sorted(p.parent.name for p in REF.glob("*/README.txt")) or ["none"])
def test_make_mask_equals_secr(folder):
    """make.mask(traps, buffer, type = "trapbuffer") with its default spacing: same points."""
    data, ref_mask, info = _reference(folder)
    m = make_mask(data.sessions[0].xy, float(info["buffer"]))
    assert m.spacing == pytest.approx(float(info["mask spacing"]))
    assert m.cell_area == pytest.approx(float(info["mask cell area ha"]), rel=1e-5)
    assert len(m) == len(ref_mask) == int(info["mask points"])
    got = np.array(sorted(map(tuple, m.xy)))
    exp = np.array(sorted(map(tuple, ref_mask.xy)))
    np.testing.assert_allclose(got, exp, atol=1e-6)
    assert ref_mask.spacing == pytest.approx(m.spacing)      # spacing read off the points


@pytest.mark.skipif(not REF.is_dir(), reason=NO_REF)
def test_capture_history_input_gives_the_same_fit():
    """A lynxid CaptureHistory of the same survey fits to the same numbers as the tables."""
    from lynxid.capture import CaptureHistory
    data, mask, _ = _reference("simulated-count")
    s = data.sessions[0]
    ids = np.array(s.animals)[s.animal]
    ch = CaptureHistory(
        detections=pd.DataFrame({"session": "1", "individual": ids, "occasion": s.occasion + 1,
                                 "detector": np.array(s.trap_ids)[s.trap], "count": s.count}),
        usage={"1": pd.DataFrame(s.usage, index=s.trap_ids, columns=[f"o{k + 1}" for k in range(s.usage.shape[1])])},
        traps=pd.DataFrame({"session": "1", "detector": s.trap_ids, "x": s.xy[:, 0], "y": s.xy[:, 1]}),
        occasions=pd.DataFrame(), individuals=pd.DataFrame({"session": "1", "individual": s.animals}),
        records=pd.DataFrame(), issues=pd.DataFrame(), detector_type="count")
    a = fit_density(ch, "HHN", mask=mask)
    b = _ref_fit("simulated-count", "HHN")
    assert a.logLik == pytest.approx(b.logLik, abs=1e-6)
    np.testing.assert_allclose(a.beta, b.beta, rtol=1e-5)


# --------------------------------------------------------------------------------------
# the likelihood and the fit on simulated surveys
# --------------------------------------------------------------------------------------
def _numeric_gradient(lik, beta, eps=1e-6):
    g = []
    for j in range(len(beta)):
        b1, b2 = beta.copy(), beta.copy()
        b1[j] += eps
        b2[j] -= eps
        g.append((lik.loglik(b1) - lik.loglik(b2)) / (2 * eps))
    return np.array(g)


@pytest.mark.parametrize("detector,fn", [("proximity", "HN"), ("proximity", "HR"), ("proximity", "HEX"),
                                         ("count", "HHN"), ("count", "EX"), ("count", "HHR")])
def test_analytic_gradient_with_fractional_usage(detector, fn):
    rng = np.random.default_rng(3)
    traps = trap_grid(5, 5, 400)
    usage = np.round(rng.choice([0, 0.5, 1, 1, 2.5], size=(25, 6)), 2)
    par = {"g0": 0.3, "lambda0": 0.4, "sigma": 300, "z": 4}
    data, _ = simulate_scr(traps, usage, 0.05, fn, par, 1200, detector, seed=4)
    assert data.n > 10
    lik = SCRLikelihood(data, [make_mask(traps, 1200, nx=30)], fn)
    beta = np.r_[np.log(0.04), [float(link(LINKS[p], par[p] * 1.2)) for p in lik.det_names]]
    ll, g = lik.loglik(beta, grad=True)
    np.testing.assert_allclose(g, _numeric_gradient(lik, beta), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("detector,fn,par", [("proximity", "HN", {"g0": 0.2, "sigma": 300}),
                                             ("count", "HHN", {"lambda0": 0.3, "sigma": 300})])
def test_recovers_simulated_parameters(detector, fn, par):
    traps = trap_grid(8, 8, 300)
    usage = np.ones((64, 8))
    usage[::5, 2] = 0
    usage[1::7, 5] = 0.5
    D = 0.08                                                   # ~ 190 animals in the region
    data, truth = simulate_scr(traps, usage, D, fn, par, 1500, detector, seed=11)
    fit = fit_density(data, fn, buffer=1500)
    est = fit.estimates.set_index("parameter")
    for p, true in [("D", D)] + list(par.items()):
        assert est.loc[p].lcl < true < est.loc[p].ucl, (p, est.loc[p].to_dict(), true)
        assert abs(est.loc[p].estimate / true - 1) < 0.3, (p, est.loc[p].estimate, true)
    assert fit.buffer_check[0]["relative_bias"] < 0.01


def test_multi_session_shared_and_per_session_density():
    """Two identical sessions with a shared D: the same estimates as one, logLik doubled, SEs
    / sqrt(2). Per-session D: one D per session, detection shared."""
    traps = trap_grid(6, 6, 300)
    one, _ = simulate_scr(traps, 6, 0.1, "HN", {"g0": 0.25, "sigma": 280}, 1200, seed=5)
    s = one.sessions[0]
    twin = SCRData([s, type(s)(**{**s.__dict__, "name": "2"})], "proximity")
    mask = make_mask(traps, 1200, nx=32)
    f1 = fit_density(one, "HN", mask=mask)
    f2 = fit_density(twin, "HN", mask=mask)
    np.testing.assert_allclose(f2.beta, f1.beta, rtol=1e-4, atol=1e-6)
    assert f2.logLik == pytest.approx(2 * f1.logLik, rel=1e-8)
    np.testing.assert_allclose(np.sqrt(np.diag(f2.vcov)), np.sqrt(np.diag(f1.vcov)) / np.sqrt(2), rtol=1e-3)
    f3 = fit_density(twin, "HN", mask=mask, D_per_session=True)
    assert f3.names == ["D[1]", "D[2]", "g0", "sigma"] and f3.npar == 4
    tab = f3.estimates
    d = tab[tab.parameter == "D"].estimate.to_numpy()
    assert d == pytest.approx([f1.estimates.estimate[0]] * 2, rel=1e-4)
    assert f3.logLik == pytest.approx(f2.logLik, abs=1e-6)


def test_save_load_and_surface(tmp_path):
    traps = trap_grid(5, 5, 300)
    data, _ = simulate_scr(traps, 5, 0.1, "HHN", {"lambda0": 0.3, "sigma": 250}, 1000, "count", seed=8)
    fit = fit_density(data, "HHN", buffer=1000, spacing=100)
    path = fit.save(tmp_path / "fit.json")
    json.loads(path.read_text())                               # valid JSON, no NaN tokens
    back = DensityFit.load(path)
    pd.testing.assert_frame_equal(back.predict(alpha=0.1), fit.predict(alpha=0.1))
    surf = back.density_surface()
    assert len(surf) == len(fit.sessions[0]["mask"]) and set(surf.columns) >= {"x", "y", "D", "pdot"}
    assert surf.pdot.between(0, 1).all() and surf.pdot.max() > 0.9 and surf.pdot.min() < 0.05
    assert fit.estimates_dict()["D"]["estimate"] == pytest.approx(surf.D.iloc[0])
    assert "lambda0" in fit.summary()


# --------------------------------------------------------------------------------------
# the mask
# --------------------------------------------------------------------------------------
def test_make_mask_by_hand():
    """Traps (0,0) and (100,0), buffer 50, spacing 25: cell centres from -37.5 by 25 in x
    (8 columns to 137.5) and y (-37.5..37.5); |y| = 12.5 rows keep all 8, |y| = 37.5 rows keep
    the 4 within 33.07 m (in x) of a trap: x = -12.5, 12.5, 87.5, 112.5."""
    m = make_mask([[0, 0], [100, 0]], buffer=50, spacing=25)
    assert len(m) == 24 and m.cell_area == pytest.approx(0.0625)
    top = np.sort(m.x[m.y == 37.5])
    np.testing.assert_allclose(top, [-12.5, 12.5, 87.5, 112.5])
    np.testing.assert_allclose(np.sort(m.x[m.y == 12.5]), np.arange(-37.5, 150, 25))
    assert make_mask([[0, 0], [100, 0]], buffer=50).spacing == pytest.approx(200 / 64)   # nx = 64 default
    # clipped to a habitat polygon x < 50: the four left columns of the |y| = 12.5 rows (8)
    # and x = -12.5, 12.5 of the |y| = 37.5 rows (4)
    clipped = make_mask([[0, 0], [100, 0]], buffer=50, spacing=25, poly=[[-100, -100], [50, -100], [50, 100], [-100, 100]])
    assert len(clipped) == 12 and clipped.x.max() < 50


def test_mask_from_points_reads_spacing():
    m = Mask.from_points(pd.DataFrame({"x": [0, 10, 20, 0, 10], "y": [0, 0, 0, 10, 10]}))
    assert m.spacing == 10 and m.cell_area == pytest.approx(0.01)
    with pytest.raises(ValueError, match="not a square grid"):
        Mask.from_points(np.array([[0, 0], [10, 0], [0, 7]]))


# --------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------
def _tables(captures, usage=None):
    traps = pd.DataFrame({"trapID": ["A", "B", "C"], "x": [0, 100, 200], "y": [0, 0, 0]})
    u = np.array(usage if usage is not None else [[1, 1], [1, 1], [1, 1]])
    for j in range(u.shape[1]):
        traps[f"usage_{j + 1}"] = u[:, j]
    return traps, pd.DataFrame(captures, columns=["ID", "occasion", "trapID"])


def test_capture_at_unknown_trap():
    traps, caps = _tables([[1, 1, "A"], [1, 2, "Z"]])
    with pytest.raises(ValueError, match="not in the trap table.*'Z'"):
        read_secr_tables(traps, caps)


def test_occasion_beyond_usage():
    traps, caps = _tables([[1, 1, "A"], [1, 3, "B"]])
    with pytest.raises(ValueError, match="beyond the 2 usage column"):
        read_secr_tables(traps, caps)


def test_detection_while_detector_off():
    traps, caps = _tables([[1, 1, "A"], [7, 2, "B"]], usage=[[1, 1], [1, 0], [1, 1]])
    with pytest.raises(ValueError, match="not working.*'animal': '7'.*'trap': 'B'"):
        read_secr_tables(traps, caps)


def test_no_recaptures():
    traps, caps = _tables([[1, 1, "A"], [2, 2, "B"], [3, 1, "C"]])
    with pytest.raises(ValueError, match="no recaptures"):
        fit_density(read_secr_tables(traps, caps), "HN", buffer=300)


def test_empty_mask():
    with pytest.raises(ValueError, match="no points"):
        Mask.from_points(pd.DataFrame({"x": [], "y": []}))
    with pytest.raises(ValueError, match="no points"):
        make_mask([[0, 0]], buffer=50, spacing=10, poly=[[500, 500], [600, 500], [600, 600]])


def test_small_buffer_warns_with_a_suggestion():
    traps = trap_grid(5, 5, 300)
    data, _ = simulate_scr(traps, 6, 0.1, "HN", {"g0": 0.25, "sigma": 300}, 1200, seed=6)
    with pytest.warns(DensityFitWarning, match=r"too close.*Refit with buffer=(\d+)"):
        fit = fit_density(data, "HN", buffer=300)
    chk = buffer_check(fit)[0]
    assert chk["relative_bias"] > 0.05 and chk["suggested_buffer"] > 2 * 300
    with warnings.catch_warnings():
        warnings.simplefilter("error", DensityFitWarning)        # the suggested buffer is wide enough
        wide = fit_density(data, "HN", buffer=chk["suggested_buffer"])
    assert wide.buffer_check[0]["relative_bias"] < 0.01
    assert wide.estimates.estimate[0] < fit.estimates.estimate[0]    # the narrow mask inflated D


@pytest.mark.skipif(not REF.is_dir(), reason=NO_REF)
def test_flat_likelihood_warns():
    """The stoat hazard-rate fit: z runs off to infinity (secr's reference leaves it out)."""
    data, mask, _ = _reference("stoat-proximity")
    with pytest.warns(DensityFitWarning, match="did not converge.*flat in z"):
        fit = fit_density(data, "HR", mask=mask)
    assert not fit.convergence["converged"] and fit.convergence["not_identifiable"] == ["z"]


def test_unknown_detectfn_and_input():
    traps, caps = _tables([[1, 1, "A"], [1, 2, "B"]])
    data = read_secr_tables(traps, caps)
    with pytest.raises(ValueError, match="detectfn must be one of"):
        fit_density(data, "XX", buffer=300)
    with pytest.raises(TypeError, match="CaptureHistory or SCRData"):
        fit_density(caps, "HN", buffer=300)


def test_sessions_from_tables_and_automatic_buffer():
    """A session column gives one session each (traps shared); with neither mask nor buffer
    the buffer comes from the recaptures' spatial scale and passes the buffer check."""
    traps = trap_grid(6, 6, 300)
    frames = []
    for i, seed in enumerate([21, 22]):
        d, _ = simulate_scr(traps, 6, 0.1, "HN", {"g0": 0.25, "sigma": 280}, 1400, seed=seed)
        s = d.sessions[0]
        frames.append(pd.DataFrame({"session": f"winter{i + 1}", "ID": np.array(s.animals)[s.animal],
                                    "occasion": s.occasion + 1, "trapID": np.array(s.trap_ids)[s.trap]}))
    tr = pd.DataFrame({"trapID": [str(k + 1) for k in range(36)], "x": traps[:, 0], "y": traps[:, 1]})
    data = read_secr_tables(tr, pd.concat(frames), occasions=6)
    assert [s.name for s in data.sessions] == ["winter1", "winter2"]
    assert all(s.usage.shape == (36, 6) for s in data.sessions)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DensityFitWarning)
        fit = fit_density(data, "HN")
    assert all(c["relative_bias"] < 0.01 for c in fit.buffer_check)
    assert fit.sessions[0]["mask"].buffer >= 3 * fit.detection_parameters()["sigma"]
    assert fit.estimates.session.unique().tolist() == ["winter1", "winter2"]


@pytest.mark.parametrize("fn", ["HN", "HHN", "EX"])
def test_a_trial_step_to_an_extreme_sigma_is_a_likelihood_not_a_crash(fn):
    # an optimiser's line search once stepped log sigma so far that sigma underflowed to 0
    # and one draw's fit raised ZeroDivisionError, ending a whole imputed density fit; the
    # likelihood there must be something the optimiser can step back from
    traps = trap_grid(4, 4, 400)
    par = {"g0": 0.3, "lambda0": 0.4, "sigma": 300}
    data, _ = simulate_scr(traps, np.ones((16, 5)), 0.05, fn, par, 1200, "proximity", seed=4)
    lik = SCRLikelihood(data, [make_mask(traps, 1200, nx=20)], fn)
    at_fit = np.r_[np.log(0.05), [float(link(LINKS[p], par[p])) for p in lik.det_names]]
    extreme = at_fit.copy()
    extreme[-1] = -800.0                                        # log sigma: exp() underflows to 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ll, g = lik.loglik(extreme, grad=True)
    assert not np.isfinite(ll) or ll < lik.loglik(at_fit)
    fit = fit_density(data, fn, buffer=1200)
    assert fit.estimates.set_index("parameter").loc["sigma"].estimate > 50
