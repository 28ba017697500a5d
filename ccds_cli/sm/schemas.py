"""Request and response shapes of the HTTP API (separate from the storage tables on purpose)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from ccds_cli.vocab import EngineKind as Engine
from ccds_cli.vocab import NodeState as NodeStateName
from ccds_cli.vocab import Role

# What the database stores: counters are 32-bit INTEGER columns (PostgreSQL refuses more, SQLite
# overflows at 2^63); an out-of-range value is a 422 here, never a 500 from the database.
INT32_MAX = 2**31 - 1
MAX_STREAMS_PER_BEAT = 1000  # streams one heartbeat may list (docs/architecture.md, "What the manager accepts")
Count = Annotated[int, Field(ge=0, le=INT32_MAX)]
# Bits per second: an edge can pass 2^31 (2.1 Gbit/s); accepted up to 2^53 and stored saturated.
BitRate = Annotated[int, Field(ge=0, le=2**53, description="bits/s")]
Latitude = Annotated[float | None, Field(ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float | None, Field(ge=-180, le=180, allow_inf_nan=False)]
Text = Annotated[str, Field(max_length=255)]


class NodeRegister(BaseModel):
    deployment: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=128)
    region: str = Field(min_length=1, max_length=64)
    provider: str = Field(min_length=1, max_length=64)
    role: Role
    engine: Engine
    public_host: Text = ""
    private_host: Text = ""
    capacity: Count
    lat: Latitude = None
    lon: Longitude = None
    endpoints: dict[Annotated[str, Field(max_length=32)], Annotated[str, Field(max_length=512)]] = Field(
        default_factory=dict, max_length=16, description="protocol -> URL prefix of app")
    stats_url: str = Field("", max_length=512)


class StreamStat(BaseModel):
    app: str = Field(max_length=128)
    name: Text
    publishing: bool = False
    subscribers: Count = 0
    bw_in: BitRate = 0
    bw_out: BitRate = 0


class StreamKey(BaseModel):
    app: str = Field(max_length=128)
    name: Text


class Heartbeat(BaseModel):
    """A node's counters. The stream list is either `streams` (the full list, as older agents send it)
    or a diff against the list the manager holds: `streams_base` (the `streams_seq` of the last answer)
    with `streams_changed` (entries new or different since) and `streams_removed` (keys gone)."""

    engine_ok: bool = True
    error: str | None = Field(None, max_length=2000)
    publishers: Count = 0
    subscribers: Count = 0
    relays: Count = 0
    bw_in: BitRate = 0
    bw_out: BitRate = 0
    streams: list[StreamStat] = Field(default_factory=list, max_length=MAX_STREAMS_PER_BEAT)
    peers_version: int | None = Field(None, ge=0, le=2**62, description=(
        "the peers_version of the peer list this agent holds; the answer carries the list only when it differs"))
    streams_base: int | None = Field(None, ge=0, le=INT32_MAX, description=(
        "the streams_seq this diff applies to; omitted: `streams` is the full list"))
    streams_changed: list[StreamStat] = Field(default_factory=list, max_length=MAX_STREAMS_PER_BEAT)
    streams_removed: list[StreamKey] = Field(default_factory=list, max_length=MAX_STREAMS_PER_BEAT)

    @model_validator(mode="after")
    def _one_stream_form(self) -> "Heartbeat":
        if self.streams_base is None and (self.streams_changed or self.streams_removed):
            raise ValueError("streams_changed/streams_removed need streams_base")
        if self.streams_base is not None and self.streams:
            raise ValueError("send either the full `streams` list or a diff (streams_base), not both")
        return self


class HeartbeatAnswer(BaseModel):
    id: str
    state: NodeStateName
    peers: list[str] | None = Field(description=(
        "addresses of relays/edges (their pulls are not viewers); null: unchanged since the peers_version sent"))
    peers_version: int = Field(0, description="the version of the deployment's peer list; echo it next beat")
    streams_seq: int | None = Field(None, description=(
        "the sequence number of the stream list the manager holds (the next diff's streams_base); "
        "null: a diff did not apply (wrong base), send the full list"))
    interval: float | None = Field(None, description=(
        "the least number of seconds between heartbeats the manager asks for (null: the agent's own)"))


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
    reason: str = Field("", max_length=500)


class ClientAuth(BaseModel):
    """Optional credentials for the round-trip check, plus where the client is."""

    username: str | None = Field(None, max_length=1024)
    password: str | None = Field(None, max_length=1024)
    token: str | None = Field(None, max_length=8192)
    region: str | None = Field(None, max_length=64)
    lat: Latitude = None
    lon: Longitude = None
    protocol: Literal["hls"] | None = Field(
        None, description="subscribe: `hls` asks for the stream's HLS (no edge slot) instead of a real-time edge")


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
    node: NodeBrief = Field(description="where to publish: the origin, or a transcoder of its region")
    origin: str = Field(description="the origin that holds the stream (and its renditions, when transcoded)")
    transcoder: bool = Field(description="true: `node` is a transcoder; it pushes the stream and its renditions "
                                         "(`<stream>_<height>p`) to `origin`")
    urls: dict[str, str]


class Rendition(BaseModel):
    name: str = Field(description="the rendition's stream name, `<stream>_<height>p`")
    height: int = Field(description="lines of video; the width keeps the source's aspect ratio")
    kbps: int = Field(description="nominal video bitrate (the spec's `renditions` ladder)")
    urls: dict[str, str] = Field(description="protocol -> URL of the rendition on the same edge")


class SubscribeAnswer(BaseModel):
    """A real-time edge with a reserved slot, or (`fallback: hls`) the node serving the stream's HLS."""

    app: str
    stream: str
    node: NodeBrief = Field(description="the edge to play from; with `fallback`, the node serving the HLS")
    origin: str
    urls: dict[str, str] = Field(description="protocol -> play URL; with `fallback: hls`, `hls` (the playlist: "
                                             "for a stream with renditions the manager's master playlist, and "
                                             "`hls_source` the source's own)")
    reservation: int | None = Field(description="the reserved edge slot; null with `fallback`")
    reserved_until: float | None = Field(description="the slot is held until then; null with `fallback`")
    fallback: Literal["hls"] | None = Field(
        None, description="set when the answer is not a real-time edge: play `urls.hls`")
    fallback_reason: Literal["no_capacity", "requested"] | None = Field(
        None, description="no_capacity: every edge is full (counted as demand); requested: the client asked for HLS")
    renditions: list[Rendition] = Field(
        default_factory=list, description="the ABR renditions of the stream live now (a transcoder publishes "
                                          "them), highest first; empty when the stream is not transcoded")


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
    beat_interval: float | None = Field(description="the beat interval asked of agents, seconds (null: their own, "
                                        "2 s by default); raised by the leader as the fleet grows")
    fault_timeout: float = Field(description="seconds of silence after which a node is FAULT")


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
