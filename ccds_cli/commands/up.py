"""`ccds up`: render the spec and converge every workspace (control first, then regions in parallel);
`--plan DIR` applies a plan saved by `ccds plan FILE --out DIR` instead, exactly."""

from pathlib import Path
from typing import Annotated

import typer

from ccds_cli.commands._common import (
    BreakLockOpt,
    FailFastOpt,
    Outcome,
    OutputMode,
    OutputOpt,
    ParallelismOpt,
    SpecArg,
    StateDirOpt,
    TargetOpt,
    YesOpt,
    blocked,
    describe_block,
    open_deployment,
    start,
)


def refuse_blocked(dep, selected) -> None:
    """A region never goes (back) to a placement on the controller's block list: nothing is applied."""
    from ccds_cli.errors import BadInput

    chosen = {ws.name for ws in selected}
    entries = blocked(dep)
    bad = [(key, place) for key, place in sorted(dep.plan.placements.items())
           if place in entries and dep.plan.workspace_of_region(key).name in chosen]
    if bad:
        raise BadInput("; ".join(f"region {key}: {describe_block(place, entries[place])}" for key, place in bad),
                       hint="move it with `ccds failover FILE REGION`, or clear the entry with "
                            "`ccds operate FILE --unblock ALIAS/REGION` (nothing was applied)")


def resume_controllers(dep) -> None:
    """Take back a `ccds down`'s word to the controllers (they stand by while it is in force)."""
    from ccds_cli.operate import state

    if state.load_memory(dep.root, "deployment").get("down"):
        state.save_memory(dep.root, {}, name="deployment")


def run(spec: SpecArg, yes: YesOpt = False, parallelism: ParallelismOpt = 4, target: TargetOpt = None,
        fail_fast: FailFastOpt = False, break_lock: BreakLockOpt = False, output: OutputOpt = OutputMode.text,
        state_dir: StateDirOpt = None,
        plan_dir: Annotated[Path | None, typer.Option(
            "--plan", help="Apply exactly the plan `ccds plan FILE --out DIR` saved; refuse (exit 2) when the "
                           "spec or any workspace's state changed since.")] = None) -> Outcome:
    """Create or update the deployment: plan, confirm, apply; prints where to publish and play."""
    from ccds_cli.deployment import saved
    from ccds_cli.deployment.flow import plan_and_apply, workspace_dicts
    from ccds_cli.errors import BadInput
    from ccds_cli.ui import TerminalUI, report

    out = start("up", output)
    if plan_dir is not None and target:
        raise BadInput("--plan applies the whole saved plan: it cannot go with --target",
                       hint="save a plan of what you want to apply instead")
    dep = open_deployment(spec, state_dir, out)
    from ccds_cli.nodepkg.check import require  # can the cloud VMs install ccds? (exit 2/5, before any apply)

    for warning in require(dep.loaded):
        out.warn(warning)
    args = {"parallelism": parallelism, "target": target or [], "fail_fast": fail_fast}
    if plan_dir is not None:
        args["plan"] = str(plan_dir)
    with dep.operation("up", args, break_lock=break_lock) as op:
        resume_controllers(dep)
        if plan_dir is not None:
            dep.make_plan()  # what the saved plan must still match; never onto a blocked placement
            refuse_blocked(dep, dep.plan.workspaces)
            flow = saved.apply(dep, plan_dir, TerminalUI(out, yes), op, parallelism=parallelism)
        else:
            rendered = dep.build()
            selected = dep.select(rendered, target)
            refuse_blocked(dep, selected)
            flow = plan_and_apply(dep, selected, TerminalUI(out, yes), op, parallelism=parallelism,
                                  fail_fast=fail_fast)
        for left in dep.leftovers():
            out.warn(f"workspace {left.name} is no longer in the spec but still has resources; "
                     "`ccds down` destroys it")
    nodes = report.nodes_from(flow.results)
    result = {
        "deployment": dep.name,
        "operation": op.id,
        "applied": flow.applied,
        "workspaces": workspace_dicts(flow.results),
        "nodes": nodes,
        "endpoints": {r.name: (r.outputs or {}).get("endpoints") or {} for r in flow.results},
        "access": report.access_urls(nodes, dep.loaded.spec.engine.kind),
        "manager": next((str(((r.outputs or {}).get("endpoints") or {}).get("control", {}).get("api") or "")
                         for r in flow.results if r.kind == "control" and r.stage == 0), "") or None,
    }

    def human(res, console):
        if flow.declined:
            console.print("Nothing applied (declined).")
            return
        report.render_results(f"ccds up {dep.name}", flow.results, console)
        report.render_access(nodes, res["access"], console)
        if res["manager"]:
            api = f"{res['manager'].rstrip('/')}/api/v1/streams/live/<stream>"
            console.print(f"Stream manager: {res['manager']}\n  publishers: POST {api}/publish\n"
                          f"  viewers:    GET  {api}/subscribe", markup=False, highlight=False)

    return Outcome(result, human, flow.exit_code)
