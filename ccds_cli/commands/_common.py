"""What every command shares: its options (as Annotated types typer reads), the result it hands
back to `cli.main` (the one place that prints it and exits), and opening a spec with its warnings."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Callable

import typer


class OutputMode(str, Enum):
    text = "text"
    json = "json"


SpecArg = Annotated[Path, typer.Argument(help="Deployment spec (ccds.yaml).", show_default=False)]
OutputOpt = Annotated[OutputMode, typer.Option("--output", "-o", help="text for people, json for machines.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (CI).")]
StateDirOpt = Annotated[
    Path | None,
    typer.Option("--state-dir", envvar="CCDS_STATE_DIR",
                 help="Where .ccds/<name>/ lives (default: .ccds next to the spec)."),
]
ParallelismOpt = Annotated[int, typer.Option("--parallelism", "-p", min=1, max=64,
                                             help="Region workspaces applied at once.")]
TargetOpt = Annotated[list[str] | None, typer.Option("--target", "-t",
                                                     help="Only these region keys (repeatable; 'control' too).")]
FailFastOpt = Annotated[bool, typer.Option("--fail-fast", help="Stop starting workspaces after the first failure.")]
BreakLockOpt = Annotated[bool, typer.Option("--break-lock", help="Break a stale lock left by a dead ccds run.")]
RegionArg = Annotated[str, typer.Argument(help="Region key from the spec.", show_default=False)]


@dataclass
class Outcome:
    """A command's answer: `cli.main` emits it (JSON envelope or `human(result, console)`) and
    exits with `exit_code`."""

    result: Any
    human: Callable[[Any, Any], None] | None = None
    exit_code: int = 0

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def start(command: str, output: OutputMode):
    """Set up the Output for this command and return it."""
    from ccds_cli.output import Output, set_current

    return set_current(Output(mode=output.value, command=command))


def show_warnings(out, loaded) -> None:
    for warning in loaded.warnings:
        out.warn(str(warning))


def manager_for(spec: Path, state_dir: Path | None, manager: str | None) -> tuple[str, str | None]:
    """The stream manager URL and admin token `probe` and `load` use: --manager wins over the
    deployment state, CCDS_ADMIN_TOKEN over the state's token (which only adds the manager's own
    view to a report: --manager alone is enough)."""
    import os

    from ccds_cli.deployment.manager import manager_access
    from ccds_cli.errors import BadInput, CcdsError

    token = os.environ.get("CCDS_ADMIN_TOKEN")
    if manager is None:
        manager, state_token, name = manager_access(spec, state_dir)
        if not manager:
            raise BadInput(f"deployment {name} is not up: its state has no stream manager URL",
                           hint="run `ccds up FILE` first, or pass --manager URL")
        return manager, token or state_token
    if token is None:
        try:
            token = manager_access(spec, state_dir)[1]
        except CcdsError:
            token = None
    return manager, token


def blocked(dep) -> dict[str, dict]:
    """The placements `ccds operate` blocked (failed there recently), still in force."""
    from ccds_cli.operate.state import blocked_placements

    return blocked_placements(dep.root)


def describe_block(placement: str, entry: dict) -> str:
    from ccds_cli.operate.state import iso

    return f"{placement} is blocked until {iso(entry['until'])} ({entry.get('reason') or 'no reason given'})"


def open_deployment(spec: Path, state_dir: Path | None, out, *, state: bool = True):
    """The deployment of a spec, its warnings shown (every command that loads a spec says them).
    `state`: the command runs terraform, so the state backend must be reachable (checked here)."""
    from ccds_cli.deployment import Deployment, connect_state_backend

    dep = Deployment.open(spec, state_dir)
    show_warnings(out, dep.loaded)
    if state:
        connect_state_backend(dep.loaded)
        dep.pull_shared()  # what other runners (a controller elsewhere, CI) decided
    return dep
