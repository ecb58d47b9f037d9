"""The Python half of the R boundary (the R half is tested in rpkg/tests/testthat/test-convert.R)."""
from __future__ import annotations

import io
import sys
import threading

import pandas as pd

from lynxid import rinterop


def test_zone_aware_times_cross_as_instants():
    t = pd.Series(pd.to_datetime(["2025-02-02 05:19:02+01:00", None]))
    z = pd.Series(pd.to_datetime(["2025-07-01 12:00"])).dt.tz_localize("Europe/Zurich")
    cols = rinterop.to_r_columns(pd.DataFrame({"t": t}))
    c = cols["t"]
    assert c["kind"] == "instant" and c["na"] == [False, True]
    assert c["values"][0] == (pd.Timestamp("2025-02-02 04:19:02") - pd.Timestamp("1970-01-01")).total_seconds()
    assert c["offset_minutes"] == 60
    zc = rinterop.to_r_columns(pd.DataFrame({"z": z}))["z"]
    assert zc["tz"] == "Europe/Zurich" and zc["offset_minutes"] is None
    naive = rinterop.to_r_columns(pd.DataFrame({"n": pd.to_datetime(["2025-02-02 05:19:02"])}))["n"]
    assert naive == {"kind": "time", "values": ["2025-02-02 05:19:02"], "na": [False]}


def test_logical_na_from_r_stays_logical():
    df = rinterop.from_r_columns({"l": [[False, True], [True, False]], "n": [[1.0, 2.0], [False, True]]})
    assert str(df.l.dtype) == "boolean" and df.l.isna().tolist() == [True, False]
    back = rinterop.to_r_columns(df)
    assert back["l"] == {"kind": "bool", "values": [False, True], "na": [True, False]}
    assert back["n"]["kind"] == "num" and back["n"]["na"] == [False, True]


def test_streams_go_to_r_only_from_the_main_thread():
    got, fallback = [], io.StringIO()
    old = sys.stdout, sys.stderr
    token = rinterop.redirect_streams(got.append, got.append)
    try:
        sys.stdout._fallback = fallback                       # stands in for the process's stream
        print("main")
        th = threading.Thread(target=lambda: print("worker"))
        th.start()
        th.join()
        from tqdm import tqdm
        assert tqdm.monitor_interval == 0                     # its monitor thread would write from elsewhere
    finally:
        rinterop.restore_streams(token)
    assert (sys.stdout, sys.stderr) == old
    assert "".join(got) == "main\n" and fallback.getvalue() == "worker\n"


def test_isolated_packages_are_imported_with_deepbind(tmp_path, monkeypatch):
    """Inside R, libtorch's BLAS calls must reach its own MKL, not R's reference BLAS: the
    listed packages are imported with RTLD_DEEPBIND, every other import is left alone."""
    import os
    import pytest
    if not hasattr(os, "RTLD_DEEPBIND"):
        pytest.skip("no RTLD_DEEPBIND on this platform (isolate_native_libraries is a no-op)")
    for name in ("probe_isolated", "probe_plain"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("import sys\nFLAGS = sys.getdlopenflags()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = list(sys.meta_path)
    flags = sys.getdlopenflags()
    try:
        assert rinterop.isolate_native_libraries(("probe_isolated", "sys")) == ["sys"]   # sys: already imported
        import probe_isolated
        import probe_plain
    finally:
        sys.meta_path[:] = before
        for name in ("probe_isolated", "probe_plain"):
            sys.modules.pop(name, None)
    assert probe_isolated.FLAGS & os.RTLD_DEEPBIND
    assert not probe_plain.FLAGS & os.RTLD_DEEPBIND
    assert sys.getdlopenflags() == flags                       # restored after the import


def _r_code() -> str:
    """rpkg/R's code, comment lines left out."""
    from pathlib import Path
    files = sorted((Path(__file__).resolve().parents[1] / "rpkg" / "R").glob("*.R"))
    assert files
    return "\n".join(line for f in files for line in f.read_text().splitlines() if not line.lstrip().startswith("#"))


def test_r_reaches_python_through_the_public_api_and_this_bridge():
    """R imports lynxid (the public API: py_lynxid()$NAME, api$NAME) and lynxid.rinterop (the
    bridge: py_lynxid("rinterop")$NAME, bridge$NAME, its R_HELPERS), nothing else; every name
    R uses exists there, and every R_HELPERS entry resolves and is used."""
    import re

    import lynxid
    code = _r_code()
    assert set(re.findall(r"py_lynxid\(([^)]*)\)", code)) <= {"", '"rinterop"'}
    assert re.findall(r"reticulate::import\(\"(lynxid[\w.]*)\"", code) == ["lynxid.rinterop"]
    api = set(re.findall(r"(?:py_lynxid\(\)|\bapi)\$(\w+)", code))
    bridge = set(re.findall(r"(?:py_lynxid\(\"rinterop\"\)|\bbridge)\$(\w+)", code))
    bridge |= set(re.findall(r"\bplot_data\(\"(\w+)\"", code))
    assert {"capture_history", "identify", "fit_density"} <= api and {"to_r", "station_map_data"} <= bridge
    assert api <= set(lynxid._API), api - set(lynxid._API)
    assert not [n for n in bridge if n.startswith("_") or not hasattr(rinterop, n)], bridge
    assert not set(rinterop.R_HELPERS) & set(lynxid._API)
    assert set(rinterop.R_HELPERS) <= bridge, set(rinterop.R_HELPERS) - bridge
    for name in rinterop.R_HELPERS:
        assert callable(getattr(rinterop, name)), name
