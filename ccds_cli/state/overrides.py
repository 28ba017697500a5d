"""Node counts set by `ccds scale`, kept in `.ccds/<name>/scale.json` so a later `up` keeps them."""

from __future__ import annotations

import json
import os
from pathlib import Path


def load(path: Path) -> dict[tuple[str, str], int]:
    """{(region_key, role): count}; empty when nothing was scaled."""
    path = Path(path)
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    return {(region, role): int(count) for region, roles in data.items() for role, count in roles.items()}


def save(path: Path, overrides: dict[tuple[str, str], int]) -> None:
    data: dict[str, dict[str, int]] = {}
    for (region, role), count in sorted(overrides.items()):
        data.setdefault(region, {})[role] = count
    tmp = Path(path).with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
