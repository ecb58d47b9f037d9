"""secr's trap files with station covariates, read the way secr's ``read.traps`` reads them.

``read.traps`` (file input, ``binary.usage = FALSE``) reads the trap file with ``read.table``
(white space separated, ``#`` comments, quoted fields), pastes the fields after X and Y of
each line back together with single spaces, splits that text at ``/`` and reads the part
after it with ``read.table`` again, where the quotes of the first pass are gone: every line
must then give exactly as many fields as there are covariates (``trapcovnames``).
"""
import csv
import io
import shlex
import shutil
import subprocess

import pandas as pd
import pytest

from lynxid.capture import capture_history
from lynxid.secr_files import _cov_tok, write_secr

AWKWARD = ["forest edge", "open", 'say "hi"', "rock/scree #2", "it's", None, "  ", "tab\there"]


def read_traps_like_secr(path, n_covariates):
    """Detector -> covariate fields, by read.traps' rules; fails where secr would."""
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if not ln.lstrip().startswith("#")]
    rows = [shlex.split(ln, comments=True) for ln in lines if ln.strip()]
    assert len({len(r) for r in rows}) == 1, "read.table needs the same number of fields on every line"
    out = {}
    for r in rows:
        rest = " ".join(r[3:])                       # usage ... / covariates, quotes gone
        parts = rest.split("/")
        assert len(parts) == 2, f"{r[0]}: '/' inside a value splits the line again: {rest!r}"
        cov = shlex.split(parts[1], comments=True)   # read.table again: blanks, '#', quotes
        assert len(cov) == n_covariates, f"{r[0]}: {cov} is not {n_covariates} field(s)"
        out[r[0]] = cov
    return out


def survey(values, sessions=None):
    n = len(values)
    st = pd.DataFrame(dict(Station=[f"S {i}" for i in range(n)], utm_x=[500000.0 + 100 * i for i in range(n)],
                           utm_y=[5200000.0] * n, Setup_date=["2020-01-01"] * n, Retrieval_date=["2020-01-05"] * n,
                           habitat=values, elev=[1234.56789012345 + i for i in range(n)]))
    if sessions:
        st["yr"] = sessions
    rec = pd.DataFrame({"station": ["S 0", "S 1"], "timestamp": ["2020-01-02 10:00:00", "2020-01-03 10:00:00"],
                        "individual_id": ["L1", "L2"]})
    opts = dict(station_covariates=["habitat", "elev"], **({"session_col": "yr"} if sessions else {}))
    return capture_history(rec, st, station_options=opts)


def test_trap_file_covariates_follow_read_traps_rules(tmp_path):
    files = write_secr(survey(AWKWARD), tmp_path)
    got = read_traps_like_secr(tmp_path / "traps.txt", 2)
    assert got["S 0"] == ["forest_edge", "1234.56789"]
    assert [got[f"S {i}"][0] for i in range(len(AWKWARD))] == \
        ["forest_edge", "open", "say_hi_", "rock_scree_2", "it_s", "NA", "_", "tab_here"]
    # the exact values, with their types, are alongside
    cov = list(csv.DictReader(io.StringIO((tmp_path / "trap_covariates.csv").read_text(encoding="utf-8"))))
    assert files["trap_covariates"] == str(tmp_path / "trap_covariates.csv")
    assert [r["habitat"] for r in cov][:5] == ["forest edge", "open", 'say "hi"', "rock/scree #2", "it's"]
    assert float(cov[0]["elev"]) == 1234.56789012345 and cov[0]["detector"] == "S 0"
    assert 'trapcovnames = c("habitat", "elev")' in (tmp_path / "read_secr.R").read_text()


def test_the_old_quoting_is_what_secr_could_not_read(tmp_path):
    """The parser above is strict enough to catch the bug: a quoted "forest edge" after '/'."""
    p = tmp_path / "traps.txt"
    p.write_text('A 0 0 1 / "forest edge"\n')
    with pytest.raises(AssertionError, match="is not 1 field"):
        read_traps_like_secr(p, 1)


def test_covariate_tokens():
    assert [_cov_tok(v) for v in (True, 3, 2.5, float("nan"), float("inf"), "", "a\u00a0b", "x\\y")] == \
        ["TRUE", "3", "2.5", "NA", "Inf", "NA", "a_b", "x_y"]


def run_restore(tmp_path, ch_setup):
    """Run read_secr.R's restoring of the trap covariates on a stand-in for read.capthist's
    result (secr is not installable here): traps with the detectors as row names and the
    covariates as read.traps read them; prints the restored covariates as CSV."""
    script = (tmp_path / "read_secr.R").read_text()
    restore = script.split("binary.usage = FALSE", 1)[1].split(")\n", 1)[1].split("summary(ch)")[0]
    stubs = ('traps <- function(x) attr(x, "traps")\n'
             '`traps<-` <- function(x, value) { attr(x, "traps") <- value; x }\n'
             'covariates <- function(x) attr(x, "covariates")\n'
             '`covariates<-` <- function(x, value) { attr(x, "covariates") <- value; x }\n'
             'session <- function(x) if (is.null(attr(x, "session"))) names(x) else attr(x, "session")\n')
    show = 'out <- if (is.null(attr(ch, "traps"))) do.call(rbind, lapply(ch, function(s) covariates(traps(s)))) ' \
           'else covariates(traps(ch))\nwrite.csv(cbind(id = rownames(out), out, cls = paste(sapply(out, class), ' \
           'collapse = "/")), stdout(), row.names = FALSE)\n'
    r = subprocess.run(["Rscript", "-e", stubs + ch_setup + restore + show], capture_output=True, text=True,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    return pd.read_csv(io.StringIO(r.stdout), keep_default_na=False, na_values=["NA"])


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="R not installed")
def test_read_secr_restores_the_real_covariate_values(tmp_path):
    write_secr(survey(AWKWARD), tmp_path)
    traps = read_traps_like_secr(tmp_path / "traps.txt", 2)
    ids = ", ".join(f'"{d}"' for d in reversed(traps))     # secr's order need not be the file's
    read = ", ".join(repr(v[0]) for v in reversed(traps.values()))
    setup = (f'tr <- structure(data.frame(x = seq_along(c({ids}))), row.names = c({ids}))\n'
             f'attr(tr, "covariates") <- data.frame(habitat = c({read}))\n'
             'ch <- structure(1, traps = tr, session = "1")\n')
    out = run_restore(tmp_path, setup)
    want = dict(zip([f"S {i}" for i in range(len(AWKWARD))], AWKWARD))
    assert out.id.tolist() == [f"S {i}" for i in reversed(range(len(AWKWARD)))]
    for d, h, e in zip(out.id, out.habitat, out.elev):
        assert (pd.isna(h) and want[d] is None) or h == want[d], (d, h)
        assert e == 1234.56789012345 + int(d.split()[1])
    assert out.cls[0] == "character/numeric"


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="R not installed")
def test_read_secr_restores_covariates_in_every_session(tmp_path):
    write_secr(survey(["forest edge", "open", "x y", "a b"], sessions=["2019", "2019", "2020", "2020"]), tmp_path)
    setup = ('one <- function(ids, s) structure(1, traps = structure(data.frame(x = 1:2), row.names = ids), '
             'session = s)\n'
             'ch <- structure(list(one(c("S 0", "S 1"), "2019"), one(c("S 2", "S 3"), "2020")), '
             'names = c("2019", "2020"))\n')
    out = run_restore(tmp_path, setup)
    assert out.habitat.tolist() == ["forest edge", "open", "x y", "a b"]
