"""`ccds status`: desired vs actual nodes per region and role, with the cloud's instance states."""

from ccds_cli.commands._common import Outcome, OutputMode, OutputOpt, SpecArg, StateDirOpt, open_deployment, start


def run(spec: SpecArg, output: OutputOpt = OutputMode.text, state_dir: StateDirOpt = None) -> Outcome:
    """Show the deployment's health; exit 4 when anything is missing, stopped or terminated."""
    from ccds_cli import clouds
    from ccds_cli.deployment.health import assess
    from ccds_cli.deployment.manager import manager_view
    from ccds_cli.errors import CcdsError, ExitCode
    from ccds_cli.tf.runner import Terraform

    out = start("status", output)
    dep = open_deployment(spec, state_dir, out)
    statuses = []
    for ws in dep.planned():
        path = dep.workspaces_dir / ws.name
        nodes = []
        tf = Terraform(path, dep.logs_dir / ws.name) if path.is_dir() else None
        if tf is not None and tf.has_state():
            nodes = tf.output().get("nodes") or []
        inventory, note = None, "ok"
        try:
            cfg = dep.loaded.spec.providers[ws.provider_alias]
            inventory = clouds.get(ws.cloud).inventory(cfg, dep.name, [ws.cloud_region], state_dir=dep.root)
        except CcdsError as exc:
            note = f"unavailable: {exc.message}"
        statuses.append(assess(ws.name, ws.cloud, ws.cloud_region, ws.pools, nodes, inventory, note,
                               workspace_tags=list(getattr(ws, "region_keys", []) or [])))
    manager = manager_view(dep.loaded, dep.root)
    healthy = all(s.healthy for s in statuses)
    if manager is not None and (not manager["reachable"] or manager.get("faulty")):
        healthy = False
    for s in statuses:
        if not s.inventory.startswith("ok"):
            out.warn(f"{s.name}: cloud inventory {s.inventory}; showing terraform state only")
    result = {"deployment": dep.name, "healthy": healthy, "workspaces": [s.as_dict() for s in statuses],
              "manager": manager}

    def human(res, console):
        from ccds_cli.ui.table import Column, Table

        table = Table(f"ccds status {dep.name}: " + ("healthy" if healthy else "UNHEALTHY"), [
            Column("workspace", drop=1), Column("region"), Column("role"), Column("desired"), Column("actual"),
            Column("running"), Column("states", atom=False, drop=2), Column("problems", atom=False)])
        for s in statuses:
            for r in s.roles:
                states = ", ".join(sorted({i["state"] for i in r.instances})) or "-"
                table.add_row(s.name, r.region, r.role, r.desired, r.actual, "?" if r.running is None else r.running,
                              states, "; ".join(r.problems))
            for problem in s.problems:
                table.add_row(s.name, "", "", "", "", "", "", problem)
        table.print(console)
        if manager is not None:
            _render_manager(manager, console)

    return Outcome(result, human, 0 if healthy else int(ExitCode.UNHEALTHY))


def _render_manager(m: dict, console) -> None:
    """The stream manager's view: its own node states, streams and viewers."""
    if not m["reachable"]:
        console.print(f"[red]stream manager {m.get('url') or ''} not reachable:[/red] {m.get('error')}")
        return
    states = ", ".join(f"{role}: " + " ".join(f"{st}={n}" for st, n in sorted(by.items()))
                       for role, by in sorted(m["nodes"].items())) or "no nodes registered"
    console.print(f"stream manager {m['url']} ({m['status']}, leader {m['leader']}): {states}")
    slots = m.get("edge_slots") or {}
    line = f"  {m['live_streams']} live stream(s), {m['viewers']} viewer(s)"
    if slots:
        line += (f"; edge slots: {slots['viewers']} watching + {slots['reserved']} reserved of {slots['capacity']}"
                 f" ({slots['free']} free)")
    if m.get("refused_joins"):
        line += f"; [red]{m['refused_joins']} join(s) refused[/red]"
    console.print(line + (f"; [red]FAULT: {', '.join(m['faulty'])}[/red]" if m["faulty"] else ""))
