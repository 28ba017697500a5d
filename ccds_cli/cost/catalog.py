"""The shipped price catalog (`ccds_cli/data/prices/<cloud>.yaml`) and its look-ups.

Private clouds have no catalog: their price comes from the provider alias's `pricing`
(per vCPU-hour and per GB of memory per month), 0 unless the user gives it.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ccds_cli.paths import DATA_DIR

HOURS_IN_MONTH = 730.0


@dataclass(frozen=True)
class Tier:
    up_to_gb: float | None  # cumulative upper bound; None = no limit
    usd_per_gb: float


class Catalog:
    """One cloud's prices. An empty catalog (private clouds, local) prices everything at 0."""

    def __init__(self, cloud: str, data: dict[str, Any]):
        self.cloud = cloud
        self.data = data
        compute = data.get("compute") or {}
        self.base_region = compute.get("base_region", "")
        self.types: dict[str, dict] = compute.get("types") or {}
        self.region_multipliers: dict[str, float] = compute.get("region_multipliers") or {}
        self.monthly_cap_hours = float(compute.get("monthly_cap_hours") or HOURS_IN_MONTH)
        egress = data.get("egress") or {}
        self.tiers = [Tier(None if t.get("up_to_gb") is None else float(t["up_to_gb"]), float(t["usd_per_gb"]))
                      for t in egress.get("tiers") or []]
        self.pooled = bool(egress.get("pooled"))
        self.overage_usd_per_gb = float(egress.get("overage_usd_per_gb") or 0.0)
        self.egress_multipliers: dict[str, float] = egress.get("region_multipliers") or {}

    @property
    def known(self) -> bool:
        return bool(self.data)

    @property
    def as_of(self) -> str:
        dates = [str(v.get("date")) for v in self.types.values() if v.get("date")]
        return max(dates) if dates else ""

    def region_factor(self, region: str) -> float:
        return float(self.region_multipliers.get(region, 1.0))

    def egress_factor(self, region: str) -> float:
        return float(self.egress_multipliers.get(region, 1.0))

    def hourly(self, instance_type: str, region: str, cfg: Any = None, cloud: Any = None) -> float | None:
        """USD/hour of one instance; None when neither the catalog nor the alias can price it."""
        pricing = getattr(cfg, "pricing", None)
        if pricing is not None and cloud is not None and getattr(cloud, "private", False):
            vcpu, mem = _private_size(instance_type, cloud)
            if vcpu is None:
                return None
            return pricing.vcpu_hour * vcpu + pricing.gb_month * mem / HOURS_IN_MONTH
        row = self.types.get(instance_type)
        if row is None:
            return None
        price = float(row["usd_hour"])
        ocpus, mem = getattr(cfg, "ocpus", None), getattr(cfg, "memory_gbs", None)
        if "usd_ocpu_hour" in row and (ocpus is not None or mem is not None) and cloud is not None:
            info = cloud.instance_type(instance_type)
            per = float(row.get("vcpu_per_ocpu", 2))
            ocpus = ocpus if ocpus is not None else (info.vcpu / per if info else 1)
            mem = mem if mem is not None else (info.memory_gb if info else 16)
            price = float(row["usd_ocpu_hour"]) * ocpus + float(row["usd_gb_hour"]) * mem
        return price * self.region_factor(region)

    def transfer_gb(self, instance_type: str) -> float:
        """Monthly transfer allowance one instance adds to the pool (DigitalOcean, Linode)."""
        return float((self.types.get(instance_type) or {}).get("transfer_gb") or 0.0)

    def load_balancer_hour(self, region: str) -> float:
        lb = self.data.get("load_balancer") or {}
        return float(lb.get("usd_hour") or 0.0) * self.region_factor(region)

    def database(self, instance_class: str | None, region: str) -> tuple[str, float | None, float]:
        """(class, USD/hour or None if unknown, storage USD per GB-month) of managed PostgreSQL."""
        db = self.data.get("database") or {}
        name = instance_class or db.get("default", "")
        row = (db.get("types") or {}).get(name)
        hourly = float(row["usd_hour"]) * self.region_factor(region) if row else None
        return name, hourly, float(db.get("storage_usd_gb_month") or 0.0)


def _private_size(instance_type: str, cloud: Any) -> tuple[float | None, float]:
    """vSphere types are `<vcpus>x<memory_gb>`; OpenStack flavors may be known or `m1.*`-like."""
    info = cloud.instance_type(instance_type)
    if info is not None:
        return info.vcpu, info.memory_gb
    parts = instance_type.lower().split("x")
    if len(parts) == 2:
        try:
            return float(parts[0]), float(parts[1])
        except ValueError:
            pass
    flavors = {"m1.tiny": (1, 0.5), "m1.small": (1, 2), "m1.medium": (2, 4), "m1.large": (4, 8), "m1.xlarge": (8, 16)}
    if instance_type in flavors:
        return flavors[instance_type]
    return None, 0.0


def cache_dir() -> Path:
    """Where `ccds cost --refresh` keeps refreshed prices (they win over the shipped catalog)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ccds" / "prices"


@functools.cache
def catalog(cloud: str) -> Catalog:
    refreshed = cache_dir() / f"{cloud}.yaml"  # written by `ccds cost --refresh`
    path = refreshed if refreshed.is_file() else DATA_DIR / "prices" / f"{cloud}.yaml"
    if not path.is_file():
        return Catalog(cloud, {})
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: 10x faster
    with open(path, encoding="utf-8") as fh:
        return Catalog(cloud, yaml.load(fh, Loader=loader) or {})


def tiered_cost(gb: float, tiers: list[Tier]) -> tuple[float, list[dict]]:
    """Cost of `gb` in one month through cumulative tiers, with the per-tier breakdown."""
    total, lower, parts = 0.0, 0.0, []
    for tier in tiers:
        if gb <= lower:
            break
        upper = gb if tier.up_to_gb is None else min(gb, tier.up_to_gb)
        amount = max(0.0, upper - lower)
        cost = amount * tier.usd_per_gb
        parts.append({"from_gb": lower, "to_gb": tier.up_to_gb, "gb": amount, "usd_per_gb": tier.usd_per_gb,
                      "usd": cost})
        total += cost
        if tier.up_to_gb is None:
            break
        lower = tier.up_to_gb
    return total, parts
