"""VectorIndex: exact search, the automatic switch to IVF, recall, persistence."""
import numpy as np
import pytest

from lynxid import search
from lynxid.search import VectorIndex, default_nlist, recall_at_k


def _unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _clustered(n_groups=300, per=10, d=32, seed=0):
    """Re-identification-like vectors: groups (individuals) of similar vectors, and queries
    that are new members of random groups."""
    rng = np.random.default_rng(seed)
    c = _unit(rng.standard_normal((n_groups, d)))
    x = _unit(np.repeat(c, per, axis=0) + 0.6 * _unit(rng.standard_normal((n_groups * per, d))))
    q = _unit(c[rng.integers(0, n_groups, 100)] + 0.6 * _unit(rng.standard_normal((100, d))))
    return x, q


def test_flat_is_exact():
    x, q = _clustered()
    idx = VectorIndex.build(x)
    assert idx.kind == "flat"
    sims, ids = idx.search(q, 5)
    ref = np.argsort(-(q @ x.T), axis=1)[:, :5]
    np.testing.assert_array_equal(ids, ref)
    np.testing.assert_allclose(sims, np.take_along_axis(q @ x.T, ref, 1), rtol=1e-5, atol=1e-5)
    assert recall_at_k(idx, x, q, 10) == 1.0


def test_auto_switches_to_ivf_from_the_threshold(monkeypatch):
    x, q = _clustered()
    monkeypatch.setattr(search, "APPROX_FROM", len(x))
    assert VectorIndex.build(x[:-1]).kind == "flat"
    idx = VectorIndex.build(x)
    assert idx.kind == "ivf" and idx.index.nlist == default_nlist(len(x)) and idx.nprobe == search.NPROBE
    assert idx.memory_bytes() < VectorIndex.build(x, "flat").memory_bytes()


def test_ivf_recall_and_nprobe_tradeoff():
    x, q = _clustered()
    idx = VectorIndex.build(x, "ivf", nlist=64)
    r_default = recall_at_k(idx, x, q, 10)
    assert r_default >= 0.9
    idx.nprobe = 1
    r_one = recall_at_k(idx, x, q, 10)
    idx.nprobe = 64                          # every cluster: exact up to 8-bit quantisation
    assert r_one < r_default <= recall_at_k(idx, x, q, 10)
    assert recall_at_k(idx, x, q, 10) >= 0.98


@pytest.mark.parametrize("kind", ["flat", "ivf", "hnsw"])
def test_save_load_roundtrip(tmp_path, kind):
    x, q = _clustered()
    kw = {"nlist": 32} if kind == "ivf" else {}
    idx = VectorIndex.build(x, kind, **kw)
    p = idx.save(tmp_path / "index.faiss")
    assert [f.name for f in tmp_path.iterdir()] == ["index.faiss"]      # atomic: no temp left
    back = VectorIndex.load(p)
    assert back.kind == kind and len(back) == len(x) and back.nprobe == idx.nprobe
    np.testing.assert_array_equal(back.search(q, 5)[1], idx.search(q, 5)[1])


def test_empty_small_and_bad_inputs():
    idx = VectorIndex(16)
    sims, ids = idx.search(np.ones(16, np.float32), 5)
    assert ids.tolist() == [[-1]]
    x, _ = _clustered(n_groups=2, per=3, d=16)
    assert VectorIndex.build(x).search(x[0], 50)[1].shape == (1, 6)     # k capped at the size
    with pytest.raises(ValueError, match="at least"):
        VectorIndex.build(x, "ivf", nlist=50)
    with pytest.raises(ValueError, match="unknown index kind"):
        VectorIndex(16, "annoy")
    with pytest.raises(ValueError):
        VectorIndex(16, "flat").nprobe = 3


def test_build_tunes_nprobe_to_the_target_recall():
    x, q = _clustered()
    idx = VectorIndex.build(x, "ivf", nlist=64)
    assert idx.recall >= search.TARGET_RECALL and idx.nprobe == search.NPROBE     # structure: little to scan
    # no neighbourhood structure: the tuner scans more clusters rather than miss neighbours
    rng = np.random.default_rng(3)
    u = _unit(rng.standard_normal((3000, 32)))
    untuned = VectorIndex.build(u, "ivf", nlist=64, target_recall=None)
    tuned = VectorIndex.build(u, "ivf", nlist=64)
    assert untuned.recall is None and recall_at_k(untuned, u, u[:100]) < 0.95
    assert tuned.nprobe > search.NPROBE and tuned.recall >= 0.95
    assert recall_at_k(tuned, u, u[100:200]) >= 0.9
