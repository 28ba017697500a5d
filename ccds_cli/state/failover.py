"""Placements chosen by `ccds failover`, kept in `.ccds/<name>/failover.json` ({region: alias/region})."""

from __future__ import annotations

import json
import os
from pathlib import Path


def load(path: Path) -> dict[str, str]:
    path = Path(path)
    if not path.is_file():
        return {}
    return {str(k): str(v) for k, v in json.loads(path.read_text()).items()}


def save(path: Path, moved: dict[str, str]) -> None:
    tmp = Path(path).with_suffix(".tmp")
    tmp.write_text(json.dumps(dict(sorted(moved.items())), indent=2) + "\n")
    os.replace(tmp, path)
