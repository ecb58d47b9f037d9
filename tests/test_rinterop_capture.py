"""How a capture history crosses to R in one call (lynxid.rinterop.capture_history_to_r);
rpkg/tests/testthat/test-capture.R checks what arrives in R."""
import numpy as np
import pandas as pd

from lynxid import rinterop
from lynxid.capture import capture_history


def small():
    st = pd.DataFrame(dict(Station=["A", "B"], utm_x=[0.0, 100.0], utm_y=[0.0, 0.0], Setup_date=["2020-01-01"] * 2,
                           Retrieval_date=["2020-01-04 12:00:00", "2020-01-05"], habitat=["forest edge", None]))
    rec = pd.DataFrame({"station": ["B", "A", "A", None], "individual_id": ["L2", "L1", "L1", "L3"],
                        "timestamp": ["2020-01-02 10:00:00", "2020-01-01 10:00:00", "2020-01-03 10:00:00",
                                      "2020-01-03 11:00:00"]})
    return capture_history(rec, st, output="count", station_options=dict(station_covariates=["habitat"]))


def test_matrices_cross_as_one_column_major_vector_with_names():
    ch = small()
    parts = rinterop.capture_history_to_r(ch)
    u = ch.usage_matrix("1")
    m = parts["usage"][0]
    assert m["kind"] == "num" and m["dim"] == list(u.shape)
    assert m["__array__"] == u.to_numpy().ravel(order="F").tolist()
    assert m["dimnames"] == [["A", "B"], [str(c) for c in u.columns]]
    c = parts["counts_by_occasion"][0]
    cbo = ch.counts_by_occasion("1")
    assert c["kind"] == "int" and c["dimnames"][0] == list(cbo.index) and c["dimnames"][1][-1] == "Total"
    assert c["__array__"] == cbo.to_numpy().ravel(order="F").tolist()
    assert parts["sessions"] == ["1"] and parts["n_records"] == 4 and parts["detector"] == "count"
    # the tables are the frames to_r gives, unchanged
    assert parts["detections"] == rinterop.to_r(ch.detections)
    assert parts["records"]["__frame__"]["row"]["values"] == [1, 2, 3, 4]     # all: R keeps them
    assert parts["records"]["__frame__"]["status"]["values"][3] == "excluded"
    # everything the capture history holds crosses, with what restores the Python types
    from lynxid.capture_tables import TABLES
    assert set(TABLES) <= set(parts) and isinstance(parts["schema"], str)
    again = rinterop.capture_history_from_r({**{k: getattr(ch, k) for k in TABLES},
                                             "usage": {s: u.reset_index() for s, u in ch.usage.items()},
                                             "schema": parts["schema"]})
    pd.testing.assert_frame_equal(again.records, ch.records)
    assert again.settings == ch.settings and again.detector_type == "count"


def test_text_categories_cross_as_the_general_path_gives_them():
    df = pd.DataFrame({"c": pd.Categorical(["u", None, "v", "u"]),
                       "s": pd.Series(["a", "b", None, "a"], dtype="str").astype("category"),
                       "e": pd.Categorical([None, None, None, None], categories=["x"]),
                       "n": pd.Categorical([1, 2, None, 1])})
    general = rinterop.to_r_columns(df.astype(object))
    fast = rinterop.to_r_columns(df)
    assert fast == general
    assert fast["c"] == {"kind": "str", "values": ["u", "", "v", "u"], "na": [False, True, False, False]}


def test_text_from_r_gives_the_same_frame_as_before():
    cols = {"s": [["x", "", "y"], [False, True, False]], "one": ["solo", False], "n": [[1.0, 2.5], [False, False]]}
    df = rinterop.from_r_columns({k: v for k, v in cols.items() if k == "s"})
    old = pd.Series(np.asarray(["x", "", "y"])).where(~np.array([False, True, False]), None)
    assert df.s.dtype == old.dtype and df.s.isna().tolist() == [False, True, False] and df.s[0] == "x"
    assert rinterop.from_r_columns({"one": cols["one"]}).one.tolist() == ["solo"]
