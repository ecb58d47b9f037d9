"""Shared by the example scripts: where they work (one folder, each step reads the last)."""
import os
import sys
from pathlib import Path

# python examples/simulate.py [FOLDER]; or LYNXID_EXAMPLE_DIR; default ./lynxid-example
WORK = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("LYNXID_EXAMPLE_DIR", "lynxid-example"))
SURVEY = WORK / "survey"
CATALOGUE = WORK / "catalogue"
RESULTS = WORK / "results"
PROGRESS = os.environ.get("LYNXID_EXAMPLE_QUIET") != "1"
