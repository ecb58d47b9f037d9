"""Atomic writes: a failed write leaves the old file (and no temporary) behind."""
import json

import numpy as np
import pandas as pd
import pytest

from lynxid import storage


def test_round_trips(tmp_path):
    df = pd.DataFrame({"a": [1, 2], "b": ["x", None], "t": pd.to_datetime(["2025-01-01 10:00", None]).tz_localize("UTC"),
                       "v": [np.arange(3, dtype=np.float32), np.ones(3, np.float32)]})
    p = storage.write_table(df, tmp_path / "sub" / "t.parquet")
    back = storage.read_table(p)
    pd.testing.assert_frame_equal(back.drop(columns="v"), df.drop(columns="v"))
    assert np.array_equal(np.stack(back.v), np.stack(df.v))
    c = storage.write_table(df.drop(columns="v"), tmp_path / "t.csv")
    assert storage.read_table(c).a.tolist() == [1, 2]
    assert storage.write_table(df.drop(columns="v"), tmp_path / "t.dat", fmt="csv").read_text().startswith("a,b,t")
    with pytest.raises(ValueError, match="unknown table format"):
        storage.write_table(df, tmp_path / "t.xlsx", fmt="xlsx")
    storage.write_json(tmp_path / "j.json", {"when": pd.Timestamp("2025-01-01"), "n": 1})
    assert storage.read_json(tmp_path / "j.json") == {"when": "2025-01-01 00:00:00", "n": 1}
    storage.write_text(tmp_path / "x.txt", "grüezi")
    assert (tmp_path / "x.txt").read_text(encoding="utf-8") == "grüezi"
    assert list(tmp_path.glob(".*.tmp")) == []


def test_failed_write_keeps_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "data.json"
    storage.write_json(target, {"v": 1})
    with pytest.raises(RuntimeError):
        with storage.atomic_path(target) as tmp:
            tmp.write_text("half written")
            raise RuntimeError("killed")
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["data.json"]
    # an object that cannot be written as Parquet: the old table survives
    storage.write_table(pd.DataFrame({"a": [1]}), tmp_path / "t.parquet")
    with pytest.raises(Exception):
        storage.write_table(pd.DataFrame({"a": [object()]}), tmp_path / "t.parquet")
    assert storage.read_table(tmp_path / "t.parquet").a.tolist() == [1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.json", "t.parquet"]


def test_read_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="table not found: .*nope.csv"):
        storage.read_table(tmp_path / "nope.csv")
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet")
    with pytest.raises(ValueError, match="could not read table .*bad.parquet"):
        storage.read_table(bad)


def test_written_files_get_normal_permissions(tmp_path):
    """Not mkstemp's private 0600: results are shared with colleagues on lab servers."""
    import os
    mask = os.umask(0o022)
    os.umask(mask)
    for p in (storage.write_text(tmp_path / "a.txt", "x"), storage.write_json(tmp_path / "b.json", {}),
              storage.write_table(pd.DataFrame({"a": [1]}), tmp_path / "c.parquet")):
        assert p.stat().st_mode & 0o777 == 0o666 & ~mask, p
