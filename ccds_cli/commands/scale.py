"""`ccds scale FILE REGION ROLE=N ...`: change node counts of one region and apply only its workspace."""

from typing import Annotated

import typer

from ccds_cli.commands._common import OutputOpt, OutputMode, SpecArg, StateDirOpt, YesOpt, start
from ccds_cli.commands.up import BreakLockOpt

RegionArg = Annotated[str, typer.Argument(help="Region key from the spec.", show_default=False)]
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
        break_lock: BreakLockOpt = False, output: OutputOpt = OutputMode.text, state_dir: StateDirOpt = None) -> None:
    """Set node counts for a region (kept for later `up`s) and apply only that region's workspace."""
    from ccds_cli.errors import ExitCode
    from ccds_cli.state import overrides as scale_overrides
    from ccds_cli.tf import report
    from ccds_cli.tf.deploy import Deployment
    from ccds_cli.tf.flow import plan_and_apply, workspace_dicts

    out = start("scale", output)
    dep = Deployment.open(spec, state_dir)
    wanted = parse_counts(region, counts, dep.loaded.spec)
    args = {"region": region, "counts": {role: n for (_, role), n in wanted.items()}}
    with dep.operation("scale", args, break_lock=break_lock) as op:
        previous = dep.overrides()
        scale_overrides.save(dep.scale_file, {**previous, **wanted})
        rendered = dep.build()
        selected = dep.select(rendered, [region])
        try:
            flow = plan_and_apply(dep, selected, out, op, yes=yes, parallelism=1)
        except BaseException:
            scale_overrides.save(dep.scale_file, previous)  # nothing applied: forget the new counts
            raise
        if flow.declined:
            scale_overrides.save(dep.scale_file, previous)
    nodes = [n for n in report.nodes_from(flow.results) if n.get("region_key", region) == region]
    result = {"deployment": dep.name, "operation": op.id, "region": region, "counts": args["counts"],
              "applied": flow.applied, "workspaces": workspace_dicts(flow.results), "nodes": nodes}

    def human(res, console):
        report.render_results(f"ccds scale {dep.name} {region}", flow.results, console)
        report.render_access(nodes, {}, console)

    failed = [r for r in flow.results if r.result in ("failed", "skipped")]
    out.emit(result, human, ok=not failed, exit_code=1 if failed else 0)
    if failed:
        raise typer.Exit(int(ExitCode.FAILED))
