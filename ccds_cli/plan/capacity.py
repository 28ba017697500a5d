"""Node counts from traffic: edges carry the audience, origins the publishers, relays the fan-out."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class PoolPlan:
    role: str
    count: int
    min: int
    max: int
    capacity: int
    instance_type: str
    needed: int  # before clamping to min/max
    reason: str


@dataclass
class RegionCapacity:
    viewers: int
    publishers: int
    egress_gbps: float
    pools: dict[str, PoolPlan] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def region_capacity(key: str, region, viewers: int, publishers: int, bitrate_kbps: int,
                    instance_type_of, overrides: dict[str, int] | None = None) -> RegionCapacity:
    """Plan one region for `viewers` concurrent viewers and `publishers` concurrent publishers.

    edges = ceil(viewers / (capacity x scale_out_at)), so a pool starts below its scale-out line;
    relays appear when the edges outnumber what the origins can feed (relay_fanout each).
    `overrides` ({role: count}, from `ccds scale`) win over the computed count within min/max.
    """
    overrides = overrides or {}
    out = RegionCapacity(viewers, publishers, round(viewers * bitrate_kbps / 1e6, 3))
    pools = region.pools
    headroom = region.scale_out_at

    def add(role: str, needed: int, reason: str) -> None:
        pool = pools[role]
        count = clamp(needed, pool.min, pool.max)
        if needed > pool.max:
            out.warnings.append(f"{key}: {role} needs {needed} nodes for {reason} but max is {pool.max}; "
                                f"raise regions.{key}.pools.{role}.max or expect rejected connections")
        if role in overrides:
            count = overrides[role]
            reason = f"set by `ccds scale` (computed {clamp(needed, pool.min, pool.max)})"
        out.pools[role] = PoolPlan(role, count, pool.min, pool.max, pool.capacity, instance_type_of(role),
                                   needed, reason)

    if "edge" in pools:
        per_edge = pools["edge"].capacity * headroom
        add("edge", math.ceil(viewers / per_edge) if viewers else 0,
            f"{viewers} viewers at {pools['edge'].capacity} per edge x {headroom:g}")
    if "origin" in pools:
        per_origin = pools["origin"].capacity * headroom
        add("origin", math.ceil(publishers / per_origin) if publishers else 0,
            f"{publishers} publishers at {pools['origin'].capacity} per origin x {headroom:g}")
    edges = out.pools["edge"].count if "edge" in out.pools else 0
    origins = out.pools["origin"].count if "origin" in out.pools else 0
    fanout = region.relay_fanout
    if "relay" in pools:
        needed = math.ceil(edges / fanout) if edges > max(origins, 1) * fanout else 0
        add("relay", needed, f"{edges} edges, {fanout} per origin/relay")
    elif edges > max(origins, 1) * fanout:
        out.warnings.append(f"{key}: {edges} edges exceed what {origins} origin(s) feed ({fanout} each); "
                            f"add a relay pool to regions.{key}.pools")
    if "transcoder" in pools:
        per = pools["transcoder"].capacity
        add("transcoder", math.ceil(publishers / per) if publishers else 0,
            f"{publishers} publishers at {per} per transcoder")
    return out
