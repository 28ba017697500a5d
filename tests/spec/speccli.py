"""Run the real `ccds` console script, the way users and CI jobs do.

Helpers live in a uniquely named module (not conftest) so test directories don't collide.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


def ccds_bin() -> str:
    """The installed console script: beside this interpreter first, else on PATH."""
    beside = Path(sys.executable).parent / "ccds"
    if beside.is_file():
        return str(beside)
    found = shutil.which("ccds")
    if not found:
        raise RuntimeError("the `ccds` console script is not installed (pip install -e .)")
    return found


def run_ccds(args: list[str], cwd: Path | None = None, timeout: int = 120,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`ccds <args>` in a subprocess; a wide, colourless terminal so lines are never wrapped."""
    full_env = dict(os.environ, COLUMNS="400", NO_COLOR="1", TERM="dumb")
    full_env.update(env or {})
    return subprocess.run([ccds_bin(), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=full_env)


def assert_no_traceback(proc: subprocess.CompletedProcess) -> None:
    for stream in (proc.stdout, proc.stderr):
        assert "Traceback" not in stream, stream
