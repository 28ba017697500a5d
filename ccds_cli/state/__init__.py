"""Per-deployment state under `.ccds/<name>/`: the lock, the ledger, secrets and scale overrides."""

from __future__ import annotations

from pathlib import Path


def deployment_dir(state_root: Path, name: str) -> Path:
    """`.ccds/<name>/`, created on first use."""
    path = Path(state_root) / name
    path.mkdir(parents=True, exist_ok=True)
    return path
