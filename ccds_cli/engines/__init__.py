"""Engine registry: `get(kind)` loads `ccds_cli/engines/<kind>.py` (its `ENGINE`) on first use,
as the cloud registry does for clouds."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ccds_cli.vocab import ENGINE_KINDS

if TYPE_CHECKING:
    from ccds_cli.engines.base import Engine

_cache: dict[str, "Engine"] = {}


def get(kind: str) -> "Engine":
    if kind not in ENGINE_KINDS:
        from ccds_cli.errors import BadInput

        raise BadInput(f"unknown engine {kind!r}", hint="engines: " + ", ".join(ENGINE_KINDS))
    if kind not in _cache:
        _cache[kind] = importlib.import_module(f"ccds_cli.engines.{kind.replace('-', '_')}").ENGINE
    return _cache[kind]
