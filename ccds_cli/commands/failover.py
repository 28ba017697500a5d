"""`ccds failover FILE REGION [--to ALIAS/REGION]`: move a region to one of its failover placements.

Make before break: the region's nodes come up on the target cloud first, then the old placement is
emptied (its workspace re-applied without the region, or destroyed when nothing else lives there).
When the old cloud is down, `--keep-old` skips that step; `ccds up`/`down` clean it up later.
The choice is kept in `.ccds/<name>/failover.json`, so later `up`s keep the region where it is.
"""

from typing import Annotated

import typer

from ccds_cli.commands._common import (
    BreakLockOpt,
    Outcome,
    OutputMode,
    OutputOpt,
    RegionArg,
    SpecArg,
    StateDirOpt,
    YesOpt,
    blocked,
    describe_block,
    open_deployment,
    start,
)

ToOpt = Annotated[str | None, typer.Option("--to", help="Target placement (alias/region); default: the "
                                                        "first failover target not in use. The region's own "
                                                        "placement fails back.")]
KeepOldOpt = Annotated[bool, typer.Option("--keep-old", help="Do not touch the old placement (its cloud is down).")]


def choose_target(spec, region: str, current: str, to: str | None, blocks: dict[str, dict] | None = None) -> str:
    """The placement to move to: `--to`, or the first failover target that is neither the current
    one nor on the controller's block list."""
    from ccds_cli.errors import BadInput

    blocks = blocks or {}
    unblock = "clear it with `ccds operate FILE --unblock ALIAS/REGION` when that cloud is healthy again"
    if region not in spec.regions:
        raise BadInput(f"unknown region {region!r}", hint="regions in the spec: " + ", ".join(sorted(spec.regions)))
    reg = spec.regions[region]
    allowed = [reg.placement, *reg.failover]
    if to is None:
        candidates = [t for t in reg.failover if t != current]
        if not candidates:
            raise BadInput(f"region {region} has no failover target besides {current}",
                           hint=f"add regions.{region}.failover: [alias/region, ...] to the spec")
        usable = [t for t in candidates if t not in blocks]
        if not usable:
            raise BadInput("every failover target of region " + region + " is blocked: "
                           + "; ".join(describe_block(t, blocks[t]) for t in candidates), hint=unblock)
        return usable[0]
    if to not in allowed:
        raise BadInput(f"{to} is not a placement of region {region}",
                       hint="allowed: " + ", ".join(allowed) + " (failover targets come from the spec)")
    if to in blocks and to != current:
        raise BadInput(describe_block(to, blocks[to]), hint=unblock)
    return to


def run(spec: SpecArg, region: RegionArg, to: ToOpt = None, keep_old: KeepOldOpt = False, yes: YesOpt = False,
        break_lock: BreakLockOpt = False, output: OutputOpt = OutputMode.text, state_dir: StateDirOpt = None) -> Outcome:
    """Move a region to another cloud: bring it up there, then empty the old placement."""
    from ccds_cli.deployment.flow import workspace_dicts
    from ccds_cli.deployment.moves import move_region
    from ccds_cli.ui import TerminalUI, report

    out = start("failover", output)
    dep = open_deployment(spec, state_dir, out)
    s = dep.loaded.spec
    moved = dep.failovers()
    current = moved.get(region) or (s.regions[region].placement if region in s.regions else "")
    target = choose_target(s, region, current, to, blocked(dep))
    result = {"deployment": dep.name, "region": region, "from": current, "to": target, "workspaces": []}
    if target == current:
        return Outcome(dict(result, applied=False), lambda r, c: c.print(f"{region} already runs on {target}"))
    with dep.operation("failover", {"region": region, "from": current, "to": target}, break_lock=break_lock) as op:
        up, cleanup = move_region(dep, region, target, TerminalUI(out, yes), op, keep_old=keep_old)
        if not up.ok:
            op.result = "declined" if up.declined else "failed"
    flow = up if cleanup is None else up + cleanup
    result.update(applied=up.applied, workspaces=workspace_dicts(flow.results),
                  nodes=[n for n in report.nodes_from(flow.results) if n.get("region_key") == region])

    def human(res, console):
        if up.declined:
            console.print("Nothing applied (declined).")
            return
        report.render_results(f"ccds failover {dep.name} {region}: {current} → {target}", flow.results, console)
        if cleanup is not None and cleanup.failed:
            console.print(f"[yellow]{region} now runs on {target}, but the old placement {current} could not be "
                          "emptied; re-run `ccds up` or `ccds down` when its cloud answers again.[/yellow]")

    return Outcome(result, human, flow.exit_code)
