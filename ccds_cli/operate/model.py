"""What the controller sees (Observation), what it decides (actions) and what it remembers (Memory).

Plain dataclasses: the policy is a pure function of them, the controller serialises them (memory
to `operate.db`, observations and decisions to `--output json`). Times are UNIX seconds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

LIVE = ("STARTING", "INSERVICE", "SUNSET")  # manager states of a node that still carries load
DEAD_CLOUD_STATES = ("stopped", "terminated")
ALIVE_CLOUD_STATES = ("pending", "running")
MISSING = "missing"  # cloud_state of a node the deployment state has but the cloud, answering, did not list


# --- observation ------------------------------------------------------------------------------

@dataclass(frozen=True)
class NodeObs:
    """One node as the stream managers and the cloud see it (either side may be missing)."""

    name: str
    role: str
    index: int | None  # position in its pool (Terraform removes the highest indices first)
    state: str | None  # manager: STARTING | INSERVICE | SUNSET | FAULT | TERMINATED; None = not registered
    load: int = 0  # edge: subscribers + reservations; origin/transcoder: publishers
    capacity: int = 0
    heartbeat_age: float | None = None
    state_since: float | None = None  # when the manager last changed its state
    # pending | running | stopped | terminated | unknown | missing (the deployment state has it, the
    # cloud answered without it); None = the cloud was not asked or did not answer
    cloud_state: str | None = None

    @property
    def live(self) -> bool:
        return self.state in LIVE

    @property
    def serving(self) -> bool:
        return self.state == "INSERVICE" and (self.heartbeat_age is None or self.heartbeat_age < 60)

    @property
    def cloud_alive(self) -> bool:
        return self.cloud_state in ALIVE_CLOUD_STATES


@dataclass(frozen=True)
class PoolObs:
    role: str
    desired: int  # the count the deployment state holds now (spec + `ccds scale` / controller counts)
    nodes: tuple[NodeObs, ...] = ()

    def node(self, name: str) -> NodeObs | None:
        return next((n for n in self.nodes if n.name == name), None)


@dataclass(frozen=True)
class RegionObs:
    key: str
    placement: str  # where it runs now: alias/region
    pools: dict[str, PoolObs] = field(default_factory=dict)
    demand: dict[str, int] = field(default_factory=dict)  # monotonic counters: refused, fallback, spilled
    cloud_error: str | None = None  # the cloud inventory failed (None: it answered)


@dataclass(frozen=True)
class Observation:
    now: float
    regions: dict[str, RegionObs]
    manager_ok: bool = True  # the stream managers answered
    manager_error: str | None = None
    # No control plane (no `control:`): no manager tracks the nodes (the one given with --manager only
    # holds the lease), so the cloud inventory alone says which nodes are alive and there is no load.
    cloud_only: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- actions ----------------------------------------------------------------------------------

@dataclass
class Action:
    """A decision with its reason. `terraform` actions go through the Actuator, the others through
    the managers (node states) or only into the ledger (notes)."""

    kind: str  # scale | sunset | restore | replace | failover | note
    region: str
    reason: str
    role: str | None = None
    counts: dict[str, int] = field(default_factory=dict)  # scale: role -> new count
    previous: dict[str, int] = field(default_factory=dict)  # scale: role -> count before
    nodes: list[str] = field(default_factory=list)  # sunset / restore / replace
    source: str | None = None  # failover: the placement left (it goes on the block list)
    target: str | None = None  # failover: the placement chosen
    keep_old: bool = False  # failover: the old cloud does not answer, do not touch it
    block_until: float | None = None  # failover: the left placement is blocked until then
    drain_target: int | None = None  # sunset: the pool's count once these nodes are gone

    @property
    def terraform(self) -> bool:
        return self.kind in ("scale", "replace", "failover")

    def describe(self) -> str:
        """The ledger line after `operate: `, e.g. `scale na-east edge 2→3, load 71 % > 60 %`."""
        if self.kind == "scale":
            what = ", ".join(f"{role} {self.previous.get(role, '?')}→{n}" for role, n in sorted(self.counts.items()))
            return f"scale {self.region} {what}, {self.reason}"
        if self.kind in ("sunset", "restore", "replace"):
            verb = {"sunset": "sunset", "restore": "return to service", "replace": "replace"}[self.kind]
            return f"{verb} {self.region} {self.role} {', '.join(self.nodes)}, {self.reason}"
        if self.kind == "failover":
            return f"failover {self.region} {self.source} → {self.target}, {self.reason}"
        return f"{self.region}{' ' + self.role if self.role else ''}: {self.reason}"

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if v not in (None, [], {}, False)}
        out["message"] = "operate: " + self.describe()
        return out


@dataclass
class ActResult:
    """What the Actuator reports for one action."""

    ok: bool
    error: str = ""
    locked: bool = False  # the deployment lock was held by someone else: nothing was tried
    abandoned: bool = False  # stopped by a signal before it finished
    duration: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- memory -----------------------------------------------------------------------------------

def _from_dict(cls, data: dict | None):
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in (data or {}).items() if k in names})


@dataclass
class PoolMemory:
    desired_seen: int | None = None  # the count last seen: a different one not made by us is manual
    last_out: float | None = None  # when the controller last grew the pool
    last_in: float | None = None  # when it last shrank it
    low_since: float | None = None  # load below scale_in_at continuously since
    manual_floor: int | None = None  # a manual `ccds scale` count, the floor until manual_until
    manual_until: float | None = None
    draining: dict[str, float] = field(default_factory=dict)  # node -> SUNSET since
    drain_target: int | None = None  # the count once the draining nodes are removed
    replaced: dict[str, float] = field(default_factory=dict)  # node -> when it was last replaced
    replacements: list[list] = field(default_factory=list)  # [[at, node], ...] within replace_window
    paused: dict[str, Any] | None = None  # {"since": t, "reason": "..."}
    changed_at: float | None = None  # the controller's last apply of this pool
    noted: dict[str, str] = field(default_factory=dict)  # topic -> last note, so a note is said once


@dataclass
class RegionMemory:
    first_seen: float | None = None
    placement_seen: str | None = None
    moved_at: float | None = None  # last failover, by the controller or by hand
    manual_move_until: float | None = None
    served_once: bool = False  # served since it was first seen or last moved
    unhealthy_since: float | None = None
    unhealthy_reason: str = ""
    failures: int = 0  # consecutive failed Terraform actions (backoff)
    backoff_until: float | None = None
    backoff_kind: str = ""  # the kind of action that failed (a failed repair does not delay a failover)
    last_error: str = ""
    demand_seen: dict[str, int] = field(default_factory=dict)
    noted: dict[str, str] = field(default_factory=dict)


@dataclass
class Memory:
    pools: dict[str, PoolMemory] = field(default_factory=dict)  # "region/role" -> memory
    regions: dict[str, RegionMemory] = field(default_factory=dict)

    def pool(self, region: str, role: str) -> PoolMemory:
        return self.pools.setdefault(f"{region}/{role}", PoolMemory())

    def region(self, key: str) -> RegionMemory:
        return self.regions.setdefault(key, RegionMemory())

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> "Memory":
        data = data or {}
        return cls(pools={k: _from_dict(PoolMemory, v) for k, v in (data.get("pools") or {}).items()},
                   regions={k: _from_dict(RegionMemory, v) for k, v in (data.get("regions") or {}).items()})
