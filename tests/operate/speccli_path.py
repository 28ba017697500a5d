"""`run_ccds` from tests/spec (the real console script in a subprocess)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "spec"))

from speccli import run_ccds  # noqa: E402,F401
