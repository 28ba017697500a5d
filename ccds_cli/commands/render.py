"""`ccds render FILE [--out DIR]`: write the Terraform workspaces without running anything."""

from pathlib import Path
from typing import Annotated

import typer

from ccds_cli.commands._common import OutputMode, OutputOpt, SpecArg, StateDirOpt, start


def run(
    spec: SpecArg,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Directory for the workspaces "
                                                  "(default: .ccds/<name>/workspaces).")] = None,
    output: OutputOpt = OutputMode.text,
    state_dir: StateDirOpt = None,
) -> None:
    """Render Terraform workspaces (main.tf.json + module copy) for every cloud in the spec."""
    from ccds_cli.plan import build_plan
    from ccds_cli.render import render
    from ccds_cli.tf.deploy import Deployment

    out = start("render", output)
    dep = Deployment.open(spec, state_dir)
    for w in dep.loaded.warnings:
        out.warn(str(w))
    if out_dir is None:
        rendered = dep.build()
    else:
        rendered = render(dep.loaded, build_plan(dep.loaded.spec, dep.overrides() or None), out_dir)
    result = [{"workspace": r.name, "path": str(r.path), "cloud": r.cloud, "kind": r.kind, "stage": r.stage}
              for r in rendered]

    def human(res, console):
        from rich.table import Table

        table = Table("workspace", "cloud", "kind", "path", title=f"rendered {len(res)} workspaces")
        for r in res:
            table.add_row(r["workspace"], r["cloud"], r["kind"], r["path"])
        console.print(table)

    out.emit(result, human)
