"""The vignette's source lives in vignettes/; the R package builds an identical copy."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_r_package_vignette_is_the_same_file():
    src = ROOT / "vignettes" / "lynxid.Rmd"
    copy = ROOT / "rpkg" / "vignettes" / "lynxid.Rmd"
    assert copy.read_bytes() == src.read_bytes(), "run: cp vignettes/lynxid.Rmd rpkg/vignettes/lynxid.Rmd"
