"""lynxid's camtrapR rules (python/lynxid/camtrapr.py) against a literal port of camtrapR 3.0.

The port below is written independently of lynxid, on purpose slow and plain: one loop per
camera, day column and record, following camtrapR's R code step by step (cameraOperation,
createDateRangeTable, adjustCameraOperationMatrix, calculateTrappingEffort, cleanSubsetSpecies,
the occasion rule and spatialDetectionHistory's session handling). All times are integer
seconds since 1970 (UTC), dates are day numbers, R's NA is None. Random seeded surveys are then
compared cell for cell: camera operation, usage per session, capture cells and used records.
"""
import datetime as dt
import math
import random

import numpy as np
import pandas as pd
import pytest

from lynxid.capture import capture_history
from lynxid.effort import camera_operation

DAY, HOUR = 86400, 3600
EPOCH = dt.datetime(1970, 1, 1)
FMT_DATE, FMT_DT = "%Y-%m-%d", "%Y-%m-%d %H:%M:%S"


def secs(s):
    """A date ("%Y-%m-%d", read as 00:00) or date-time string -> seconds since 1970 (UTC)."""
    return int((dt.datetime.strptime(s, FMT_DATE if len(s) == 10 else FMT_DT) - EPOCH).total_seconds())


def text(t, date_only=False):
    return (EPOCH + dt.timedelta(seconds=t)).strftime(FMT_DATE if date_only else FMT_DT)


def r_round(x, dig=4):
    """R >= 4.0's round(x, digits) (src/nmath/fround.c): the nearer of floor/ceil, ties to even.
    Checked against R 4.2.2's round(k / 86400, 4) for every k in 0..86400 (Python's round and
    numpy's np.round each differ from R on some of them)."""
    if x < 0:
        return -r_round(-x, dig)
    p = 10.0 ** dig
    x10 = p * x
    i10 = math.floor(x10)
    xd, xu = i10 / p, math.ceil(x10) / p
    du, dd = xu - x, x - xd
    return xu if (du < dd or (du == dd and i10 % 2 == 1)) else xd


def r_all_eq1(xs):
    """R's all(x == 1) with NA: FALSE if any FALSE, else NA if any NA, else TRUE."""
    if any(x is not None and x != 1 for x in xs):
        return False
    return None if any(x is None for x in xs) else True


# ---------------------------------------------------------------------------------------------
# cameraOperation (camera rows, then aggregate() by station and session)
# ---------------------------------------------------------------------------------------------
def port_camop(table, h, frac, all_cams_on, independent, sessions):
    """Returns (days, {row label: [value or None per day]}); cameraCol is always given."""
    cams = []
    for r in table:
        setup, retr = secs(r["Setup_date"]), secs(r["Retrieval_date"])
        if not frac:                                           # dates only: 12:00 (+1 s if h == 12)
            setup += 12 * HOUR
            retr += 12 * HOUR + (1 if h == 12 else 0)
        assert setup != retr
        cams.append((r, setup, retr))
    days = list(range(min(s // DAY for _, s, _ in cams), max(e // DAY for _, _, e in cams) + 1))
    groups = {}
    for r, setup, retr in cams:
        start, end = setup, retr - 1                           # interval(date0, date1)
        probs = []
        if r.get("Problem1_from"):
            pf, pt = secs(r["Problem1_from"]), secs(r["Problem1_to"])
            if not frac:
                if pf // DAY == setup // DAY:
                    pf = setup
                if pt // DAY == retr // DAY:
                    pt = retr
                pt = pt + DAY - 1
                if pt > end:
                    pt = end
            probs.append((pf, pt - 1))                         # interval(start, end - 1 s)
        vals = []
        for d in days:
            ds = d * DAY + h * HOUR
            de = ds + DAY - 1
            if not max(ds, start) <= min(de, end):             # int_overlaps (closed)
                vals.append(None)
                continue
            v = (min(de, end) - max(ds, start)) / DAY          # intersect.Interval.fast
            remove = 0
            for ps, pe in probs:
                ov = min(de, pe) - max(ds, ps)
                if ov >= 0:
                    remove += ov
            v = v - remove / DAY
            assert v >= 0, "camtrapR stops: negative camera operation"
            vals.append(v)
        vals = [None if v is None else r_round(v, 4) for v in vals]       # round(camOp, 4)
        label = r["Station"] + (f"__SESS_{r['session']}" if sessions else "")
        groups.setdefault(label, []).append(vals)
    out = {}
    for label, rows in groups.items():
        col_vals = []
        for j in range(len(days)):
            x = [row[j] for row in rows]
            nn = [v for v in x if v is not None]
            if all_cams_on:
                a = r_all_eq1(x)
                if independent and frac:
                    v = None if a is None else (sum(x) if a else (None if None in x else min(x) * len(x)))
                elif independent:
                    v = None if a is None else (sum(x) if a else 0.0)
                elif frac:
                    v = None if None in x else min(x)
                else:
                    v = None if a is None else (1.0 if a else 0.0)
            else:
                if independent:
                    v = sum(nn)
                elif frac:
                    v = sum(nn) / len(nn) if nn else None
                else:
                    s = sum(nn)
                    v = 1.0 if s >= 1 else s
                if not nn:                                     # dat2[all(is.na(X))] <- NA
                    v = None
                if not independent and not frac and v is not None and v >= 2:
                    v = 1.0
            col_vals.append(v)
        out[label] = col_vals
    return days, out


# ---------------------------------------------------------------------------------------------
# spatialDetectionHistory (includeEffort = TRUE, binaryEffort = FALSE, buffer = 0)
# ---------------------------------------------------------------------------------------------
class TooLong(Exception):
    """camtrapR stops: occasionLength > ncol(cameraOperationMatrix) / 2."""


def port_sdh(table, records, *, L, day1, output, h, frac, all_cams_on, independent, sessions):
    """records: [(row number, station, seconds, individual)]. Returns
    ({session: {"usage": {station: [..]}, "cells": {(ind, occ, station): n}}}, used rows, occ-0 rows)."""
    days, camop = port_camop(table, h, frac, all_cams_on, independent, sessions)
    labels = list(camop)
    ncol = len(days)
    if L > ncol / 2:
        raise TooLong
    # assignSessionIDtoRecordTable: the row whose camera operation is non-NA on the record's date
    rec_row = {} if sessions else {row: station for row, station, t, ind in records}
    for row, station, t, ind in (records if sessions else []):
        d = t // DAY
        if not days[0] <= d <= days[-1]:
            continue
        hit = [lab for lab in labels if lab.split("__SESS_")[0] == station and camop[lab][d - days[0]] is not None]
        assert len(hit) <= 1, "generator: sessions of one station must not share a date"
        if hit:
            rec_row[row] = hit[0]
    # createDateRangeTable
    first = {lab: min(j for j, v in enumerate(camop[lab]) if v is not None) for lab in labels}
    last = {lab: max(j for j, v in enumerate(camop[lab]) if v is not None) for lab in labels}
    start = {lab: (days[first[lab]]) * DAY + h * HOUR for lab in labels}
    start_survey = min(days[first[lab]] for lab in labels) * DAY + h * HOUR
    end = {lab: days[last[lab]] * DAY + DAY - 1 for lab in labels}    # 23:59:59 of the last day
    # cleanSubsetSpecies: strict < start, strict > end, per station row
    kept = [(row, rec_row[row], t, ind) for row, station, t, ind in records
            if row in rec_row and not (t < start[rec_row[row]]) and not (t > end[rec_row[row]])]
    # adjustCameraOperationMatrix
    adj = {}
    for lab in labels:
        v = list(camop[lab])
        a, b = start[lab] // DAY - days[0], end[lab] // DAY - days[0]      # 0-based kept columns
        for j in range(a):
            v[j] = None
        if (b + 1) + 1 < ncol:                                 # R: if(last + 1 < ncol) (1-based)
            for j in range(b + 1, ncol):
                v[j] = None
        adj[lab] = v
    if day1 == "station":
        width = max(last[lab] - first[lab] + 1 for lab in labels)
        worked = {lab: [adj[lab][first[lab] + j] if first[lab] + j <= last[lab] else None for j in range(width)]
                  for lab in labels}
    else:
        c0, c1 = min(start[lab] // DAY for lab in labels) - days[0], max(end[lab] // DAY for lab in labels) - days[0]
        worked = {lab: adj[lab][c0:c1 + 1] for lab in labels}
    # calculateTrappingEffort
    nw = len(next(iter(worked.values())))
    n_occ = -(-nw // L)
    effort = {}
    for lab in labels:
        if L == 1:
            effort[lab] = list(worked[lab])
            continue
        e, index = [], 0
        for m in range(n_occ):
            x = worked[lab][index:index + L] if index + L <= nw else worked[lab][index:nw]
            v = sum(y for y in x if y is not None)
            if all(y is None for y in x):
                v = None
            if r_all_zero(x) is not False:                     # ifelse(all(X == 0), NA, .): TRUE or NA
                v = None
            e.append(v)
            index += L
        effort[lab] = e
    # occasions: ceiling(difftime / (L * 86400))
    sdh, zero = [], []
    for row, lab, t, ind in kept:
        time2 = start_survey if day1 == "survey" else start[lab]
        occ = -((time2 - t) // (L * DAY))
        if occ == 0:
            zero.append(row)
        sdh.append((lab.split("__SESS_")[1] if sessions else "1", ind, occ, lab, row))
    if zero:
        return None, None, zero
    # binary: unique(sdh1); then drop rows whose effort is NA or 0
    rows_out, used, seen = [], set(), set()
    for sess, ind, occ, lab, row in sdh:
        ef = effort[lab][occ - 1]
        if ef is None or ef == 0:
            continue
        used.add(row)
        key = (sess, ind, occ, lab)
        if output == "binary" and key in seen:
            continue
        seen.add(key)
        rows_out.append(key)
    # per session (sort(unique(sessionCol))): keep occasions with colSums != 0, renumber
    result = {}
    sess_names = sorted({lab.split("__SESS_")[1] for lab in labels}) if sessions else ["1"]
    for s in sess_names:
        rows_s = [lab for lab in labels if not sessions or lab.split("__SESS_")[1] == s]
        eff = {lab: [0.0 if v is None else v for v in effort[lab]] for lab in rows_s}
        col_sum = [sum(eff[lab][k] for lab in rows_s) for k in range(n_occ)]
        keep = [k for k in range(n_occ) if col_sum[k] != 0]
        dropped = [k + 1 for k in range(n_occ) if col_sum[k] == 0]
        usage = {lab.split("__SESS_")[0]: [eff[lab][k] for k in keep] for lab in rows_s}
        cells = {}
        for sess, ind, occ, lab in rows_out:
            if sess == s:
                key = (ind, occ - sum(1 for k in dropped if k < occ), lab.split("__SESS_")[0])
                cells[key] = cells.get(key, 0) + 1
        result[s] = dict(usage=usage, cells=cells)
    return result, used, []


def r_all_zero(xs):
    """R's all(X == 0) with NA."""
    if any(x is not None and x != 0 for x in xs):
        return False
    return None if any(x is None for x in xs) else True


# ---------------------------------------------------------------------------------------------
# random surveys
# ---------------------------------------------------------------------------------------------
NAMES = ["A1", "b2", "C3", "d4", "E5", "f6", "G7", "h8", "K9"]
IDS = ["L1", "L2", "L10", "M3", "7"]


def make_survey(seed):
    rng = random.Random(seed)
    frac = seed % 3 == 2                                       # date-times in every third survey
    n_sess = 1 + rng.randint(0, 1)
    names = rng.sample(NAMES, rng.randint(3, 8))

    def tod():                                                 # 5-minute grid (see test_round_ties)
        return 300 * rng.choice([0, 0, 72, 144, 287, rng.randint(0, 287), rng.randint(0, 287)])

    table, base = [], 18700 + rng.randint(0, 300)
    for s in range(n_sess):
        stations = names if s == 0 else rng.sample(names, rng.randint(2, len(names)))
        for st in stations:
            s0, dur = base + rng.randint(0, 4), rng.randint(8, 24)
            for cam in range(rng.choice([1, 1, 2])):
                su = s0 + (rng.choice([0, 0, rng.randint(-2, 3)]) if cam else 0)
                re = s0 + dur + (rng.choice([0, rng.randint(-3, 2)]) if cam else 0)
                setup, retr = su * DAY + (tod() if frac else 0), re * DAY + (tod() if frac else 0)
                r = dict(Station=st, Camera=f"c{cam + 1}", session=s + 1, utm_x=1000.0 * NAMES.index(st),
                         utm_y=500.0, Setup_date=text(setup, not frac), Retrieval_date=text(retr, not frac),
                         Problem1_from=None, Problem1_to=None)
                if rng.random() < 0.35:
                    pday = su + rng.randint(1, re - su - 1)
                    if frac:
                        pf = pday * DAY + tod()
                        pt = min(pf + 300 * rng.randint(1, 700), retr)
                        r["Problem1_from"], r["Problem1_to"] = text(pf), text(pt)
                    else:
                        r["Problem1_from"] = text(pday * DAY, True)
                        r["Problem1_to"] = text(min(pday + rng.randint(0, 3), re) * DAY, True)
                table.append(r)
        base = max(secs(r["Retrieval_date"]) // DAY for r in table) + rng.randint(3, 8)
    records = []
    for r in table:
        lo, hi = secs(r["Setup_date"]) // DAY - 2, secs(r["Retrieval_date"]) // DAY + 2
        for _ in range(rng.randint(0, 8)):
            if r["Problem1_from"] and rng.random() < 0.3:
                d = rng.randint(secs(r["Problem1_from"]) // DAY, secs(r["Problem1_to"]) // DAY)
            else:
                d = rng.choice([lo, lo + 2, hi - 2, hi, rng.randint(lo, hi), rng.randint(lo, hi)])
            t = d * DAY + (0 if rng.random() < 0.25 else rng.randint(0, DAY - 1))
            ind = rng.choice(IDS)
            records.append((r["Station"], t, ind))
            if rng.random() < 0.2:                             # a second record: counts differ from binary
                records.append((r["Station"], t + rng.choice([0, 60, 3600]), ind))
    if not any(r["Problem1_from"] for r in table):
        for r in table:
            del r["Problem1_from"], r["Problem1_to"]
    return frac, n_sess, table, records


def random_settings(rng):
    return dict(L=rng.choice([1, 3, 7, 10]), day1=rng.choice(["survey", "station"]),
                output=rng.choice(["binary", "count"]), independent=rng.random() < 0.5,
                all_cams_on=rng.random() < 0.25, h=rng.choice([0, 6, 12]))


def lynxid_camop(table, frac, n_sess, s):
    return camera_operation(pd.DataFrame(table), camera_col="Camera", session_col="session" if n_sess > 1 else None,
                            occasion_start_time=s["h"], cameras_independent=s["independent"],
                            all_cams_on=s["all_cams_on"], date_format=FMT_DT if frac else FMT_DATE)


def lynxid_capture(table, records, frac, n_sess, s):
    rec = pd.DataFrame({"station": [r[0] for r in records], "timestamp": [text(r[1]) for r in records],
                        "individual_id": [r[2] for r in records]})
    return capture_history(rec, pd.DataFrame(table), occasion_length=s["L"], day1=s["day1"],
                           occasion_start_time=s["h"], output=s["output"], cameras_independent=s["independent"],
                           all_cams_on=s["all_cams_on"], tz="UTC",
                           station_options=dict(camera_col="Camera", session_col="session" if n_sess > 1 else None,
                                                date_format=FMT_DT if frac else FMT_DATE))


def compare_camop(table, frac, n_sess, s):
    days, port = port_camop(table, s["h"], frac, s["all_cams_on"], s["independent"], n_sess > 1)
    got = lynxid_camop(table, frac, n_sess, s)
    names = [text(d * DAY, True) + (f"+{s['h']}h" if s["h"] else "") for d in days]
    assert list(got.columns) == names
    assert sorted(got.index) == sorted(port)
    exp = np.array([[np.nan if v is None else v for v in port[lab]] for lab in got.index])
    np.testing.assert_allclose(got.to_numpy(), exp, rtol=0, atol=1e-9, err_msg=f"camera operation, {s}")


def compare_capture(table, records, frac, n_sess, s):
    recs = [(i + 1, st, t, ind) for i, (st, t, ind) in enumerate(records)]
    kw = dict(L=s["L"], day1=s["day1"], output=s["output"], h=s["h"], frac=frac, all_cams_on=s["all_cams_on"],
              independent=s["independent"], sessions=n_sess > 1)
    exp, used, zero = port_sdh(table, recs, **kw)
    if zero:       # a record at the grid's first instant: camtrapR stops, lynxid warns (deliberate)
        records = [r for i, r in enumerate(records) if i + 1 not in set(zero)]
        recs = [(i + 1, st, t, ind) for i, (st, t, ind) in enumerate(records)]
        exp, used, zero = port_sdh(table, recs, **kw)
        assert not zero
    ch = lynxid_capture(table, records, frac, n_sess, s)
    assert sorted(ch.sessions) == sorted(exp)
    for sess, e in exp.items():
        u = ch.usage_matrix(sess)
        assert sorted(u.index) == sorted(e["usage"]), (sess, s)
        want = np.array([e["usage"][st] for st in u.index], dtype=float).reshape(len(u.index), -1)
        assert u.shape == want.shape, (sess, s, u.shape, want.shape)
        np.testing.assert_allclose(u.to_numpy(), want, rtol=0, atol=1e-9, err_msg=f"usage, session {sess}, {s}")
        d = ch.detections[ch.detections.session.astype(str) == sess]
        cells = {(str(i), int(o), str(j)): int(c) for i, o, j, c in zip(d.individual, d.occasion, d.detector, d["count"])}
        assert cells == e["cells"], (sess, s)
    got_used = set(ch.records.row[ch.records.status.astype(str) == "used"].astype(int))
    assert got_used == used, (s, sorted(got_used ^ used))
    return len(used)


# ---------------------------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------------------------
SEEDS = range(30)
N_SETTINGS = 6


@pytest.mark.parametrize("seed", SEEDS)
def test_random_survey_matches_port(seed):
    frac, n_sess, table, records = make_survey(seed)
    rng = random.Random(1000 + seed)
    ran = 0
    for _ in range(N_SETTINGS):
        s = random_settings(rng)
        compare_camop(table, frac, n_sess, s)
        try:
            compare_capture(table, records, frac, n_sess, s)
            ran += 1
        except TooLong:          # camtrapR stops: occasionLength > ncol(camOp) / 2
            continue
    assert ran >= 2


def test_port_reproduces_the_specification():
    """The port itself on the values quoted in the specification (sanity check of the port)."""
    def one(cams, h=0, frac=False, **kw):
        tab = [dict(Station="A", Camera=f"c{i}", session=1, Setup_date=a, Retrieval_date=b,
                    Problem1_from=p[0] if p else None, Problem1_to=p[1] if p else None)
               for i, (a, b, p) in enumerate(cams)]
        return port_camop(tab, h, frac, kw.get("all_cams_on", False), kw.get("independent", False), False)[1]["A"]
    d = "2020-01-0"
    assert one([(d + "1", d + "5", None)], all_cams_on=True) == [0, 1, 1, 1, 0]
    assert one([(d + "1", d + "5", (d + "1", d + "2"))], independent=True) == [0, 0, 1, 1, 0.5]
    assert one([(d + "1", d + "5", (d + "3", d + "5"))], independent=True) == [0.5, 1, 0, 0, 0]
    assert one([(d + "1", d + "5", None)], h=12, independent=True) == [1, 1, 1, 1, 0]
    assert one([(d + "1", d + "5", None), (d + "2", d + "5", None)], h=18, independent=True) == [1.25, 2, 2, 1.5, None]
    assert one([(d + "1 08:00:00", d + "4 10:00:00", None)], frac=True, independent=True) == [0.6667, 1, 1, 0.4167]
    assert one([(d + "1", d + "5", None), (d + "1", d + "6", None)]) == [1, 1, 1, 1, 1, 0.5]
    assert one([(d + "1 08:00:00", d + "3 10:00:00", None), (d + "1 20:00:00", d + "3 00:00:00", None)],
               frac=True) == [pytest.approx((0.6667 + 0.1667) / 2), 1, 0.4167]


def test_round_ties_like_r():
    """A date-time problem from 00:09 leaves 540 s on its first day: round(0.00625, 4) is 0.0063 in R."""
    tab = [dict(Station=st, Camera="c1", utm_x=x, utm_y=0.0, Setup_date="2021-03-01 10:00:00",
                Retrieval_date="2021-03-10 10:00:00", Problem1_from="2021-03-05 00:09:00",
                Problem1_to="2021-03-06 00:00:00") for st, x in (("A", 0.0), ("B", 1000.0))]
    assert r_round(540 / DAY, 4) == 0.0063
    got = camera_operation(pd.DataFrame(tab), camera_col="Camera", date_format=FMT_DT)
    assert got.loc["A", "2021-03-05"] == 0.0063
