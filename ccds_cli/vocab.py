"""The words every layer shares, defined once: node roles, node states, engine kinds."""

from __future__ import annotations

from typing import Literal, get_args

# Media roles: what a region's pools run (publishers → origin → relay → edge → viewers;
# transcoders make renditions). Control workspaces also run "manager" and "database" nodes.
Role = Literal["origin", "relay", "edge", "transcoder"]
ROLES: tuple[str, ...] = get_args(Role)

# A node's life in the stream manager: STARTING until its engine answers, INSERVICE while it takes
# traffic, SUNSET when draining (no new viewers), FAULT when heartbeats stop, TERMINATED once gone.
NodeState = Literal["STARTING", "INSERVICE", "SUNSET", "FAULT", "TERMINATED"]

EngineKind = Literal["mediamtx", "nginx-rtmp", "red5pro"]
ENGINE_KINDS: tuple[str, ...] = get_args(EngineKind)
