"""Reading ccds tags back from what each cloud stores (maps, `key:value` strings, notes)."""

from __future__ import annotations

from typing import Iterable

DEPLOYMENT = "ccds-deployment"
WORKSPACE = "ccds-workspace"
ROLE = "ccds-role"


def from_strings(tags: Iterable[str] | None, sep: str = ":") -> dict[str, str]:
    """`["ccds-role:edge", "web"]` -> `{"ccds-role": "edge"}` (DigitalOcean, Linode, vSphere)."""
    out: dict[str, str] = {}
    for tag in tags or ():
        key, found, value = str(tag).partition(sep)
        if found:
            out[key.strip()] = value.strip()
    return out


def from_lines(text: str | None) -> dict[str, str]:
    """`key=value` lines of a note (the vSphere annotation ccds writes)."""
    return from_strings((text or "").splitlines(), sep="=")


def string_tag(key: str, value: str, limit: int = 255) -> str:
    """The `key:value` string the DigitalOcean/Linode modules write (same character rules)."""
    import re

    return re.sub(r"[^A-Za-z0-9:_-]", "_", f"{key}:{value}")[:limit]


def label_value(value: str) -> str:
    """A value as the GCP module writes labels: lower-case, other characters '-', 63 max."""
    import re

    return re.sub(r"[^a-z0-9_-]", "-", value.lower())[:63]
