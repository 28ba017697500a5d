"""`ccds validate FILE...`: check specs; every problem with file:line:col, exit 2 on any error."""

from pathlib import Path
from typing import Annotated

import typer

from ccds_cli.commands._common import Outcome, OutputMode, OutputOpt, start


def run(
    files: Annotated[list[Path], typer.Argument(help="Spec files to check.", show_default=False)],
    output: OutputOpt = OutputMode.text,
) -> Outcome:
    """Check spec files the way a careful reviewer would."""
    from ccds_cli.errors import CcdsError, ExitCode, SpecError
    from ccds_cli.spec import load_spec

    out = start("validate", output)
    results, failed = [], []
    for f in files:
        try:
            loaded = load_spec(f)
        except SpecError as exc:
            failed.append(exc)
            results.append({"file": str(f), "ok": False, "errors": [d.as_dict() for d in exc.diagnostics]})
            continue
        except CcdsError as exc:
            failed.append(exc)
            results.append({"file": str(f), "ok": False, "errors": [{"file": str(f), "message": exc.message}]})
            continue
        results.append({"file": str(f), "ok": True, "name": loaded.spec.name,
                        "warnings": [d.as_dict() for d in loaded.warnings]})
        for w in loaded.warnings:
            out.warn(str(w))
    code = ExitCode.BAD_INPUT if failed else ExitCode.OK

    def human(res, console):
        for r in res:
            if r["ok"]:
                console.print(f"[green]ok[/green] {r['file']} ({r['name']})")
        for exc in failed:
            out.err.print(str(exc), markup=False, highlight=False)

    return Outcome(results, human, int(code))
