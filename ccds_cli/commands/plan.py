"""`ccds plan FILE`: the capacity plan, the workspaces and their firewall rules, and a
`terraform plan` per workspace where its provider can be installed; `--out DIR` saves those plans
for `ccds up FILE --plan DIR` (ccds_cli/deployment/saved.py)."""

from pathlib import Path
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
    out_dir: Annotated[Path | None, typer.Option(
        "--out", help="Save every workspace's plan and a manifest in DIR, for `ccds up FILE --plan DIR`.")] = None,
    output: OutputOpt = OutputMode.text,
    state_dir: StateDirOpt = None,
) -> Outcome:
    """Show the capacity plan and what terraform would change in each workspace."""
    from ccds_cli.errors import BadInput

    out = start("plan", output)
    if out_dir is not None and not terraform:
        raise BadInput("--out saves terraform plans: it cannot go with --no-terraform")
    dep = open_deployment(spec, state_dir, out, state=terraform)
    rendered = dep.build()
    plan = dep.plan
    for w in plan.warnings:
        out.warn(w)
    result: dict[str, Any] = {"deployment": dep.name, **plan_summary(dep.loaded.spec, plan)}
    tf_rows: list[dict[str, Any]] = []
    manifest = None
    if terraform:
        tf_rows, manifest = terraform_plans(dep, rendered, parallelism, out, out_dir)
    result["terraform"] = tf_rows
    if manifest is not None:
        result["saved"] = {"dir": str(out_dir), "workspaces": [w["name"] for w in manifest["workspaces"]],
                           "spec_sha256": manifest["spec"]["sha256"]}
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
        if manifest is not None:
            console.print(f"Saved plan: {out_dir} ({len(manifest['workspaces'])} workspaces)\n"
                          f"  apply exactly it with: ccds up {spec} --plan {out_dir}", markup=False, highlight=False)

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


def terraform_plans(dep, rendered, parallelism: int, out, save_to: Path | None = None):
    """init + plan each workspace; a provider that cannot be installed is reported, not fatal
    (unless the plans are to be saved). Returns (rows, the saved plan's manifest or None)."""
    from ccds_cli.deployment import saved
    from ccds_cli.deployment.flow import hook_cloud_lifecycle
    from ccds_cli.errors import MissingTool
    from ccds_cli.tf.orchestrate import Orchestrator, forward_signals
    from ccds_cli.tf.runner import ProcessRegistry, find_binary
    from ccds_cli.ui import progress_for

    try:
        find_binary()
    except MissingTool as exc:
        if save_to is not None:
            raise
        out.warn(f"{exc.message}; showing the capacity plan only")
        return [], None
    registry = ProcessRegistry()
    # The regions' variables come from the deployed control plane, exactly as `up` gives them:
    # without them every node would look replaced.
    orch = Orchestrator(rendered, log_root=dep.logs_dir, secrets=dep.workspace_secrets, parallelism=parallelism,
                        registry=registry, stage_env=dep.control_env)
    hook_cloud_lifecycle(orch, dep.root)  # what `up` would replace, the plan replaces too
    manifest = None
    args = {"out": str(save_to)} if save_to is not None else {}
    with dep.operation("plan", args) as op, progress_for(out, f"{dep.name}: plan") as progress, \
            forward_signals(registry, progress):
        orch.progress = progress
        for ws in rendered:
            progress.add(ws.name)
        results = orch.plan()
        op.record(results)
        if save_to is not None:
            manifest = saved.save(dep, orch, save_to)
            op.event("plan", f"saved to {save_to}")
            changing = [r.name for r in results if r.kind == "control" and sum(r.planned.values())]
            if changing and any(r.kind != "control" for r in results):
                out.warn(f"{', '.join(changing)} will change: the region plans are made against the control "
                         "plane's current outputs; if applying control changes them, `ccds up --plan` stops "
                         "after control and asks for a new plan")
        op.result = "ok"
    rows = []
    for r in results:
        row = {"workspace": r.name, "cloud": r.cloud, "result": r.result, "planned": r.planned, "log": r.log}
        if r.result == "failed":
            text = " ".join([r.error or ""] + [str(d.get("summary", "")) + " " + str(d.get("detail", ""))
                                                for d in r.diagnostics])
            if any(marker in text for marker in PROVIDER_MISSING):
                row["result"] = "unavailable"
                row["note"] = (f"the {r.cloud} provider could not be installed here: "
                               f"{r.error or 'no registry access or mirror'}; see {r.log}")
            else:
                row["note"] = (r.error or "failed")[:300]
        rows.append(row)
    return rows, manifest


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
