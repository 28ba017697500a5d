"""Cloud registry: `get(name)` loads `ccds_cli/clouds/<name>.py` (its `CLOUD`) on first use."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ccds_cli.clouds.base import Cloud

NAMES = ("aws", "gcp", "azure", "oci", "digitalocean", "linode", "vsphere", "openstack", "local")
_cache: dict[str, "Cloud"] = {}


def names() -> tuple[str, ...]:
    return NAMES


def get(name: str) -> "Cloud":
    if name not in NAMES:
        from ccds_cli.errors import BadInput

        raise BadInput(f"unknown cloud {name!r}", hint="valid clouds: " + ", ".join(NAMES))
    if name not in _cache:
        _cache[name] = importlib.import_module(f"ccds_cli.clouds.{name}").CLOUD
    return _cache[name]


def all_clouds() -> list["Cloud"]:
    return [get(n) for n in NAMES]
