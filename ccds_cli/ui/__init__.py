"""What people see and answer: live progress, result tables, the confirmation prompt.

The deployment layer never prints or asks; it reports through a `FlowUI`. `TerminalUI` is the
one for commands run by people or CI (rich tables at a terminal, plain lines otherwise, a
prompt unless --yes); `QuietUI` is for callers that decided already (the controller).
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

from ccds_cli.errors import BadInput


def progress_for(out: Any, title: str):
    """Live table for people at a terminal; plain lines with keep-alives in CI or for JSON output."""
    from ccds_cli.output import is_ci
    from ccds_cli.ui.progress import Progress

    keepalive = float(os.environ.get("CCDS_KEEPALIVE_SECONDS", "30"))
    return Progress(out.err, live=not out.json and not is_ci(), keepalive=min(keepalive, 30.0), title=title)


def confirm(out: Any, question: str, yes: bool) -> bool:
    """Ask on the terminal unless --yes; refuse to guess when nobody can answer."""
    if yes:
        return True
    if out.json or not sys.stdin.isatty():
        raise BadInput("confirmation needed but there is no terminal to ask", hint="pass --yes (CI) to proceed")
    import typer

    return typer.confirm(question, default=False, err=True)


class TerminalUI:
    """Progress on stderr, the planned changes as a table, a prompt unless `yes`."""

    def __init__(self, out: Any, yes: bool = False):
        self.out = out
        self.yes = yes

    def progress(self, title: str):
        return progress_for(self.out, title)

    def show_plan(self, planned: Sequence[Any]) -> None:
        if not self.out.json:
            from ccds_cli.ui.report import render_plan

            render_plan(list(planned), self.out.err)

    def confirm(self, question: str) -> bool:
        return confirm(self.out, question, self.yes)


class _Silent:
    """A progress sink that keeps nothing (the orchestrator's calls land here)."""

    def __init__(self, log=None):
        self.log = log

    def add(self, name: str) -> None:
        pass

    def phase(self, name: str, phase: str, planned: int | None = None) -> None:
        pass

    def event(self, name: str, event: Any) -> None:
        pass

    def line(self, message: str) -> None:
        if self.log is not None:
            self.log(message)


class QuietUI:
    """For callers that already decided: no prompt, no table; progress lines go to `log`."""

    def __init__(self, log=None):
        self.log = log

    @contextmanager
    def progress(self, title: str) -> Iterator[_Silent]:
        yield _Silent(self.log)

    def show_plan(self, planned: Sequence[Any]) -> None:
        pass

    def confirm(self, question: str) -> bool:
        return True
