"""Species adaptation: the network really trains (frozen blocks stay as they were), and the
weights it writes load into the embedder."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from lynxid.adapt import adapt
from lynxid.embed import Embedder, load_backbone

from _pipeline import small_run

# minutes of model fitting and feature extraction: `make test-fast` leaves it out, CI runs it
pytestmark = pytest.mark.slow


@pytest.mark.parametrize("loss", ["triplet", "arcface"])
def test_adapt_trains_unfrozen_blocks_and_loads(tmp_path, loss):
    run = small_run()
    out = tmp_path / f"adapted-{loss}.safetensors"
    rec = adapt(run.survey.catalogue_images, out, epochs=1, batch_size=8, freeze_blocks=3, loss=loss,
                progress=False, threads=2)
    assert rec["photos"] == 24 and rec["individuals"] == 4 and np.isfinite(rec["log"][0]["loss"])
    assert json.loads(out.with_suffix(".json").read_text())["loss"] == loss
    new = load_file(str(out))
    base, _ = load_backbone("efficientnet-lite0")
    old = base.state_dict()
    frozen = [k for k in old if k.startswith(("conv_stem", "bn1", "blocks.0.", "blocks.1.", "blocks.2."))]
    trained = [k for k in old if k.startswith(("blocks.5.", "blocks.6.", "conv_head")) and k.endswith("weight")]
    assert all(torch.equal(old[k], new[k]) for k in frozen)
    assert sum(not torch.equal(old[k], new[k]) for k in trained) >= len(trained) // 2
    emb = Embedder(weights=out)
    assert out.stem in emb.tag
    v = emb.embed_arrays([np.full((224, 224, 3), 120, np.uint8)])
    assert v.shape == (1, 1280) and abs(float(np.linalg.norm(v)) - 1) < 1e-5


def test_adapt_refuses_bad_input(tmp_path):
    with pytest.raises(ValueError, match="safetensors"):
        adapt(tmp_path, tmp_path / "w.pth")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no labelled photos"):
        adapt(tmp_path / "empty", tmp_path / "w.safetensors")
