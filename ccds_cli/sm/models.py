"""SQLAlchemy tables of the stream manager. Times are UNIX seconds (float) to stay engine-neutral.

The schema itself is created and evolved by `migrations.py`; these classes only describe it for
queries. Change both together (a new migration step, never an edit of an old one).
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Float, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Node(Base):
    """A media node as its agent registered it, plus the last heartbeat's counters."""

    __tablename__ = "nodes"
    __table_args__ = (UniqueConstraint("deployment", "name", name="uq_nodes_deployment_name"),
                      Index("ix_nodes_role_state_region", "role", "state", "region"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    deployment: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(128))
    region: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    engine: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    public_host: Mapped[str] = mapped_column(String(255), default="")
    private_host: Mapped[str] = mapped_column(String(255), default="")
    capacity: Mapped[int] = mapped_column(Integer)
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    endpoints: Mapped[dict] = mapped_column(JSON, default=dict)
    stats_url: Mapped[str] = mapped_column(String(512), default="")
    publishers: Mapped[int] = mapped_column(Integer, default=0)
    subscribers: Mapped[int] = mapped_column(Integer, default=0)
    relays: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)  # rows in `reservations` for this node
    bw_in: Mapped[int] = mapped_column(BigInteger, default=0)  # bits/s (a busy edge passes 2^31)
    bw_out: Mapped[int] = mapped_column(BigInteger, default=0)
    streams: Mapped[list] = mapped_column(JSON, default=list)
    streams_seq: Mapped[int] = mapped_column(Integer, default=0)  # +1 whenever `streams` changes
    engine_ok: Mapped[bool] = mapped_column(Boolean, default=False)
    registered_at: Mapped[float] = mapped_column(Float)
    last_heartbeat: Mapped[float] = mapped_column(Float)
    state_changed_at: Mapped[float] = mapped_column(Float)


class BeatPace(Base):
    """The beat interval the managers ask of a deployment's agents (`ccds_cli/sm/pace.py`), one row per scope."""

    __tablename__ = "beat_pace"

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    interval: Mapped[float | None] = mapped_column(Float, nullable=True)
    prev_interval: Mapped[float | None] = mapped_column(Float, nullable=True)
    changed_at: Mapped[float] = mapped_column(Float, default=0.0)
    nodes: Mapped[int] = mapped_column(Integer, default=0)


class PeerVersion(Base):
    """The version of a deployment's peer list (its relays' and edges' addresses): +1 on every change."""

    __tablename__ = "peer_versions"

    deployment: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)


class Stream(Base):
    """The stream registry: which origin holds `app/name`."""

    __tablename__ = "streams"
    __table_args__ = (UniqueConstraint("deployment", "app", "name", name="uq_streams_app_name"),
                      Index("ix_streams_origin", "origin_node_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deployment: Mapped[str] = mapped_column(String(64))
    app: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(255))
    origin_node_id: Mapped[str] = mapped_column(String(36))
    region: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)
    assigned_at: Mapped[float] = mapped_column(Float)
    last_live_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class Reservation(Base):
    """A viewer slot held on an edge between the subscribe answer and the edge's next count."""

    __tablename__ = "reservations"
    __table_args__ = (Index("ix_reservations_node_expires", "node_id", "expires_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    node_id: Mapped[str] = mapped_column(String(36))
    stream_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)


class Event(Base):
    """A node state transition (or another notable change), kept for `GET /api/v1/events`."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[float] = mapped_column(Float)
    deployment: Mapped[str] = mapped_column(String(64))
    node_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    node_name: Mapped[str] = mapped_column(String(128), default="")
    kind: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    reason: Mapped[str] = mapped_column(String(512), default="")
    instance: Mapped[str] = mapped_column(String(128), default="")


class Lease(Base):
    """Who leads background work; written by the leader each tick so every instance can report it."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    acquired_at: Mapped[float] = mapped_column(Float)
    renewed_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
    generation: Mapped[int] = mapped_column(Integer, default=0)  # +1 whenever a new holder takes it


class Demand(Base):
    """Viewers the managers could not place on an edge of their region, counted per region and kind:
    `refused` (503), `fallback` (sent to HLS), `spilled` (sent to another region). Monotonic; readers
    (the controller) take differences."""

    __tablename__ = "demand"

    deployment: Mapped[str] = mapped_column(String(64), primary_key=True)
    region: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[float] = mapped_column(Float)
