"""ArrayCache: content-keyed Parquet shards that survive interruption and merging."""
import numpy as np
import pyarrow.parquet as pq
import pytest

from lynxid import cache as cache_mod
from lynxid.cache import ArrayCache, content_key, file_digest


def _items(keys, seed=0):
    rng = np.random.default_rng(seed)
    return {k: {"vec": rng.normal(size=8).astype(np.float32),
                "desc": rng.integers(0, 255, (int(rng.integers(0, 5)), 4), dtype=np.uint8)} for k in keys}


def _same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].keys() == b[k].keys()
        for n in a[k]:
            assert a[k][n].dtype == b[k][n].dtype and a[k][n].shape == b[k][n].shape
            np.testing.assert_array_equal(a[k][n], b[k][n])


def test_roundtrip_exact_dtypes_shapes_and_missing(tmp_path):
    c = ArrayCache(tmp_path, "emb")
    items = _items([f"k{i}" for i in range(10)])
    c.put_many(items)
    got = c.get_many(list(items) + ["absent"])
    _same(got, items)
    assert "absent" not in got and "k3" in c and len(c) == 10
    assert c.missing(["k1", "zz"]) == ["zz"]
    # a new instance (a restarted run) finds everything on disk
    _same(ArrayCache(tmp_path, "emb").get_many(list(items)), items)


def test_keys_depend_on_content_box_and_model():
    d1, d2 = file_digest(b"abc"), file_digest(b"abd")
    assert d1 != d2 and file_digest(b"abc") == d1
    k = content_key(d1, (0.1, 0.2, 0.3, 0.4), "model-a", "decode-v2")
    assert k == content_key(d1, (0.1, 0.2, 0.3, 0.4), "model-a", "decode-v2")
    assert k != content_key(d2, (0.1, 0.2, 0.3, 0.4), "model-a", "decode-v2")
    assert k != content_key(d1, (0.1, 0.2, 0.3, 0.5), "model-a", "decode-v2")
    assert k != content_key(d1, (0.1, 0.2, 0.3, 0.4), "model-b", "decode-v2")
    assert k != content_key(d1, (0.1, 0.2, 0.3, 0.4), "model-a", "decode-v3")


def test_damaged_and_foreign_files_are_ignored(tmp_path):
    c = ArrayCache(tmp_path, "emb")
    items = _items(["a", "b"])
    c.put_many(items)
    (c.dir / "shard-broken.parquet").write_bytes(b"PAR1 not really")   # e.g. a copy cut short
    (c.dir / ".shard-x.parquet.123.tmp").write_bytes(b"half written")     # a killed write's temp file
    c2 = ArrayCache(tmp_path, "emb")
    assert len(c2) == 2
    _same(c2.get_many(["a", "b"]), items)


def test_put_is_atomic_no_temp_files_left(tmp_path):
    c = ArrayCache(tmp_path, "emb")
    c.put_many(_items(["a"]))
    files = [p.name for p in c.dir.iterdir()]
    assert len(files) == 1 and files[0].startswith("shard-") and files[0].endswith(".parquet")


def test_compact_merges_streaming_and_reads_by_row_group(tmp_path, monkeypatch):
    monkeypatch.setattr(cache_mod, "ROW_GROUP", 7)      # several row groups in the merged shard
    c = ArrayCache(tmp_path, "emb")
    all_items = {}
    for s in range(6):
        items = _items([f"s{s}-{i}" for i in range(5)], seed=s)
        c.put_many(items)
        all_items.update(items)
    c.put_many({"s0-1": all_items["s0-1"]})              # a duplicate key (same content) in another shard
    assert c.n_shards == 7
    assert c.compact() == 7
    assert c.n_shards == 1
    shard = next(c.dir.glob("shard-*.parquet"))
    assert pq.ParquetFile(shard).metadata.num_row_groups > 1
    fresh = ArrayCache(tmp_path, "emb")
    assert len(fresh) == 30
    # rows from several row groups, in scrambled order
    keys = ["s5-4", "s0-0", "s3-2", "s0-1"]
    _same(fresh.get_many(keys), {k: all_items[k] for k in keys})
    _same(c.get_many(keys), {k: all_items[k] for k in keys})


def test_compact_only_small_shards(tmp_path):
    c = ArrayCache(tmp_path, "emb")
    c.put_many(_items([f"big{i}" for i in range(20)]))
    c.put_many(_items(["x"], seed=1))
    c.put_many(_items(["y"], seed=2))
    assert c.compact(small_rows=10) == 2
    assert c.n_shards == 2 and len(ArrayCache(tmp_path, "emb")) == 22
    assert c.compact(small_rows=10) == 0                 # one small shard left: nothing to merge


def test_other_process_compaction_is_survived(tmp_path):
    """A reader whose index points at shards another process merged away still finds the rows."""
    reader = ArrayCache(tmp_path, "emb")
    items = {}
    for s in range(3):
        it = _items([f"{s}-{i}" for i in range(3)], seed=s)
        reader.put_many(it)
        items.update(it)
    assert len(reader) == 9
    ArrayCache(tmp_path, "emb").compact()                  # "another process"
    _same(reader.get_many(list(items)), items)


def test_refresh_sees_shards_written_by_others(tmp_path):
    a, b = ArrayCache(tmp_path, "emb"), ArrayCache(tmp_path, "emb")
    assert len(a) == 0
    b.put_many(_items(["from-b"]))
    assert "from-b" not in a
    a.refresh()
    assert "from-b" in a


def test_no_pickle_in_shards(tmp_path):
    c = ArrayCache(tmp_path, "emb")
    c.put_many(_items(["a"]))
    shard = next(c.dir.glob("shard-*.parquet"))
    schema = pq.read_schema(shard)
    assert {f.name for f in schema} == {"key", "vec__data", "vec__dtype", "vec__shape",
                                       "desc__data", "desc__dtype", "desc__shape"}
    # a crafted shard claiming Python objects is refused, never unpickled
    import pyarrow as pa
    bad = pa.table({"key": ["evil"], "vec__data": pa.array([b"\x80\x04K\x01."], pa.binary()),
                    "vec__dtype": ["|O"], "vec__shape": pa.array([[1]], pa.list_(pa.int64()))})
    pq.write_table(bad, c.dir / "shard-evil.parquet")
    with pytest.raises(ValueError):
        ArrayCache(tmp_path, "emb").get_many(["evil"])


def test_concurrent_first_lookups_never_see_a_partial_index(tmp_path):
    """Decode threads ask 'is it cached?' at the same moment the index is first loaded."""
    import concurrent.futures as cf
    w = ArrayCache(tmp_path, "emb")
    keys = []
    for s in range(150):
        it = {f"{s}-{i}": {"v": np.zeros(1, np.float32)} for i in range(2)}
        w.put_many(it)
        keys += list(it)
    for _ in range(3):
        c = ArrayCache(tmp_path, "emb")
        with cf.ThreadPoolExecutor(8) as ex:
            found = list(ex.map(lambda k: k in c, keys[::-1] * 2))
        assert all(found)


def test_compact_keeps_entries_of_another_layout_apart(tmp_path):
    """A cache written by an older version (entries without the arrays newer entries have,
    as local features before the dense grid) must still compact and read: each layout is
    merged with its own kind."""
    c = ArrayCache(tmp_path, "local")
    old = {f"old{i}": {"xy": np.ones((3, 2), np.float32)} for i in range(3)}
    new = {f"new{i}": {"xy": np.ones((3, 2), np.float32), "dense": np.zeros((5, 4), np.float16)} for i in range(3)}
    for k, v in list(old.items()) + list(new.items()):
        c.put_many({k: v})
    assert c.n_shards == 6
    assert c.compact() == 6 and c.n_shards == 2
    back = ArrayCache(tmp_path, "local")
    _same(back.get_many(list(old) + list(new)), {**old, **new})
