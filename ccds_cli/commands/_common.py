"""Options shared by every command, as Annotated types (typer reads them)."""

from enum import Enum
from pathlib import Path
from typing import Annotated

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


def start(command: str, output: OutputMode):
    """Set up the Output for this command and return it."""
    from ccds_cli.output import Output, set_current

    return set_current(Output(mode=output.value, command=command))
