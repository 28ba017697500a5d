"""`ccds scale FILE REGION ROLE=N ...`: change node counts of one region and apply only its workspace."""

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
    open_deployment,
    start,
)

CountsArg = Annotated[list[str], typer.Argument(help="ROLE=N pairs, e.g. edge=6.", show_default=False)]


def parse_counts(region: str, pairs: list[str], spec) -> dict[tuple[str, str], int]:
    """Validate ROLE=N against the region's pools and their min/max (BadInput → exit 2)."""
    from ccds_cli.errors import BadInput

    if region not in spec.regions:
        raise BadInput(f"unknown region {region!r}", hint="regions in the spec: " + ", ".join(sorted(spec.regions)))
    pools = spec.regions[region].pools
    counts: dict[tuple[str, str], int] = {}
    for pair in pairs:
        role, sep, value = pair.partition("=")
        if not sep or not value.strip().isdigit():
            raise BadInput(f"expected ROLE=N, got {pair!r}", hint="for example: ccds scale ccds.yaml na-east edge=6")
        role = role.strip()
        if role not in pools:
            raise BadInput(f"region {region} has no {role!r} pool", hint="pools: " + ", ".join(sorted(pools)))
        n = int(value)
        pool = pools[role]
        if not pool.min <= n <= pool.max:
            raise BadInput(f"{region} {role}={n} is outside the pool's limits {pool.min}..{pool.max}",
                           hint="change min/max in the spec to go beyond them")
        counts[(region, role)] = n
    return counts


def run(spec: SpecArg, region: RegionArg, counts: CountsArg, yes: YesOpt = False,
        break_lock: BreakLockOpt = False, output: OutputOpt = OutputMode.text, state_dir: StateDirOpt = None) -> Outcome:
    """Set node counts for a region (kept for later `up`s) and apply only that region's workspace."""
    from ccds_cli.deployment.flow import plan_and_apply, workspace_dicts
    from ccds_cli.ui import TerminalUI, report

    out = start("scale", output)
    dep = open_deployment(spec, state_dir, out)
    wanted = parse_counts(region, counts, dep.loaded.spec)
    args = {"region": region, "counts": {role: n for (_, role), n in wanted.items()}}
    with dep.operation("scale", args, break_lock=break_lock) as op:
        rendered = dep.build(counts=wanted)
        selected = dep.select(rendered, [region])
        flow = plan_and_apply(dep, selected, TerminalUI(out, yes), op, parallelism=1)
        if flow.ok:
            dep.remember(counts=wanted)  # only what was applied is kept for later `up`s
    nodes = [n for n in report.nodes_from(flow.results) if n.get("region_key", region) == region]
    result = {"deployment": dep.name, "operation": op.id, "region": region, "counts": args["counts"],
              "applied": flow.applied, "workspaces": workspace_dicts(flow.results), "nodes": nodes}

    def human(res, console):
        if flow.declined:
            console.print("Nothing applied (declined).")
            return
        report.render_results(f"ccds scale {dep.name} {region}", flow.results, console)
        report.render_access(nodes, {}, console)

    return Outcome(result, human, flow.exit_code)
