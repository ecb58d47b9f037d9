"""A capture history rebuilt from its tables writes the same files as the original -- also
when the tables lost their pandas types on the way (as through R, whose lynxid_capture_history
keeps them: rpkg/tests/testthat/test-capture.R checks saveRDS -> readRDS -> write)."""
import json

import numpy as np
import pandas as pd
import pytest

from lynxid.capture import capture_history
from lynxid.capture_tables import TABLES, capture_tables, from_tables, table_schema
from lynxid.export import FORMATS, write_formats


def stations():
    return pd.DataFrame(dict(Station=["A", "Trail 1", "A", "Trail 1"], yr=["2019", "2019", "2020", "2020"],
                             utm_x=[500000.0, 502000.5, 500000.0, 502000.5], utm_y=[5200000.0] * 4,
                             Setup_date=["2019-01-01 00:00:00", "2019-01-01 12:00:00", "2020-01-01", "2020-01-01"],
                             Retrieval_date=["2019-01-05 00:00:00", "2019-01-05", "2020-01-04", "2020-01-06 18:30:00"],
                             Problem1_from=["", "2019-01-02", "", ""], Problem1_to=["", "2019-01-03", "", ""],
                             habitat=["forest edge", None, "open", "x"], elev=[1500, 1720, 1500, 1720],
                             fenced=[True, False, True, False]))


def records():
    return pd.DataFrame({"station": ["A", "A", "Trail 1", "A", "Z", "A", None, "Trail 1"],
                         "timestamp": ["2019-01-01 10:00:00", "2019-01-01 11:00:00", "2019-01-03 10:00:00",
                                       "2019-01-04 09:00:00", "2019-01-02 10:00:00", "2020-01-02 23:59:59",
                                       "2020-01-02 10:00:00", "2020-01-06 00:00:00"],
                         "individual_id": ["10", "10", "2", "2", "2", "m 1", "m 1", None],
                         "file": [f"img{i}.jpg" for i in range(8)], "event_id": [f"E{i}" for i in range(8)],
                         "probability": [0.9, 0.8, 1.0, 0.5, 0.7, 0.95, 0.6, 0.3]})


CASES = {"count, sessions, covariates": dict(output="count"),
         "binary, exact": dict(semantics="exact", occasion_length=2),
         "station day1": dict(day1="station", min_delta_minutes=90)}


def build(**kw):
    return capture_history(records(), stations(), tz="Europe/Zurich", unknown_stations="exclude",
                           station_options=dict(session_col="yr", station_covariates=["habitat", "elev", "fenced"]),
                           **kw)


def written(ch, tmp_path, name):
    """The files ``write_formats`` writes for ``ch`` (every format), under one folder name so
    that the paths summary.json lists are the same; kept in ``tmp_path / name``."""
    out = tmp_path / "out"
    write_formats(ch, out, "all", crs="EPSG:32632", scientific_name="Lynx lynx")
    return out.rename(tmp_path / name)


def content(path):
    if path.name == "datapackage.json":               # its creation time is the clock's
        d = json.loads(path.read_text())
        d.pop("created")
        return d
    return path.read_bytes()


def same_files(a, b):
    fa = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    fb = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert fa == fb and fa
    return [str(f) for f in fa if content(a / f) != content(b / f)]


def like_r(df: pd.DataFrame) -> pd.DataFrame:
    """A table as it comes back from R: integers as doubles, date-times as wall-clock text,
    categoricals and other text as object columns with None for missing."""
    out = pd.DataFrame(index=pd.RangeIndex(len(df)))
    for c in df.columns:
        col = df[c]
        if pd.api.types.is_datetime64_any_dtype(col):
            out[c] = col.dt.strftime("%Y-%m-%d %H:%M:%S").astype(object).where(col.notna(), None)
        elif isinstance(col.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(col):
            out[c] = col.astype(object).where(col.notna(), None).map(lambda v: v if v is None else str(v))
        elif pd.api.types.is_bool_dtype(col):
            out[c] = col.astype(object)
        else:
            out[c] = col.astype("float64")
    return out


@pytest.mark.parametrize("case", list(CASES))
def test_rebuilt_from_its_tables_it_writes_the_same_files(case, tmp_path):
    ch = build(**CASES[case])
    live = written(ch, tmp_path, "live")
    assert same_files(live, written(from_tables(**capture_tables(ch)), tmp_path, "tables")) == []

    # the tables as R gives them back, with the schema that restores their types
    parts = {k: like_r(getattr(ch, k)) for k in TABLES}
    usage = {s: like_r(u.reset_index()) for s, u in ch.usage.items()}
    schema = table_schema(ch)
    json.loads(schema)                                       # plain JSON text, as R keeps it
    via_r = from_tables(usage=usage, schema=schema, **parts)
    for k in TABLES:
        pd.testing.assert_frame_equal(getattr(via_r, k), getattr(ch, k), obj=k)
    for s in ch.sessions:
        pd.testing.assert_frame_equal(via_r.usage[s], ch.usage[s])
    assert via_r.settings == json.loads(json.dumps(ch.settings, default=str))
    assert same_files(live, written(via_r, tmp_path, "via_r")) == []
    assert {"secr", "oscr", "nimble", "closed", "rmark", "camtrapdp"} <= {p.name for p in live.iterdir()} | set(FORMATS)


def test_a_table_without_columns_keeps_its_rows_and_bad_detector_types_are_refused():
    ch = capture_history(pd.DataFrame({"station": ["A"], "timestamp": ["2019-01-02 10:00:00"],
                                       "individual_id": ["L1"]}), stations().iloc[[0]].drop(columns="yr"))
    assert ch.media.shape == (1, 0)
    via_r = from_tables(usage={s: u.reset_index() for s, u in ch.usage.items()}, schema=table_schema(ch),
                        **{k: like_r(getattr(ch, k)) for k in TABLES})
    assert via_r.media.shape == (1, 0) and np.array_equal(via_r.array(), ch.array())
    t = capture_tables(ch)
    t["detector_type"] = "trap"
    with pytest.raises(ValueError, match="detector_type"):
        from_tables(**t)
