"""Full-size (4000 x 3000) camera-trap JPEGs for the throughput benchmark, made by the simulator.

Rendered at full resolution (not upscaled: an upscaled image compresses, and therefore
decodes, unlike a sensor image), quality 92, ~2 MB each like a 12 MP trail camera's.
Cached in ``benchmarks/_work/jpeg4000`` (about 4 s per image to render the first time).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from _common import WORK

SIZE = (4000, 3000)


def make_jpegs(n: int, seed: int = 7, progress: bool = True) -> pd.DataFrame:
    """``n`` JPEGs of 6 lynx at 4 scenes; returns ``file, path, bbox_x, bbox_y, bbox_w, bbox_h``."""
    from tqdm.auto import tqdm

    from lynxid import storage
    from lynxid.sim_animal import make_individual
    from lynxid.sim_photo import jpeg_bytes, make_scene, render_individual_image
    out = WORK / "jpeg4000"
    table_p = out / f"detections-{seed}.parquet"
    have = pd.read_parquet(table_p) if table_p.exists() else pd.DataFrame()
    if len(have) >= n and all((out / f).exists() for f in have.file[:n]):
        return have.iloc[:n].reset_index(drop=True)
    ss = np.random.SeedSequence(seed)
    s_ind, s_scene, s_img = ss.spawn(3)
    inds = [make_individual(f"L{i + 1:02d}", q) for i, q in enumerate(s_ind.spawn(6))]
    scene_seeds = s_scene.spawn(4)
    scenes = {}
    rng = np.random.default_rng(s_img)
    rows = []
    for i in tqdm(range(n), desc="rendering 4000x3000 JPEGs", disable=not progress):
        k = i % 4
        if k not in scenes:
            scenes[k] = make_scene(scene_seeds[k], SIZE)
        ind = inds[int(rng.integers(len(inds)))]
        flank = "left" if rng.random() < 0.5 else "right"
        img, box = render_individual_image(ind, flank, scenes[k], rng, night=bool(rng.random() < 0.4))
        name = f"IMG_{i:04d}.JPG"
        storage.write_bytes(out / name, jpeg_bytes(img, None, None, 92))
        rows.append(dict(file=name, path=str(out / name), individual=ind.id, flank=flank,
                         bbox_x=box[0], bbox_y=box[1], bbox_w=box[2], bbox_h=box[3]))
    table = pd.DataFrame(rows)
    storage.write_table(table, table_p)
    return table


if __name__ == "__main__":
    import sys
    t = make_jpegs(int(sys.argv[1]) if len(sys.argv) > 1 else 64)
    print(len(t), "images in", WORK / "jpeg4000")
