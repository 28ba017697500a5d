"""Publish -> origin and subscribe -> edge decisions.

Candidates are ranked requested region first, then by distance, then least loaded. A publish
tries each origin in its own short transaction that locks the row and re-counts its streams; a
subscribe takes an edge's slot with one conditional UPDATE (see `subscribe`). Either way a
manager holds at most one node lock at a time, so several managers can never deadlock.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import threading
import time
import weakref
from typing import Any

import sqlalchemy as sa

from ccds_cli.geo import distance_km
from ccds_cli.sm.store import NoCapacity, NoEdgeCapacity, NotFound, Store, nodes_t, res_t, streams_t

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def stream_urls(endpoints: dict[str, str], app: str, name: str) -> dict[str, str]:
    """`rtmp=rtmp://h:1935/live` -> `rtmp://h:1935/live/<name>`; `{app}`/`{stream}` templates also work."""
    urls = {}
    for proto, prefix in sorted((endpoints or {}).items()):
        if "{stream}" in prefix or "{app}" in prefix:
            urls[proto] = prefix.replace("{app}", app).replace("{stream}", name)
        else:
            urls[proto] = f"{prefix.rstrip('/')}/{name}"
    return urls


def _rank(store: Store, candidates: list[dict], region: str | None, lat: float | None,
          lon: float | None) -> list[dict]:
    """Order candidates: requested region, then nearest regions, least loaded first within a region."""
    coords = store.region_coords()
    ref = (lat, lon) if lat is not None and lon is not None else coords.get(region) if region else None

    def key(c: dict) -> tuple:
        load = c["load"] / c["capacity"] if c["capacity"] > 0 else 1.0
        if region and c["region"] == region:
            return (0, 0.0, "", load, c["name"])
        here = (c["lat"], c["lon"]) if c["lat"] is not None and c["lon"] is not None else coords.get(c["region"])
        if ref is not None and here is not None:
            return (1, round(distance_km(ref, here), 0), c["region"], load, c["name"])
        if ref is None and not region:
            return (1, 0.0, "", load, c["name"])  # nothing to be near to: least loaded anywhere
        return (2, 0.0, c["region"], load, c["name"])

    return sorted(candidates, key=key)


def _alive(store: Store, role: str):
    return sa.and_(store._scope(nodes_t), nodes_t.c.role == role, nodes_t.c.state == "INSERVICE",
                   nodes_t.c.last_heartbeat >= store.fresh_after())


def _origin_load(now: float, ttl: float, fresh: float):
    """Streams held by an origin: live ones plus those assigned recently and not yet seen live."""
    return (sa.select(sa.func.count()).where(
        streams_t.c.origin_node_id == nodes_t.c.id,
        sa.or_(streams_t.c.last_live_at >= fresh, streams_t.c.assigned_at >= now - ttl))
        .scalar_subquery())


_CANDIDATE_COLS = (nodes_t.c.id, nodes_t.c.name, nodes_t.c.region, nodes_t.c.provider, nodes_t.c.capacity,
                   nodes_t.c.lat, nodes_t.c.lon, nodes_t.c.endpoints, nodes_t.c.engine, nodes_t.c.public_host,
                   nodes_t.c.private_host, nodes_t.c.stats_url)


def _node_out(c: dict) -> dict:
    return {k: c[k] for k in ("id", "name", "region", "provider", "engine", "public_host", "private_host")}


def publish(store: Store, app: str, name: str, region: str | None = None, lat: float | None = None,
            lon: float | None = None) -> dict[str, Any]:
    """Pick the least-loaded INSERVICE origin (requested region, else nearest) and record the stream."""
    now, s = store.clock(), store.settings
    fresh = store.fresh_after()
    deployment = store.stream_scope
    with store.read() as conn:
        existing = conn.execute(sa.select(streams_t, nodes_t.c.state, nodes_t.c.last_heartbeat)
                                .select_from(streams_t.outerjoin(nodes_t, nodes_t.c.id == streams_t.c.origin_node_id))
                                .where(streams_t.c.deployment == deployment, streams_t.c.app == app,
                                       streams_t.c.name == name)).first()
        load = sa.func.max(nodes_t.c.publishers, _origin_load(now, s.reservation_ttl, fresh)) \
            if not store.postgres else sa.func.greatest(nodes_t.c.publishers, _origin_load(now, s.reservation_ttl, fresh))
        rows = conn.execute(sa.select(*_CANDIDATE_COLS, load.label("load")).where(_alive(store, "origin"))).all()
    if existing is not None and existing.state == "INSERVICE" and existing.last_heartbeat >= fresh:
        keep = [dict(r._mapping) for r in rows if r.id == existing.origin_node_id]
        if keep:  # a reconnecting publisher goes back to the origin that already holds its stream
            with store.tx() as conn:
                conn.execute(streams_t.update().where(streams_t.c.id == existing.id).values(assigned_at=now))
            return _publish_answer(store, keep[0], existing.id, app, name)
    candidates = [dict(r._mapping) for r in rows if r.load < r.capacity]
    for c in _rank(store, candidates, region, lat, lon):
        with store.tx() as conn:
            locked = conn.execute(sa.select(nodes_t.c.state, nodes_t.c.capacity, nodes_t.c.last_heartbeat, load)
                                  .where(nodes_t.c.id == c["id"]).with_for_update()).first()
            if locked is None or locked.state != "INSERVICE" or locked.last_heartbeat < fresh \
                    or locked[3] >= locked.capacity:
                continue
            if existing is None:
                try:
                    with conn.begin_nested():
                        sid = conn.execute(streams_t.insert().values(
                            deployment=deployment, app=app, name=name, origin_node_id=c["id"], region=c["region"],
                            created_at=now, assigned_at=now, last_live_at=None)
                            .returning(streams_t.c.id)).scalar_one()
                except sa.exc.IntegrityError:  # another manager registered it a moment ago: retry the read
                    return publish(store, app, name, region, lat, lon)
            else:
                sid = existing.id
                conn.execute(streams_t.update().where(streams_t.c.id == sid).values(
                    origin_node_id=c["id"], region=c["region"], assigned_at=now, last_live_at=None))
        return _publish_answer(store, c, sid, app, name)
    raise NoCapacity("no INSERVICE origin with spare capacity" + (f" in or near region {region}" if region else ""))


def _publish_answer(store: Store, origin: dict, sid: int, app: str, name: str) -> dict:
    """Publish to the origin, or to a transcoder of its region when there is one with a free slot: the
    transcoder pushes the stream and its renditions to that origin (ccds_cli/agent/transcoder.py)."""
    node = _transcoder_for(store, origin, sid) or origin
    return {"app": app, "stream": name, "stream_id": sid, "node": _node_out(node), "origin": origin["name"],
            "transcoder": node is not origin, "urls": stream_urls(node["endpoints"], app, name)}


def _transcoder_for(store: Store, origin: dict, sid: int) -> dict | None:
    """The least-loaded INSERVICE transcoder of the origin's region with a free slot, the slot taken.

    Load is the publishers it counts plus its open reservations: a slot is held by a reservation, as
    a viewer's on an edge, until the transcoder's own beats count the publisher. Called after the
    origin's transaction ended: one node lock at a time, as everywhere.
    """
    now, fresh = store.clock(), store.fresh_after()
    load = nodes_t.c.publishers + nodes_t.c.reserved
    free = sa.and_(nodes_t.c.state == "INSERVICE", nodes_t.c.last_heartbeat >= fresh, load < nodes_t.c.capacity)
    with store.read() as conn:
        rows = [dict(r._mapping) for r in conn.execute(
            sa.select(*_CANDIDATE_COLS, load.label("load"))
            .where(_alive(store, "transcoder"), nodes_t.c.region == origin["region"], free))]
    for t in sorted(rows, key=lambda r: (r["load"] / r["capacity"], r["name"])):
        with store.tx() as conn:
            if conn.execute(nodes_t.update().where(nodes_t.c.id == t["id"], free)
                            .values(reserved=nodes_t.c.reserved + 1)).rowcount != 1:
                continue  # filled up since we read it
            conn.execute(res_t.insert().values(node_id=t["id"], stream_id=sid, created_at=now,
                                               expires_at=now + store.settings.reservation_ttl))
        t["endpoints"] = _endpoints(t["endpoints"])
        return t
    return None


# --- renditions: which rungs of the ladder are live for a stream ---------------------------------

_RENDITION_RE = re.compile(r"^(.+)_(\d{2,4})p$")


class _LiveRenditions:
    """Live `<stream>_<height>p` streams of the ladder, by (app, stream): one query a second per manager,
    so the subscribe path pays a dictionary lookup."""

    TTL = 1.0

    def __init__(self) -> None:
        self.at = float("-inf")
        self.live: dict[tuple[str, str], list[tuple[str, int, int]]] = {}
        self.lock = threading.Lock()

    def stale(self) -> bool:
        return time.monotonic() - self.at >= self.TTL

    def refresh(self, store: Store) -> None:
        """Re-read the registry; a caller that finds another one refreshing keeps the current list."""
        if not self.lock.acquire(blocking=False):
            return
        try:
            if not self.stale():
                return
            kbps = dict(store.settings.renditions)
            with store.read() as conn:
                rows = conn.execute(sa.select(streams_t.c.app, streams_t.c.name).where(
                    streams_t.c.deployment == store.stream_scope, streams_t.c.last_live_at >= store.fresh_after(),
                    streams_t.c.name.like("%\\_%p", escape="\\")).limit(100_000)).all()
            live: dict[tuple[str, str], list[tuple[str, int, int]]] = {}
            for app, name in rows:
                m = _RENDITION_RE.match(name)
                if m and int(m.group(2)) in kbps:
                    live.setdefault((app, m.group(1)), []).append((name, int(m.group(2)), kbps[int(m.group(2))]))
            for rungs in live.values():
                rungs.sort(key=lambda r: -r[1])
            self.live, self.at = live, time.monotonic()
        finally:
            self.lock.release()


_rendition_caches: "weakref.WeakKeyDictionary[Store, _LiveRenditions]" = weakref.WeakKeyDictionary()


def _renditions_cache(store: Store) -> _LiveRenditions:
    cache = _rendition_caches.get(store)
    if cache is None:
        cache = _rendition_caches.setdefault(store, _LiveRenditions())
    return cache


def live_renditions(store: Store, app: str, name: str) -> list[tuple[str, int, int]]:
    """(stream name, height, kbps) of each live rendition of `app/name`, highest first."""
    cache = _renditions_cache(store)
    if cache.stale():
        cache.refresh(store)
    return cache.live.get((app, name), [])


# The subscribe path is the hot one: portable hand-written SQL run on a DBAPI cursor. SQLAlchemy's
# statement and result machinery costs more than the queries themselves here (measured: ~3x).
# The fast path asks the database to pick, take and record in as few statements as it can; when it
# finds nothing (unknown stream, origin down, region full, or a lat/lon to rank by) the general path
# below decides with the full ranking and the right error.
_EDGE_FILTER = ("role = 'edge' AND state = 'INSERVICE' AND last_heartbeat >= :fresh"
                " AND subscribers + reserved < capacity")
_EDGE_ORDER = " ORDER BY CAST(subscribers + reserved AS FLOAT) / capacity, name"
# Ties break by name in code-point order, as SQLite and Python sort; it also spares PostgreSQL a locale compare.
_EDGE_ORDER_PG = _EDGE_ORDER + ' COLLATE "C"'
_ANSWER_COLS = "id, name, region, provider, engine, public_host, private_host, endpoints"
_STREAM_SQL = ("SELECT s.id, n.state, n.last_heartbeat, n.name FROM streams s LEFT JOIN nodes n"
               " ON n.id = s.origin_node_id WHERE s.deployment = :scope AND s.app = :app AND s.name = :name")
_RESERVE_SQL = ("INSERT INTO reservations (node_id, stream_id, created_at, expires_at)"
                " VALUES (:node, :stream, :now, :until) RETURNING id")


def _scope_sql(region: bool, deployment: bool) -> str:
    return (" AND region = :region" if region else "") + (" AND deployment = :dep" if deployment else "")


@functools.cache
def _fast_sqlite(region: bool, deployment: bool) -> str:
    """SQLite: one UPDATE takes a slot on the least-loaded edge (the writer lock makes it atomic)."""
    pick = f"SELECT id FROM nodes WHERE {_EDGE_FILTER}{_scope_sql(region, deployment)}{_EDGE_ORDER} LIMIT 1"
    return (f"UPDATE nodes SET reserved = reserved + 1 WHERE id = ({pick}) AND {_EDGE_FILTER}"
            f" RETURNING {_ANSWER_COLS}")


@functools.cache
def _fast_postgres(region: bool, deployment: bool) -> str:
    """PostgreSQL: check the stream, pick (skipping rows another manager is updating), take, record: one
    statement in autocommit, so one round trip. The UPDATE re-checks capacity on the latest row."""
    n_cols = ", ".join(f"n.{c.strip()}" for c in _ANSWER_COLS.split(","))
    return (
        "WITH s AS (SELECT s.id, o.name AS origin FROM streams s JOIN nodes o ON o.id = s.origin_node_id"
        " WHERE s.deployment = :scope AND s.app = :app AND s.name = :name AND o.state = 'INSERVICE'"
        " AND o.last_heartbeat >= :fresh),"
        f" pick AS (SELECT id FROM nodes WHERE EXISTS (SELECT 1 FROM s) AND {_EDGE_FILTER}"
        f"{_scope_sql(region, deployment)}{_EDGE_ORDER_PG} LIMIT 1 FOR UPDATE SKIP LOCKED),"
        " took AS (UPDATE nodes n SET reserved = n.reserved + 1 FROM pick WHERE n.id = pick.id"
        f" AND n.subscribers + n.reserved < n.capacity RETURNING {n_cols}),"
        " res AS (INSERT INTO reservations (node_id, stream_id, created_at, expires_at)"
        " SELECT took.id, s.id, :now, :until FROM took, s RETURNING id)"
        f" SELECT {', '.join('took.' + c.strip() for c in _ANSWER_COLS.split(','))}, s.origin, res.id"
        " FROM took, s, res")


_TAKE_SQL = f"UPDATE nodes SET reserved = reserved + 1 WHERE id = :id AND {_EDGE_FILTER}"
# PostgreSQL: take the slot and record the reservation in one round trip (a data-modifying CTE).
_TAKE_AND_RESERVE_PG = (
    f"WITH took AS (UPDATE nodes SET reserved = reserved + 1 WHERE id = :id AND {_EDGE_FILTER} RETURNING id)"
    " INSERT INTO reservations (node_id, stream_id, created_at, expires_at)"
    " SELECT id, :stream, :now, :until FROM took RETURNING id")
_EDGE_COLS = ("id", "name", "region", "provider", "engine", "public_host", "private_host", "endpoints", "capacity",
              "lat", "lon", "load")
NAMED_PARAM = re.compile(r":([a-z]+)")  # how our SQL names parameters (pgasync numbers them for asyncpg)
_converted: dict[tuple[str, str], str] = {}


def _run_sql(paramstyle: str, sql: str) -> str:
    """`sql` written with :name parameters, in the driver's parameter style (cached)."""
    key = (paramstyle, sql)
    if key not in _converted:
        _converted[key] = NAMED_PARAM.sub(r"%(\1)s", sql) if paramstyle == "pyformat" else sql
    return _converted[key]


def _run(cur, paramstyle: str, sql: str, params: dict):
    """Execute `sql` on a DBAPI cursor of either database."""
    cur.execute(_run_sql(paramstyle, sql), params)
    return cur


def _cursor(conn: sa.Connection, sql: str, params: dict):
    """Run `sql` on the raw DBAPI cursor of an SQLAlchemy connection, in its current transaction."""
    return _run(conn.connection.dbapi_connection.cursor(), conn.dialect.paramstyle, sql, params)


@functools.cache
def _edges_sql(region: bool, deployment: bool, limited: bool, postgres: bool) -> str:
    sql = ("SELECT id, name, region, provider, engine, public_host, private_host, endpoints, capacity, lat, lon,"
           f" subscribers + reserved AS load FROM nodes WHERE {_EDGE_FILTER}{_scope_sql(region, deployment)}")
    return sql + ((_EDGE_ORDER_PG if postgres else _EDGE_ORDER) + " LIMIT 4" if limited else "")


def _endpoints(value) -> dict:
    return json.loads(value) if isinstance(value, str) else value  # SQLite hands JSON back as text


def _edges(conn: sa.Connection, store: Store, region: str | None, limit: bool) -> list[dict]:
    """INSERVICE edges with a free slot; with `limit`, the 4 least loaded."""
    params = _scoped(store, region, fresh=store.fresh_after())
    cur = _cursor(conn, _edges_sql(bool(region), bool(store.deployment), limit, store.postgres), params)
    rows = [dict(zip(_EDGE_COLS, r)) for r in cur.fetchall()]
    for r in rows:
        r["endpoints"] = _endpoints(r["endpoints"])
    return rows


def _edge_order(conn: sa.Connection, store: Store, region: str | None, lat: float | None, lon: float | None):
    """Yield candidates: the requested region's least loaded first, then everything else ranked."""
    tried: set[str] = set()
    if _fast_applies(region, lat, lon):
        for c in _edges(conn, store, region, limit=True):
            tried.add(c["id"])
            yield c
    for c in _rank(store, _edges(conn, store, None, limit=False), region, lat, lon):
        if c["id"] not in tried:
            yield c


def _answer(app: str, name: str, row, origin: str, rid: int, until: float,
            renditions: list[tuple[str, int, int]]) -> dict[str, Any]:
    """The subscribe answer from a row of `_ANSWER_COLS` (or an edge dict with those keys)."""
    if not isinstance(row, dict):
        row = dict(zip(("id", "name", "region", "provider", "engine", "public_host", "private_host", "endpoints"),
                       row))
    endpoints = _endpoints(row["endpoints"])
    return {"app": app, "stream": name, "node": _node_out(row), "origin": origin,
            "urls": stream_urls(endpoints, app, name), "reservation": rid, "reserved_until": until,
            "renditions": [{"name": r, "height": h, "kbps": k, "urls": stream_urls(endpoints, app, r)}
                           for r, h, k in renditions], "fallback": None, "fallback_reason": None}


# --- the HLS fallback ---------------------------------------------------------------------------
# The stream's origin holds every stream it receives; when its region sets `fallback: hls` it also
# segments them into HLS and registers the playlist URL as its `hls` endpoint (engines and the local
# cloud). No slot is reserved: HLS is plain HTTP, which the origin (or a CDN in front of it) serves.
HLS_NODE_COLS = ("id", "name", "region", "provider", "engine", "public_host", "private_host", "endpoints",
                 "state", "last_heartbeat")
_HLS_SQL = (f"SELECT {', '.join('n.' + c for c in HLS_NODE_COLS)} FROM streams s JOIN nodes n"
            " ON n.id = s.origin_node_id WHERE s.deployment = :scope AND s.app = :app AND s.name = :name")
NO_CAPACITY, REQUESTED = "no_capacity", "requested"  # `fallback_reason` of an HLS answer


class NoHls(NotFound):
    """The client asked for HLS, but the stream's origin serves none (its region sets `fallback: none`)."""


def hls_urls(endpoints: dict[str, str], app: str, name: str) -> dict[str, str] | None:
    """`urls` of an HLS answer from the serving node's endpoints: {"hls": playlist URL}, or None when the
    node offers no HLS. The one place that builds the fallback URL (a rendition ladder would point
    `hls` at a master playlist here)."""
    if not endpoints.get("hls"):
        return None
    return {"hls": stream_urls({"hls": endpoints["hls"]}, app, name)["hls"]}


def _hls_answer(store: Store, row, app: str, name: str, reason: str) -> dict[str, Any] | None:
    """The `fallback: hls` answer from a row of HLS_NODE_COLS; None when that node serves no HLS. The
    origin holds every rendition a transcoder publishes, so their playlists are on the same node."""
    node = dict(zip(HLS_NODE_COLS, row))
    endpoints = _endpoints(node["endpoints"]) or {}
    urls = hls_urls(endpoints, app, name)
    if urls is None:
        return None
    renditions = [{"name": r, "height": h, "kbps": k, "urls": hls_urls(endpoints, app, r)}
                  for r, h, k in live_renditions(store, app, name)]
    return {"app": app, "stream": name, "node": _node_out(node), "origin": node["name"], "urls": urls,
            "reservation": None, "reserved_until": None, "fallback": "hls", "fallback_reason": reason,
            "renditions": renditions}


def master_playlist(answer: dict[str, Any]) -> str:
    """The HLS master playlist (RFC 8216, 4.3.4.2) of an HLS answer's renditions, highest first: a player
    picks the rung its bandwidth allows. BANDWIDTH is the ladder's video bitrate plus 128 kbit/s of audio."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3"]
    for r in answer["renditions"]:
        lines += [f"#EXT-X-STREAM-INF:BANDWIDTH={(r['kbps'] + 128) * 1000},NAME=\"{r['height']}p\"", r["urls"]["hls"]]
    return "\n".join(lines) + "\n"


def _hls_params(store: Store, app: str, name: str) -> dict:
    return {"scope": store.stream_scope, "app": app, "name": name}


def _requested_hls(store: Store, row, app: str, name: str) -> dict[str, Any]:
    """A client asked for HLS: the answer, or the error that says why there is none."""
    if row is None:
        raise NotFound(f"stream {app}/{name} is not published")
    node = dict(zip(HLS_NODE_COLS, row))
    if node["state"] != "INSERVICE" or node["last_heartbeat"] < store.fresh_after():
        raise NoCapacity(f"the origin of {app}/{name} is unavailable; the publisher has to reconnect")
    answer = _hls_answer(store, row, app, name, REQUESTED)
    if answer is None:
        raise NoHls(f"stream {app}/{name} has no HLS: the region of its origin sets fallback: none")
    return answer


def subscribe_hls(store: Store, app: str, name: str) -> dict[str, Any]:
    """`protocol=hls`: the stream's HLS from its origin, no edge slot taken."""
    with store.read() as conn:
        row = _cursor(conn, _HLS_SQL, _hls_params(store, app, name)).fetchone()
    return _requested_hls(store, row, app, name)


async def subscribe_hls_async(store: Store, pool, app: str, name: str) -> dict[str, Any]:
    """`subscribe_hls` on PostgreSQL's async connections (one read, no thread hand-off)."""
    row = await pool.fetch_one(_HLS_SQL, _hls_params(store, app, name))
    return _requested_hls(store, row, app, name)


FALLBACK_EVENT_EVERY = 60.0  # seconds: one `fallback` event per origin and requested region (per manager)


def note_fallback(store: Store, answer: dict[str, Any], region: str | None, noted: dict) -> bool:
    """Record a `fallback` event (GET /events, the dashboard) when viewers start going to HLS for lack
    of edges; `noted` (the caller's, per process) keeps it to one a minute per origin and region."""
    node, now = answer["node"], store.clock()
    key = (node["id"], region or "")
    if now - noted.get(key, float("-inf")) < FALLBACK_EVENT_EVERY:
        return False
    if len(noted) > 10_000:  # clients choose the region they name: bound what we remember
        noted.clear()
    noted[key] = now
    where = f"in or near region {region}" if region else "anywhere"
    with store.tx() as conn:
        store._event(conn, {"deployment": store.deployment or store.stream_scope, "id": node["id"],
                            "name": node["name"]}, "fallback", None, None,
                     f"no edge with a free slot {where}: viewers of {answer['app']}/{answer['stream']} "
                     "sent to HLS from this origin")
    return True


def _scoped(store: Store, region: str | None, **params) -> dict:
    """`params` plus the :region and :dep values that `_scope_sql` asks for."""
    if region:
        params["region"] = region
    if store.deployment:
        params["dep"] = store.deployment
    return params


def _fast_params(store: Store, app: str, name: str, region: str | None, now: float, fresh: float,
                 until: float) -> dict:
    return _scoped(store, region, scope=store.stream_scope, app=app, name=name, fresh=fresh, now=now, until=until)


def _fast_applies(region: str | None, lat: float | None, lon: float | None) -> bool:
    """The database can pick alone unless the viewer's coordinates (and no region) must rank regions."""
    return bool(region) or lat is None or lon is None


def _fast_subscribe(store: Store, app: str, name: str, region: str | None, now: float, fresh: float,
                    until: float) -> dict[str, Any] | None:
    """SQLite's common case in three statements; None sends the caller the long way."""
    params = _fast_params(store, app, name, region, now, fresh, until)
    with store.hot() as (cur, style):
        stream = _run(cur, style, _STREAM_SQL, params).fetchone()
        if stream is None or stream[1] != "INSERVICE" or stream[2] < fresh:
            return None
        row = _run(cur, style, _fast_sqlite(bool(region), bool(store.deployment)), params).fetchone()
        if row is None:
            return None
        rid = _run(cur, style, _RESERVE_SQL, {"node": row[0], "stream": stream[0], "now": now,
                                              "until": until}).fetchone()[0]
        return _answer(app, name, row, stream[3], rid, until, live_renditions(store, app, name))


async def subscribe_async(store: Store, pool, app: str, name: str, region: str | None = None,
                          lat: float | None = None, lon: float | None = None) -> dict[str, Any] | None:
    """PostgreSQL's common case: one statement on an async connection. None: ask `subscribe` (in a thread)."""
    if not _fast_applies(region, lat, lon):
        return None
    now, fresh = store.clock(), store.fresh_after()
    until = now + store.settings.reservation_ttl
    sql = _fast_postgres(bool(region), bool(store.deployment))
    row = await pool.fetch_one(sql, _fast_params(store, app, name, region, now, fresh, until))
    if row is None:
        return None
    cache = _renditions_cache(store)
    if cache.stale():  # a blocking query: in a thread, at most once a second
        await asyncio.to_thread(cache.refresh, store)
    return _answer(app, name, row[:8], row[8], row[9], until, cache.live.get((app, name), []))


def subscribe(store: Store, app: str, name: str, region: str | None = None, lat: float | None = None,
              lon: float | None = None) -> dict[str, Any]:
    """Pick an INSERVICE edge with a free viewer slot and reserve that slot.

    The slot is taken with one conditional UPDATE (`reserved + subscribers < capacity`): PostgreSQL
    re-checks the condition on the latest row version after waiting for a concurrent writer, so two
    managers can never overfill an edge; a failed UPDATE holds no lock, so no deadlock either.
    With every edge full, the stream's HLS (`fallback: hls`, see `hls_urls`) when its origin serves
    one, else NoEdgeCapacity (503).
    """
    now, ttl = store.clock(), store.settings.reservation_ttl
    fresh = store.fresh_after()
    if not store.postgres and _fast_applies(region, lat, lon):
        fast = _fast_subscribe(store, app, name, region, now, fresh, now + ttl)
        if fast is not None:
            return fast
    with store.tx() as conn:
        stream = _cursor(conn, _STREAM_SQL, {"scope": store.stream_scope, "app": app, "name": name}).fetchone()
        if stream is None:
            raise NotFound(f"stream {app}/{name} is not published")
        stream_id, origin_state, origin_beat, origin_name = stream
        if origin_state != "INSERVICE" or origin_beat < fresh:
            raise NoCapacity(f"the origin of {app}/{name} is unavailable; the publisher has to reconnect")
        for c in _edge_order(conn, store, region, lat, lon):
            if store.postgres:
                row = _cursor(conn, _TAKE_AND_RESERVE_PG, {"id": c["id"], "fresh": fresh, "stream": stream_id,
                                                           "now": now, "until": now + ttl}).fetchone()
                if row is None:
                    continue  # filled up (or went away) since we read it: next candidate
                rid = row[0]
            else:
                if _cursor(conn, _TAKE_SQL, {"id": c["id"], "fresh": fresh}).rowcount != 1:
                    continue
                rid = _cursor(conn, _RESERVE_SQL, {"node": c["id"], "stream": stream_id, "now": now,
                                                   "until": now + ttl}).fetchone()[0]
            return _answer(app, name, c, origin_name, rid, now + ttl, live_renditions(store, app, name))
        row = _cursor(conn, _HLS_SQL, _hls_params(store, app, name)).fetchone()
        fallback = _hls_answer(store, row, app, name, NO_CAPACITY) if row is not None else None
        if fallback is not None:
            return fallback
    raise NoEdgeCapacity("no INSERVICE edge with spare capacity" + (f" in or near region {region}" if region else ""))
