"""Parse terraform's `-json` machine-readable UI stream into small typed records.

Terraform writes one JSON object per line (`type`: version, planned_change, apply_start,
apply_complete, apply_errored, change_summary, diagnostic, outputs, ...). Lines that are not
JSON (a crashed provider may print raw text) become `log` events so nothing is lost.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Diagnostic:
    """One terraform error or warning, reduced to what a person needs to act on it."""

    severity: str  # "error" | "warning"
    summary: str
    detail: str = ""
    address: str = ""
    filename: str = ""
    line: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        where = f" ({self.address})" if self.address else ""
        text = f"{self.summary}{where}"
        if self.detail:
            text += f": {self.detail.strip()}"
        return text


@dataclass
class Changes:
    """Counts from a `change_summary` event."""

    add: int = 0
    change: int = 0
    remove: int = 0
    import_: int = 0
    operation: str = ""

    @property
    def total(self) -> int:
        return self.add + self.change + self.remove

    def as_dict(self) -> dict[str, int]:
        return {"add": self.add, "change": self.change, "destroy": self.remove, "import": self.import_}


@dataclass
class Event:
    """One line of the stream. `kind` is terraform's `type`; `address` the resource it is about."""

    kind: str
    message: str = ""
    level: str = "info"
    address: str = ""
    action: str = ""
    raw: dict[str, Any] = field(default_factory=dict)
    diagnostic: Diagnostic | None = None
    changes: Changes | None = None


def parse_line(line: str) -> Event | None:
    """Parse one line of `terraform ... -json` output; None for blank lines."""
    line = line.strip()
    if not line:
        return None
    try:
        obj = json.loads(line)
    except ValueError:
        return Event(kind="log", message=line, level="raw")
    if not isinstance(obj, dict):
        return Event(kind="log", message=line, level="raw")
    kind = str(obj.get("type", "log"))
    event = Event(kind=kind, message=str(obj.get("@message", "")), level=str(obj.get("@level", "info")),
                  raw=obj)
    holder = obj.get("hook") or obj.get("change") or {}
    if isinstance(holder, dict):
        resource = holder.get("resource") or {}
        if isinstance(resource, dict):
            event.address = str(resource.get("addr", ""))
        event.action = str(holder.get("action", ""))
    if kind == "diagnostic":
        event.diagnostic = _diagnostic(obj.get("diagnostic") or {}, obj)
    elif kind == "change_summary":
        c = obj.get("changes") or {}
        event.changes = Changes(add=int(c.get("add", 0)), change=int(c.get("change", 0)),
                                remove=int(c.get("remove", 0)), import_=int(c.get("import", 0)),
                                operation=str(c.get("operation", "")))
    return event


def _diagnostic(d: dict[str, Any], obj: dict[str, Any]) -> Diagnostic:
    rng = d.get("range") or {}
    start = rng.get("start") or {}
    return Diagnostic(
        severity=str(d.get("severity", obj.get("@level", "error"))),
        summary=str(d.get("summary", obj.get("@message", ""))),
        detail=str(d.get("detail", "") or ""),
        address=str(d.get("address", "") or ""),
        filename=str(rng.get("filename", "") or ""),
        line=start.get("line"),
    )


def raw_diagnostic(text: str) -> Diagnostic:
    """A diagnostic for output that was not JSON (stderr text, a crash)."""
    lines = [ln.strip(" │╷╵") for ln in text.strip().splitlines() if ln.strip(" │╷╵")]
    summary = next((ln.removeprefix("Error: ") for ln in lines if ln.startswith("Error:")),
                   lines[0] if lines else "terraform failed")
    return Diagnostic(severity="error", summary=summary, detail="\n".join(lines))
