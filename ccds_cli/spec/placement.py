"""`provider-alias/region`, parsed once: the spec hands out `Placement`s, everyone else reads
`.alias` and `.region` instead of splitting strings again."""

from __future__ import annotations


class Placement(str):
    """A placement string that knows its parts. It is still a `str` (equal to, hashed and
    serialised as "alias/region"), so the spec's JSON, `failover.json` and comparisons with
    plain strings keep working; a value without both parts has empty ones (the spec checks
    report it with file and line)."""

    __slots__ = ()

    @property
    def alias(self) -> str:
        return self.partition("/")[0]

    @property
    def region(self) -> str:
        return self.partition("/")[2]
