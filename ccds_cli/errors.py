"""One error type and one exit-code enum for the whole tool.

Core code raises `CcdsError` (or a subclass); `cli.main` is the only place that turns it into
an exit code and a message, so no command prints a traceback for bad input.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # an operation ran and failed (terraform error, over budget, probe failed)
    BAD_INPUT = 2  # the spec or the command line is wrong; nothing was changed
    LOCKED = 3  # another mutating command holds the deployment lock
    UNHEALTHY = 4  # status/probe found the deployment unhealthy
    MISSING_TOOL = 5  # terraform, nginx, ffmpeg or a cloud SDK extra is missing
    INTERRUPTED = 130  # Ctrl-C / SIGTERM


class CcdsError(Exception):
    """An error the user can act on. `hint` says how to fix it."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str, *, hint: str | None = None, exit_code: ExitCode | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code


class BadInput(CcdsError):
    exit_code = ExitCode.BAD_INPUT


class SpecError(BadInput):
    """A spec file has one or more problems; `diagnostics` holds every one of them."""

    def __init__(self, diagnostics: list):
        self.diagnostics = diagnostics
        super().__init__("\n".join(str(d) for d in diagnostics))


class Locked(CcdsError):
    exit_code = ExitCode.LOCKED


class MissingTool(CcdsError):
    exit_code = ExitCode.MISSING_TOOL



class Unhealthy(CcdsError):
    """The deployment answered, but not well enough: no manager, no stream through (exit 4)."""

    exit_code = ExitCode.UNHEALTHY
