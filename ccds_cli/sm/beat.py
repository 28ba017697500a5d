"""The lean heartbeat path: a beat that changes no state is stored without leaving the event loop.

A beat costs the same whatever the fleet size: the peer list travels only when its version changed
(`Store.peers`, read once per version), the stream list as a diff against the sequence number the
manager holds, and fault detection and the expiry of old reservations are the leader's work
(`Leader.tick`). What is left per beat is the node's own row and its own reservations:

- SQLite: a few statements on the subscribe path's kept connection, under the writer lock (each
  costs microseconds in-process; handing the call to a thread would cost more).
- PostgreSQL: one statement on an async connection (`pgasync`), so one round trip: lock the row,
  drop the reservations of viewers who arrived (and those past the connect grace), write the
  counters and the stream list (a diff merged in SQL), refresh the origin's live streams, and read
  the peer version.

Anything else — a state change (STARTING -> INSERVICE, FAULT -> INSERVICE, an unreadable engine),
an origin whose stream list changed (streams seen for the first time are registered), an unknown
node (404) — answers None here and goes through `Store.heartbeat`, which gives the same answer.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.concurrency import run_in_threadpool

from ccds_cli.sm.routing import _run
from ccds_cli.sm.store import PEER_ROLES, Store

SOURCE_ROLES = ("origin", "transcoder")  # nodes whose publishing streams mark the registry live


def _quiet_states(engine_ok: bool) -> tuple[str, ...]:
    """States a beat leaves as they are (see `Store.heartbeat`): the lean path handles only these."""
    return ("INSERVICE", "SUNSET") if engine_ok else ("STARTING", "FAULT", "SUNSET")


def _changes_streams(hb: dict) -> bool:
    return hb.get("streams_base") is None or bool(hb.get("streams_changed") or hb.get("streams_removed"))


def _drop_keys(hb: dict) -> list[list[str]]:
    """Keys a diff replaces or removes, as [app, name] pairs."""
    return [[k["app"], k["name"]] for k in hb.get("streams_removed") or []] + \
        [[x["app"], x["name"]] for x in hb.get("streams_changed") or []]


def _counters(hb: dict, now: float) -> dict:
    return {"pub": hb["publishers"], "subs": hb["subscribers"], "relays": hb["relays"],
            "bwin": hb["bw_in"], "bwout": hb["bw_out"],
            "ok": bool(hb["engine_ok"]), "now": now}


async def lean_heartbeat(store: Store, pool: Any, node_id: str, hb: dict) -> dict | None:
    """The heartbeat's answer, or None when the general path must take this beat."""
    if store.postgres:
        got = await _postgres(store, pool, node_id, hb)
        if got is None:
            return None
        state, deployment, version, seq = got
        if hb.get("peers_version") != version and not store.peers_cached(deployment, version):
            await run_in_threadpool(store.peers, deployment, version)  # rare: once per version and process
        return store.beat_answer(node_id, state, deployment, version, hb.get("peers_version"), seq)
    got = _sqlite(store, node_id, hb)
    if got is None:
        return None
    state, deployment, version, seq = got
    return store.beat_answer(node_id, state, deployment, version, hb.get("peers_version"), seq)


_SQLITE_READ = ("SELECT n.state, n.role, n.deployment, n.region, n.subscribers, n.reserved, n.streams_seq,"
                " (SELECT p.version FROM peer_versions p WHERE p.deployment = n.deployment)"
                " FROM nodes n WHERE n.id = :id")
_SQLITE_COUNTERS = ("UPDATE nodes SET publishers = :pub, subscribers = :subs, relays = :relays, bw_in = :bwin,"
                    " bw_out = :bwout, engine_ok = :ok, last_heartbeat = :now")
_SQLITE_GONE = ("DELETE FROM reservations WHERE node_id = :id AND (created_at < :grace OR id IN"
                " (SELECT id FROM reservations WHERE node_id = :id ORDER BY created_at, id LIMIT :arrived))")
_SQLITE_RESERVED = ("UPDATE nodes SET reserved = CASE WHEN reserved > :gone THEN reserved - :gone ELSE 0 END"
                    " WHERE id = :id")
_SQLITE_LIVE = ("UPDATE streams SET origin_node_id = :id, region = :region, last_live_at = :now"
                " WHERE deployment = :scope AND (app, name) IN (SELECT json_extract(e.value, '$.app'),"
                " json_extract(e.value, '$.name') FROM nodes n, json_each(n.streams) e WHERE n.id = :id"
                " AND json_extract(e.value, '$.publishing'))")


def _sqlite(store: Store, node_id: str, hb: dict) -> tuple[str, str, int, int | None] | None:
    now, base = store.clock(), hb.get("streams_base")
    with store.hot() as (cur, style):
        row = _run(cur, style, _SQLITE_READ, {"id": node_id}).fetchone()
        if row is None:
            return None
        state, role, deployment, region, old_subs, reserved, seq, version = row
        if state not in _quiet_states(hb["engine_ok"]) or (role in SOURCE_ROLES and _changes_streams(hb)):
            return None
        params = {"id": node_id, **_counters(hb, now)}
        sql = _SQLITE_COUNTERS
        answer_seq: int | None = seq
        if base is None or (base == seq and _changes_streams(hb)):
            if base is None:
                streams = [dict(x) for x in hb["streams"]]
            else:
                stored = _run(cur, style, "SELECT streams FROM nodes WHERE id = :id", {"id": node_id}).fetchone()
                drop = {tuple(k) for k in _drop_keys(hb)}
                streams = [x for x in json.loads(stored[0] or "[]") if (x.get("app"), x.get("name")) not in drop]
                streams += [dict(x) for x in hb["streams_changed"]]
            answer_seq = seq + 1
            sql += ", streams = :streams, streams_seq = :seq"
            params.update(streams=json.dumps(streams), seq=answer_seq)
        elif base != seq:
            answer_seq = None  # the diff was computed against a list the manager no longer holds
        _run(cur, style, sql + " WHERE id = :id", params)
        if reserved:
            gone = _run(cur, style, _SQLITE_GONE, {
                "id": node_id, "grace": now - store.settings.connect_grace,
                "arrived": max(0, int(hb["subscribers"]) - int(old_subs or 0))}).rowcount
            if gone:
                _run(cur, style, _SQLITE_RESERVED, {"id": node_id, "gone": gone})
        if role in SOURCE_ROLES:
            _run(cur, style, _SQLITE_LIVE, {"id": node_id, "region": region, "now": now,
                                            "scope": store.stream_scope})
    return state, deployment, int(version or 0), answer_seq


# One statement: every CTE sees the row locked by `old`; `go.lean` false (a state change, an origin's
# new stream list) modifies nothing and the general path takes the beat.
_PG_BEAT = (
    "WITH old AS (SELECT id, state, role, deployment, region, subscribers, reserved, streams_seq FROM nodes"
    " WHERE id = :id FOR UPDATE),"
    " go AS (SELECT (old.state = ANY(CAST(:states AS text[])) AND (old.role = ANY(CAST(:peerroles AS text[]))"
    " OR NOT CAST(:changes AS boolean))) AS lean, CAST(:base AS integer) IS NULL AS full_list,"
    " COALESCE(old.streams_seq = CAST(:base AS integer), false) AS matched FROM old),"
    " gone AS (DELETE FROM reservations WHERE id IN (SELECT x.id FROM (SELECT r.id, r.created_at,"
    " row_number() OVER (ORDER BY r.created_at, r.id) AS rn FROM reservations r, old"
    " WHERE r.node_id = old.id AND old.reserved > 0) x, old, go"
    " WHERE go.lean AND (x.created_at < :grace OR x.rn <= :subs - old.subscribers)) RETURNING 1),"
    " upd AS (UPDATE nodes n SET publishers = :pub, subscribers = :subs, relays = :relays, bw_in = :bwin,"
    " bw_out = :bwout, engine_ok = :ok, last_heartbeat = :now,"
    " reserved = GREATEST(n.reserved - (SELECT count(*) FROM gone), 0),"
    " streams = CASE WHEN go.full_list THEN CAST(:full AS json)"
    " WHEN go.matched AND CAST(:changes AS boolean) THEN (SELECT COALESCE(json_agg(m.v), CAST('[]' AS json))"
    " FROM (SELECT e AS v FROM json_array_elements(n.streams) e WHERE NOT EXISTS (SELECT 1 FROM"
    " json_array_elements(CAST(:drop AS json)) d WHERE d->>0 = e->>'app' AND d->>1 = e->>'name')"
    " UNION ALL SELECT u FROM json_array_elements(CAST(:upsert AS json)) u) m) ELSE n.streams END,"
    " streams_seq = CASE WHEN go.full_list OR (go.matched AND CAST(:changes AS boolean))"
    " THEN n.streams_seq + 1 ELSE n.streams_seq END"
    " FROM old, go WHERE n.id = old.id AND go.lean RETURNING n.id, n.region, n.role, n.streams, n.streams_seq),"
    # the origin's live streams, locked in (app, name) order as `Store._note_live_streams` does: two
    # origins listing the same streams cannot deadlock
    " lk AS (SELECT s.id FROM streams s, upd, json_array_elements(upd.streams) e"
    " WHERE upd.role = ANY(CAST(:sourceroles AS text[])) AND e->>'publishing' = 'true'"
    " AND s.deployment = :scope AND s.app = e->>'app' AND s.name = e->>'name'"
    ' ORDER BY s.app COLLATE "C", s.name COLLATE "C" FOR UPDATE OF s),'
    " live AS (UPDATE streams s SET origin_node_id = upd.id, region = upd.region, last_live_at = :now"
    " FROM upd WHERE s.id IN (SELECT id FROM lk) RETURNING 1)"
    " SELECT old.state, old.deployment, (SELECT count(*) FROM upd), (SELECT streams_seq FROM upd),"
    " go.full_list OR go.matched, (SELECT p.version FROM peer_versions p WHERE p.deployment = old.deployment),"
    " (SELECT count(*) FROM live) FROM old, go")


async def _postgres(store: Store, pool: Any, node_id: str, hb: dict) -> tuple[str, str, int, int | None] | None:
    now, base = store.clock(), hb.get("streams_base")
    params = {"id": node_id, **_counters(hb, now), "states": list(_quiet_states(hb["engine_ok"])),
              "peerroles": list(PEER_ROLES), "sourceroles": list(SOURCE_ROLES),
              "changes": _changes_streams(hb), "base": base,
              "full": json.dumps([dict(x) for x in hb["streams"]]) if base is None else None,
              "drop": json.dumps(_drop_keys(hb)), "upsert": json.dumps([dict(x) for x in hb["streams_changed"]]),
              "grace": now - store.settings.connect_grace, "scope": store.stream_scope}
    import asyncpg

    try:
        row = await pool.fetch_one(_PG_BEAT, params)
    except asyncpg.PostgresError:  # a deadlock or serialization failure: the general path decides
        return None
    if row is None or not row[2]:
        return None
    state, deployment, _, seq, applies, version, _ = row
    return state, deployment, int(version or 0), int(seq) if applies else None
