"""`ccds failover FILE REGION [--to ALIAS/REGION]`: move a region to one of its failover placements.

Make before break: the region's nodes come up on the target cloud first, then the old placement is
emptied (its workspace re-applied without the region, or destroyed when nothing else lives there).
When the old cloud is down, `--keep-old` skips that step; `ccds up`/`down` clean it up later.
The choice is kept in `.ccds/<name>/failover.json`, so later `up`s keep the region where it is.
"""

from typing import Annotated

import typer

from ccds_cli.commands._common import OutputMode, OutputOpt, SpecArg, StateDirOpt, YesOpt, start
from ccds_cli.commands.up import BreakLockOpt

RegionArg = Annotated[str, typer.Argument(help="Region key from the spec.", show_default=False)]
ToOpt = Annotated[str | None, typer.Option("--to", help="Target placement (alias/region); default: the "
                                                        "first failover target not in use. The region's own "
                                                        "placement fails back.")]
KeepOldOpt = Annotated[bool, typer.Option("--keep-old", help="Do not touch the old placement (its cloud is down).")]


def choose_target(spec, region: str, current: str, to: str | None) -> str:
    from ccds_cli.errors import BadInput

    if region not in spec.regions:
        raise BadInput(f"unknown region {region!r}", hint="regions in the spec: " + ", ".join(sorted(spec.regions)))
    reg = spec.regions[region]
    allowed = [reg.placement, *reg.failover]
    if to is None:
        candidates = [t for t in reg.failover if t != current]
        if not candidates:
            raise BadInput(f"region {region} has no failover target besides {current}",
                           hint=f"add regions.{region}.failover: [alias/region, …] to the spec")
        return candidates[0]
    if to not in allowed:
        raise BadInput(f"{to} is not a placement of region {region}",
                       hint="allowed: " + ", ".join(allowed) + " (failover targets come from the spec)")
    return to


def run(spec: SpecArg, region: RegionArg, to: ToOpt = None, keep_old: KeepOldOpt = False, yes: YesOpt = False,
        break_lock: BreakLockOpt = False, output: OutputOpt = OutputMode.text, state_dir: StateDirOpt = None) -> None:
    """Move a region to another cloud: bring it up there, then empty the old placement."""
    from ccds_cli.errors import ExitCode
    from ccds_cli.state import failover as failover_state
    from ccds_cli.tf import report
    from ccds_cli.tf.deploy import Deployment
    from ccds_cli.tf.flow import plan_and_apply, workspace_dicts

    out = start("failover", output)
    dep = Deployment.open(spec, state_dir)
    s = dep.loaded.spec
    moved = dep.failovers()
    current = moved.get(region) or (s.regions[region].placement if region in s.regions else "")
    target = choose_target(s, region, current, to)
    result = {"deployment": dep.name, "region": region, "from": current, "to": target, "workspaces": []}
    if target == current:
        out.emit(dict(result, applied=False), lambda r, c: c.print(f"{region} already runs on {target}"))
        return
    with dep.operation("failover", {"region": region, "from": current, "to": target}, break_lock=break_lock) as op:
        dep.build()
        old_ws = dep.plan.workspace_of_region(region).name
        new_moved = dict(moved)
        if target == s.regions[region].placement:
            new_moved.pop(region, None)
        else:
            new_moved[region] = target
        failover_state.save(dep.failover_file, new_moved)
        rendered = dep.build()
        new_ws = dep.plan.workspace_of_region(region).name
        op.event("failover", f"{region}: {current} -> {target}")
        up_flow = plan_and_apply(dep, [w for w in rendered if w.name == new_ws], out, op, yes=yes)
        results = list(up_flow.results)
        if up_flow.declined or up_flow.failed:
            failover_state.save(dep.failover_file, moved)  # nothing moved: keep the old placement
            op.result = "declined" if up_flow.declined else "failed"
        elif not keep_old:
            still = [w for w in rendered if w.name == old_ws]  # other regions still live there
            if still:
                results += plan_and_apply(dep, still, out, op, yes=True).results
            else:
                leftover = [w for w in dep.leftovers() if w.name == old_ws]
                if leftover:
                    results += plan_and_apply(dep, leftover, out, op, yes=True, destroy=True,
                                              verb="destroy").results
    failed = [r for r in results if r.result in ("failed", "skipped")]
    result.update(applied=bool(results) and not up_flow.declined, workspaces=workspace_dicts(results),
                  nodes=[n for n in report.nodes_from(results) if n.get("region_key") == region])

    def human(res, console):
        if up_flow.declined:
            console.print("Nothing applied (declined).")
            return
        report.render_results(f"ccds failover {dep.name} {region}: {current} → {target}", results, console)
        if failed and not up_flow.failed:
            console.print(f"[yellow]{region} now runs on {target}, but the old placement {current} could not be "
                          "emptied; re-run `ccds up` or `ccds down` when its cloud answers again.[/yellow]")

    out.emit(result, human, ok=not failed, exit_code=1 if failed else 0)
    if failed:
        raise typer.Exit(int(ExitCode.FAILED))
