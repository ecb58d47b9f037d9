"""The ``lynxid density fit`` command (registered in :mod:`lynxid.cli`): a spatial
capture-recapture density estimate from a capture-history folder or from secr-style tables,
printed as a table and optionally written as JSON.

The JSON holds every estimate as ``{"estimate", "SE", "lcl", "ucl"}`` under its parameter
name (D in animals per hectare, as secr reports it; ``D_100km2`` alongside), then logLik,
AIC, AICc and the number of parameters, so that a script can compare a run with secr's
``predict()`` line by line.
"""
from __future__ import annotations

import json
import math
import sys
import warnings
from pathlib import Path

__all__ = ["add_density", "run_density_fit", "fit_json", "format_comparison"]

DESCRIPTION = """\
Estimate population density by maximum-likelihood spatial capture-recapture (the model
secr.fit fits by default: full likelihood, homogeneous Poisson density, secr's links), from

  * a capture-history folder written by 'lynxid capture-history' (its secr files: capt.txt,
    traps*.txt and summary.json), or
  * secr-style tables: --traps (trapID, x, y, usage_1..usage_K [, session]) and --captures
    (ID, occasion, trapID [, session] [, count]) with --detector.

The habitat mask is --mask (CSV of x, y cell centres, e.g. secr's mask written with
write.csv), or built around the detectors with --buffer (and --spacing) as secr's
make.mask(type = "trapbuffer") builds it; with neither, the buffer is 4 x the spatial scale
of the recaptures, widened once if the fit finds it too small. Coordinates in metres.
"""

EPILOG = """\
examples:
  lynxid density fit ch/ --buffer 15000 --spacing 1000 --json density.json
  lynxid density fit --traps traps.csv --captures captures.csv --detector count \\
      --detectfn HHN --mask mask.csv
  lynxid density fit ch/ --detectfn HN --buffer 15000 --engine both   # lynxid and secr side by side

Proximity detectors with fractional usage (lynxid's capture histories count days of effort)
are modelled as p = 1 - (1 - g)^usage per occasion: secr's model with
details = list(fastproximity = FALSE).
"""


def add_density(sub, formatter):
    from .scr_data import DETECTORS
    from .scr_likelihood import DETECTFNS

    p = sub.add_parser("density", help="population density by spatial capture-recapture (secr's model)",
                       description="Spatial capture-recapture density estimation.", formatter_class=formatter)
    dsub = p.add_subparsers(dest="action", metavar="ACTION")
    f = dsub.add_parser("fit", help="fit the SCR model to a capture history and report D, g0/lambda0, sigma",
                        description=DESCRIPTION, epilog=EPILOG, formatter_class=formatter)
    f.add_argument("folder", nargs="?", help="capture-history folder written by 'lynxid capture-history'")
    t = f.add_argument_group("secr-style tables (instead of a folder)")
    t.add_argument("--traps", metavar="CSV", help="trapID, x, y, usage_1..usage_K (effort per occasion) [, session]")
    t.add_argument("--captures", metavar="CSV", help="ID, occasion, trapID [, session] [, count]")
    t.add_argument("--detector", choices=list(DETECTORS), default=None,
                   help="detector type of the tables: proximity (binary per occasion) or count. Default: proximity")
    t.add_argument("--occasions", type=int, default=None, metavar="K",
                   help="occasions when the trap table has no usage columns (every detector worked on each)")
    m = f.add_argument_group("habitat mask")
    mx = m.add_mutually_exclusive_group()
    mx.add_argument("--mask", metavar="CSV", help="mask cell centres: columns x, y (grid spacing read off the points)")
    mx.add_argument("--buffer", type=float, default=None, metavar="M",
                    help="build the mask: cells within M metres of a detector (secr's make.mask, trapbuffer)")
    m.add_argument("--spacing", type=float, default=None, metavar="M",
                   help="mask cell side in metres. Default: 64 cells across the buffered detector rectangle")
    m.add_argument("--habitat", metavar="CSV", help="habitat polygon (x, y vertices): mask cells outside are dropped")
    o = f.add_argument_group("model and output")
    o.add_argument("--detectfn", choices=list(DETECTFNS), default="HHN",
                   help="detection function: HN, HR, EX (g0 f(d)) or the hazard forms HHN, HHR, HEX (lambda0 f(d)). "
                        "Default: HHN")
    o.add_argument("--density-per-session", action="store_true",
                   help="one density per session (secr's D ~ session) instead of one shared by all sessions")
    o.add_argument("--engine", choices=["lynxid", "secr", "both"], default="lynxid",
                   help="lynxid's own fit (default), secr's secr.fit on the same data, mask and model (through rpy2; "
                        "needs R, rpy2 and the secr package), or both side by side")
    o.add_argument("--json", metavar="FILE", help="write every estimate (D per hectare), logLik and AIC as JSON "
                                                   "(with --engine both: one such object per engine)")
    i = f.add_argument_group("identification error included (FOLDER is identify's output, with --stations)")
    i.add_argument("--stations", metavar="CSV", help="station table: build a capture history from identify's "
                   "results in FOLDER, once per draw of the identities (the options below say how)")
    i.add_argument("--imputations", type=int, default=None, metavar="K",
                   help="draws of the identities from identify's probabilities; each gives a capture history and a "
                        "fit, combined by Rubin's rules (default with --stations: 50)")
    i.add_argument("--pair-evidence", metavar="JSON",
                   help="what a pair probability says on photos the catalogue could not place, measured on labelled "
                        "photos of the species: the report 'lynxid evaluate LABELLED --open-set-only --out JSON' wrote "
                        "(or a pair evidence JSON). With it the identities are drawn inside the SCR model (the "
                        "latent-identity sampler), which stays honest where many calls are wrong")
    i.add_argument("--sampler", choices=["latent", "independent"], default=None,
                   help="how the identities are drawn: 'latent' (inside the SCR model; needs --pair-evidence) or "
                        "'independent' (each unit from its own probabilities). Default: latent with --pair-evidence, "
                        "else independent")
    i.add_argument("--catalogue-size", type=int, default=None, metavar="N",
                   help="animals in the catalogue identify used (default: from FOLDER/summary.json)")
    i.add_argument("--seed", type=int, default=0, help="random seed of the draws. Default: 0")
    i.add_argument("--jobs", type=int, default=None, metavar="N", help="processes fitting draws. Default: the CPUs")
    i.add_argument("--out", metavar="DIR", help="where density_imputed.json and review_priority.csv go. Default: "
                   "FOLDER, where 'lynxid review report' finds the review order")
    from .capture_cli import add_capture_options
    add_capture_options(f)
    f.set_defaults(func=run_density_fit)
    p.set_defaults(func=lambda a: p.print_help() or 0)
    return p


def run_density_fit(a) -> int:
    from .density import fit_density

    if a.stations or a.imputations or a.pair_evidence or a.sampler:
        if a.engine != "lynxid":
            raise ValueError("--engine secr/both fits one capture history; with --imputations only lynxid's engine")
        return run_density_imputed(a)
    engines = ["lynxid", "secr"] if a.engine == "both" else [a.engine]
    if "secr" in engines:
        from .secr_engine import require_secr
        require_secr()                 # R, rpy2 and secr there? Say so before fitting anything
    data = _read_data(a)
    poly = _read_polygon(a.habitat) if a.habitat else None
    fits = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for e in engines:
            # both: secr gets lynxid's masks, so the two integrate over the very same points
            mask = [s["mask"] for s in fits["lynxid"].sessions] if fits else a.mask
            fits[e] = fit_density(data, a.detectfn, mask=mask, buffer=None if fits else a.buffer, spacing=a.spacing,
                                  poly=None if fits else poly, D_per_session=a.density_per_session, engine=e)
    notes = list(dict.fromkeys(str(w.message) for w in caught))
    fit = fits[engines[0]]
    print(format_fit(fit) if len(fits) == 1 else format_comparison(fits))
    for n in notes:
        print(f"lynxid density fit: warning: {n}", file=sys.stderr)
    if a.json:
        out = fit_json(fit) if len(fits) == 1 else {e: fit_json(f) for e, f in fits.items()}
        out["warnings"] = notes
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(out, indent=1, allow_nan=False) + "\n", encoding="utf-8")
        print(f"  estimates written to {a.json}")
    return 0


def run_density_imputed(a) -> int:
    """``density fit RESULTS --stations S --imputations K``: density with identification
    error included (``density_imputation``)."""
    from .capture_cli import capture_kwargs
    from .density_imputation import DEFAULT_IMPUTATIONS, fit_density_imputed

    if not (a.folder and a.stations):
        raise ValueError("--imputations needs identify's output folder and --stations (the station table)")
    if a.traps or a.captures:
        raise ValueError("--imputations works from identify's results, not from --traps/--captures")
    if a.habitat:
        raise ValueError("--habitat is not available with --imputations: give --mask (cells already clipped)")
    res = fit_density_imputed(a.folder, a.stations, a.imputations or DEFAULT_IMPUTATIONS, detectfn=a.detectfn,
                              mask=a.mask, buffer=a.buffer, spacing=a.spacing, seed=a.seed, n_jobs=a.jobs,
                              sampler=a.sampler, pair_evidence=a.pair_evidence, catalogue_size=a.catalogue_size,
                              **capture_kwargs(a))
    print(res.summary())
    files = res.write(a.out or a.folder)
    if a.json:
        from . import storage
        storage.write_json(a.json, res.to_dict())
        files["json_copy"] = a.json
    print("  written: " + ", ".join(files.values()))
    if res.review is not None and len(res.review):
        top = res.review.head(5)
        print("  review first (largest expected cut of the identification variance): "
              + ", ".join(f"{r.event_id} ({r.individual_id}, -{100 * r.share_reduction:.0f} %)" for r in top.itertuples()))
    return 0


def _read_data(a):
    from .scr_data import read_capture_history_folder, read_secr_tables

    tables = a.traps or a.captures
    if a.folder and tables:
        raise ValueError("give either a capture-history folder or --traps and --captures, not both")
    if a.folder:
        if a.detector or a.occasions:
            raise ValueError("--detector and --occasions go with --traps/--captures; a capture-history folder "
                             "records its own detector type and occasions")
        return read_capture_history_folder(a.folder)
    if not (a.traps and a.captures):
        raise ValueError("nothing to fit: give a capture-history folder (lynxid capture-history --out) or both "
                         "--traps and --captures")
    return read_secr_tables(a.traps, a.captures, a.detector or "proximity", occasions=a.occasions)


def _read_polygon(path):
    import pandas as pd
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"habitat polygon file not found: {p}")
    poly = pd.read_csv(p)
    cols = {c.lower(): c for c in poly.columns}
    if "x" not in cols or "y" not in cols:
        raise ValueError(f"the habitat polygon needs columns x and y; {p} has {list(poly.columns)}")
    return poly[[cols["x"], cols["y"]]].to_numpy(float)


def fit_json(fit) -> dict:
    """Every estimate of a :class:`~lynxid.density_result.DensityFit` as plain JSON values:
    the first session's parameters at the top (``{"D": {"estimate", "SE", "lcl", "ucl"}, ...}``,
    D per hectare), every session's under ``sessions``, and the fit's description."""
    names = [s["name"] for s in fit.sessions]
    out = dict(fit.estimates_dict(names[0]))
    out.update(engine=getattr(fit, "engine", "lynxid"), detectfn=fit.detectfn, detector=fit.detector, n=fit.n,
               D_per_session=fit.D_per_session,
               sessions={n: fit.estimates_dict(n) for n in names},
               mask={n: dict(points=len(s["mask"]), spacing=s["mask"].spacing, area_ha=s["mask"].area,
                             buffer=s["mask"].buffer) for n, s in zip(names, fit.sessions)},
               buffer_check=fit.buffer_check, convergence=fit.convergence, seconds=fit.seconds)
    return _plain(out)


def _plain(v):
    """JSON-ready: numpy scalars as Python numbers, NaN and infinity as null."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


_LABELS = {"D": "D (per ha)", "D_100km2": "D (per 100 km²)", "g0": "g0", "lambda0": "lambda0",
           "sigma": "sigma (m)", "z": "z", "EN": "E(N) in mask"}


def format_fit(fit) -> str:
    """The fit as a readable table, one block per session."""
    tab = fit.predict()
    n_sess = len(fit.sessions)
    engine = " (secr.fit)" if getattr(fit, "engine", "lynxid") == "secr" else ""
    lines = [f"lynxid density fit{engine}: {fit.detector} detectors, detectfn {fit.detectfn}, {fit.n} animals"
             + (f", {n_sess} sessions" + (" (density per session)" if fit.D_per_session else " (one density)")
                if n_sess > 1 else "")]
    for s in fit.sessions:
        m = s["mask"]
        where = f"buffer {m.buffer:g} m" if m.buffer is not None else "supplied"
        if n_sess > 1:
            lines.append(f"session {s['name']}: {s['n']} animals")
        lines.append(f"  mask: {len(m)} points of {m.cell_area:.4g} ha ({m.area / 100:.4g} km², {where})")
        lines.append(f"  {'parameter':<16} {'estimate':>11} {'SE':>11}   95 % interval")
        for r in tab[tab.session == s["name"]].itertuples():
            lines.append(f"  {_LABELS.get(r.parameter, r.parameter):<16} {_num(r.estimate):>11} {_num(r.SE):>11}   "
                         f"{_num(r.lcl)} – {_num(r.ucl)}")
    conv = fit.convergence
    lines.append(f"  logLik {fit.logLik:.3f}   AIC {fit.AIC:.3f}   AICc {fit.AICc:.3f}   {fit.npar} parameters   "
                 f"{'converged' if conv['converged'] else 'NOT converged: ' + '; '.join(conv['problems'])}"
                 f" ({fit.seconds:.2f} s)")
    return "\n".join(lines)


def _num(v) -> str:
    return "NA" if not math.isfinite(v) else f"{v:.4g}"


def format_comparison(fits: dict) -> str:
    """Two engines' fits of one model, side by side: each estimate with its SE and interval,
    and the relative difference of the estimates (secr vs lynxid)."""
    a, b = fits["lynxid"], fits["secr"]
    ta, tb = a.predict(), b.predict()
    version = b.convergence.get("secr_version", "")
    lines = [f"density fit, two engines on the same data, mask and model: {a.detector} detectors, detectfn "
             f"{a.detectfn}, {a.n} animals; lynxid and secr {version}".rstrip()]
    for s in a.sessions:
        m = s["mask"]
        if len(a.sessions) > 1:
            lines.append(f"session {s['name']}: {s['n']} animals")
        lines.append(f"  mask: {len(m)} points of {m.cell_area:.4g} ha ({m.area / 100:.4g} km²)")
        lines.append(f"  {'parameter':<16} {'lynxid':>11} {'SE':>10} {'95 % interval':>21}   {'secr':>11} {'SE':>10} "
                     f"{'95 % interval':>21}   {'rel. diff':>9}")
        ra = ta[ta.session == s["name"]].set_index("parameter")
        rb = tb[tb.session == s["name"]].set_index("parameter")
        for p in ra.index:
            x, y = ra.loc[p], rb.loc[p]
            rel = (y.estimate - x.estimate) / abs(x.estimate) if x.estimate else float("nan")
            lines.append(f"  {_LABELS.get(p, p):<16} {_num(x.estimate):>11} {_num(x.SE):>10} "
                         f"{_num(x.lcl) + ' – ' + _num(x.ucl):>21}   {_num(y.estimate):>11} {_num(y.SE):>10} "
                         f"{_num(y.lcl) + ' – ' + _num(y.ucl):>21}   {rel:>+9.1e}")
    for label, f in (("lynxid", a), ("secr", b)):
        conv = f.convergence
        lines.append(f"  {label:<7} logLik {f.logLik:.4f}   AIC {f.AIC:.3f}   {f.npar} parameters   "
                     f"{'converged' if conv['converged'] else 'NOT converged: ' + '; '.join(conv['problems'])}"
                     f" ({f.seconds:.2f} s)")
    return "\n".join(lines)
