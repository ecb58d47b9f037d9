"""The distributed path on a local Dask cluster of two worker processes gives the
single-machine result and writes the same cache shards."""
import numpy as np
import pandas as pd
import pytest
from PIL import Image

# minutes of model fitting and feature extraction: `make test-fast` leaves it out, CI runs it
pytestmark = pytest.mark.slow

distributed = pytest.importorskip("dask.distributed")

N = 12


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    root = tmp_path_factory.mktemp("dist")
    rng = np.random.default_rng(1)
    rows = []
    for i in range(N):
        base = rng.integers(0, 255, (9, 12, 3), dtype=np.uint8)
        img = np.asarray(Image.fromarray(base).resize((640, 480), Image.BICUBIC))
        p = root / "images" / f"IMG_{i:03d}.JPG"
        p.parent.mkdir(exist_ok=True)
        Image.fromarray(img).save(p, quality=90)
        rows.append(dict(file=p.name, path=str(p), bbox_x=0.1, bbox_y=0.05 * (i % 5), bbox_w=0.6, bbox_h=0.5))
    (root / "images" / "IMG_BAD.JPG").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    rows.append(dict(file="IMG_BAD.JPG", path=str(root / "images" / "IMG_BAD.JPG"),
                     bbox_x=0.0, bbox_y=0.0, bbox_w=1.0, bbox_h=1.0))
    return root, pd.DataFrame(rows)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def test_two_workers_give_the_single_machine_result(survey, client, tmp_path):
    from lynxid.cache import ArrayCache
    from lynxid.distributed import extract_features_distributed
    from lynxid.embed import Embedder
    from lynxid.features import extract_features

    root, det = survey
    fs = extract_features_distributed(det, tmp_path / "cache", client=client, batch_size=4, chunk_size=3,
                                      load_local=True, progress=False)
    assert len(fs.stats["workers"]) == 2                       # both workers did part of it
    assert fs.ok.sum() == N and not fs.ok[-1]
    assert fs.issues["file"].tolist() == ["IMG_BAD.JPG"]       # recorded, not fatal

    single = extract_features(det, Embedder(batch_size=4), local=True, cache_dir=tmp_path / "single",
                              progress=False, threads=1)
    np.testing.assert_array_equal(fs.vectors, single.vectors)
    assert fs.keys == single.keys and fs.local_keys == single.local_keys
    for a, b in zip(fs.local[:N], single.local[:N]):
        np.testing.assert_array_equal(a.desc, b.desc)

    # the workers wrote ordinary cache shards: a single-machine run over that cache computes nothing
    again = extract_features(det, Embedder(batch_size=4), local=True, cache_dir=tmp_path / "cache", progress=False)
    assert again.stats["embedded"] == 0 and again.stats["local_computed"] == 0
    np.testing.assert_array_equal(again.vectors, single.vectors)
    assert len(ArrayCache(tmp_path / "cache", "embeddings")) == N


def test_file_list_forms(survey, tmp_path):
    from lynxid.distributed import read_file_list
    root, det = survey
    folder, issues = read_file_list(root / "images")
    assert len(folder) == N + 1 and (folder.bbox_w == 1.0).all() and issues.empty
    lst = root / "list.txt"
    lst.write_text("# survey 2025\nimages/IMG_000.JPG\nimages/missing.JPG\n\n" + det.path[1] + "\n")
    t, issues = read_file_list(lst)
    assert t["file"].tolist() == ["images/IMG_000.JPG", "images/IMG_001.JPG"]
    assert issues["file"].tolist() == ["images/missing.JPG"] and "not found" in issues.reason[0]
    csv = root / "boxes.csv"
    det.drop(columns="path").assign(file=["images/" + f for f in det.file]).to_csv(csv, index=False)
    t, _ = read_file_list(csv)
    assert np.allclose(t.bbox_y, det.bbox_y)


def test_features_command_single_machine_then_cached(survey, tmp_path, capsys):
    from lynxid.cli import main
    root, det = survey
    args = ["features", str(root / "images"), "--cache-dir", str(tmp_path / "c"), "--no-local", "--quiet",
            "--batch-size", "4", "--threads", "1"]
    assert main(args) == 0
    assert f"{N} of {N + 1} detections have features ({N} computed, 0 from the cache)" in capsys.readouterr().out
    assert main(args) == 0
    assert f"(0 computed, {N} from the cache)" in capsys.readouterr().out
    t = pd.read_parquet(tmp_path / "c" / "features.parquet")
    assert len(t) == N + 1 and t.ok.sum() == N and (t.vector.map(len) > 0).tolist() == t.ok.tolist()
    iss = pd.read_csv(tmp_path / "c" / "features_issues.csv")
    assert iss.file.tolist() == ["IMG_BAD.JPG"] and "cannot decode" in iss.reason[0]
    assert main(["features", str(root / "images"), "--cache-dir", str(tmp_path / "c"), "--batch-size", "0"]) == 2
