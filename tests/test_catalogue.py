"""The catalogue folder: round trip, additions, and repair when its files disagree."""
import numpy as np
import pandas as pd
import pytest

from lynxid.catalogue import FORMAT_VERSION, REF_COLUMNS, Catalogue
from lynxid.search import VectorIndex

DIM = 16


def unit(n, seed=0):
    v = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def refs(files, individuals, folder="/data/season1", flanks=None):
    return pd.DataFrame({"detection_id": [f"{f}#0" for f in files], "file": files,
                         "path": [f"{folder}/{f}" for f in files], "individual": individuals,
                         "flank": flanks or [None] * len(files), "sighting": [f.split("_")[0] for f in files],
                         "bbox_x": 0.1, "bbox_y": 0.2, "bbox_w": 0.5, "bbox_h": 0.4, "source": folder})


@pytest.fixture
def cat(tmp_path):
    c = Catalogue.empty(tmp_path / "cat", "test-embedder", DIM)
    c.add(refs(["L01/01_left.jpg", "L01/02_left.jpg", "L02/01_right.jpg", "L02/02_x.jpg"],
               ["L01", "L01", "L02", "L02"], flanks=["left", "left", "right", None]), unit(4))
    c.meta["model"] = {"fitted": True}
    c.save()
    return c


def test_round_trip(cat):
    back = Catalogue.load(cat.root)
    assert list(back.table.columns) == REF_COLUMNS
    pd.testing.assert_frame_equal(back.table, cat.table, check_dtype=False)
    np.testing.assert_array_equal(back.vectors, cat.vectors)
    assert back.table.flank.tolist()[:3] == ["left", "left", "right"] and back.table.flank.isna().iloc[3]
    assert back.meta["embedder"] == "test-embedder" and back.meta["dim"] == DIM
    assert back.meta["n_references"] == 4 and back.meta["n_individuals"] == 2
    assert back.meta["format_version"] == FORMAT_VERSION and back.meta["model"] == {"fitted": True}
    assert back._index is not None and len(back._index) == 4          # the saved index was used
    s, i = back.index.search(cat.vectors[2], 2)
    assert i[0, 0] == 2 and s[0, 0] == pytest.approx(1.0, abs=1e-5)
    assert back.individuals == ["L01", "L02"] and len(back) == 4
    assert back.summary() == {"references": 4, "individuals": 2, "with_flank": 3, "embedder": "test-embedder",
                              "fitted": True, "model": "catalogue", "model_switched_from": None}
    assert "2 individuals, 4 references" in repr(back)


def test_empty_round_trip(tmp_path):
    c = Catalogue.empty(tmp_path / "e", "t", DIM)
    c.save()
    back = Catalogue.load(tmp_path / "e")
    assert len(back) == 0 and back.vectors.shape == (0, DIM) and back.individuals == []


def test_add_skips_photos_already_there_but_not_other_folders_photos(cat):
    again = refs(["L01/01_left.jpg", "L03/01_left.jpg"], ["L01", "L03"])
    cat.add(again, unit(2, seed=1))
    assert len(cat) == 5 and cat.table.file.tolist()[-1] == "L03/01_left.jpg"
    assert cat.meta["model"] is None                      # the fitted model no longer fits
    assert len(cat.index) == 5
    # a second season laid out the same way: same relative names, other photos
    season2 = refs(["L01/01_left.jpg", "L01/02_left.jpg"], ["L01", "L01"], folder="/data/season2")
    cat.add(season2, unit(2, seed=2))
    assert len(cat) == 7, "photos of another folder with the same file names were dropped"
    np.testing.assert_array_equal(cat.vectors[-2:], unit(2, seed=2))
    cat.save()
    assert len(Catalogue.load(cat.root)) == 7


def test_add_rejects_bad_input(cat):
    with pytest.raises(ValueError, match="one vector per reference"):
        cat.add(refs(["a.jpg"], ["A"]), unit(2))
    bad = refs(["a.jpg"], ["A"])
    bad.loc[0, "individual"] = None
    with pytest.raises(ValueError, match="needs an 'individual'"):
        cat.add(bad, unit(1))
    with pytest.raises(ValueError, match="another backbone"):
        cat.add(refs(["a.jpg"], ["A"]), np.ones((1, DIM + 1), np.float32))
    assert len(cat) == 4


@pytest.mark.parametrize("damage", ["stale", "missing"])
def test_index_repaired_from_references(cat, damage):
    idx_p = cat.root / "index.faiss"
    if damage == "stale":      # a crash after references.parquet, before index.faiss
        VectorIndex.build(cat.vectors[:2]).save(idx_p)
    else:
        idx_p.unlink()
    back = Catalogue.load(cat.root)
    assert len(back.index) == 4
    s, i = back.index.search(cat.vectors, 1)
    assert i[:, 0].tolist() == [0, 1, 2, 3]
    back.save()
    assert len(VectorIndex.load(idx_p)) == 4


def test_clear_errors(tmp_path, cat):
    with pytest.raises(FileNotFoundError, match="no catalogue at .*lynxid catalogue build"):
        Catalogue.load(tmp_path / "nowhere")
    (cat.root / "references.parquet").unlink()
    with pytest.raises(FileNotFoundError, match="references.parquet missing"):
        Catalogue.load(cat.root)
    newer = tmp_path / "newer"
    newer.mkdir()
    (newer / "catalogue.json").write_text('{"format_version": 99, "dim": 4}')
    with pytest.raises(ValueError, match="newer lynxid"):
        Catalogue.load(newer)
