"""`ccds plan FILE`: the capacity plan, the workspaces and their firewall rules, and a
`terraform plan` per workspace where its provider can be installed."""

from typing import Annotated, Any

import typer

from ccds_cli.commands._common import Outcome, OutputMode, OutputOpt, SpecArg, StateDirOpt, open_deployment, start

PROVIDER_MISSING = ("Failed to query available provider packages", "Failed to install provider",
                    "Inconsistent dependency lock file", "could not connect to registry",
                    "Provider registry", "provider registry")


def run(
    spec: SpecArg,
    terraform: Annotated[bool, typer.Option("--terraform/--no-terraform",
                                            help="Also run terraform init + plan per workspace.")] = True,
    parallelism: Annotated[int, typer.Option("--parallelism", "-p", min=1, max=64)] = 4,
    output: OutputOpt = OutputMode.text,
    state_dir: StateDirOpt = None,
) -> Outcome:
    """Show the capacity plan and what terraform would change in each workspace."""
    out = start("plan", output)
    dep = open_deployment(spec, state_dir, out)
    rendered = dep.build()
    plan = dep.plan
    for w in plan.warnings:
        out.warn(w)
    result: dict[str, Any] = {"deployment": dep.name, **plan_summary(dep.loaded.spec, plan)}
    tf_rows: list[dict[str, Any]] = []
    if terraform:
        tf_rows = terraform_plans(dep, rendered, parallelism, out)
    result["terraform"] = tf_rows
    failed = [r for r in tf_rows if r["result"] == "failed"]

    def human(res, console):
        render_capacity(res, console)
        if tf_rows:
            from ccds_cli.ui.table import Column, Styled, Table

            table = Table("terraform plan", [Column("workspace"), Column("add"), Column("change"),
                                             Column("destroy"), Column("notes", atom=False, drop=1)])
            for r in tf_rows:
                p = r["planned"]
                color = {"failed": "red", "unavailable": "yellow"}.get(r["result"], "")
                table.add_row(r["workspace"], p["add"], p["change"], p["destroy"], Styled(r.get("note") or "", color))
            table.print(console)

    return Outcome(result, human, 1 if failed else 0)


def plan_summary(spec, plan) -> dict[str, Any]:
    regions = {}
    for key, cap in plan.regions.items():
        regions[key] = {
            "viewers": cap.viewers, "publishers": cap.publishers, "egress_gbps": cap.egress_gbps,
            "pools": {role: {"count": p.count, "needed": p.needed, "min": p.min, "max": p.max,
                             "capacity": p.capacity, "instance_type": p.instance_type, "reason": p.reason}
                      for role, p in cap.pools.items()},
        }
    workspaces = [{
        "workspace": ws.name, "kind": ws.kind, "stage": ws.stage, "cloud": ws.cloud, "provider": ws.provider_alias,
        "region": ws.cloud_region, "pools": ws.pools,
        "firewall": {k: [r.as_tf() for r in rules] for k, rules in ws.rules.items()},
    } for ws in plan.workspaces]
    return {"engine": plan.engine, "nodes": plan.node_count(), "regions": regions, "workspaces": workspaces,
            "warnings": plan.warnings}


def terraform_plans(dep, rendered, parallelism: int, out) -> list[dict[str, Any]]:
    """init + plan each workspace; a provider that cannot be installed is reported, not fatal."""
    from ccds_cli.errors import MissingTool
    from ccds_cli.ui import progress_for
    from ccds_cli.tf.orchestrate import Orchestrator, forward_signals
    from ccds_cli.tf.runner import ProcessRegistry, find_binary

    try:
        find_binary()
    except MissingTool as exc:
        out.warn(f"{exc.message}; showing the capacity plan only")
        return []
    registry = ProcessRegistry()
    # The regions' variables come from the deployed control plane, exactly as `up` gives them:
    # without them every node would look replaced.
    orch = Orchestrator(rendered, log_root=dep.logs_dir, secrets=dep.secrets(), parallelism=parallelism,
                        registry=registry, stage_env=dep.control_env)
    with dep.operation("plan", {}) as op, progress_for(out, f"{dep.name}: plan") as progress, \
            forward_signals(registry, progress):
        orch.progress = progress
        for ws in rendered:
            progress.add(ws.name)
        results = orch.plan()
        op.record(results)
        op.result = "ok"
    rows = []
    for r in results:
        row = {"workspace": r.name, "cloud": r.cloud, "result": r.result, "planned": r.planned, "log": r.log}
        if r.result == "failed":
            text = " ".join([r.error or ""] + [str(d.get("summary", "")) + " " + str(d.get("detail", ""))
                                                for d in r.diagnostics])
            if any(marker in text for marker in PROVIDER_MISSING):
                row["result"] = "unavailable"
                row["note"] = (f"the {r.cloud} provider could not be installed here (no registry access or "
                               f"mirror); see {r.log}")
            else:
                row["note"] = (r.error or "failed")[:300]
        rows.append(row)
    return rows


def render_capacity(res: dict[str, Any], console) -> None:
    from ccds_cli.ui.table import Column, Styled, Table

    table = Table(f"capacity plan ({res['engine']}, {res['nodes']} nodes)", [
        Column("region"), Column("role"), Column("nodes"), Column("needed", drop=2), Column("min-max", drop=3),
        Column("per node", drop=4), Column("type", drop=5), Column("why", atom=False, drop=1)])
    for key, reg in res["regions"].items():
        for role, p in reg["pools"].items():
            table.add_row(key, role, p["count"], p["needed"], f"{p['min']}-{p['max']}", p["capacity"],
                          p["instance_type"], p["reason"])
        table.add_row(key, Styled("egress", "dim"), "", "", "", "", "", f"{reg['egress_gbps']} Gbit/s at peak")
    table.print(console)
    ws_table = Table("workspaces", [Column("workspace"), Column("stage", drop=3), Column("cloud", drop=2),
                                    Column("region"), Column("pools", atom=False, drop=1),
                                    Column("firewall rules", drop=4)])
    for ws in res["workspaces"]:
        pools = "; ".join(f"{k}: " + ", ".join(f"{r}={n}" for r, n in roles.items()) for k, roles in ws["pools"].items())
        rules = sum(len(v) for v in ws["firewall"].values())
        ws_table.add_row(ws["workspace"], ws["stage"], ws["cloud"], ws["region"], pools, rules)
    ws_table.print(console)
