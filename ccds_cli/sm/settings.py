"""One settings object for the stream manager, filled from the CLI and the environment."""

from __future__ import annotations

import os
import uuid

from pydantic import BaseModel, Field

# Heartbeat window before a silent node is declared FAULT. Agents heartbeat every 2 s by default, so
# 6 s is three missed beats: fast enough for local failure tests, and overridable with
# `ccds sm serve --heartbeat-timeout` (Red5 Pro uses 60 s on clouds).
DEFAULT_HEARTBEAT_TIMEOUT = 6.0


class Settings(BaseModel):
    """Everything `create_app` needs; tests build one directly."""

    database_url: str = "sqlite:///ccds-sm.db"
    admin_token: str = ""
    # HMAC key of the per-node credentials (ccds_cli/sm/auth.py); only managers hold it (CCDS_NODE_KEY).
    node_key: str = ""
    metrics_token: str = ""  # scrape-only bearer token for /metrics (CCDS_METRICS_TOKEN)
    deployment: str | None = None
    heartbeat_timeout: float = DEFAULT_HEARTBEAT_TIMEOUT
    # The least beat interval the managers ask of their agents (every heartbeat answer carries the asked
    # one; None: each agent keeps its own, 2 s by default). An agent beats at the longer of its own and
    # the asked one, so managers can only slow the fleet down. The leader asks for more on its own once
    # the fleet would send over `max_beat_rate` beats/s (`pace.py`); a node is FAULT after
    # max(heartbeat_timeout, 3x the asked interval) of silence, found within one leader poll.
    beat_interval: float | None = None
    max_beat_rate: float = Field(500.0, ge=0, allow_inf_nan=False)
    # A subscribe reserves a viewer slot until the edge's own heartbeat can count the viewer:
    # reservations younger than `connect_grace` survive a heartbeat, all expire after `reservation_ttl`.
    reservation_ttl: float = 20.0
    connect_grace: float = 4.0
    retry_after: int = 2
    auth_url: str | None = None
    auth_timeout: float = 2.0
    # Leader election: how often followers try to take the lock and the leader runs its checks.
    leader_poll: float = 0.5
    instance_id: str = Field(default_factory=lambda: f"{os.uname().nodename}-{os.getpid()}-{uuid.uuid4().hex[:6]}")
    run_background: bool = True  # tests drive `Leader.tick()` themselves
    # Request bodies (ccds_cli/sm/limits.py): public routes (publish, subscribe) carry credentials and a
    # location; token-holding routes at most a heartbeat of MAX_STREAMS_PER_BEAT streams.
    max_body: int = 1 << 20
    max_public_body: int = 16 << 10
    # /docs, /redoc and an unauthenticated /openapi.json: off on real managers (`ccds sm serve --docs`
    # or CCDS_SM_DOCS=1 turn them on); /openapi.json is always served to the admin token.
    docs: bool = False
    # The ABR ladder transcoders publish (spec `renditions`), as (height, kbps) highest first: subscribe
    # answers list the rungs live for the stream as `renditions` with these bitrates.
    renditions: tuple[tuple[int, int], ...] = ((720, 2500), (360, 1000), (180, 500))

    @classmethod
    def from_env(cls, **overrides) -> "Settings":
        """Tokens come from the environment only, never from the command line (ps would show them)."""
        values = {
            "admin_token": os.environ.get("CCDS_ADMIN_TOKEN", ""),
            "node_key": os.environ.get("CCDS_NODE_KEY", ""),
            "metrics_token": os.environ.get("CCDS_METRICS_TOKEN", ""),
            "docs": os.environ.get("CCDS_SM_DOCS", "").lower() in ("1", "true", "yes", "on"),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
