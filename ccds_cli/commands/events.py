"""`ccds events`: the deployment's ledger, newest operation first."""

from typing import Annotated

import typer

from ccds_cli.commands._common import Outcome, OutputMode, OutputOpt, SpecArg, StateDirOpt, open_deployment, start

LimitOpt = Annotated[int, typer.Option("--limit", "-n", min=1, max=10000, help="Operations to show.")]


def run(spec: SpecArg, limit: LimitOpt = 20, output: OutputOpt = OutputMode.text,
        state_dir: StateDirOpt = None) -> Outcome:
    """Show who ran what and when, with each workspace's result and every retry."""
    out = start("events", output)
    dep = open_deployment(spec, state_dir, out, state=False)
    from ccds_cli.errors import CcdsError

    try:
        dep.pull_shared()  # what other runners (a controller on a VM) recorded
    except CcdsError as exc:
        out.warn(f"this machine's ledger only: {exc.message}")
    operations = dep.ledger().operations(limit=limit)

    def human(ops, console):
        from ccds_cli.ui.table import Column, Table

        if not ops:
            console.print(f"No operations recorded for {dep.name} yet.")
            return
        table = Table(f"ccds events {dep.name}", [
            Column("id"), Column("command"), Column("who", drop=3), Column("started"), Column("finished", drop=2),
            Column("result"), Column("spec", drop=4), Column("workspaces", atom=False, drop=1)])
        for op in ops:
            ws = ", ".join(f"{w['workspace']}={w['result']}" for w in op["workspaces"])
            table.add_row(op["id"], op["command"], f"{op['user']}@{op['host']}", op["started"],
                          op["finished"] or "-", op["result"], (op["spec_sha256"] or "")[:12], ws)
        table.print(console)
        for op in ops:
            for ev in op["events"]:
                where = f" {ev['workspace']}" if ev["workspace"] else ""
                console.print(f"#{op['id']} {ev['at']} {ev['kind']}{where}: {ev['message']}", markup=False,
                              highlight=False)
            if op.get("error"):
                console.print(f"#{op['id']} error: {op['error']}", markup=False, highlight=False)

    return Outcome({"deployment": dep.name, "operations": operations}, lambda res, c: human(res["operations"], c))
