"""One look at the deployment: the stream managers (nodes, load, demand), the cloud inventory and
the deployment's own state (desired counts, current placements), as an `Observation`.

Each source can fail on its own: a manager that does not answer gives `manager_ok=False`, a cloud
whose API fails gives that region's `cloud_error`; the policy knows what it may still decide then.

A node Terraform's state holds that an answering cloud does not list is observed with
`cloud_state="missing"` (reported by the managers or not). Of several instances with one node's
name, the one Terraform tracks (by id) stands for it, else the most alive. Without a control plane
(`cloud_only`) the managers are not read at all: the cloud inventory is the only word on the nodes.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any, Callable

from ccds_cli.operate.model import MISSING, NodeObs, Observation, PoolObs, RegionObs

INDEX_RE = re.compile(r"-(\d+)$")

# (counts {(region, role): n}, placements {region: alias/region}) the deployment holds now
DesiredFn = Callable[[], tuple[dict[tuple[str, str], int], dict[str, str]]]
# (region key, placement) -> instances of the deployment there (raises CcdsError when the API fails)
InventoryFn = Callable[[str, str], list[Any]]
# {region key: {node name: instance id} in the Terraform state of its workspace now, None: unreadable}
TrackedFn = Callable[[], dict[str, dict[str, str] | None]]


def node_index(name: str) -> int | None:
    m = INDEX_RE.search(name)
    return int(m.group(1)) if m else None


def node_load(role: str, n: dict[str, Any]) -> int:
    """What a node carries against its capacity: viewers (with open reservations) or publishers."""
    if role in ("origin", "transcoder"):
        return int(n.get("publishers") or 0)
    return int(n.get("subscribers") or 0) + int(n.get("reserved") or 0)


# Several instances may carry one node's name (a terminated one stays listed for a while after its
# replacement, ~1 h on AWS): the node is the most alive of them, then the newest.
_STATE_RANK = {"running": 0, "pending": 1, "stopped": 3, "terminated": 4}


def pick_instance(instances: list[Any], tracked_id: str | None = None) -> Any:
    """The instance that stands for a node among those with its name: the one Terraform tracks,
    else the most alive, then the newest."""
    exact = [i for i in instances if tracked_id and i.id == tracked_id]
    if exact:
        return exact[0]
    newest = sorted(instances, key=lambda i: str(getattr(i, "launched_at", "") or ""), reverse=True)
    return min(newest, key=lambda i: _STATE_RANK.get(i.state, 2))


def state_nodes(workdir: Path, log_dir: Path) -> list[dict] | None:
    """The root `nodes` output of a workspace's Terraform state ([] before its first apply, None
    when it cannot be read). The local backend's state file is read directly; a remote backend
    is asked through `terraform output`."""
    import json

    from ccds_cli.tf.runner import Terraform

    workdir = Path(workdir)
    if not workdir.is_dir():
        return []
    tf = Terraform(workdir, log_dir)
    if tf.local_backend():
        state_file = workdir / "terraform.tfstate"
        if not state_file.is_file():
            return []
        try:
            outputs = json.loads(state_file.read_text()).get("outputs") or {}
        except (OSError, ValueError):
            return None
        nodes = (outputs.get("nodes") or {}).get("value")
    else:
        try:
            if not tf.has_state():
                return []
            nodes = tf.output().get("nodes")
        except Exception:  # the backend does not answer: nothing is said missing this round
            return None
    return [n for n in nodes if isinstance(n, dict)] if isinstance(nodes, list) else ([] if nodes is None else None)


def desired_from_state(loaded: Any, root: Path) -> DesiredFn:
    """Counts and placements as the deployment layer plans them: the spec plus what `ccds scale`,
    `ccds failover` and the controller applied (kept only once applied)."""

    def desired() -> tuple[dict[tuple[str, str], int], dict[str, str]]:
        from ccds_cli.deployment import Deployment

        plan = Deployment(loaded, Path(root)).make_plan()
        out = {(key, role): p.count for key, cap in plan.regions.items() for role, p in cap.pools.items()}
        return out, {key: str(p) for key, p in plan.placements.items()}

    return desired


def tracked_from_state(loaded: Any, root: Path) -> TrackedFn:
    """The nodes Terraform holds per region, from the state of the workspace the region runs in."""

    def tracked() -> dict[str, dict[str, str] | None]:
        from ccds_cli.deployment import Deployment

        dep = Deployment(loaded, Path(root))
        out: dict[str, dict[str, str] | None] = {}
        for ws in dep.make_plan().workspaces:
            if ws.kind != "region":
                continue
            nodes = state_nodes(dep.workspaces_dir / ws.name, dep.logs_dir / ws.name)
            for key in ws.modules:
                out[key] = None if nodes is None else {
                    str(n.get("name")): str(n.get("id") or "") for n in nodes
                    if n.get("name") and n.get("region_key", key) == key}
        return out

    return tracked


def cloud_inventory(loaded: Any, root: Path) -> InventoryFn:
    """The cloud adapters' inventory of the deployment at a placement."""

    def inventory(key: str, placement: str) -> list[Any]:
        from ccds_cli import clouds

        alias, _, cloud_region = placement.partition("/")
        cfg = loaded.spec.providers[alias]
        return clouds.get(cfg.cloud).inventory(cfg, loaded.spec.name, [cloud_region], state_dir=Path(root))

    return inventory


class Observer:
    def __init__(self, loaded: Any, root: Path, manager: Any | None, *, desired: DesiredFn | None = None,
                 inventory: InventoryFn | None = None, tracked: TrackedFn | None = None,
                 clock: Callable[[], float] = time.time):
        self.loaded, self.root, self.manager = loaded, Path(root), manager
        self.desired = desired or desired_from_state(loaded, root)
        self.inventory = inventory or cloud_inventory(loaded, root)
        self.tracked = tracked or tracked_from_state(loaded, root)
        self.clock = clock

    @property
    def cloud_only(self) -> bool:
        return self.loaded.spec.control is None

    def _manager(self) -> tuple[list[dict], dict[str, dict[str, int]], str | None]:
        if self.cloud_only:
            return [], {}, None  # no manager tracks these nodes: the cloud says which are alive
        if self.manager is None:
            return [], {}, "no stream manager: the deployment has no control plane, or it is not deployed"
        try:
            return list(self.manager.nodes()), dict(self.manager.demand()), None
        except Exception as exc:  # httpx errors, ManagerError: the round goes on without the managers
            return [], {}, f"{type(exc).__name__}: {exc}"

    def observe(self) -> Observation:
        spec = self.loaded.spec
        counts, placements = self.desired()
        try:
            tracked = self.tracked()
        except Exception:  # an unreadable state says nothing missing; the round goes on
            tracked = {}
        nodes, demand, manager_error = self._manager()
        now = self.clock()
        by_region: dict[str, list[dict]] = {}
        for n in nodes:
            by_region.setdefault(n.get("region", ""), []).append(n)
        cache: dict[str, tuple[list[Any], str | None]] = {}
        regions: dict[str, RegionObs] = {}
        for key in sorted(spec.regions):
            placement = placements.get(key, spec.regions[key].placement)
            if placement not in cache:
                try:
                    cache[placement] = (list(self.inventory(key, placement)), None)
                except Exception as exc:
                    cache[placement] = ([], getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}")
            instances, cloud_error = cache[placement]
            regions[key] = self._region(key, placement, counts, by_region.get(key, []), instances, cloud_error,
                                        demand.get(key, {}), tracked.get(key, {}))
        return Observation(now, regions, manager_error is None, manager_error, cloud_only=self.cloud_only)

    def _region(self, key: str, placement: str, counts: dict, mgr_nodes: list[dict], instances: list[Any],
                cloud_error: str | None, demand: dict[str, int], tracked: dict[str, str] | None = None) -> RegionObs:
        spec = self.loaded.spec
        prefix = f"{spec.name}-{key}-"  # every module names nodes <deployment>-<region key>-<pool>-<i>
        alias, _, cloud_region = placement.partition("/")
        here = ("", key, f"{alias}.{cloud_region}")  # tagged by region key, or by workspace (local cloud)
        mine = [i for i in instances if i.name.startswith(prefix) and getattr(i, "workspace", "") in here]
        same_name: dict[str, list[Any]] = {}
        for i in mine:
            same_name.setdefault(i.name, []).append(i)
        ids = tracked or {}
        cloud_by_name = {name: pick_instance(found, ids.get(name)) for name, found in same_name.items()}
        # in Terraform's state, not listed by a cloud that answered: gone from the cloud
        missing = set() if cloud_error is not None else {name for name in ids if name not in cloud_by_name}
        pools: dict[str, PoolObs] = {}
        for role in sorted(spec.regions[key].pools):
            seen: dict[str, NodeObs] = {}
            for n in mgr_nodes:
                if n.get("role") != role:
                    continue
                inst = cloud_by_name.get(n["name"])
                seen[n["name"]] = NodeObs(
                    name=n["name"], role=role, index=node_index(n["name"]), state=n.get("state"),
                    load=node_load(role, n), capacity=int(n.get("capacity") or 0),
                    heartbeat_age=n.get("heartbeat_age"), state_since=n.get("state_changed_at"),
                    cloud_state=inst.state if inst is not None else (MISSING if n["name"] in missing else None))
            for inst in cloud_by_name.values():
                if inst.role == role and inst.name not in seen:
                    seen[inst.name] = NodeObs(name=inst.name, role=role, index=node_index(inst.name), state=None,
                                              cloud_state=inst.state)
            pattern = re.compile(re.escape(f"{prefix}{role}-") + r"\d+$")
            for name in sorted(missing):
                if pattern.match(name) and name not in seen:
                    seen[name] = NodeObs(name=name, role=role, index=node_index(name), state=None, cloud_state=MISSING)
            ordered = sorted(seen.values(), key=lambda x: (x.index if x.index is not None else 1 << 30, x.name))
            pools[role] = PoolObs(role, int(counts.get((key, role), 0)), tuple(ordered))
        return RegionObs(key, placement, pools, {k: int(v) for k, v in demand.items()}, cloud_error)
