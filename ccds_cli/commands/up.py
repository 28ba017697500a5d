"""`ccds up`: render the spec and converge every workspace (control first, then regions in parallel)."""

from typing import Annotated

import typer

from ccds_cli.commands._common import OutputOpt, OutputMode, SpecArg, StateDirOpt, YesOpt, start

ParallelismOpt = Annotated[int, typer.Option("--parallelism", "-p", min=1, max=64,
                                             help="Region workspaces applied at once.")]
TargetOpt = Annotated[list[str] | None, typer.Option("--target", "-t",
                                                     help="Only these region keys (repeatable; 'control' too).")]
FailFastOpt = Annotated[bool, typer.Option("--fail-fast", help="Stop starting workspaces after the first failure.")]
BreakLockOpt = Annotated[bool, typer.Option("--break-lock", help="Break a stale lock left by a dead ccds run.")]


def run(spec: SpecArg, yes: YesOpt = False, parallelism: ParallelismOpt = 4, target: TargetOpt = None,
        fail_fast: FailFastOpt = False, break_lock: BreakLockOpt = False, output: OutputOpt = OutputMode.text,
        state_dir: StateDirOpt = None) -> None:
    """Create or update the deployment: plan, confirm, apply; prints where to publish and play."""
    from ccds_cli.errors import ExitCode
    from ccds_cli.tf import report
    from ccds_cli.tf.deploy import Deployment
    from ccds_cli.tf.flow import plan_and_apply, workspace_dicts

    out = start("up", output)
    dep = Deployment.open(spec, state_dir)
    for warning in dep.loaded.warnings:
        out.warn(str(warning))
    from ccds_cli.nodepkg.check import require  # can the cloud VMs install ccds? (exit 2/5, before any apply)

    for warning in require(dep.loaded):
        out.warn(warning)
    args = {"parallelism": parallelism, "target": target or [], "fail_fast": fail_fast}
    with dep.operation("up", args, break_lock=break_lock) as op:
        rendered = dep.build()
        selected = dep.select(rendered, target)
        for left in dep.leftovers():
            out.warn(f"workspace {left.name} is no longer in the spec but still has resources; "
                     "`ccds down` destroys it")
        flow = plan_and_apply(dep, selected, out, op, yes=yes, parallelism=parallelism, fail_fast=fail_fast)
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
            console.print(f"Stream manager: {res['manager']}  (publishers: POST /api/v1/streams/live/<stream>/publish; "
                          "viewers: GET …/subscribe)")

    failed = flow.failed or [r for r in flow.results if r.result == "skipped"]
    out.emit(result, human, ok=not failed, exit_code=1 if failed else 0)
    if failed:
        raise typer.Exit(int(ExitCode.FAILED))
