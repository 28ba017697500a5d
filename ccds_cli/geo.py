"""Distances for "nearest region" routing.

Nodes register with `--lat/--lon` (the bootstrap takes them from the shipped region list,
`ccds_cli/data/regions.yaml`, through `Cloud.region_info`); the manager places a spec region at the
mean of its nodes' coordinates and ranks regions by great-circle distance.
"""

from __future__ import annotations

import math


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance (haversine); the ranking only needs it monotonic in real distance."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 6371.0 * 2 * math.asin(min(1.0, math.sqrt(h)))
