"""Step 2: build the catalogue of known individuals from labelled photos (a folder per
individual) and their MegaDetector boxes; the identification model is fitted on it.

    python examples/build_catalogue.py [FOLDER]
"""
import shutil

from _common import CATALOGUE, PROGRESS, SURVEY

import lynxid

shutil.rmtree(CATALOGUE, ignore_errors=True)          # the example always starts afresh
cat = lynxid.build_catalogue(CATALOGUE, SURVEY / "catalogue", megadetector=SURVEY / "catalogue_megadetector.json",
                             progress=PROGRESS)
d = cat.meta["model"]["diagnostics"]
print(cat)
print(f"leave-one-out on the catalogue: known called correctly {d['baks']:.0%}, unknown called new {d['baus']:.0%}")
