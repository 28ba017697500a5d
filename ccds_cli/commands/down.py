"""`ccds down`: destroy every workspace of the deployment, regions first, control last."""

from ccds_cli.commands._common import (BreakLockOpt, Outcome, OutputMode, OutputOpt, ParallelismOpt, SpecArg,
                                       StateDirOpt, YesOpt, open_deployment, start)


def run(spec: SpecArg, yes: YesOpt = False, parallelism: ParallelismOpt = 4, break_lock: BreakLockOpt = False,
        output: OutputOpt = OutputMode.text, state_dir: StateDirOpt = None) -> Outcome:
    """Destroy everything the deployment created (keeps the spec, logs and ledger)."""
    from ccds_cli.deployment.flow import plan_and_apply, workspace_dicts
    from ccds_cli.ui import TerminalUI, report

    out = start("down", output)
    dep = open_deployment(spec, state_dir, out)
    with dep.operation("down", {"parallelism": parallelism}, break_lock=break_lock) as op:
        rendered = dep.build()  # current config so destroy-time provider settings are right
        workspaces = [*rendered, *dep.leftovers()]
        flow = plan_and_apply(dep, workspaces, TerminalUI(out, yes), op, parallelism=parallelism, destroy=True,
                              verb="destroy")
    result = {"deployment": dep.name, "operation": op.id, "applied": flow.applied,
              "workspaces": workspace_dicts(flow.results)}

    def human(res, console):
        if flow.declined:
            console.print("Nothing destroyed (declined).")
            return
        report.render_results(f"ccds down {dep.name}", flow.results, console)

    return Outcome(result, human, flow.exit_code)
