"""secr's text files (DENSITY format) for a :class:`~lynxid.capture.CaptureHistory`:
``capt.txt``, the trap file(s), ``trap_covariates.csv`` and ``read_secr.R`` with the call that
reads them (``secr::read.capthist``). :mod:`lynxid.export` re-exports what is public here.

secr reads both files with ``read.table``: white-space separated fields, ``#`` comments,
quoted fields for IDs with blanks. The trap file's covariates after ``/`` are read in a
second pass that no longer knows quotes (see :func:`_cov_tok`), so their values are written
without white space, ``/``, ``#`` or quotes and restored exactly from ``trap_covariates.csv``.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from . import storage
from .capture import CaptureHistory

__all__ = ["write_secr", "secr_captures", "secr_traps_text", "trap_covariates", "trap_covariates_csv"]


def _num(x) -> str:
    """A number as short exact-enough text (up to 10 significant digits, no trailing zeros)."""
    return f"{x:.10g}"


def _tok(v) -> str:
    """An ID (session, individual, detector) as one field of secr's text files, which
    ``read.table`` reads (white space separated, ``#`` comments, quotes ``"`` and ``'``):
    quoted when it would split or start a comment. ``read.table`` does not take ``\\"`` inside
    ``"..."`` reliably (``count.fields`` miscounts the line), so a ``"`` in an ID becomes ``'``,
    the same in the capture and the trap file."""
    s = str(v)
    if s == "" or re.search(r"[\s#\"']", s):
        return '"' + s.replace('"', "'") + '"'
    return s


# what secr cannot take in a trap covariate value (see _cov_tok)
_COV_UNSAFE = re.compile(r"[\s/#\"'\\]+")


def _cov_tok(v) -> str:
    """A trap covariate value as the one field secr's ``read.traps`` reads back as one.

    ``read.traps`` (file input) reads the trap file with ``read.table``, pastes each line's
    fields after the coordinates back together with single spaces, splits that text at
    ``/`` and reads the part after it with ``read.table`` again. Quotes are gone by then, so
    "forest edge" becomes two fields ("line 2 did not have 2 elements"), a ``/`` splits the
    line once more, ``#`` starts a comment and a quote opens a quoted field. So runs of white
    space, ``/``, ``#``, quotes and backslashes become ``_`` (``forest_edge``) and a missing
    or empty value ``NA``; ``read_secr.R`` puts the real values back from
    ``trap_covariates.csv``.
    """
    if pd.api.types.is_scalar(v) and pd.isna(v):
        return "NA"
    if isinstance(v, (bool, np.bool_)):
        return "TRUE" if v else "FALSE"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return _num(v) if math.isfinite(v) else ("Inf" if v > 0 else "-Inf")
    return _COV_UNSAFE.sub("_", str(v)) or "NA"


def _rstr(v) -> str:
    """A string as an R string literal (JSON's escapes are R's)."""
    return json.dumps(str(v), ensure_ascii=False)


def secr_captures(ch: CaptureHistory) -> pd.DataFrame:
    """The captures as ``secr::make.capthist`` wants them: ``Session, ID, Occasion, Detector``;
    a count detector gets one row per detection (secr adds them up), a proximity detector one
    row per individual, occasion and detector. Text columns are categoricals."""
    d = ch.detections
    rep = d["count"].to_numpy() if ch.detector_type == "count" else np.ones(len(d), dtype=np.int64)
    out = {}
    for name, col in (("Session", "session"), ("ID", "individual"), ("Occasion", "occasion"), ("Detector", "detector")):
        v = d[col]
        if isinstance(v.dtype, pd.CategoricalDtype):
            out[name] = pd.Categorical.from_codes(np.repeat(v.cat.codes.to_numpy(), rep), categories=v.cat.categories)
        else:
            out[name] = np.repeat(v.to_numpy(), rep)
    return pd.DataFrame(out)


def _token_column(col: pd.Series) -> np.ndarray:
    """A column as secr text tokens (UTF-8 byte strings), quoting only the distinct values."""
    def enc(values):
        return np.array([_tok(c).encode("utf-8") for c in values], dtype=object).astype(bytes)
    if isinstance(col.dtype, pd.CategoricalDtype):
        return enc(col.cat.categories)[col.cat.codes.to_numpy()]        # per category, not per row
    if pd.api.types.is_numeric_dtype(col.dtype):
        return col.to_numpy().astype(bytes)
    codes, uniq = pd.factorize(col)
    return enc(uniq)[codes]


def _write_lines(fh, cap: pd.DataFrame, chunk: int = 200_000):
    """Captfile lines in chunks (bounded memory), assembled with numpy byte-string ops."""
    for a in range(0, len(cap), chunk):
        part = cap.iloc[a:a + chunk]
        line = _token_column(part.Session)
        for c in ("ID", "Occasion", "Detector"):
            line = np.char.add(np.char.add(line, b" "), _token_column(part[c]))
        fh.write(b"\n".join(line.tolist()) + b"\n")


def secr_traps_text(ch: CaptureHistory, session, covariates: list | None = None) -> str:
    """The trap file of one session: ``Detector X Y usage_1 ... usage_K [/ covariates]``,
    covariate values as :func:`_cov_tok` writes them (no white space, ``/``, ``#`` or quotes:
    what secr's ``read.traps`` can read; the exact values go to ``trap_covariates.csv``)."""
    u = ch.usage_matrix(session)
    tr = ch.traps[ch.traps.session == str(session)].set_index("detector").loc[u.index]
    covariates = covariates if covariates is not None else trap_covariates(ch)
    X = tr.x.to_numpy()
    Y = tr.y.to_numpy()
    U = u.to_numpy()
    C = [[_cov_tok(v) for v in tr[c].tolist()] for c in covariates]
    lines = []
    for j, det in enumerate(u.index):
        line = " ".join([_tok(det), _num(X[j]), _num(Y[j])] + [_num(v) for v in U[j]])
        if covariates:
            line += " / " + " ".join(col[j] for col in C)
        lines.append(line)
    return "\n".join(lines) + "\n"


def _r_class(col: pd.Series) -> str:
    """The R class a covariate column has in R's in-memory capthist (lynxid.rinterop)."""
    if pd.api.types.is_bool_dtype(col.dtype):
        return "logical"
    if pd.api.types.is_integer_dtype(col.dtype):
        small = len(col) == 0 or col.abs().max() < 2 ** 31 - 1
        return "integer" if small else "numeric"
    return "numeric" if pd.api.types.is_numeric_dtype(col.dtype) else "character"


def _csv_field(v, cls: str) -> str:
    if pd.api.types.is_scalar(v) and pd.isna(v):
        return "NA"
    if cls == "logical":
        return "TRUE" if v else "FALSE"
    if cls == "integer":
        return str(int(v))
    if cls == "numeric":
        v = float(v)
        return repr(v) if math.isfinite(v) else ("Inf" if v > 0 else "-Inf")
    return '"' + str(v).replace('"', '""') + '"'


def trap_covariates_csv(ch: CaptureHistory, covariates: list) -> tuple[str, dict]:
    """``trap_covariates.csv``: ``session, detector`` and the covariates with their exact
    values (text quoted, numbers in full, missing ``NA``) -- what the trap files cannot hold
    (see :func:`_cov_tok`) -- and the R ``colClasses`` to read it with."""
    classes = {"session": "character", "detector": "character",
               **{c: _r_class(ch.traps[c]) for c in covariates}}
    lines = [",".join(_csv_field(c, "character") for c in classes)]
    for s in ch.sessions:
        u = ch.usage_matrix(s)
        tr = ch.traps[ch.traps.session == str(s)].set_index("detector").loc[u.index]
        cols = [[_csv_field(v, classes[c]) for v in tr[c].tolist()] for c in covariates]
        for j, det in enumerate(u.index):
            lines.append(",".join([_csv_field(s, "character"), _csv_field(det, "character")] + [c[j] for c in cols]))
    return "\n".join(lines) + "\n", classes


def trap_covariates(ch) -> list:
    """The trap covariate columns: every column of ``ch.traps`` but the detector's session,
    name, coordinates and first occasion (R's ``capture_history()`` asks for them too)."""
    return [c for c in ch.traps.columns if c not in ("session", "detector", "x", "y", "first_occasion_start")]


def _header(ch: CaptureHistory, what: str) -> str:
    s = ch.settings
    return (f"# {what}\n# written by lynxid from {s.get('detections_source')} and {s.get('stations_source')}\n"
            f"# occasion_length={s.get('occasion_length')} day1={s.get('day1')} "
            f"occasion_start_time={s.get('occasion_start_time')} output={s.get('output')} "
            f"detector={ch.detector_type} tz={s.get('tz')}" + (f" flank={s['flank']} only" if s.get("flank") else "")
            + "\n")


def write_secr(ch: CaptureHistory, out_dir) -> dict:
    """Write ``capt.txt`` and the trap file(s) for ``secr::read.capthist`` (DENSITY format).

    The usage (days of effort per detector and occasion) follows the coordinates as
    numbers, so read them with ``binary.usage = FALSE`` (``read_secr.R`` has the exact call).
    Sessions without any capture get secr's ``NONE`` line so that they are kept.

    Station covariates follow ``/`` in the trap files in the form secr's ``read.traps`` can
    read (no white space, ``/``, ``#`` or quotes in a value: ``forest edge`` is written
    ``forest_edge``, see :func:`_cov_tok`), and exactly, with their types, in
    ``trap_covariates.csv``, from which ``read_secr.R`` restores them after reading.
    """
    out = Path(out_dir)
    sessions = ch.sessions
    cap = secr_captures(ch)
    have = set(cap.Session.unique()) if len(cap) else set()
    with storage.atomic_path(out / "capt.txt") as tmp, open(tmp, "wb") as fh:
        fh.write(_header(ch, "secr capture file (captfile): Session ID Occasion Detector").encode("utf-8"))
        _write_lines(fh, cap)
        for s in sessions:
            if s not in have:
                u = ch.usage_matrix(s)
                fh.write(f"{_tok(s)} NONE 1 {_tok(u.index[0])}\n".encode("utf-8"))
    files = {"captfile": str(out / "capt.txt")}
    trapfiles = []
    covs = trap_covariates(ch)
    for s in sessions:
        name = storage.session_file("traps", s, len(sessions), "txt")
        hdr = _header(ch, f"secr trap file (trapfile), session {s}: Detector X Y then usage (days of effort) "
                          f"per occasion o1..o{ch.usage_matrix(s).shape[1]}"
                      + (f", then / {' '.join(covs)} (white space, '/', '#' and quotes in values written as '_'; "
                         "exact values in trap_covariates.csv)" if covs else ""))
        storage.write_text(out / name, hdr + secr_traps_text(ch, s, covs))
        trapfiles.append(name)
    files["trapfiles"] = [str(out / t) for t in trapfiles]
    classes = {}
    if covs:
        text, classes = trap_covariates_csv(ch, covs)
        files["trap_covariates"] = str(storage.write_text(out / "trap_covariates.csv", text))
    script = _read_secr_script(ch, trapfiles, covs, classes)
    files["script"] = str(storage.write_text(out / "read_secr.R", script))
    return files


def _read_secr_script(ch: CaptureHistory, trapfiles: list, covs: list, classes: dict) -> str:
    """``read_secr.R``: read.capthist with the right arguments, trap files in secr's session
    order and, with covariates, their exact values restored from ``trap_covariates.csv``."""
    sessions = ch.sessions
    covarg = f",\n                    trapcovnames = c({', '.join(_rstr(c) for c in covs)})" if covs else ""
    if len(trapfiles) == 1:
        tf, order = _rstr(trapfiles[0]), ""
    else:
        # secr matches trap files to sessions by position after sorting the session labels
        # (numerically when they are all numbers, else R's sort(), which depends on the
        # locale): order the files the same way in R rather than trusting Python's order
        named = ", ".join(f"{_rstr(s)} = {_rstr(t)}" for s, t in zip(sessions, trapfiles))
        order = (f"trapfiles <- c({named})\n"
                 "lv <- names(trapfiles)\n"
                 "lv <- if (all(!is.na(suppressWarnings(as.numeric(lv))))) lv[order(as.numeric(lv))] else sort(lv)\n")
        tf = "trapfiles[lv]"
    script = (f"# Read the lynxid capture history into secr (run in this folder).\n"
              f"library(secr)\n{order}"
              f"ch <- read.capthist(\"capt.txt\", {tf},\n"
              f"                    detector = {_rstr(ch.detector_type)}, fmt = \"trapID\",\n"
              f"                    binary.usage = FALSE, noncapt = \"NONE\"{covarg})\n")
    if covs:
        cc = ", ".join(f"{_rstr(c)} = {_rstr(k)}" for c, k in classes.items())
        one = ("for (i in seq_along(ch)) covariates(traps(ch[[i]])) <- trapcov(traps(ch[[i]]), session(ch)[i])\n"
               if len(sessions) > 1 else "covariates(traps(ch)) <- trapcov(traps(ch), session(ch))\n")
        script += (
            "# Trap covariates. secr's read.traps splits the part of a trap line after \"/\" at white space\n"
            "# (quotes no longer count there), and \"#\" starts a comment: so in the trap files runs of white\n"
            "# space, \"/\", \"#\", quotes and backslashes in a value are written as \"_\" (\"forest edge\" as\n"
            "# forest_edge), missing values as NA and numbers to 10 digits. trap_covariates.csv holds the\n"
            "# exact values and types; they replace what read.capthist read:\n"
            f"tc <- read.csv(\"trap_covariates.csv\", colClasses = c({cc}),\n"
            "               check.names = FALSE, encoding = \"UTF-8\")\n"
            "trapcov <- function(tr, s) {\n"
            "  v <- tc[tc$session == s, , drop = FALSE]\n"
            "  i <- match(rownames(tr), v$detector)\n"
            "  if (anyNA(i)) stop(\"trap_covariates.csv has no row for detector(s) \",\n"
            "                     paste(rownames(tr)[is.na(i)], collapse = \", \"), \" of session \", s)\n"
            f"  v <- v[i, c({', '.join(_rstr(c) for c in covs)}), drop = FALSE]\n"
            "  rownames(v) <- rownames(tr)\n"
            "  v\n"
            "}\n" + one)
    return script + ("summary(ch)\n"
                     "# usage(traps(ch)) holds the days of effort per detector and occasion\n")
