"""Request and response shapes of the HTTP API (separate from the storage tables on purpose)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from ccds_cli.vocab import EngineKind as Engine, NodeState as NodeStateName, Role


class NodeRegister(BaseModel):
    deployment: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=128)
    region: str = Field(min_length=1, max_length=64)
    provider: str = Field(min_length=1, max_length=64)
    role: Role
    engine: Engine
    public_host: str = ""
    private_host: str = ""
    capacity: int = Field(ge=0)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    endpoints: dict[str, str] = Field(default_factory=dict, description="protocol -> URL prefix of app")
    stats_url: str = ""


class StreamStat(BaseModel):
    app: str
    name: str
    publishing: bool = False
    subscribers: int = Field(default=0, ge=0)
    bw_in: int = 0
    bw_out: int = 0


class Heartbeat(BaseModel):
    engine_ok: bool = True
    error: str | None = None
    publishers: int = Field(default=0, ge=0)
    subscribers: int = Field(default=0, ge=0)
    relays: int = Field(default=0, ge=0)
    bw_in: int = Field(default=0, ge=0, description="bits/s")
    bw_out: int = Field(default=0, ge=0, description="bits/s")
    streams: list[StreamStat] = Field(default_factory=list)


class HeartbeatAnswer(BaseModel):
    id: str
    state: NodeStateName
    peers: list[str] = Field(description="addresses of relays/edges: their pulls are not viewers")


class NodeOut(BaseModel):
    id: str
    deployment: str
    name: str
    region: str
    provider: str
    role: str
    engine: str
    state: NodeStateName
    public_host: str
    private_host: str
    capacity: int
    lat: float | None = None
    lon: float | None = None
    endpoints: dict[str, str]
    publishers: int = 0
    subscribers: int = 0
    relays: int = 0
    reserved: int = 0
    bw_in: int = 0
    bw_out: int = 0
    last_heartbeat: float
    heartbeat_age: float | None = None
    state_changed_at: float


class NodeState(BaseModel):
    state: Literal["INSERVICE", "SUNSET", "TERMINATED"]
    reason: str = ""


class ClientAuth(BaseModel):
    """Optional credentials for the round-trip check, plus where the client is."""

    username: str | None = None
    password: str | None = None
    token: str | None = None
    region: str | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)


class NodeBrief(BaseModel):
    id: str
    name: str
    region: str
    provider: str
    engine: str
    public_host: str
    private_host: str


class PublishAnswer(BaseModel):
    app: str
    stream: str
    stream_id: int
    node: NodeBrief
    urls: dict[str, str]


class SubscribeAnswer(BaseModel):
    app: str
    stream: str
    node: NodeBrief
    origin: str
    urls: dict[str, str]
    reservation: int
    reserved_until: float


class StreamOut(BaseModel):
    app: str
    name: str
    region: str
    origin: str
    live: bool
    viewers: int
    edges: list[str]
    created_at: float
    last_live_at: float | None = None


class EventOut(BaseModel):
    id: int
    at: float
    node_id: str | None
    node_name: str
    kind: str
    from_state: NodeStateName | None
    to_state: NodeStateName | None
    reason: str
    instance: str


class Health(BaseModel):
    status: Literal["ok", "degraded", "empty"]
    deployment: str | None
    nodes: dict[str, dict[str, int]]
    live_streams: int
    viewers: int
    instance: str
    leader: str | None
    is_leader: bool


class LeaseRequest(BaseModel):
    holder: str = Field(min_length=1, max_length=128, description="who asks, e.g. host-pid-random")
    ttl_s: float = Field(gt=0, le=3600, description="seconds the lease lasts unless renewed")


class LeaseOut(BaseModel):
    name: str
    granted: bool = Field(description="true: the caller holds the lease now")
    holder: str
    acquired_at: float
    renewed_at: float
    expires_at: float
    generation: int = Field(description="grows by one with every new holder")
    now: float = Field(description="the manager's clock, to compare expires_at with")


class LeaseRelease(BaseModel):
    name: str
    released: bool


class DemandOut(BaseModel):
    regions: dict[str, dict[str, int]] = Field(description="region -> refused | fallback | spilled -> count")
    at: float
