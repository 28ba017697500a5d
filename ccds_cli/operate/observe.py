"""One look at the deployment: the stream managers (nodes, load, demand), the cloud inventory and
the deployment's own state (desired counts, current placements), as an `Observation`.

Each source can fail on its own: a manager that does not answer gives `manager_ok=False`, a cloud
whose API fails gives that region's `cloud_error`; the policy knows what it may still decide then.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any, Callable

from ccds_cli.operate.model import NodeObs, Observation, PoolObs, RegionObs

INDEX_RE = re.compile(r"-(\d+)$")

# (counts {(region, role): n}, placements {region: alias/region}) the deployment holds now
DesiredFn = Callable[[], tuple[dict[tuple[str, str], int], dict[str, str]]]
# (region key, placement) -> instances of the deployment there (raises CcdsError when the API fails)
InventoryFn = Callable[[str, str], list[Any]]


def node_index(name: str) -> int | None:
    m = INDEX_RE.search(name)
    return int(m.group(1)) if m else None


def node_load(role: str, n: dict[str, Any]) -> int:
    """What a node carries against its capacity: viewers (with open reservations) or publishers."""
    if role in ("origin", "transcoder"):
        return int(n.get("publishers") or 0)
    return int(n.get("subscribers") or 0) + int(n.get("reserved") or 0)


def desired_from_state(loaded: Any, root: Path) -> DesiredFn:
    """Counts and placements as the deployment layer plans them: the spec plus what `ccds scale`,
    `ccds failover` and the controller applied (kept only once applied)."""

    def desired() -> tuple[dict[tuple[str, str], int], dict[str, str]]:
        from ccds_cli.deployment import Deployment

        plan = Deployment(loaded, Path(root)).make_plan()
        out = {(key, role): p.count for key, cap in plan.regions.items() for role, p in cap.pools.items()}
        return out, {key: str(p) for key, p in plan.placements.items()}

    return desired


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
                 inventory: InventoryFn | None = None, clock: Callable[[], float] = time.time):
        self.loaded, self.root, self.manager = loaded, Path(root), manager
        self.desired = desired or desired_from_state(loaded, root)
        self.inventory = inventory or cloud_inventory(loaded, root)
        self.clock = clock

    def _manager(self) -> tuple[list[dict], dict[str, dict[str, int]], str | None]:
        if self.manager is None:
            return [], {}, "no stream manager: the deployment has no control plane, or it is not deployed"
        try:
            return list(self.manager.nodes()), dict(self.manager.demand()), None
        except Exception as exc:  # httpx errors, ManagerError: the round goes on without the managers
            return [], {}, f"{type(exc).__name__}: {exc}"

    def observe(self) -> Observation:
        spec = self.loaded.spec
        counts, placements = self.desired()
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
                                        demand.get(key, {}))
        return Observation(now, regions, manager_error is None, manager_error)

    def _region(self, key: str, placement: str, counts: dict, mgr_nodes: list[dict], instances: list[Any],
                cloud_error: str | None, demand: dict[str, int]) -> RegionObs:
        spec = self.loaded.spec
        prefix = f"{spec.name}-{key}-"  # every module names nodes <deployment>-<region key>-<pool>-<i>
        alias, _, cloud_region = placement.partition("/")
        here = ("", key, f"{alias}.{cloud_region}")  # tagged by region key, or by workspace (local cloud)
        mine = [i for i in instances if i.name.startswith(prefix) and getattr(i, "workspace", "") in here]
        cloud_by_name = {i.name: i for i in mine}
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
                    cloud_state=None if inst is None else inst.state)
            for inst in mine:
                if inst.role == role and inst.name not in seen:
                    seen[inst.name] = NodeObs(name=inst.name, role=role, index=node_index(inst.name), state=None,
                                              cloud_state=inst.state)
            ordered = sorted(seen.values(), key=lambda x: (x.index if x.index is not None else 1 << 30, x.name))
            pools[role] = PoolObs(role, int(counts.get((key, role), 0)), tuple(ordered))
        return RegionObs(key, placement, pools, {k: int(v) for k, v in demand.items()}, cloud_error)
