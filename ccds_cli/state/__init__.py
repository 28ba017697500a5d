"""Per-deployment state under `.ccds/<name>/`: the lock, the ledger, secrets and scale overrides.

The directory is the user's alone (0700) and so is everything in it (0600 files, 0700 directories):
Terraform state holds user data and the instance bootstrap with its secrets, logs hold resource
attributes. Opening a deployment sets this process's umask to 077, so whatever ccds writes afterwards
(ledger, logs, rendered workspaces, saved plans) is private too, and Terraform runs under the same umask
(`ccds_cli/tf/runner.py`) for the state files it writes itself.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077


def deployment_dir(state_root: Path, name: str) -> Path:
    """`.ccds/<name>/`, created on first use, private (0700) and with private files."""
    os.umask(PRIVATE_UMASK)
    root = Path(state_root)
    root.mkdir(parents=True, exist_ok=True, mode=0o700)  # an existing --state-dir is left as it is
    path = root / name
    path.mkdir(exist_ok=True, mode=0o700)
    if stat.S_IMODE(path.stat().st_mode) & 0o077:  # made by an older ccds: close it and what it holds
        make_private(path)
    return path


def make_private(top: Path) -> None:
    """Remove group and other permissions from `top` and everything under it (symlinks are not followed)."""
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        for entry in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
            st = os.lstat(entry)
            if not stat.S_ISLNK(st.st_mode) and stat.S_IMODE(st.st_mode) & 0o077:
                os.chmod(entry, stat.S_IMODE(st.st_mode) & 0o700)
