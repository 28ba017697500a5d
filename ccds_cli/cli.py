"""Entry point: registers one module per command and maps errors to exit codes in one place."""

from __future__ import annotations

import importlib
import sys

import typer

from ccds_cli import __version__
from ccds_cli.errors import CcdsError, ExitCode

# (command name, module under ccds_cli.commands). Commands export `run`; groups export `app`.
COMMANDS = [
    ("init", "init"),
    ("validate", "validate"),
    ("render", "render"),
    ("plan", "plan"),
    ("up", "up"),
    ("status", "status"),
    ("scale", "scale"),
    ("failover", "failover"),
    ("operate", "operate"),
    ("cost", "cost"),
    ("down", "down"),
    ("doctor", "doctor"),
    ("probe", "probe"),
    ("load", "load"),
    ("events", "events"),
]
GROUPS = [
    ("sm", "sm", "The stream manager service."),
    ("node", "node", "Node-side programs (the agent that heartbeats to the stream manager)."),
]

app = typer.Typer(
    name="ccds",
    help="Deploy and operate a Cross-Cloud Distribution System for real-time live video.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish, PowerShell)
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        print(f"ccds {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Deploy and operate a Cross-Cloud Distribution System for real-time live video."""


def _load(module: str):
    """The command module, or None when this build does not ship it."""
    try:
        return importlib.import_module(f"ccds_cli.commands.{module}")
    except ModuleNotFoundError as exc:
        if exc.name == f"ccds_cli.commands.{module}":
            return None
        raise


def _register() -> None:
    for name, module in COMMANDS:
        mod = _load(module)
        if mod is not None:
            first = (mod.run.__doc__ or "").strip().split("\n")[0] or None
            app.command(name, help=first, short_help=first)(mod.run)  # short_help: never cut with "..."
    for name, module, helptext in GROUPS:
        mod = _load(module)
        if mod is not None:
            app.add_typer(mod.app, name=name, help=helptext)


_register()


def _click_exceptions() -> tuple[tuple[type, ...], tuple[type, ...]]:
    """Usage-error and abort classes of the click that typer runs on: typer >= 0.22 ships its own copy
    (`typer._click`), whose exceptions are not click's (a wrong option was a traceback, exit 1)."""
    import click

    usage = {click.exceptions.ClickException}
    try:
        from typer._click.exceptions import ClickException  # type: ignore[import-not-found]

        usage.add(ClickException)
    except ImportError:
        pass
    return tuple(usage), tuple({click.exceptions.Abort, typer.Abort})


def main(argv: list[str] | None = None) -> None:
    """Run the CLI: the one place a command's Outcome is printed, a CcdsError becomes a message,
    and the process exits with the documented code."""
    from ccds_cli.commands._common import Outcome
    from ccds_cli.output import current

    usage_errors, aborts = _click_exceptions()
    try:
        rv = app(args=argv, prog_name="ccds", standalone_mode=False)
    except usage_errors as exc:  # a wrong command line (usage errors exit 2)
        exc.show()
        sys.exit(exc.exit_code)
    except CcdsError as exc:
        out = current()
        details = None
        diagnostics = getattr(exc, "diagnostics", None)
        if diagnostics is not None:
            details = [d.as_dict() if hasattr(d, "as_dict") else str(d) for d in diagnostics]
        out.error(exc.message, exc.hint, int(exc.exit_code), details)
        sys.exit(int(exc.exit_code))
    except (KeyboardInterrupt, *aborts):
        current().error("interrupted", None, int(ExitCode.INTERRUPTED))
        sys.exit(int(ExitCode.INTERRUPTED))
    if rv == int(ExitCode.INTERRUPTED):  # typer turns a KeyboardInterrupt into Exit(130)
        current().error("interrupted", None, int(ExitCode.INTERRUPTED))
    if isinstance(rv, Outcome):
        current().emit(rv.result, rv.human, ok=rv.ok, exit_code=int(rv.exit_code))
        sys.exit(int(rv.exit_code))
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
