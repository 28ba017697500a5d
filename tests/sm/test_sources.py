"""`GET /api/v1/sources`: which node and URL an edge pulls each stream from (real app, SQLite)."""

from __future__ import annotations

from smhelp import ADMIN, NODE

EDGE = {"node": "e1", "role": "edge", "region": "r1", "provider": "local"}


def _live(mgr, origin_id: str, *names: str) -> None:
    mgr.beat(origin_id, streams=[{"app": "live", "name": n, "publishing": True} for n in names])


def _two_origins(mgr) -> tuple[str, str]:
    o1 = mgr.up("o1", "origin", port=1001)
    o2 = mgr.up("o2", "origin", port=1002, region="r2")
    return o1, o2


def test_auth_required(mgr):
    assert mgr.client.get("/api/v1/sources").status_code == 401
    bad = {"Authorization": "Bearer nope"}
    assert mgr.client.get("/api/v1/sources", headers=bad).status_code == 403
    assert mgr.client.get("/api/v1/sources/live/a", headers=bad).status_code == 403
    assert mgr.client.get("/api/v1/sources", headers=ADMIN).status_code == 200  # operators may look


def test_each_stream_points_at_its_own_origin_with_the_address_rule(mgr):
    o1, o2 = _two_origins(mgr)
    _live(mgr, o1, "a")
    _live(mgr, o2, "b")
    body = mgr.client.get("/api/v1/sources", params=EDGE, headers=NODE).json()["streams"]
    by_name = {s["stream"]: s for s in body}
    # o1 shares the edge's provider and region: its private address; o2 is in r2: public.
    assert by_name["a"]["origin"] == "o1" and by_name["a"]["address"] == "private"
    assert by_name["a"]["urls"] == {"rtmp": "rtmp://10.0.0.1:1001/live/a"}
    assert by_name["b"]["origin"] == "o2" and by_name["b"]["address"] == "public"
    assert by_name["b"]["urls"] == {"rtmp": "rtmp://o2.example:1002/live/b"}
    # Another provider in the same region is another network: public.
    other = mgr.client.get("/api/v1/sources", params={**EDGE, "provider": "aws"}, headers=NODE).json()["streams"]
    assert {s["stream"]: s["address"] for s in other} == {"a": "public", "b": "public"}


def test_no_private_address_means_public(mgr):
    o1 = mgr.up("o1", "origin", private_host="")
    _live(mgr, o1, "a")
    entry = mgr.client.get("/api/v1/sources/live/a", params=EDGE, headers=NODE).json()
    assert (entry["host"], entry["address"]) == ("o1.example", "public")


def test_etag_answers_304_until_something_changes(mgr):
    o1, o2 = _two_origins(mgr)
    _live(mgr, o1, "a")
    first = mgr.client.get("/api/v1/sources", params=EDGE, headers=NODE)
    tag = first.headers["etag"]
    again = mgr.client.get("/api/v1/sources", params=EDGE, headers={**NODE, "If-None-Match": tag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == tag
    assert mgr.publish("b", region="r2").status_code == 200  # assigned: a source before it is live
    changed = mgr.client.get("/api/v1/sources", params=EDGE, headers={**NODE, "If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["etag"] != tag
    assert [(s["stream"], s["origin"]) for s in changed.json()["streams"]] == [("a", "o1"), ("b", "o2")]


def test_liveness_follows_the_store_rule(mgr):
    o1 = mgr.up("o1", "origin")
    assert mgr.publish("a").status_code == 200
    listed = lambda: [s["stream"] for s in mgr.client.get("/api/v1/sources", headers=NODE).json()["streams"]]  # noqa: E731
    assert listed() == ["a"]  # assigned, not yet seen live
    mgr.clock.advance(mgr.store.settings.reservation_ttl + 1)
    mgr.beat(o1)  # the origin is alive but does not report the stream
    assert listed() == []
    assert mgr.client.get("/api/v1/sources/live/a", headers=NODE).status_code == 404
    _live(mgr, o1, "a")
    assert listed() == ["a"]


def test_unknown_404_and_dead_origin_503(mgr):
    o1 = mgr.up("o1", "origin")
    assert mgr.client.get("/api/v1/sources/live/nope", headers=NODE).status_code == 404
    assert mgr.client.get("/api/v1/sources/live/bad%20name", headers=NODE).status_code == 422
    _live(mgr, o1, "a")
    mgr.clock.advance(mgr.store.settings.heartbeat_timeout + 1)  # o1 silent; a was live a moment ago
    resp = mgr.client.get("/api/v1/sources/live/a", headers=NODE)
    assert resp.status_code == 503 and resp.headers["retry-after"]
    assert mgr.client.get("/api/v1/sources", headers=NODE).json()["streams"] == []


def test_origin_change_repoints_the_stream(mgr):
    o1, o2 = _two_origins(mgr)
    _live(mgr, o1, "a")
    assert mgr.client.get("/api/v1/sources/live/a", headers=NODE).json()["origin"] == "o1"
    _live(mgr, o2, "a")  # republished on o2
    assert mgr.client.get("/api/v1/sources/live/a", headers=NODE).json()["origin"] == "o2"


def test_edges_go_through_a_relay_of_their_region_relays_to_the_origin(mgr):
    o1 = mgr.up("o1", "origin", port=1001)
    mgr.up("rl1", "relay", port=1101)
    mgr.up("rl2", "relay", port=1102)
    mgr.up("rl3", "relay", port=1103, region="r2")  # another region: never chosen for r1's edges
    _live(mgr, o1, "a")
    picks = {mgr.client.get("/api/v1/sources/live/a", params={**EDGE, "node": f"edge-{i}"},
                            headers=NODE).json()["node"] for i in range(20)}
    assert picks == {"rl1", "rl2"}  # spread, and only over r1's relays
    one = mgr.client.get("/api/v1/sources", params=EDGE, headers=NODE).json()["streams"][0]
    assert one["node"] in ("rl1", "rl2") and one["origin"] == "o1" and one["urls"]["rtmp"].endswith("/live/a")
    relay = mgr.client.get("/api/v1/sources/live/a", params={**EDGE, "role": "relay", "node": "rl1"},
                           headers=NODE).json()
    assert relay["node"] == "o1" and relay["urls"] == {"rtmp": "rtmp://10.0.0.1:1001/live/a"}
