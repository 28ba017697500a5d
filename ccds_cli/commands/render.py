"""`ccds render FILE [--out DIR]`: write the Terraform workspaces without running anything."""

from pathlib import Path
from typing import Annotated

import typer

from ccds_cli.commands._common import Outcome, OutputMode, OutputOpt, SpecArg, StateDirOpt, open_deployment, start


def run(
    spec: SpecArg,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Directory for the workspaces "
                                                  "(default: .ccds/<name>/workspaces).")] = None,
    output: OutputOpt = OutputMode.text,
    state_dir: StateDirOpt = None,
) -> Outcome:
    """Render Terraform workspaces (main.tf.json + module copy) for every cloud in the spec."""
    out = start("render", output)
    dep = open_deployment(spec, state_dir, out, state=False)
    rendered = dep.build(out_dir=out_dir)  # the deployment's plan: its scale counts and failovers included
    result = [{"workspace": r.name, "path": str(r.path), "cloud": r.cloud, "kind": r.kind, "stage": r.stage}
              for r in rendered]

    def human(res, console):
        from ccds_cli.ui.table import Column, Table

        table = Table(f"rendered {len(res)} workspaces", [Column("workspace"), Column("cloud", drop=1),
                                                           Column("kind", drop=2), Column("path")])
        for r in res:
            table.add_row(r["workspace"], r["cloud"], r["kind"], r["path"])
        table.print(console)

    return Outcome(result, human)
