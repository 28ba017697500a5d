"""Desired vs actual: compare the plan, terraform's outputs and the cloud's inventory.

Pure over plain data so it is easy to test: `assess()` takes, per workspace, the planned pool
counts, the `nodes` output and (when the cloud adapter has one) the inventory, and returns rows
per region and role with the problems that make the deployment unhealthy (exit 4): fewer nodes
than desired, tracked instances stopped / terminated / missing, running instances terraform
does not know about (duplicates after an interrupted run).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Sequence

ALIVE = ("running", "pending")


@dataclass
class RoleStatus:
    workspace: str
    region: str
    role: str
    desired: int
    actual: int  # nodes in terraform state (outputs)
    running: int | None  # tracked nodes the cloud reports running/pending; None = no inventory
    instances: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "healthy": self.healthy}


@dataclass
class WorkspaceStatus:
    name: str
    cloud: str
    cloud_region: str
    inventory: str  # "ok" | "unavailable: reason" | "error: reason"
    roles: list[RoleStatus]
    untracked: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems and all(r.healthy for r in self.roles)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "cloud": self.cloud, "cloud_region": self.cloud_region,
                "inventory": self.inventory, "healthy": self.healthy, "problems": self.problems,
                "untracked": self.untracked, "roles": [r.as_dict() for r in self.roles]}


def assess(name: str, cloud: str, cloud_region: str, pools: dict[str, dict[str, int]],
           nodes: Sequence[dict[str, Any]], inventory: Iterable[Any] | None, inventory_note: str = "ok",
           workspace_tags: Iterable[str] = ()) -> WorkspaceStatus:
    """One workspace: `pools` {region_key: {role: desired}}, `nodes` from its output, `inventory`
    a list of InstanceInfo-like objects (None when unavailable)."""
    by_id = None if inventory is None else {i.id: i for i in inventory}
    roles: list[RoleStatus] = []
    keys = {(r, role) for r, counts in pools.items() for role in counts}
    keys |= {(_region(n, pools), str(n.get("role", ""))) for n in nodes}
    for region, role in sorted(keys):
        desired = int(pools.get(region, {}).get(role, 0))
        mine = [n for n in nodes if _region(n, pools) == region and str(n.get("role", "")) == role]
        status = RoleStatus(name, region, role, desired, len(mine), None if by_id is None else 0)
        for node in mine:
            info = {"id": str(node.get("id", "")), "name": str(node.get("name", "")),
                    "public_ip": str(node.get("public_ip", "")), "state": "unknown"}
            if by_id is not None:
                inst = by_id.get(info["id"])
                info["state"] = inst.state if inst is not None else "missing"
                if inst is not None and inst.state in ALIVE:
                    status.running += 1
                else:
                    status.problems.append(f"{info['name'] or info['id']} is {info['state']}")
            status.instances.append(info)
        if len(mine) < desired:
            status.problems.append(f"{len(mine)} of {desired} nodes exist")
        roles.append(status)
    ws = WorkspaceStatus(name, cloud, cloud_region, inventory_note, roles)
    if by_id is not None:
        tracked = {str(n.get("id", "")) for n in nodes}
        tags = set(workspace_tags) | set(pools) | {name}
        for inst in by_id.values():
            if inst.id not in tracked and inst.state in ALIVE and (not inst.workspace or inst.workspace in tags):
                ws.untracked.append({"id": inst.id, "name": inst.name, "role": inst.role, "state": inst.state})
        if ws.untracked:
            ws.problems.append(f"{len(ws.untracked)} running instance(s) not in terraform state "
                               "(left by an interrupted run?)")
    return ws


def _region(node: dict[str, Any], pools: dict[str, dict[str, int]]) -> str:
    region = node.get("region_key")
    if region:
        return str(region)
    return next(iter(pools), "")


def deployment_status(dep: Any) -> tuple[dict[str, Any], list[str]]:
    """One look at a deployment: per workspace the plan vs Terraform's outputs vs the cloud's
    inventory, and the stream manager's own view. Returns (result, warnings); `result["healthy"]`
    is False when anything is missing, stopped, unreachable or FAULT."""
    from ccds_cli import clouds
    from ccds_cli.deployment.manager import manager_view
    from ccds_cli.errors import CcdsError
    from ccds_cli.tf.runner import Terraform

    statuses = []
    dep.ensure_rendered()
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
    warnings = [f"{s.name}: cloud inventory {s.inventory}; showing terraform state only"
                for s in statuses if not s.inventory.startswith("ok")]
    return ({"deployment": dep.name, "healthy": healthy, "workspaces": [s.as_dict() for s in statuses],
             "manager": manager}, warnings)
