"""Versioned schema migrations in a table of our own (`ccds_schema`), run at startup.

Each step is a function of alembic `Operations`, so DDL is portable between SQLite and
PostgreSQL. Steps are append-only: never edit a released step, add the next one. On PostgreSQL a
transaction-scoped advisory lock lets several managers start at once without racing the upgrade.
"""

from __future__ import annotations

import time
from typing import Callable

import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations

MIGRATION_LOCK_KEY = 0x43434453  # "CCDS"


def _v1_initial(op: Operations) -> None:
    op.create_table(
        "nodes",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("deployment", sa.String(64), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("region", sa.String(64), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("engine", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("public_host", sa.String(255), nullable=False),
        sa.Column("private_host", sa.String(255), nullable=False),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("lat", sa.Float, nullable=True),
        sa.Column("lon", sa.Float, nullable=True),
        sa.Column("endpoints", sa.JSON, nullable=False),
        sa.Column("stats_url", sa.String(512), nullable=False),
        sa.Column("publishers", sa.Integer, nullable=False),
        sa.Column("subscribers", sa.Integer, nullable=False),
        sa.Column("relays", sa.Integer, nullable=False),
        sa.Column("bw_in", sa.Integer, nullable=False),
        sa.Column("bw_out", sa.Integer, nullable=False),
        sa.Column("streams", sa.JSON, nullable=False),
        sa.Column("engine_ok", sa.Boolean, nullable=False),
        sa.Column("registered_at", sa.Float, nullable=False),
        sa.Column("last_heartbeat", sa.Float, nullable=False),
        sa.Column("state_changed_at", sa.Float, nullable=False),
        sa.UniqueConstraint("deployment", "name", name="uq_nodes_deployment_name"),
    )
    op.create_index("ix_nodes_role_state", "nodes", ["role", "state"])
    op.create_table(
        "streams",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("deployment", sa.String(64), nullable=False),
        sa.Column("app", sa.String(128), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("origin_node_id", sa.String(36), nullable=False),
        sa.Column("region", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("assigned_at", sa.Float, nullable=False),
        sa.Column("last_live_at", sa.Float, nullable=True),
        sa.UniqueConstraint("deployment", "app", "name", name="uq_streams_app_name"),
    )
    op.create_index("ix_streams_origin", "streams", ["origin_node_id"])
    op.create_table(
        "reservations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("node_id", sa.String(36), nullable=False),
        sa.Column("stream_id", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("ix_reservations_node_expires", "reservations", ["node_id", "expires_at"])
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("deployment", sa.String(64), nullable=False),
        sa.Column("node_id", sa.String(36), nullable=True),
        sa.Column("node_name", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=True),
        sa.Column("to_state", sa.String(16), nullable=True),
        sa.Column("reason", sa.String(512), nullable=False),
        sa.Column("instance", sa.String(128), nullable=False),
    )
    op.create_index("ix_events_at", "events", ["at"])
    op.create_table(
        "leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("acquired_at", sa.Float, nullable=False),
        sa.Column("renewed_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )


def _v2_reserved_counter(op: Operations) -> None:
    """Keep each edge's open reservations on its row, so routing reads one row instead of counting."""
    with op.batch_alter_table("nodes") as batch:  # batch mode: SQLite cannot ALTER freely
        batch.add_column(sa.Column("reserved", sa.Integer, nullable=False, server_default="0"))
    op.execute("UPDATE nodes SET reserved = (SELECT count(*) FROM reservations r WHERE r.node_id = nodes.id)")


def _v3_edge_pick_index(op: Operations) -> None:
    """Subscribe picks the least-loaded edge of a region: index the columns its WHERE names first."""
    op.create_index("ix_nodes_role_state_region", "nodes", ["role", "state", "region"])
    op.drop_index("ix_nodes_role_state", table_name="nodes")


def _v4_leases_and_demand(op: Operations) -> None:
    """Leases other programs take (`ccds operate`): a generation that grows with every new holder,
    so an action can tell it was decided under an older lease; and per-region demand counters
    (viewers refused, sent to HLS, sent to another region) the controller reads as load."""
    with op.batch_alter_table("leases") as batch:
        batch.add_column(sa.Column("generation", sa.Integer, nullable=False, server_default="0"))
    op.create_table(
        "demand",
        sa.Column("deployment", sa.String(64), primary_key=True),
        sa.Column("region", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def _v5_beat_versions(op: Operations) -> None:
    """Heartbeats independent of fleet size: a version of each deployment's peer list (bumped when a
    relay or edge joins or leaves, echoed by agents so the list is only sent when it changed), and
    the sequence number of each node's stored stream list (agents send diffs against it)."""
    with op.batch_alter_table("nodes") as batch:
        batch.add_column(sa.Column("streams_seq", sa.Integer, nullable=False, server_default="0"))
    op.create_table(
        "peer_versions",
        sa.Column("deployment", sa.String(64), primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False),
    )


def _v6_beat_pace(op: Operations) -> None:
    """The beat interval the leader asks for as the fleet grows, shared by every worker and manager."""
    op.create_table(
        "beat_pace",
        sa.Column("scope", sa.String(64), primary_key=True),
        sa.Column("interval", sa.Float, nullable=True),
        sa.Column("prev_interval", sa.Float, nullable=True),
        sa.Column("changed_at", sa.Float, nullable=False),
        sa.Column("nodes", sa.Integer, nullable=False),
    )


def _v7_bigint_bitrates(op: Operations) -> None:
    """A busy edge sends more than 2^31 bits/s (2,000 viewers at 2.5 Mbit/s is 5 Gbit/s): BIGINT counters.
    SQLite's INTEGER holds 64 bits already, so only PostgreSQL changes."""
    if op.get_bind().dialect.name == "postgresql":
        for column in ("bw_in", "bw_out"):
            op.alter_column("nodes", column, type_=sa.BigInteger, existing_type=sa.Integer)


MIGRATIONS: list[tuple[int, str, Callable[[Operations], None]]] = [
    (1, "initial schema: nodes, streams, reservations, events, leases", _v1_initial),
    (2, "nodes.reserved: open viewer reservations per node", _v2_reserved_counter),
    (3, "index nodes (role, state, region) for the subscribe pick", _v3_edge_pick_index),
    (4, "leases.generation; demand counters per region", _v4_leases_and_demand),
    (5, "peer list versions per deployment; nodes.streams_seq for stream diffs", _v5_beat_versions),
    (6, "beat_pace: the beat interval asked of agents as the fleet grows", _v6_beat_pace),
    (7, "nodes.bw_in, nodes.bw_out as BIGINT (bits/s above 2^31)", _v7_bigint_bitrates),
]

_VERSION_TABLE = sa.Table(
    "ccds_schema", sa.MetaData(),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("description", sa.String(255), nullable=False),
    sa.Column("applied_at", sa.Float, nullable=False),
)


def current_version(conn: sa.Connection) -> int:
    if not sa.inspect(conn).has_table("ccds_schema"):
        return 0
    return conn.execute(sa.select(sa.func.coalesce(sa.func.max(_VERSION_TABLE.c.version), 0))).scalar_one()


def upgrade(engine: sa.Engine, target: int | None = None) -> list[int]:
    """Apply every step newer than the database's version (up to `target`); returns those applied."""
    applied: list[int] = []
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
        _VERSION_TABLE.create(conn, checkfirst=True)
        have = current_version(conn)
        latest = max(v for v, _, _ in MIGRATIONS)
        if have > latest:
            raise RuntimeError(f"database schema version {have} is newer than this ccds ({latest}); upgrade ccds")
        ops = Operations(MigrationContext.configure(conn))
        for version, description, step in MIGRATIONS:
            if version <= have or (target is not None and version > target):
                continue
            step(ops)
            conn.execute(_VERSION_TABLE.insert().values(version=version, description=description,
                                                        applied_at=time.time()))
            applied.append(version)
    return applied
