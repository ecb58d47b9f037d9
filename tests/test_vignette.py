"""The vignette has one source, vignettes/lynxid.Rmd: the R package gets a copy when it is built
or installed (the Makefile's rpkg and check-r targets), and that copy is not kept in git."""
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COPY = "rpkg/vignettes/lynxid.Rmd"


def dry_run(target: str) -> list[str]:
    """The commands ``make TARGET`` would run, without running them."""
    out = subprocess.run(["make", "-n", "-B", target], cwd=ROOT, capture_output=True, text=True, check=True)
    return out.stdout.splitlines()


@pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")
@pytest.mark.parametrize("target, r_command", [("check-r", "R CMD build"), ("rpkg", "R CMD INSTALL")])
def test_the_package_gets_the_vignette_copied_before_it_is_built(target, r_command):
    lines = dry_run(target)
    copy = [i for i, line in enumerate(lines) if f"cp vignettes/lynxid.Rmd {COPY}" in line]
    build = [i for i, line in enumerate(lines) if r_command in line]
    assert copy and build, lines
    assert copy[0] < build[0]


def test_the_copy_is_not_kept_in_git():
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        pytest.skip("not a git checkout")
    tracked = subprocess.run(["git", "ls-files", "--", COPY, "rpkg/vignettes"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.split()
    assert tracked == [], f"{COPY} is made from vignettes/lynxid.Rmd at build time: git rm --cached {COPY}"
    ignored = subprocess.run(["git", "check-ignore", "-q", COPY], cwd=ROOT)
    assert ignored.returncode == 0, f"{COPY} must be in .gitignore"
    assert (ROOT / "vignettes" / "lynxid.Rmd").exists()
