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

    @classmethod
    def of(cls, alias: str, region: str) -> "Placement":
        return cls(f"{alias}/{region}")

    @property
    def well_formed(self) -> bool:
        alias, sep, region = self.partition("/")
        return bool(sep and alias and region and "/" not in region)
