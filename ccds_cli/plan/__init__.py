"""The deployment plan: what each workspace holds, how many nodes of each role, which rules.

A pure function of the spec (plus `ccds scale` overrides): same input, same plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ccds_cli import clouds, engines
from ccds_cli.plan.capacity import PoolPlan, RegionCapacity, region_capacity
from ccds_cli.plan.firewall import Rule, control_rules, node_rules


@dataclass
class WorkspacePlan:
    name: str  # directory name: "<alias>.<region>" or "control.<alias>.<region>"
    kind: str  # "control" | "region"
    stage: int  # 0 = control (first), 1 = regions
    cloud: str
    provider_alias: str
    cloud_region: str
    region_keys: list[str]
    pools: dict[str, dict[str, int]]  # region_key (or "control") -> role -> count
    rules: dict[str, list[Rule]] = field(default_factory=dict)  # region_key -> rules
    control: dict[str, Any] | None = None  # database / api_port / dns for control workspaces


@dataclass
class DeploymentPlan:
    name: str
    engine: str
    regions: dict[str, RegionCapacity]
    workspaces: list[WorkspacePlan]
    warnings: list[str] = field(default_factory=list)

    def workspace(self, name: str) -> WorkspacePlan:
        for ws in self.workspaces:
            if ws.name == name:
                return ws
        raise KeyError(name)

    def workspace_of_region(self, region_key: str) -> WorkspacePlan:
        for ws in self.workspaces:
            if ws.kind == "region" and region_key in ws.region_keys:
                return ws
        raise KeyError(region_key)

    def node_count(self) -> int:
        return sum(n for ws in self.workspaces for roles in ws.pools.values() for n in roles.values())


def split_placement(value: str) -> tuple[str, str]:
    alias, _, region = value.partition("/")
    return alias, region


def region_placement(spec, key: str, failover_to: dict[str, str] | None = None) -> str:
    """Where a region runs now: its placement, or the failover target `ccds failover` chose."""
    return (failover_to or {}).get(key) or spec.regions[key].placement


def instance_type_for(spec, key: str, role: str, cloud_name: str) -> str:
    """The pool's type on its own cloud; on a failover cloud the closest size that cloud has."""
    region = spec.regions[key]
    pool = region.pools[role]
    home = clouds.get(spec.providers[split_placement(region.placement)[0]].cloud)
    target = clouds.get(cloud_name)
    wanted = pool.instance_type or home.default_instance_type
    if target.name == home.name:
        return wanted
    src = home.instance_type(wanted)
    if src is not None and target.size_for(src.vcpu, src.memory_gb):
        return target.size_for(src.vcpu, src.memory_gb)
    if src is None or not target.instance_types():
        return target.default_instance_type
    candidates = sorted(target.instance_types().values(),
                        key=lambda t: (t.vcpu < src.vcpu, t.memory_gb < src.memory_gb,
                                       abs(t.vcpu - src.vcpu), abs(t.memory_gb - src.memory_gb), t.name))
    return candidates[0].name


def build_plan(spec, overrides: dict[tuple[str, str], int] | None = None,
               viewers: dict[str, int] | None = None, failover_to: dict[str, str] | None = None) -> DeploymentPlan:
    """Plan the deployment. `viewers` replaces traffic.peak_viewers (events, what-ifs);
    `failover_to` moves regions to one of their failover placements."""
    overrides = overrides or {}
    engine = engines.get(spec.engine.kind)
    peak = spec.traffic.peak_viewers if viewers is None else viewers
    all_cidrs = [str(r.network.cidr) for r in spec.regions.values()]
    if spec.control is not None:
        all_cidrs.append(str(spec.control.network.cidr))

    regions: dict[str, RegionCapacity] = {}
    warnings: list[str] = []
    by_ws: dict[tuple[str, str], WorkspacePlan] = {}
    for key in sorted(spec.regions):
        region = spec.regions[key]
        alias, cloud_region = split_placement(region_placement(spec, key, failover_to))
        cloud_name = spec.providers[alias].cloud
        cap = region_capacity(
            key, region, int(peak.get(key, 0)), int(spec.traffic.publishers.get(key, 1)),
            spec.traffic.bitrate_kbps, lambda role: instance_type_for(spec, key, role, cloud_name),
            {role: n for (rk, role), n in overrides.items() if rk == key})
        regions[key] = cap
        warnings += cap.warnings
        ws = by_ws.get((alias, cloud_region))
        if ws is None:
            ws = by_ws[(alias, cloud_region)] = WorkspacePlan(
                f"{alias}.{cloud_region}", "region", 1, cloud_name, alias, cloud_region, [], {})
        ws.region_keys.append(key)
        ws.pools[key] = {role: p.count for role, p in cap.pools.items()}
        cluster = [str(region.network.cidr)] + ([str(spec.control.network.cidr)] if spec.control else [])
        ws.rules[key] = node_rules(engine, sorted(region.pools), spec.security, cluster)

    workspaces: list[WorkspacePlan] = []
    if spec.control is not None:
        ctl = spec.control
        for i, placement in enumerate(ctl.placement):
            alias, cloud_region = split_placement(placement)
            cloud = clouds.get(spec.providers[alias].cloud)
            primary = i == 0
            managed_db = "managed_database" not in cloud.unsupported and ctl.database.engine == "postgres"
            db_vm = primary and ctl.database.engine == "postgres" and not managed_db
            pools = {"manager": ctl.stream_managers}
            if db_vm:
                pools["database"] = 1
            # The primary goes first (its outputs: manager URL, database address); other control
            # placements need the primary's database, so they run beside the regions.
            ws = WorkspacePlan(f"control.{alias}.{cloud_region}", "control", 0 if primary else 1, cloud.name,
                               alias, cloud_region, ["control"], {"control": pools})
            ws.rules["control"] = control_rules(spec.security, ctl.api_port, all_cidrs, db_vm)
            ws.control = {
                "primary": primary,
                "database": primary and ctl.database.engine == "postgres",
                "database_vm": db_vm,
                "api_port": ctl.api_port,
                "dns_zone": ctl.dns_zone or "",
                "dns_name": spec.security.tls.domain if (spec.security.tls and ctl.dns_zone) else "",
            }
            workspaces.append(ws)
    workspaces += [by_ws[k] for k in sorted(by_ws)]
    return DeploymentPlan(spec.name, engine.kind, regions, workspaces, warnings)


__all__ = ["DeploymentPlan", "WorkspacePlan", "PoolPlan", "RegionCapacity", "Rule", "build_plan"]
