"""All user-facing output goes through here: rich for people, one JSON envelope for machines.

Commands return data; they never print directly. `Output` also carries the console objects so
tests can capture them, and knows whether we run in CI (plain lines instead of live views).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Callable

from ccds_cli import __version__

JSON_SCHEMA_VERSION = 1


def _jsonable(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if hasattr(value, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    return str(value)


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False, default=_jsonable)


def is_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes") or not sys.stderr.isatty()


@dataclass
class Output:
    """Where a command's results, warnings and progress go."""

    mode: str = "text"  # "text" | "json"
    command: str = ""
    warnings: list[str] = field(default_factory=list)
    _console: Any = None
    _err: Any = None

    @property
    def json(self) -> bool:
        return self.mode == "json"

    @property
    def console(self):
        if self._console is None:
            from rich.console import Console

            # soft_wrap: a long line is left for the terminal to wrap, never broken by us (a URL
            # cut in two cannot be copied); tables size themselves (ccds_cli/ui/table.py)
            self._console = Console(highlight=False, soft_wrap=True)
        return self._console

    @property
    def err(self):
        if self._err is None:
            from rich.console import Console

            self._err = Console(stderr=True, highlight=False, soft_wrap=True)
        return self._err

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        if not self.json:
            self.err.print(f"[yellow]warning:[/yellow] {message}", markup=True, highlight=False)

    def info(self, message: str) -> None:
        """Progress and chatter: stderr, so stdout stays the result."""
        if not self.json:
            self.err.print(message, highlight=False)

    def emit(self, result: Any, human: Callable[[Any, Any], None] | None = None, *, ok: bool = True,
             exit_code: int = 0) -> None:
        """Print a command's result once: the JSON envelope, or `human(result, console)`."""
        if self.json:
            envelope = {
                "schema": JSON_SCHEMA_VERSION,
                "ccds": __version__,
                "command": self.command,
                "ok": ok,
                "exit_code": exit_code,
                "warnings": self.warnings,
                "result": result,
            }
            sys.stdout.write(dumps(envelope) + "\n")
        elif human is not None:
            human(result, self.console)

    def error(self, message: str, hint: str | None, exit_code: int, details: Any = None) -> None:
        if self.json:
            envelope = {
                "schema": JSON_SCHEMA_VERSION,
                "ccds": __version__,
                "command": self.command,
                "ok": False,
                "exit_code": exit_code,
                "warnings": self.warnings,
                "error": {"message": message, "hint": hint, "details": details},
            }
            sys.stdout.write(dumps(envelope) + "\n")
            return
        from rich.markup import escape

        self.err.print(f"[red]error:[/red] {escape(message)}")
        if hint:
            self.err.print(f"[dim]hint:[/dim] {escape(hint)}")


_current = Output()


def current() -> Output:
    return _current


def set_current(out: Output) -> Output:
    global _current
    _current = out
    return out
