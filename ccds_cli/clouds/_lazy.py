"""Import a cloud SDK only when a command needs it, so `ccds --help` stays fast and a missing
optional extra becomes an install hint instead of an ImportError."""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, extra: str) -> ModuleType:
    """Import `module` or raise MissingTool naming the `ccds[<extra>]` extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        from ccds_cli.errors import MissingTool

        raise MissingTool(
            f"the {extra} SDK is not installed (cannot import {module}: {exc})",
            hint=f'pip install "ccds[{extra}]"',
        ) from exc

