"""A feature run killed half way and started again with the same command resumes from the
cache and gives exactly the result of an uninterrupted run."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

# a real feature run killed and resumed: `make test-fast` leaves it out, CI runs it
pytestmark = pytest.mark.slow

N = 20
BATCH = 2

CHILD = r'''
import json, sys, time
import numpy as np, pandas as pd
from lynxid.embed import Embedder
from lynxid.features import extract_features

det = pd.read_csv(sys.argv[1])
emb = Embedder(batch_size={batch})
if sys.argv[4] == "slow":                 # widen the window in which the test kills the run
    real = emb.embed_arrays
    def slow(arrays):
        time.sleep(0.3)
        return real(arrays)
    emb.embed_arrays = slow
fs = extract_features(det, emb, local=True, cache_dir=sys.argv[2], progress=False)
json.dump(fs.stats, open(sys.argv[3] + ".stats.json", "w"))
'''.format(batch=BATCH)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(N):
        base = rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)
        img = np.asarray(Image.fromarray(base).resize((800, 600), Image.BICUBIC)).astype(np.int16)
        img = (img + rng.integers(-20, 20, img.shape)).clip(0, 255).astype(np.uint8)
        p = root / f"IMG_{i:03d}.JPG"
        Image.fromarray(img).save(p, quality=90)
        rows.append(dict(file=p.name, path=str(p), bbox_x=0.1 + 0.01 * i, bbox_y=0.2, bbox_w=0.5, bbox_h=0.6))
    table = root / "detections.csv"
    pd.DataFrame(rows).to_csv(table, index=False)
    return table


def _cmd(script, table, cache, out, mode):
    return [sys.executable, str(script), str(table), str(cache), str(out), mode]


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1] / "python") + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_kill_and_resume_gives_identical_results(photos, tmp_path):
    script = tmp_path / "run.py"
    script.write_text(CHILD)
    cache = tmp_path / "cache"
    shards = cache / "embeddings"

    # 1. start, wait until a few batches are on disk, kill -9 (no chance to clean up)
    proc = subprocess.Popen(_cmd(script, photos, cache, tmp_path / "killed", "slow"), env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if shards.exists() and len(list(shards.glob("shard-*.parquet"))) >= 3:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be interrupted: " + proc.stderr.read().decode()[-2000:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "killed.stats.json").exists()
    done_before = len(list(shards.glob("shard-*.parquet")))
    assert 3 <= done_before < N // BATCH

    # 2. the same run again (here in this process, same arguments): it resumes
    from lynxid.embed import Embedder
    from lynxid.features import extract_features
    det = pd.read_csv(photos)
    resumed = extract_features(det, Embedder(batch_size=BATCH), local=True, cache_dir=cache, progress=False)
    stats = resumed.stats
    assert stats["embeddings_cached"] >= done_before * BATCH           # the killed run's batches were reused
    assert stats["embedded"] == N - stats["embeddings_cached"] > 0      # and only the rest computed
    # local features are written just after the embeddings: the kill may fall in between
    assert stats["local_cached"] >= (done_before - 1) * BATCH and stats["failed"] == 0
    assert stats["local_computed"] == N - stats["local_cached"]

    # 3. an uninterrupted run (fresh cache) gives the very same numbers
    fs = extract_features(det, Embedder(batch_size=BATCH), local=True, cache_dir=tmp_path / "fresh", progress=False)
    assert fs.stats["embedded"] == N
    np.testing.assert_array_equal(resumed.vectors, fs.vectors)
    for a, b in zip(resumed.local, fs.local):
        np.testing.assert_array_equal(a.xy, b.xy)
        np.testing.assert_array_equal(a.desc, b.desc)

    # 4. and a third run computes nothing at all
    fs2 = extract_features(det, Embedder(batch_size=BATCH), local=True, cache_dir=cache, progress=False)
    assert fs2.stats["embedded"] == 0 and fs2.stats["local_computed"] == 0
    np.testing.assert_array_equal(fs2.vectors, fs.vectors)


def test_runtime_settings_apply_inside_and_are_restored(photos):
    import torch

    from lynxid.embed import Embedder
    from lynxid.features import extract_features, runtime
    det = pd.read_csv(photos).iloc[:5]
    emb = Embedder(batch_size=32)
    before = torch.get_num_threads()
    calls = []
    real = emb.embed_arrays
    emb.embed_arrays = lambda arrays: (calls.append((len(arrays), torch.get_num_threads())), real(arrays))[1]
    with runtime(threads=1, batch_size=2, device="cpu"):
        fs = extract_features(det, emb, local=False, progress=False)
    assert [n for n, _ in calls] == [2, 2, 1] and {t for _, t in calls} == {1}
    assert torch.get_num_threads() == before and fs.ok.all()
    with pytest.raises(ValueError, match="at least 1"):
        with runtime(batch_size=0):
            pass
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            with runtime(device="cuda"):
                pass
