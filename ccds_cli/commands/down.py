"""`ccds down`: destroy every workspace of the deployment, regions first, control last."""

import typer

from ccds_cli.commands._common import OutputOpt, OutputMode, SpecArg, StateDirOpt, YesOpt, start
from ccds_cli.commands.up import BreakLockOpt, ParallelismOpt


def run(spec: SpecArg, yes: YesOpt = False, parallelism: ParallelismOpt = 4, break_lock: BreakLockOpt = False,
        output: OutputOpt = OutputMode.text, state_dir: StateDirOpt = None) -> None:
    """Destroy everything the deployment created (keeps the spec, logs and ledger)."""
    from ccds_cli.errors import ExitCode
    from ccds_cli.tf import report
    from ccds_cli.tf.deploy import Deployment
    from ccds_cli.tf.flow import plan_and_apply, workspace_dicts

    out = start("down", output)
    dep = Deployment.open(spec, state_dir)
    with dep.operation("down", {"parallelism": parallelism}, break_lock=break_lock) as op:
        rendered = dep.build()  # current config so destroy-time provider settings are right
        workspaces = [*rendered, *dep.leftovers()]
        flow = plan_and_apply(dep, workspaces, out, op, yes=yes, parallelism=parallelism, destroy=True,
                              verb="destroy")
    result = {"deployment": dep.name, "operation": op.id, "applied": flow.applied,
              "workspaces": workspace_dicts(flow.results)}

    def human(res, console):
        if flow.declined:
            console.print("Nothing destroyed (declined).")
            return
        report.render_results(f"ccds down {dep.name}", flow.results, console)

    failed = [r for r in flow.results if r.result in ("failed", "skipped")]
    out.emit(result, human, ok=not failed, exit_code=1 if failed else 0)
    if failed:
        raise typer.Exit(int(ExitCode.FAILED))
