"""The cost model on plain inputs: node groups, egress per region, load balancers, databases.

`estimate()` knows nothing about specs or plans (see `fromspec.py` for that), so it is tested on
hand-made inputs against hand-computed figures. All money is USD per month.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ccds_cli.cost.catalog import HOURS_IN_MONTH, catalog, tiered_cost

CATEGORIES = ("compute", "egress", "load_balancer", "database", "stream_managers")


@dataclass
class NodeGroup:
    """`count` instances of one type, each running `hours` per month."""

    region: str  # spec region key, or "control"
    alias: str
    cloud: str
    cloud_region: str
    role: str  # origin, relay, edge, transcoder, manager, database
    instance_type: str
    count: int
    hours: float
    cfg: Any = None  # the provider alias (OCI flex sizes, private-cloud pricing)
    event: str | None = None


@dataclass
class Placement:
    alias: str
    cloud: str
    cloud_region: str


@dataclass
class ManagedDatabase:
    placement: Placement
    instance_class: str | None
    count: int
    storage_gb: float


@dataclass
class CostInputs:
    deployment: str
    hours_per_month: float
    bitrate_kbps: float
    groups: list[NodeGroup]
    regions: dict[str, Placement]  # spec region key -> where it runs
    egress_gb: dict[str, float]  # spec region key -> GB out to viewers per month
    load_balancers: list[Placement] = field(default_factory=list)
    databases: list[ManagedDatabase] = field(default_factory=list)
    viewer_hours: float = 0.0
    assumptions: list[str] = field(default_factory=list)


def egress_gb(viewers: float, bitrate_kbps: float, hours: float) -> float:
    """GB (10^9 bytes) sent to `viewers` watching at `bitrate_kbps` for `hours`."""
    return viewers * bitrate_kbps * 1000.0 / 8.0 * 3600.0 * hours / 1e9


def _cloud(name: str):
    from ccds_cli import clouds

    return clouds.get(name)


def _line(category: str, region: str, p: Placement | NodeGroup, role: str, item: str, quantity: float,
          unit: str, unit_usd: float | None, usd: float, note: str = "", event: str | None = None) -> dict:
    return {"category": category, "region": region, "provider": p.alias, "cloud": p.cloud,
            "cloud_region": p.cloud_region, "role": role, "item": item, "quantity": round(quantity, 6),
            "unit": unit, "unit_usd": None if unit_usd is None else round(unit_usd, 6), "usd": round(usd, 4),
            "note": note, "event": event}


def compute_lines(groups: list[NodeGroup], warnings: list[str]) -> list[dict]:
    lines = []
    for g in groups:
        if g.count <= 0:
            continue
        cat = catalog(g.cloud)
        cloud = _cloud(g.cloud)
        hourly = cat.hourly(g.instance_type, g.cloud_region, g.cfg, cloud)
        hours = min(g.hours, cat.monthly_cap_hours)
        note = ""
        if hourly is None:
            hourly_v = 0.0
            note = "no price known: counted as 0"
            warnings.append(f"{g.cloud}: no price for instance type {g.instance_type}; counted as 0")
        else:
            hourly_v = hourly
            if cloud.private:
                note = "priced from the alias's pricing (vcpu_hour, gb_month)"
        category = {"manager": "stream_managers", "database": "database"}.get(g.role, "compute")
        lines.append(_line(category, g.region, g, g.role, g.instance_type, g.count * hours, "instance-hour",
                           hourly, g.count * hours * hourly_v, note, g.event))
    return lines


def egress_lines(inputs: CostInputs, extra_gb: dict[str, float] | None = None,
                 groups: list[NodeGroup] | None = None) -> tuple[list[dict], list[dict]]:
    """Egress per region, with tiers (or pooled allowances) applied per provider account."""
    groups = inputs.groups if groups is None else groups
    gb = dict(inputs.egress_gb)
    for k, v in (extra_gb or {}).items():
        gb[k] = gb.get(k, 0.0) + v
    by_alias: dict[str, list[str]] = {}
    for key in sorted(gb):
        by_alias.setdefault(inputs.regions[key].alias, []).append(key)
    lines, accounts = [], []
    for alias, keys in sorted(by_alias.items()):
        place = inputs.regions[keys[0]]
        cat = catalog(place.cloud)
        total_gb = sum(gb[k] for k in keys)
        account = {"provider": alias, "cloud": place.cloud, "gb": round(total_gb, 3), "tiers": [],
                   "allowance_gb": None, "usd": 0.0}
        if not cat.known:
            cost, note = 0.0, "not priced: private or local cloud (your own uplink)"
        elif cat.pooled:
            allowance = sum(g.count * cat.transfer_gb(g.instance_type) * min(g.hours, HOURS_IN_MONTH) / HOURS_IN_MONTH
                            for g in groups if g.alias == alias)
            over = max(0.0, total_gb - allowance)
            cost = over * cat.overage_usd_per_gb
            account["allowance_gb"] = round(allowance, 3)
            account["tiers"] = [{"from_gb": 0.0, "to_gb": allowance, "gb": min(total_gb, allowance),
                                 "usd_per_gb": 0.0, "usd": 0.0},
                                {"from_gb": allowance, "to_gb": None, "gb": over,
                                 "usd_per_gb": cat.overage_usd_per_gb, "usd": cost}]
            note = f"pooled transfer allowance {allowance:,.0f} GB, overage ${cat.overage_usd_per_gb}/GB"
        else:
            cost, account["tiers"] = tiered_cost(total_gb, cat.tiers)
            note = "tiered per account and month"
        account_usd = 0.0
        for key in keys:
            share = gb[key] / total_gb if total_gb else 0.0
            factor = cat.egress_factor(inputs.regions[key].cloud_region)
            usd = cost * share * factor
            account_usd += usd
            rate = usd / gb[key] if gb[key] else None
            lines.append(_line("egress", key, inputs.regions[key], "edge", "internet egress", gb[key], "GB",
                               rate, usd, note + (f"; region rate x{factor:g}" if factor != 1.0 else "")))
        account["usd"] = round(account_usd, 4)
        accounts.append(account)
    return lines, accounts


def control_lines(inputs: CostInputs, warnings: list[str]) -> list[dict]:
    lines = []
    for lb in inputs.load_balancers:
        hourly = catalog(lb.cloud).load_balancer_hour(lb.cloud_region)
        lines.append(_line("load_balancer", "control", lb, "load_balancer", "api load balancer", HOURS_IN_MONTH,
                           "hour", hourly, hourly * HOURS_IN_MONTH))
    for db in inputs.databases:
        name, hourly, storage = catalog(db.placement.cloud).database(db.instance_class, db.placement.cloud_region)
        if hourly is None:
            warnings.append(f"{db.placement.cloud}: no price for database class {name!r}; counted as 0")
        usd = db.count * HOURS_IN_MONTH * (hourly or 0.0) + db.count * db.storage_gb * storage
        lines.append(_line("database", "control", db.placement, "database", f"managed PostgreSQL {name}",
                           db.count * HOURS_IN_MONTH, "instance-hour", hourly, usd,
                           f"{db.count} x {db.storage_gb:g} GB storage at ${storage}/GB-month"))
    return lines


def _sum(lines: list[dict], key: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in lines:
        out[line[key]] = out.get(line[key], 0.0) + line["usd"]
    return {k: round(v, 2) for k, v in sorted(out.items(), key=lambda kv: -kv[1])}


def estimate(inputs: CostInputs, extra_egress_gb: dict[str, float] | None = None) -> dict:
    """The monthly estimate: every line, sums per region / cloud / role / category, the total."""
    warnings: list[str] = []
    lines = compute_lines(inputs.groups, warnings)
    egress, accounts = egress_lines(inputs, extra_egress_gb)
    lines += egress + control_lines(inputs, warnings)
    total = round(sum(line["usd"] for line in lines), 2)
    clouds_used = sorted({line["cloud"] for line in lines} | {p.cloud for p in inputs.regions.values()})
    return {
        "deployment": inputs.deployment,
        "currency": "USD",
        "hours_in_month": HOURS_IN_MONTH,
        "hours_per_month": inputs.hours_per_month,
        "bitrate_kbps": inputs.bitrate_kbps,
        "lines": lines,
        "egress_accounts": accounts,
        "by_region": _sum(lines, "region"),
        "by_cloud": _sum(lines, "cloud"),
        "by_role": _sum(lines, "role"),
        "by_category": {c: round(sum(line["usd"] for line in lines if line["category"] == c), 2)
                        for c in CATEGORIES},
        "total_usd": total,
        "viewer_hours": round(inputs.viewer_hours, 3),
        "usd_per_viewer_hour": round(total / inputs.viewer_hours, 6) if inputs.viewer_hours else None,
        "assumptions": list(inputs.assumptions),
        "warnings": warnings,
        "catalog": {c: {"as_of": catalog(c).as_of or None, "priced": catalog(c).known} for c in clouds_used},
    }
