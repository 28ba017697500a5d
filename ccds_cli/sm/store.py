"""Data access for the stream manager: node registry, heartbeats, events, health. No HTTP here.

Every write runs in one short transaction. On SQLite there is one process, so a process-wide lock
makes it the single writer; on PostgreSQL rows are locked (`FOR UPDATE`) where a decision depends
on what other managers may be writing at the same moment. Routing lives in `routing.py`.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from typing import Any, Callable, Iterator

import sqlalchemy as sa

from ccds_cli.sm import migrations
from ccds_cli.sm.models import BeatPace, Demand, Event, Lease, Node, PeerVersion, Reservation, Stream
from ccds_cli.sm.pace import Pace, asked_interval
from ccds_cli.sm.settings import Settings

nodes_t = Node.__table__
streams_t = Stream.__table__
res_t = Reservation.__table__
events_t = Event.__table__
leases_t = Lease.__table__
demand_t = Demand.__table__
peer_versions_t = PeerVersion.__table__
pace_t = BeatPace.__table__
PEER_ROLES = ("relay", "edge")  # whose addresses the peer list holds (their pulls are not viewers)

# A node row without its last heartbeat's stream list: that JSON is read by the stream list alone, so no
# other request pays for decoding what a node reported (up to MAX_STREAMS_PER_BEAT entries).
NODE_COLS = tuple(c for c in nodes_t.c if c.name != "streams")

LIVE_STATES = ("STARTING", "INSERVICE", "SUNSET")  # states a silent node is declared FAULT from
ADMIN_STATES = ("INSERVICE", "SUNSET", "TERMINATED")  # what an operator may set by hand


class StoreError(Exception):
    status = 400


class NotFound(StoreError):
    status = 404


class NoCapacity(StoreError):
    """Nothing can take the request now; the caller answers 503 with Retry-After."""

    status = 503


class NoEdgeCapacity(NoCapacity):
    """No INSERVICE edge has a free viewer slot: demand the controller must see (counted as refused)."""


class Invalid(StoreError):
    status = 400


class DatabaseUnavailable(NoCapacity):
    """The database connection broke mid-request: transient, the client retries after Retry-After."""


def make_engine(url: str) -> sa.Engine:
    """SQLite in WAL mode (readers never wait for the writer); PostgreSQL with a pre-pinged pool."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # noqa: ANN001 - DBAPI hook
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            # No checkpoint inside a commit (it would fsync on the request path, measured as 50-400 ms
            # p99 stalls): the leader runs a passive checkpoint each tick instead (`Store.checkpoint`).
            cur.execute("PRAGMA wal_autocheckpoint=0")
            cur.close()

        return engine
    # No pre-ping: it costs a round trip per request; a dropped connection invalidates the pool and the
    # request answers 503 + Retry-After instead.
    return sa.create_engine(url, pool_size=8, max_overflow=8, pool_timeout=10,
                            connect_args={"connect_timeout": 5})


def node_dict(row: Any) -> dict:
    return dict(row._mapping)


class Store:
    """The stream manager's state. `clock` is injectable so tests can age heartbeats."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time):
        self.settings = settings
        self.clock = clock
        self.engine = make_engine(settings.database_url)
        self.postgres = self.engine.dialect.name == "postgresql"
        self._writer = threading.Lock() if not self.postgres else None
        self.deployment = settings.deployment
        # Streams are keyed by the manager's deployment; a manager started without one keeps one registry.
        self.stream_scope = settings.deployment or "default"
        self._coords_cache: tuple[float, dict] = (0.0, {})
        self._hot_conn = None  # SQLite: the subscribe path's own connection, used under the writer lock
        # deployment -> (version, its peer list): a change is read once per process,
        # however many agents ask for it.
        self._peers_cache: dict[str, tuple[int, list[str]]] = {}
        # The beat interval asked of agents and the fault timeout it implies (`pace.py`): read from the
        # database by every process's leader loop, computed by the leader.
        self.pace = Pace(interval=settings.beat_interval)

    def migrate(self) -> list[int]:
        return migrations.upgrade(self.engine)

    def close(self) -> None:
        if self._hot_conn is not None:
            self._hot_conn.close()
            self._hot_conn = None
        self.engine.dispose()

    @contextlib.contextmanager
    def tx(self) -> Iterator[sa.Connection]:
        """One write transaction (serialised in-process on SQLite)."""
        if self._writer is None:
            with self.engine.begin() as conn:
                yield conn
        else:
            with self._writer, self.engine.begin() as conn:
                yield conn

    @contextlib.contextmanager
    def hot(self) -> Iterator[tuple[Any, str]]:
        """SQLite's subscribe fast path: a raw cursor on one kept connection, under the writer lock.

        No pool checkout and no SQLAlchemy transaction object: committed at the end, rolled back on
        error. (PostgreSQL's fast path runs on async connections instead, see `pgasync`.)
        """
        assert self._writer is not None, "the hot connection is SQLite's"
        with self._writer:
            if self._hot_conn is None:
                self._hot_conn = self.engine.raw_connection()
            raw = self._hot_conn.dbapi_connection
            try:
                yield raw.cursor(), self.engine.dialect.paramstyle
                raw.commit()
            except BaseException:
                raw.rollback()
                raise

    def read(self) -> sa.Connection:
        return self.engine.connect()

    def _scope(self, table: sa.Table):
        return table.c.deployment == self.deployment if self.deployment else sa.true()

    def fresh_after(self) -> float:
        return self.clock() - self.fault_timeout()

    def fault_timeout(self) -> float:
        """Seconds of silence before a node is FAULT: the heartbeat timeout, longer while the fleet is paced."""
        return self.pace.fault_timeout(self.settings.heartbeat_timeout, self.clock())

    # --- events -------------------------------------------------------------------------------

    def _event(self, conn: sa.Connection, node: dict, kind: str, from_state: str | None,
               to_state: str | None, reason: str) -> None:
        conn.execute(events_t.insert().values(
            at=self.clock(), deployment=node["deployment"], node_id=node["id"], node_name=node["name"],
            kind=kind, from_state=from_state, to_state=to_state, reason=reason[:500],
            instance=self.settings.instance_id))

    def _transition(self, conn: sa.Connection, node: dict, to_state: str, reason: str,
                    only_from: tuple[str, ...] | None = None) -> bool:
        """Change a node's state and record the event; `only_from` guards against racing writers."""
        stmt = nodes_t.update().where(nodes_t.c.id == node["id"])
        if only_from:
            stmt = stmt.where(nodes_t.c.state.in_(only_from))
        changed = conn.execute(stmt.values(state=to_state, state_changed_at=self.clock())).rowcount
        if changed:
            self._event(conn, node, "state", node["state"], to_state, reason)
        return bool(changed)

    def recent_events(self, limit: int = 30) -> list[dict]:
        """The newest events first (the dashboard's list)."""
        q = sa.select(events_t).where(self._scope(events_t)).order_by(events_t.c.id.desc()).limit(limit)
        with self.read() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def events(self, after_id: int = 0, limit: int = 200, node: str | None = None) -> list[dict]:
        q = sa.select(events_t).where(events_t.c.id > after_id, self._scope(events_t))
        if node:
            q = q.where(sa.or_(events_t.c.node_id == node, events_t.c.node_name == node))
        with self.read() as conn:
            return [dict(r._mapping) for r in conn.execute(q.order_by(events_t.c.id).limit(limit))]

    # --- node registry ------------------------------------------------------------------------

    def register(self, reg: dict) -> dict:
        """Create or refresh a node by (deployment, name); it starts (again) in STARTING."""
        if self.deployment and reg["deployment"] != self.deployment:
            raise Invalid(f"node belongs to deployment {reg['deployment']!r}; this manager serves "
                          f"{self.deployment!r}")
        now = self.clock()
        values = {k: reg[k] for k in ("region", "provider", "role", "engine", "public_host", "private_host",
                                      "capacity", "lat", "lon", "endpoints", "stats_url")}
        with self.tx() as conn:
            row = conn.execute(sa.select(nodes_t).where(nodes_t.c.deployment == reg["deployment"],
                                                        nodes_t.c.name == reg["name"])
                               .with_for_update()).one_or_none()
            if row is None:
                node = {"id": str(uuid.uuid4()), "deployment": reg["deployment"], "name": reg["name"],
                        "state": "STARTING", **values, "publishers": 0, "subscribers": 0, "relays": 0,
                        "reserved": 0, "bw_in": 0, "bw_out": 0, "streams": [], "engine_ok": False, "registered_at": now,
                        "last_heartbeat": now, "state_changed_at": now}
                conn.execute(nodes_t.insert().values(**node))
                self._event(conn, node, "state", None, "STARTING", "registered")
                if node["role"] in PEER_ROLES:
                    self._bump_peers(conn, node["deployment"])
                return node
            node = node_dict(row)
            # A new stream_seq: a diff an agent still holds from before it registered again cannot apply.
            conn.execute(nodes_t.update().where(nodes_t.c.id == node["id"])
                         .values(**values, registered_at=now, last_heartbeat=now, engine_ok=False,
                                 streams_seq=nodes_t.c.streams_seq + 1))
            if node["role"] in PEER_ROLES or values["role"] in PEER_ROLES:
                if node["state"] == "TERMINATED" or (node["role"], node["public_host"], node["private_host"]) != \
                        (values["role"], values["public_host"], values["private_host"]):
                    self._bump_peers(conn, node["deployment"])
            if node["state"] != "STARTING":
                self._transition(conn, node, "STARTING", "re-registered")
            node.update(values, state="STARTING", last_heartbeat=now)
            return node

    def heartbeat(self, node_id: str, hb: dict) -> dict:
        """Store a node's counters and move it along its lifecycle; unknown nodes must re-register.

        The general path (an ORM transaction): state changes, origins whose stream list changed, and
        everything the lean path (`beat.py`) hands back. Same answer either way."""
        now = self.clock()
        with self.tx() as conn:
            row = conn.execute(sa.select(*NODE_COLS).where(nodes_t.c.id == node_id).with_for_update()).one_or_none()
            if row is None or row.state == "TERMINATED":
                raise NotFound(f"node {node_id} is not registered")
            node = node_dict(row)
            values = dict(publishers=hb["publishers"], subscribers=hb["subscribers"], relays=hb["relays"],
                          bw_in=hb["bw_in"], bw_out=hb["bw_out"],
                          engine_ok=hb["engine_ok"], last_heartbeat=now)
            streams, seq = self._merge_streams(conn, node, hb)
            if streams is not None:
                values.update(streams=streams, streams_seq=seq)
            conn.execute(nodes_t.update().where(nodes_t.c.id == node_id).values(**values))
            state = node["state"]
            if hb["engine_ok"] and state == "STARTING":
                self._transition(conn, node, "INSERVICE", "engine answering")
                state = "INSERVICE"
            elif hb["engine_ok"] and state == "FAULT":
                self._transition(conn, node, "INSERVICE", "heartbeats resumed")
                state = "INSERVICE"
            elif not hb["engine_ok"] and state == "INSERVICE":
                self._transition(conn, node, "FAULT", f"engine stats unreadable: {hb.get('error') or '?'}")
                state = "FAULT"
            # Viewers who arrived since the last beat were promised a slot: their reservations are
            # now counted by the edge itself, so drop as many (oldest first) — else a fast ramp is
            # counted twice for `connect_grace` and refused below capacity. Reservations older than
            # the grace go too (the viewer never came or was counted already).
            arrived = int(hb["subscribers"]) - int(node.get("subscribers") or 0)
            if arrived > 0 and node.get("reserved"):
                oldest = sa.select(res_t.c.id).where(res_t.c.node_id == node_id).order_by(
                    res_t.c.created_at, res_t.c.id).limit(arrived)
                self._drop_reservations(conn, node_id, res_t.c.id.in_(oldest))
            if node.get("reserved"):
                self._drop_reservations(conn, node_id, res_t.c.created_at < now - self.settings.connect_grace)
            if node["role"] in ("origin", "transcoder"):
                listed = streams if streams is not None else conn.execute(
                    sa.select(nodes_t.c.streams).where(nodes_t.c.id == node_id)).scalar_one()
                self._note_live_streams(conn, node, listed or [], now)
            version = self._peer_version(conn, node["deployment"])
        applied = streams is not None or hb.get("streams_base") == seq
        return self.beat_answer(node_id, state, node["deployment"], version, hb.get("peers_version"),
                                seq if applied else None)

    def _merge_streams(self, conn: sa.Connection, node: dict, hb: dict) -> tuple[list | None, int]:
        """(the node's new stream list or None when unchanged, the sequence number the manager holds).

        A full list replaces what is stored; a diff applies only to the list it was computed against
        (`streams_base` == the stored `streams_seq`), else nothing changes and the caller answers
        `streams_seq: null` so the agent sends the full list next."""
        seq = int(node.get("streams_seq") or 0)
        base = hb.get("streams_base")
        if base is None:
            return [dict(x) for x in hb["streams"]], seq + 1
        if base != seq or not (hb.get("streams_changed") or hb.get("streams_removed")):
            return None, seq
        stored = conn.execute(sa.select(nodes_t.c.streams).where(nodes_t.c.id == node["id"])).scalar_one() or []
        drop = {(k["app"], k["name"]) for k in hb.get("streams_removed") or []}
        drop |= {(x["app"], x["name"]) for x in hb["streams_changed"]}
        merged = [x for x in stored if (x.get("app"), x.get("name")) not in drop]
        merged += [dict(x) for x in hb["streams_changed"]]
        return merged, seq + 1

    def beat_answer(self, node_id: str, state: str, deployment: str, version: int, have: int | None,
                    streams_seq: int | None) -> dict:
        """A heartbeat's answer: the peer list only when the agent's version is not the current one."""
        return {"id": node_id, "state": state, "peers_version": version,
                "peers": None if have == version else self.peers(deployment, version),
                "streams_seq": streams_seq, "interval": self.pace.interval}

    # --- peer list versions -------------------------------------------------------------------

    def _bump_peers(self, conn: sa.Connection, deployment: str) -> None:
        """The deployment's peer list changed (a relay or edge joined, left, or moved): next version."""
        if self.postgres:
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        stmt = insert(peer_versions_t).values(deployment=deployment, version=1)
        conn.execute(stmt.on_conflict_do_update(index_elements=["deployment"],
                                                set_={"version": peer_versions_t.c.version + 1}))

    def _peer_version(self, conn: sa.Connection, deployment: str) -> int:
        return conn.execute(sa.select(peer_versions_t.c.version).where(
            peer_versions_t.c.deployment == deployment)).scalar_one_or_none() or 0

    def peers_cached(self, deployment: str, version: int) -> bool:
        cached = self._peers_cache.get(deployment)
        return cached is not None and cached[0] >= version

    def peers(self, deployment: str, version: int) -> list[str]:
        """Addresses of the deployment's relays and edges at `version` (read once per version and process).

        Read after the version, and a newer cached list serves an older version: an answer's list is
        never older than its version, and an agent holding a newer list under an older version number
        gets the list again at its next beat (its version is not the current one)."""
        cached = self._peers_cache.get(deployment)
        if cached is not None and cached[0] >= version:
            return cached[1]
        with self.read() as conn:
            rows = conn.execute(sa.select(nodes_t.c.public_host, nodes_t.c.private_host).where(
                nodes_t.c.deployment == deployment, nodes_t.c.role.in_(PEER_ROLES),
                nodes_t.c.state != "TERMINATED")).all()
        hosts = sorted({h for p in rows for h in p if h})
        if cached is None or cached[0] < version:
            self._peers_cache[deployment] = (version, hosts)
        return hosts

    def _note_live_streams(self, conn: sa.Connection, node: dict, streams: list[dict], now: float) -> None:
        """Streams an origin reports as publishing are live there (registered if published directly).

        One SELECT finds which are registered and one executemany UPDATE marks them, so a beat costs the
        same whatever the registry holds; only streams seen for the first time are inserted one by one."""
        live = {(s["app"], s["name"]) for s in streams if s.get("publishing")}
        if not live:
            return
        known = set()
        names = sorted({name for _, name in live})
        for start in range(0, len(names), 500):  # bound the IN list
            known.update(conn.execute(sa.select(streams_t.c.app, streams_t.c.name).where(
                streams_t.c.deployment == self.stream_scope,
                streams_t.c.name.in_(names[start:start + 500]))).tuples())
        known &= live
        if known:
            conn.execute(streams_t.update().where(
                streams_t.c.deployment == self.stream_scope, streams_t.c.app == sa.bindparam("b_app"),
                streams_t.c.name == sa.bindparam("b_name")).values(
                    origin_node_id=node["id"], region=node["region"], last_live_at=now),
                [{"b_app": app, "b_name": name} for app, name in sorted(known)])
        for app, name in sorted(live - known):  # first seen here: published directly to the origin
            try:
                with conn.begin_nested():  # a publish on another manager may insert it first
                    conn.execute(streams_t.insert().values(
                        deployment=self.stream_scope, app=app, name=name, origin_node_id=node["id"],
                        region=node["region"], created_at=now, assigned_at=now, last_live_at=now))
            except sa.exc.IntegrityError:
                conn.execute(streams_t.update().where(
                    streams_t.c.deployment == self.stream_scope, streams_t.c.app == app,
                    streams_t.c.name == name).values(origin_node_id=node["id"], region=node["region"],
                                                     last_live_at=now))

    def deregister(self, node_id: str, reason: str = "deregistered by its agent") -> dict:
        with self.tx() as conn:
            row = conn.execute(sa.select(*NODE_COLS).where(nodes_t.c.id == node_id).with_for_update()).one_or_none()
            if row is None:
                raise NotFound(f"node {node_id} is not registered")
            node = node_dict(row)
            if node["state"] != "TERMINATED":
                self._transition(conn, node, "TERMINATED", reason)
                if node["role"] in PEER_ROLES:
                    self._bump_peers(conn, node["deployment"])
            self._drop_reservations(conn, node_id)
            node["state"] = "TERMINATED"
            return node

    def set_state(self, node_ref: str, state: str, reason: str) -> dict:
        """Operator action: SUNSET drains a node, INSERVICE puts it back, TERMINATED retires it."""
        if state not in ADMIN_STATES:
            raise Invalid(f"state must be one of {', '.join(ADMIN_STATES)}")
        with self.tx() as conn:
            node = self._find(conn, node_ref, lock=True)
            if state == "INSERVICE" and node["last_heartbeat"] < self.fresh_after():
                raise Invalid(f"node {node['name']} is not heartbeating; it cannot be put in service")
            if node["state"] != state:
                self._transition(conn, node, state, reason or "set by operator")
                if state == "TERMINATED" and node["role"] in PEER_ROLES:
                    self._bump_peers(conn, node["deployment"])
                node["state"] = state
            return node

    def _find(self, conn: sa.Connection, node_ref: str, lock: bool = False) -> dict:
        q = sa.select(*NODE_COLS).where(sa.or_(nodes_t.c.id == node_ref, nodes_t.c.name == node_ref),
                                     self._scope(nodes_t))
        row = conn.execute(q.with_for_update() if lock else q).first()
        if row is None:
            raise NotFound(f"node {node_ref} not found")
        return node_dict(row)

    def get_node(self, node_ref: str) -> dict:
        with self.read() as conn:
            return self._find(conn, node_ref)

    def list_nodes(self, region: str | None = None, role: str | None = None, state: str | None = None,
                   include_terminated: bool = False) -> list[dict]:
        q = sa.select(*NODE_COLS).where(self._scope(nodes_t))
        for col, val in ((nodes_t.c.region, region), (nodes_t.c.role, role), (nodes_t.c.state, state)):
            if val:
                q = q.where(col == val)
        if not include_terminated and state != "TERMINATED":
            q = q.where(nodes_t.c.state != "TERMINATED")
        now = self.clock()
        with self.read() as conn:
            rows = [node_dict(r) for r in conn.execute(q.order_by(nodes_t.c.region, nodes_t.c.role,
                                                                  nodes_t.c.name))]
        for n in rows:
            n["heartbeat_age"] = round(now - n["last_heartbeat"], 3)
        return rows

    def region_coords(self) -> dict[str, tuple[float, float]]:
        """Mean coordinates of each spec region's nodes (cached for a second: geography is slow)."""
        at, cached = self._coords_cache
        if self.clock() - at < 1.0:
            return cached
        with self.read() as conn:
            rows = conn.execute(sa.select(nodes_t.c.region, sa.func.avg(nodes_t.c.lat), sa.func.avg(nodes_t.c.lon))
                                .where(self._scope(nodes_t), nodes_t.c.lat.is_not(None),
                                       nodes_t.c.lon.is_not(None), nodes_t.c.state != "TERMINATED")
                                .group_by(nodes_t.c.region)).all()
        coords = {r[0]: (float(r[1]), float(r[2])) for r in rows}
        self._coords_cache = (self.clock(), coords)
        return coords

    # --- streams and health -------------------------------------------------------------------

    def list_streams(self) -> list[dict]:
        """The registry with live state and viewer counts summed over every node that serves it."""
        fresh = self.fresh_after()
        with self.read() as conn:
            streams = [dict(r._mapping) for r in conn.execute(
                sa.select(streams_t).where(self._scope(streams_t)).order_by(streams_t.c.app, streams_t.c.name))]
            nodes = conn.execute(sa.select(nodes_t.c.id, nodes_t.c.name, nodes_t.c.role, nodes_t.c.state,
                                           nodes_t.c.streams, nodes_t.c.last_heartbeat)
                                 .where(self._scope(nodes_t), nodes_t.c.state != "TERMINATED")).all()
        names = {n.id: n.name for n in nodes}
        viewers: dict[tuple[str, str], int] = {}
        edges: dict[tuple[str, str], list[str]] = {}
        for n in nodes:
            if n.last_heartbeat < fresh:
                continue
            for s in n.streams or []:
                key = (s.get("app", ""), s.get("name", ""))
                viewers[key] = viewers.get(key, 0) + int(s.get("subscribers", 0))
                if n.role in ("edge", "relay") and (s.get("subscribers") or s.get("publishing")):
                    edges.setdefault(key, []).append(n.name)
        for s in streams:
            key = (s["app"], s["name"])
            s["viewers"] = viewers.get(key, 0)
            s["origin"] = names.get(s["origin_node_id"], s["origin_node_id"])
            s["live"] = bool(s["last_live_at"] and s["last_live_at"] >= fresh)
            s["edges"] = sorted(edges.get(key, []))
        return streams

    def lease(self, name: str = "leader") -> dict | None:
        with self.read() as conn:
            row = conn.execute(sa.select(leases_t).where(leases_t.c.name == name)).first()
        return dict(row._mapping) if row else None

    def health(self) -> dict:
        """A summary anyone may read: counts only, no addresses or stream names."""
        fresh = self.fresh_after()
        counts: dict[str, dict[str, int]] = {}
        with self.read() as conn:
            rows = conn.execute(sa.select(nodes_t.c.role, nodes_t.c.state, nodes_t.c.last_heartbeat,
                                          nodes_t.c.subscribers)
                                .where(self._scope(nodes_t), nodes_t.c.state != "TERMINATED")).all()
            n_streams = conn.execute(sa.select(sa.func.count()).select_from(streams_t).where(
                self._scope(streams_t), streams_t.c.last_live_at >= fresh)).scalar_one()
        viewers = 0
        for r in rows:
            state = r.state if (r.last_heartbeat >= fresh or r.state == "FAULT") else "FAULT"
            counts.setdefault(r.role, {}).setdefault(state, 0)
            counts[r.role][state] += 1
            viewers += r.subscribers if r.role == "edge" and state == "INSERVICE" else 0
        serving = {role: c.get("INSERVICE", 0) for role, c in counts.items()}
        if not rows:
            status = "empty"
        elif serving.get("origin", 0) and serving.get("edge", 0):
            status = "ok"
        else:
            status = "degraded"
        lease = self.lease()
        return {"status": status, "deployment": self.deployment, "nodes": counts, "live_streams": n_streams,
                "viewers": viewers, "instance": self.settings.instance_id,
                "leader": lease["holder"] if lease and lease["expires_at"] >= self.clock() else None,
                "beat_interval": self.pace.interval, "fault_timeout": self.fault_timeout()}

    def known_regions(self) -> list[str]:
        with self.read() as conn:
            return list(conn.execute(sa.select(nodes_t.c.region).where(self._scope(nodes_t)).distinct()).scalars())

    def metrics_snapshot(self) -> dict:
        """The fleet for /metrics and /ui in three reads: nodes, live streams, events by kind.

        A node silent past the heartbeat timeout counts as FAULT before the leader marks it. Load is
        what capacity limits: viewers + reserved slots on edges, publishers on origins and
        transcoders, pulls by edges on relays.
        """
        fresh, now = self.fresh_after(), self.clock()
        with self.read() as conn:
            rows = conn.execute(sa.select(
                nodes_t.c.name, nodes_t.c.region, nodes_t.c.role, nodes_t.c.state, nodes_t.c.capacity,
                nodes_t.c.subscribers, nodes_t.c.reserved, nodes_t.c.publishers, nodes_t.c.relays,
                nodes_t.c.last_heartbeat).where(self._scope(nodes_t), nodes_t.c.state != "TERMINATED")
                .order_by(nodes_t.c.region, nodes_t.c.role, nodes_t.c.name)).all()
            live = conn.execute(sa.select(sa.func.count()).select_from(streams_t).where(
                self._scope(streams_t), streams_t.c.last_live_at >= fresh)).scalar_one()
            events = dict(conn.execute(sa.select(events_t.c.kind, sa.func.count()).where(self._scope(events_t))
                                       .group_by(events_t.c.kind)).all())
        snap: dict = {"nodes": {}, "pools": {}, "per_node": [], "regions": {}, "live_streams": live,
                      "events": events}
        for r in rows:
            state = r.state if r.last_heartbeat >= fresh or r.state == "FAULT" else "FAULT"
            load = {"edge": r.subscribers + r.reserved, "relay": r.relays}.get(r.role, r.publishers)
            snap["nodes"][(r.region, r.role, state)] = snap["nodes"].get((r.region, r.role, state), 0) + 1
            snap["per_node"].append({"name": r.name, "region": r.region, "role": r.role, "state": state,
                                     "load": load, "capacity": r.capacity,
                                     "heartbeat_age": round(max(0.0, now - r.last_heartbeat), 3)})
            region = snap["regions"].setdefault(r.region, {"viewers": 0, "reserved": 0, "publishers": 0})
            pool = snap["pools"].setdefault((r.region, r.role), {"load": 0, "capacity": 0})
            if state != "INSERVICE":
                continue
            pool["load"] += load
            pool["capacity"] += r.capacity
            if r.role == "edge":
                region["viewers"] += r.subscribers
                region["reserved"] += r.reserved
            elif r.role == "origin":
                region["publishers"] += r.publishers
        return snap

    # --- leader work --------------------------------------------------------------------------

    def detect_faults(self) -> list[dict]:
        """Declare silent nodes FAULT. Only the leader calls this; the guarded UPDATE keeps it idempotent."""
        stale_before = self.fresh_after()
        with self.tx() as conn:
            rows = conn.execute(sa.select(*NODE_COLS).where(self._scope(nodes_t), nodes_t.c.state.in_(LIVE_STATES),
                                                         nodes_t.c.last_heartbeat < stale_before)).all()
            faulted = []
            for r in rows:
                node = node_dict(r)
                age = self.clock() - node["last_heartbeat"]
                stmt_guard = nodes_t.c.last_heartbeat < stale_before
                changed = conn.execute(nodes_t.update().where(nodes_t.c.id == node["id"], stmt_guard,
                                                              nodes_t.c.state.in_(LIVE_STATES))
                                       .values(state="FAULT", state_changed_at=self.clock())).rowcount
                if changed:
                    self._event(conn, node, "state", node["state"], "FAULT",
                                f"no heartbeat for {age:.1f}s (timeout {self.fault_timeout():g}s)")
                    self._drop_reservations(conn, node["id"])
                    faulted.append(node)
        return faulted

    def load_pace(self) -> Pace:
        """The pace the leader last wrote (every process's leader loop reads it)."""
        with self.read() as conn:
            row = conn.execute(sa.select(pace_t).where(pace_t.c.scope == self.stream_scope)).first()
        if row is not None:
            self.pace = _pace_of(row)
        return self.pace

    def adjust_pace(self) -> Pace:
        """Leader: count the nodes beating and store the interval to ask of them (`pace.asked_interval`)."""
        with self.tx() as conn:
            nodes = conn.execute(sa.select(sa.func.count()).select_from(nodes_t).where(
                self._scope(nodes_t), nodes_t.c.state.in_(LIVE_STATES),
                nodes_t.c.last_heartbeat >= self.fresh_after())).scalar_one()
            row = conn.execute(sa.select(pace_t).where(pace_t.c.scope == self.stream_scope).with_for_update()).first()
            old = _pace_of(row) if row else self.pace
            asked = asked_interval(nodes, self.settings.max_beat_rate, self.settings.beat_interval, old.interval)
            new = Pace(asked, old.interval, self.clock(), nodes) if asked != old.interval else \
                Pace(old.interval, old.prev_interval, old.changed_at, nodes)
            values = {"interval": new.interval, "prev_interval": new.prev_interval, "changed_at": new.changed_at,
                      "nodes": nodes}
            if row is None:
                conn.execute(pace_t.insert().values(scope=self.stream_scope, **values))
            elif row.nodes != nodes or asked != old.interval:
                conn.execute(pace_t.update().where(pace_t.c.scope == self.stream_scope).values(**values))
        self.pace = new
        return new

    def _drop_reservations(self, conn: sa.Connection, node_id: str, *where) -> int:
        """Delete a node's reservations and lower its counter by exactly what was deleted.

        Callers hold the node row (FOR UPDATE / the SQLite writer), so the counter stays exact.
        """
        n = conn.execute(res_t.delete().where(res_t.c.node_id == node_id, *where)).rowcount
        if n:
            conn.execute(nodes_t.update().where(nodes_t.c.id == node_id).values(
                reserved=sa.case((nodes_t.c.reserved > n, nodes_t.c.reserved - n), else_=0)))
        return n

    def purge_reservations(self) -> int:
        """Expire old reservations, one node per transaction, node row locked first (as everywhere)."""
        now, total = self.clock(), 0
        with self.read() as conn:
            node_ids = conn.execute(sa.select(res_t.c.node_id).where(res_t.c.expires_at <= now).distinct()).scalars().all()
        for node_id in node_ids:
            with self.tx() as conn:
                conn.execute(sa.select(nodes_t.c.id).where(nodes_t.c.id == node_id).with_for_update()).first()
                total += self._drop_reservations(conn, node_id, res_t.c.expires_at <= now)
        return total

    def checkpoint(self) -> None:
        """SQLite: copy the WAL back into the database without blocking writers (leader's background work)."""
        if self.postgres:
            return
        with self.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    def renew_lease(self, name: str, holder: str, ttl: float) -> None:
        """Advertise the current leader (the lock itself is the advisory lock / the single process)."""
        now = self.clock()
        with self.tx() as conn:
            row = conn.execute(sa.select(leases_t).where(leases_t.c.name == name).with_for_update()).first()
            if row is None:
                conn.execute(leases_t.insert().values(name=name, holder=holder, acquired_at=now,
                                                      renewed_at=now, expires_at=now + ttl))
            else:
                acquired = row.acquired_at if row.holder == holder else now
                conn.execute(leases_t.update().where(leases_t.c.name == name).values(
                    holder=holder, acquired_at=acquired, renewed_at=now, expires_at=now + ttl))

    # --- leases for other programs (`ccds operate`) and demand counters ------------------------

    def acquire_lease(self, name: str, holder: str, ttl: float) -> dict:
        """Take, renew or be refused a lease; the answer says who holds it and until when.

        Granted when nobody holds it, when it expired, or when `holder` already holds it (a renewal
        keeps `acquired_at` and the generation; a new holder gets the next generation). One short
        transaction with the row locked, so two callers on two managers cannot both be granted.
        """
        for _ in range(3):  # a concurrent first insert of the same name: read again and decide
            now = self.clock()
            try:
                with self.tx() as conn:
                    row = conn.execute(sa.select(leases_t).where(leases_t.c.name == name)
                                       .with_for_update()).first()
                    if row is None:
                        values = {"name": name, "holder": holder, "acquired_at": now, "renewed_at": now,
                                  "expires_at": now + ttl, "generation": 1}
                        conn.execute(leases_t.insert().values(**values))
                        return dict(values, granted=True)
                    cur = dict(row._mapping)
                    if cur["holder"] != holder and cur["expires_at"] > now:
                        return dict(cur, granted=False)
                    renewal = cur["holder"] == holder and cur["expires_at"] > now
                    values = {"holder": holder, "renewed_at": now, "expires_at": now + ttl,
                              "acquired_at": cur["acquired_at"] if renewal else now,
                              "generation": cur["generation"] if renewal else cur["generation"] + 1}
                    conn.execute(leases_t.update().where(leases_t.c.name == name).values(**values))
                    return dict(values, name=name, granted=True)
            except sa.exc.IntegrityError:
                continue
        raise DatabaseUnavailable(f"lease {name}: too many concurrent takers, retry")

    def release_lease(self, name: str, holder: str) -> bool:
        """Give a lease up at once (its holder only); False when `holder` did not hold it."""
        now = self.clock()
        with self.tx() as conn:
            return bool(conn.execute(leases_t.update().where(
                leases_t.c.name == name, leases_t.c.holder == holder, leases_t.c.expires_at > now)
                .values(expires_at=now, renewed_at=now)).rowcount)

    def count_demand(self, region: str | None, kind: str, n: int = 1) -> None:
        """Count a viewer the manager could not place in its region (`refused`, `fallback`, `spilled`)."""
        now, dep, region = self.clock(), self.stream_scope, region or ""
        where = (demand_t.c.deployment == dep, demand_t.c.region == region, demand_t.c.kind == kind)
        for _ in range(3):
            try:
                with self.tx() as conn:
                    if conn.execute(demand_t.update().where(*where).values(
                            count=demand_t.c.count + n, updated_at=now)).rowcount:
                        return
                    conn.execute(demand_t.insert().values(deployment=dep, region=region, kind=kind, count=n,
                                                          updated_at=now))
                    return
            except sa.exc.IntegrityError:  # another manager inserted the row first: update it
                continue

    def demand(self) -> dict[str, dict[str, int]]:
        """{region: {kind: count}} since the database was created ("" = viewers who named no region)."""
        out: dict[str, dict[str, int]] = {}
        with self.read() as conn:
            for r in conn.execute(sa.select(demand_t.c.region, demand_t.c.kind, demand_t.c.count)
                                  .where(demand_t.c.deployment == self.stream_scope)):
                out.setdefault(r.region, {})[r.kind] = int(r.count)
        return out


def _pace_of(row: Any) -> Pace:
    """A `beat_pace` row as the Pace it stores."""
    return Pace(row.interval, row.prev_interval, row.changed_at, row.nodes)
