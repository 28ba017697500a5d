"""The ABR ladder as node agents and stream managers take it on their command line: `720:2500,360:1000`.

The spec's `renditions` field (ccds_cli/spec/models.py) is the user's contract and its validation;
this is the wire form shared by the transcoder (ccds_cli/agent/transcoder.py) and the manager.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_LADDER = "720:2500,360:1000,180:500"
_RUNG_RE = re.compile(r"^(\d{2,4}):(\d{2,6})$")


@dataclass(frozen=True)
class Rung:
    height: int
    kbps: int


def parse_ladder(text: str) -> list[Rung]:
    """`720:2500,360:1000,180:500` -> rungs, highest first. ValueError names the bad part."""
    rungs = []
    for part in (p.strip() for p in text.split(",")):
        m = _RUNG_RE.match(part)
        if not m:
            raise ValueError(f"rendition {part!r} must look like HEIGHT:KBPS (360:1000)")
        height, kbps = int(m.group(1)), int(m.group(2))
        if not (90 <= height <= 2160 and height % 2 == 0 and 100 <= kbps <= 50_000):
            raise ValueError(f"rendition {part!r}: height must be even, 90-2160, and kbps 100-50000")
        rungs.append(Rung(height, kbps))
    if len({r.height for r in rungs}) != len(rungs):
        raise ValueError(f"renditions {text!r} name a height twice")
    return sorted(rungs, key=lambda r: -r.height)
