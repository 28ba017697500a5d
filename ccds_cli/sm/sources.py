"""Where an edge or relay pulls each stream from: the origin that holds it (or a relay of its region).

Publish routing spreads streams over several origins, so a node that serves viewers cannot be
configured with one origin at boot: its agent asks this module (through `GET /api/v1/sources`)
and points its media engine at the right node per stream. No HTTP here.

Which node: a relay asks for the stream's origin. An edge whose region has INSERVICE relays goes
through one of them (the same one for every stream, picked by a stable hash of the edge's name, so
edges spread over the relays); otherwise through the origin directly.

Which address (`address_for`): the private address when the requester is in the same provider and
region as the node it pulls from and that node registered a private address; otherwise the public
one. Private networks do not span regions or clouds, and in-region traffic should stay off the
internet (cheaper, and no egress charge).
"""

from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa

from ccds_cli.sm.routing import stream_urls
from ccds_cli.sm.store import NoCapacity, NotFound, Store, nodes_t, streams_t


@dataclass(frozen=True)
class Requester:
    """The node asking (all optional: an anonymous caller gets origins at their public address)."""

    name: str = ""
    role: str = ""
    region: str = ""
    provider: str = ""


_NODE_COLS = (nodes_t.c.name, nodes_t.c.provider, nodes_t.c.region, nodes_t.c.public_host,
              nodes_t.c.private_host, nodes_t.c.endpoints)


def _endpoints(value) -> dict:
    return json.loads(value) if isinstance(value, str) else (value or {})


def address_for(node: dict, req: Requester) -> tuple[str, str]:
    """(host, "private" | "public") a requester uses to reach `node` (see the module docstring)."""
    same_net = bool(req.provider and req.region) and (node["provider"], node["region"]) == (req.provider, req.region)
    if same_net and node["private_host"]:
        return node["private_host"], "private"
    return node["public_host"], "public"


def _with_host(url: str, host: str) -> str:
    """`rtmp://203.0.113.5:1935/live/s` with host 10.0.0.5 -> `rtmp://10.0.0.5:1935/live/s`."""
    parts = urlsplit(url)
    if not parts.hostname or parts.hostname == host:
        return url
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def _entry(app: str, name: str, origin: str, node: dict, req: Requester) -> dict:
    host, kind = address_for(node, req)
    urls = stream_urls(_endpoints(node["endpoints"]), app, name)
    if kind == "private":
        urls = {proto: _with_host(u, host) for proto, u in urls.items()}
    return {"app": app, "stream": name, "origin": origin, "node": node["name"], "host": host,
            "address": kind, "urls": urls}


def _alive(store: Store, role: str):
    return sa.and_(store._scope(nodes_t), nodes_t.c.role == role, nodes_t.c.state == "INSERVICE",
                   nodes_t.c.last_heartbeat >= store.fresh_after())


def _live(store: Store):
    """The store's liveness rule: seen live within the heartbeat window, or assigned a moment ago."""
    now = store.clock()
    return sa.or_(streams_t.c.last_live_at >= store.fresh_after(),
                  streams_t.c.assigned_at >= now - store.settings.reservation_ttl)


def _relay_for(conn: sa.Connection, store: Store, req: Requester) -> dict | None:
    """An edge's relay: one INSERVICE relay of its region, the same one while the set is unchanged."""
    if req.role != "edge" or not req.region:
        return None
    relays = [dict(r._mapping) for r in conn.execute(
        sa.select(*_NODE_COLS).where(_alive(store, "relay"), nodes_t.c.region == req.region)
        .order_by(nodes_t.c.name))]
    if not relays:
        return None
    return relays[zlib.crc32(req.name.encode()) % len(relays)]


def _origin_query(store: Store):
    cols = (streams_t.c.app, streams_t.c.name.label("stream"), *(c.label(f"o_{c.name}") for c in _NODE_COLS))
    return (sa.select(*cols).select_from(streams_t.join(nodes_t, nodes_t.c.id == streams_t.c.origin_node_id))
            .where(streams_t.c.deployment == store.stream_scope))


def _node(row, prefix: str = "o_") -> dict:
    m = row._mapping
    return {c.name: m[f"{prefix}{c.name}"] for c in _NODE_COLS}


def source_map(store: Store, req: Requester) -> tuple[list[dict], str]:
    """Every live or assigned stream whose origin is in service, and an ETag of exactly that list."""
    with store.read() as conn:
        rows = conn.execute(_origin_query(store).where(_live(store), _alive(store, "origin"))
                            .order_by(streams_t.c.app, streams_t.c.name)).all()
        relay = _relay_for(conn, store, req) if rows else None
    entries = []
    for r in rows:
        origin = _node(r)
        entries.append(_entry(r.app, r.stream, origin["name"], relay or origin, req))
    return entries, etag(entries)


def etag(entries: list[dict]) -> str:
    digest = hashlib.sha256(json.dumps(entries, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return f'"{digest[:32]}"'


def source_for(store: Store, app: str, name: str, req: Requester) -> dict:
    """One stream's source; NotFound when unknown or ended, NoCapacity when its origin is down."""
    fresh = store.fresh_after()
    q = _origin_query(store).add_columns(nodes_t.c.state.label("o_state"), nodes_t.c.last_heartbeat.label("o_beat"),
                                         _live(store).label("live"))
    with store.read() as conn:
        row = conn.execute(q.where(streams_t.c.app == app, streams_t.c.name == name)).first()
        if row is None or not row.live:
            raise NotFound(f"stream {app}/{name} is not published")
        if row.o_state != "INSERVICE" or row.o_beat < fresh:
            raise NoCapacity(f"the origin of {app}/{name} is unavailable; retry when the publisher reconnects")
        relay = _relay_for(conn, store, req)
    origin = _node(row)
    return _entry(app, name, origin["name"], relay or origin, req)
