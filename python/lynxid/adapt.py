"""Adapt the image model to a species with a labelled catalogue (metric learning, on the CPU).

An ImageNet network knows what an antelope looks like, not which antelope it is. Programmes
that already hold labelled photos (a catalogue of known lynx, a previous season) can teach it:
``adapt`` fine-tunes the default EfficientNet-Lite0 so that photos of one individual's flank lie
close together and others far apart (batch-hard triplet loss over individual x flank classes,
or ArcFace; a mirrored photo becomes a class of its own, since a mirrored coat is another pattern). Early layers stay
frozen, which keeps it feasible on a laptop CPU and guards against over-fitting small
catalogues. The result is a weights file used with ``--weights`` (Python: ``weights=``).

Evaluate it on individuals it was *not* trained on (``benchmarks/reid.py`` does); only that
says whether it generalises to the animals you have not met yet.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pandas as pd

from . import storage

__all__ = ["adapt"]


def _load_crops(det: pd.DataFrame, size: int, progress: bool) -> tuple[list, list]:
    from tqdm.auto import tqdm

    from .decode import DecodeError, load_crop, to_square_array
    arrays, ok = [], []
    for r in tqdm(det.itertuples(), total=len(det), desc="loading photos", disable=not progress, unit="img"):
        try:
            crop = load_crop(r.path, (r.bbox_x, r.bbox_y, r.bbox_w, r.bbox_h), out_long=size)
            arrays.append(to_square_array(crop, size))
            ok.append(True)
        except DecodeError:
            ok.append(False)
    return arrays, ok


def adapt(dataset, out, backbone: str = "efficientnet-lite0", megadetector=None, epochs: int = 12,
          batch_size: int = 32, lr: float = 1e-4, freeze_blocks: int = 2, image_size: int | None = None,
          margin: float = 0.3, scale: float = 30.0, seed: int = 0, threads: int | None = None,
          loss: str = "triplet", per_class: int = 4, progress: bool = True) -> dict:
    """Fine-tune ``backbone`` on labelled photos in ``dataset`` (folder per individual) and
    write the weights to ``out`` (``.safetensors``) with a JSON record beside it."""
    import torch

    from .detections import labelled_detections
    from .embed import load_backbone
    from .ingest import Issues

    t0 = time.time()
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)
    out = Path(out)
    if out.suffix != ".safetensors":
        raise ValueError("write the adapted weights to a .safetensors file")
    if loss not in ("arcface", "triplet"):
        raise ValueError("loss must be 'arcface' or 'triplet'")
    issues = Issues()
    det = labelled_detections(dataset, megadetector, 0.2, issues).reset_index(drop=True)
    if len(det) == 0:
        raise ValueError(f"no labelled photos found under {dataset}: expected DATASET/<individual>/<image>")
    model, spec = load_backbone(backbone)
    size = image_size or spec.input_size
    arrays, ok = _load_crops(det, size, progress)
    det = det[np.array(ok)].reset_index(drop=True)
    flank = det["flank"].fillna("").astype(str)
    labels = (det["individual"].astype(str) + "|" + flank).to_numpy()
    names, y = np.unique(labels, return_inverse=True)
    n_cls = len(names)
    if n_cls < 2:
        raise ValueError("adaptation needs photos of at least two individuals")
    X = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()   # uint8 N x 3 x H x W
    Y = torch.from_numpy(y.astype(np.int64))
    train_params = _trainable(model, freeze_blocks)
    W = torch.nn.Parameter(torch.randn(2 * n_cls, int(model.num_features)) * 0.01)   # classes and their mirrors
    opt = torch.optim.AdamW([{"params": train_params, "lr": lr}, {"params": [W], "lr": lr * 10}],
                            weight_decay=1e-4)
    steps_per_epoch = math.ceil(len(X) / batch_size)
    total = epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / steps_per_epoch) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / total))))
    aug = _Augment(rng, n_cls, spec)
    plan = _Batches(rng, y, n_cls, len(X), batch_size, steps_per_epoch, loss, per_class)
    step_loss = _ArcFace(W, n_cls, margin, scale) if loss == "arcface" else _triplet(margin)
    log = _train(model, X, Y, aug, plan, step_loss, opt, sched, epochs, progress)
    _save(model, out, backbone)
    record = {"backbone": backbone, "dataset": str(Path(dataset).resolve()), "photos": int(len(X)),
              "individuals": int(det["individual"].nunique()), "classes": int(n_cls), "epochs": epochs,
              "batch_size": batch_size, "lr": lr, "freeze_blocks": freeze_blocks, "image_size": size,
              "margin": margin, "scale": scale, "loss": loss, "seed": seed, "log": log,
              "seconds": round(time.time() - t0, 1), "not_used": issues.table().to_dict("records")}
    storage.write_json(out.with_suffix(".json"), record)
    return record


def _trainable(model, freeze_blocks: int) -> list:
    """``load_backbone`` hands out an inference model: make it trainable, then freeze the stem
    and first blocks (BatchNorm statistics too). Returns the parameters to train."""
    model.train()
    for p in model.parameters():
        p.requires_grad_(True)
    for m in [model.conv_stem, model.bn1] + list(model.blocks[:freeze_blocks]):
        m.eval()
        for p in m.parameters():
            p.requires_grad_(False)
    return [p for p in model.parameters() if p.requires_grad]


class _Augment:
    """Mirror (another pattern, so another class), random scale/shift/rotation (affine grid),
    colour and grey (night infra-red); then the backbone's normalisation."""

    def __init__(self, rng, n_cls: int, spec):
        import torch
        self.rng, self.n_cls = rng, n_cls
        self.mean = torch.tensor(spec.mean).view(1, 3, 1, 1) * 255
        self.std = torch.tensor(spec.std).view(1, 3, 1, 1) * 255

    def __call__(self, xb, yb):
        import torch
        import torch.nn.functional as F
        rng = self.rng
        xb = xb.float()
        B = len(xb)
        flip = torch.from_numpy(rng.random(B) < 0.5)
        xb[flip] = xb[flip].flip(-1)
        yb = yb + flip.long() * self.n_cls
        ang = torch.from_numpy(rng.uniform(-0.15, 0.15, B)).float()
        sc = torch.from_numpy(rng.uniform(0.8, 1.1, B)).float()
        tx = torch.from_numpy(rng.uniform(-0.1, 0.1, (B, 2))).float()
        theta = torch.zeros(B, 2, 3)
        theta[:, 0, 0] = sc * torch.cos(ang)
        theta[:, 0, 1] = -sc * torch.sin(ang)
        theta[:, 1, 0] = sc * torch.sin(ang)
        theta[:, 1, 1] = sc * torch.cos(ang)
        theta[:, :, 2] = tx
        grid = F.affine_grid(theta, xb.shape, align_corners=False)
        xb = F.grid_sample(xb, grid, padding_mode="border", align_corners=False)
        gain = torch.from_numpy(rng.uniform(0.7, 1.3, (B, 1, 1, 1))).float()
        cast = torch.from_numpy(rng.uniform(0.9, 1.1, (B, 3, 1, 1))).float()
        xb = (xb - 128) * torch.from_numpy(rng.uniform(0.75, 1.25, (B, 1, 1, 1))).float() + 128
        xb = xb * gain * cast
        grey = torch.from_numpy(rng.random(B) < 0.2)
        xb[grey] = xb[grey].mean(1, keepdim=True).expand(-1, 3, -1, -1)
        xb = xb.clamp(0, 255)
        return ((xb - self.mean) / self.std).contiguous(memory_format=torch.channels_last), yb


class _Batches:
    """One epoch's batches. arcface: a shuffled pass; triplet: P classes x K photos (repeats
    are augmented differently), so that every batch holds positives to learn from."""

    def __init__(self, rng, y, n_cls, n, batch_size, steps, loss, per_class):
        self.rng, self.n_cls, self.n, self.batch_size, self.steps = rng, n_cls, n, batch_size, steps
        self.loss, self.per_class = loss, per_class
        self.by_class = [np.nonzero(y == c)[0] for c in range(n_cls)]

    def __call__(self) -> list:
        rng, bs = self.rng, self.batch_size
        if self.loss == "arcface":
            perm = rng.permutation(self.n)
            return [perm[b * bs:(b + 1) * bs] for b in range(self.steps)]
        P = max(2, bs // self.per_class)
        order = rng.permutation(self.n_cls)
        out = []
        for b in range(self.steps):
            cls = order[(b * P) % self.n_cls: (b * P) % self.n_cls + P]
            if len(cls) < 2:
                cls = rng.choice(self.n_cls, P, replace=False)
            out.append(np.concatenate([rng.choice(self.by_class[c], self.per_class,
                                                  replace=len(self.by_class[c]) < self.per_class) for c in cls]))
        return out


class _ArcFace:
    """ArcFace: an angular margin added to the true class's cosine."""

    def __init__(self, W, n_cls: int, margin: float, scale: float):
        self.W, self.n_cls, self.scale = W, n_cls, scale
        self.cos_m, self.sin_m = math.cos(margin), math.sin(margin)

    def __call__(self, f, yb):
        import torch.nn.functional as F
        cos = F.linear(F.normalize(f), F.normalize(self.W)).clamp(-1 + 1e-6, 1 - 1e-6)
        sin = (1 - cos.pow(2)).sqrt()
        phi = cos * self.cos_m - sin * self.sin_m
        onehot = F.one_hot(yb, 2 * self.n_cls).float()
        logits = self.scale * (onehot * phi + (1 - onehot) * cos)
        return F.cross_entropy(logits, yb)


def _triplet(margin: float):
    """Batch-hard triplet loss on cosine distance: hardest positive vs hardest negative."""
    def loss(f, yb):
        import torch
        import torch.nn.functional as F
        z = F.normalize(f)
        d = 1 - z @ z.T
        same = yb[:, None] == yb[None, :]
        eye = torch.eye(len(yb), dtype=torch.bool)
        pos = torch.where(same & ~eye, d, torch.full_like(d, -1)).max(1).values
        neg = torch.where(~same, d, torch.full_like(d, 9)).min(1).values
        ok = (pos >= 0) & (neg < 9)
        return F.relu(pos - neg + margin)[ok].mean() if ok.any() else d.sum() * 0
    return loss


def _train(model, X, Y, aug, plan, step_loss, opt, sched, epochs: int, progress: bool) -> list:
    """The training loop (GeM-pooled features); the mean loss of each epoch."""
    import torch
    from tqdm.auto import tqdm
    log = []
    for ep in range(epochs):
        tot, n = 0.0, 0
        bar = tqdm(plan(), desc=f"adapting, epoch {ep + 1}/{epochs}", disable=not progress, unit="batch")
        for idx in bar:
            idx = torch.from_numpy(np.asarray(idx))
            xb, yb = aug(X[idx], Y[idx])
            feats = model.forward_features(xb)
            f = feats.clamp(min=1e-6).pow(3).mean((2, 3)).pow(1 / 3)
            loss_v = step_loss(f, yb)
            opt.zero_grad()
            loss_v.backward()
            opt.step()
            sched.step()
            tot += float(loss_v.detach()) * len(idx)
            n += len(idx)
            bar.set_postfix(loss=f"{tot / n:.3f}")
        log.append({"epoch": ep + 1, "loss": tot / n})
    model.eval()
    return log


def _save(model, out: Path, backbone: str) -> None:
    from safetensors.torch import save_file
    sd = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    with storage.atomic_path(out) as tmp:
        save_file(sd, str(tmp), metadata={"lynxid": "adapted", "backbone": backbone})
