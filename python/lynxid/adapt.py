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

import json
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
    import torch.nn.functional as F
    from tqdm.auto import tqdm

    from .embed import load_backbone
    from .identify import _catalogue_detections
    from .ingest import Issues

    t0 = time.time()
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)
    out = Path(out)
    if out.suffix != ".safetensors":
        raise ValueError("write the adapted weights to a .safetensors file")
    issues = Issues()
    det = _catalogue_detections(dataset, megadetector, 0.2, issues).reset_index(drop=True)
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

    # load_backbone hands out an inference model: make it trainable, then freeze the stem and
    # first blocks (BatchNorm statistics too)
    model.train()
    for p in model.parameters():
        p.requires_grad_(True)
    frozen = [model.conv_stem, model.bn1] + list(model.blocks[:freeze_blocks])
    for m in frozen:
        m.eval()
        for p in m.parameters():
            p.requires_grad_(False)
    train_params = [p for p in model.parameters() if p.requires_grad]
    dim = int(model.num_features)
    W = torch.nn.Parameter(torch.randn(2 * n_cls, dim) * 0.01)   # classes and their mirrors
    opt = torch.optim.AdamW([{"params": train_params, "lr": lr}, {"params": [W], "lr": lr * 10}],
                            weight_decay=1e-4)
    steps_per_epoch = math.ceil(len(X) / batch_size)
    total = epochs * steps_per_epoch
    warm = steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / total))))
    mean = torch.tensor(spec.mean).view(1, 3, 1, 1) * 255
    std = torch.tensor(spec.std).view(1, 3, 1, 1) * 255

    def augment(xb: torch.Tensor, yb: torch.Tensor):
        xb = xb.float()
        B = len(xb)
        # mirror: another pattern, so another class
        flip = torch.from_numpy(rng.random(B) < 0.5)
        xb[flip] = xb[flip].flip(-1)
        yb = yb + flip.long() * n_cls
        # random scale/shift/rotation (affine grid), colour and grey (night infra-red)
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
        return ((xb - mean) / std).contiguous(memory_format=torch.channels_last), yb

    if loss not in ("arcface", "triplet"):
        raise ValueError("loss must be 'arcface' or 'triplet'")
    by_class = [np.nonzero(y == c)[0] for c in range(n_cls)]

    def batches():
        """arcface: a shuffled pass; triplet: P classes x K photos (repeats are augmented
        differently), so that every batch holds positives to learn from."""
        if loss == "arcface":
            perm = rng.permutation(len(X))
            return [perm[b * batch_size:(b + 1) * batch_size] for b in range(steps_per_epoch)]
        P = max(2, batch_size // per_class)
        order = rng.permutation(n_cls)
        out = []
        for b in range(steps_per_epoch):
            cls = order[(b * P) % n_cls: (b * P) % n_cls + P]
            if len(cls) < 2:
                cls = rng.choice(n_cls, P, replace=False)
            out.append(np.concatenate([rng.choice(by_class[c], per_class, replace=len(by_class[c]) < per_class)
                                       for c in cls]))
        return out

    log = []
    step = 0
    cos_m, sin_m = math.cos(margin), math.sin(margin)
    for ep in range(epochs):
        tot, n = 0.0, 0
        plan = batches()
        bar = tqdm(plan, desc=f"adapting, epoch {ep + 1}/{epochs}", disable=not progress, unit="batch")
        for idx in bar:
            idx = torch.from_numpy(np.asarray(idx))
            xb, yb = augment(X[idx], Y[idx])
            feats = model.forward_features(xb)
            f = feats.clamp(min=1e-6).pow(3).mean((2, 3)).pow(1 / 3)
            if loss == "arcface":
                cos = F.linear(F.normalize(f), F.normalize(W)).clamp(-1 + 1e-6, 1 - 1e-6)
                # ArcFace: add an angular margin to the true class
                sin = (1 - cos.pow(2)).sqrt()
                phi = cos * cos_m - sin * sin_m
                onehot = F.one_hot(yb, 2 * n_cls).float()
                logits = scale * (onehot * phi + (1 - onehot) * cos)
                loss_v = F.cross_entropy(logits, yb)
            else:
                # batch-hard triplet on cosine distance: hardest positive vs hardest negative
                z = F.normalize(f)
                d = 1 - z @ z.T
                same = yb[:, None] == yb[None, :]
                eye = torch.eye(len(yb), dtype=torch.bool)
                pos = torch.where(same & ~eye, d, torch.full_like(d, -1)).max(1).values
                neg = torch.where(~same, d, torch.full_like(d, 9)).min(1).values
                ok = (pos >= 0) & (neg < 9)
                loss_v = F.relu(pos - neg + margin)[ok].mean() if ok.any() else d.sum() * 0
            opt.zero_grad()
            loss_v.backward()
            opt.step()
            sched.step()
            step += 1
            tot += float(loss_v.detach()) * len(idx)
            n += len(idx)
            bar.set_postfix(loss=f"{tot / n:.3f}")
        log.append({"epoch": ep + 1, "loss": tot / n})
    model.eval()
    from safetensors.torch import save_file
    sd = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    with storage.atomic_path(out) as tmp:
        save_file(sd, str(tmp), metadata={"lynxid": "adapted", "backbone": backbone})
    record = {"backbone": backbone, "dataset": str(Path(dataset).resolve()), "photos": int(len(X)),
              "individuals": int(det["individual"].nunique()), "classes": int(n_cls), "epochs": epochs,
              "batch_size": batch_size, "lr": lr, "freeze_blocks": freeze_blocks, "image_size": size,
              "margin": margin, "scale": scale, "loss": loss, "seed": seed, "log": log,
              "seconds": round(time.time() - t0, 1), "not_used": issues.table().to_dict("records")}
    storage.write_json(out.with_suffix(".json"), record)
    return record
