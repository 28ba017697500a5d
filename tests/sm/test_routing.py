"""Routing choices of publish and subscribe, through the real app and a real SQLite database."""

from __future__ import annotations

from collections import Counter

from smhelp import ADMIN


def test_publish_balances_streams_across_origins(mgr):
    for name in ("o1", "o2", "o3"):
        mgr.up(name, "origin", capacity=20)
    mgr.up("e1")
    picks = Counter()
    for i in range(9):
        resp = mgr.publish(f"s{i}", region="r1")
        assert resp.status_code == 200, resp.text
        picks[resp.json()["node"]["name"]] += 1
    assert picks == {"o1": 3, "o2": 3, "o3": 3}


def test_publish_prefers_origin_with_fewer_reported_publishers(mgr):
    busy = mgr.up("o1", "origin", capacity=20)
    mgr.up("o2", "origin", capacity=20)
    mgr.beat(busy, publishers=5)
    assert mgr.publish("x").json()["node"]["name"] == "o2"


def test_publish_answer_has_origin_urls_and_republish_keeps_origin(mgr):
    mgr.up("o1", "origin", capacity=20, port=19350)
    mgr.up("o2", "origin", capacity=20, port=19351)
    first = mgr.publish("cam").json()
    assert first["urls"] == {"rtmp": f"rtmp://{first['node']['name']}.example:{19350 if first['node']['name'] == 'o1' else 19351}/live/cam"}
    again = mgr.publish("cam").json()
    assert again["node"]["id"] == first["node"]["id"] and again["stream_id"] == first["stream_id"]


def test_origin_capacity_exhausted_gives_503(mgr):
    mgr.up("o1", "origin", capacity=2)
    assert mgr.publish("a").status_code == 200
    assert mgr.publish("b").status_code == 200
    resp = mgr.publish("c")
    assert resp.status_code == 503 and resp.headers["retry-after"] == "2"


def test_subscribe_balances_edges_and_returns_playback_urls(mgr):
    mgr.up("o1", "origin")
    mgr.up("e1", port=2001)
    mgr.up("e2", port=2002)
    assert mgr.publish("show").status_code == 200
    picks = Counter()
    for _ in range(6):
        body = mgr.subscribe("show", region="r1").json()
        picks[body["node"]["name"]] += 1
        port = 2001 if body["node"]["name"] == "e1" else 2002
        assert body["urls"] == {"rtmp": f"rtmp://{body['node']['name']}.example:{port}/live/show"}
        assert body["origin"] == "o1"
    assert picks == {"e1": 3, "e2": 3}


def test_subscribe_unknown_stream_is_404(mgr):
    mgr.up("o1", "origin")
    mgr.up("e1")
    resp = mgr.subscribe("never-published")
    assert resp.status_code == 404
    assert "not published" in resp.json()["detail"]


def test_subscribe_falls_back_to_nearest_region_with_capacity(mgr):
    mgr.up("o1", "origin", region="na-east", lat=39.0, lon=-77.5)
    mgr.up("east-edge", region="na-east", capacity=1, lat=39.0, lon=-77.5)
    mgr.up("west-edge", region="na-west", capacity=5, lat=45.6, lon=-121.2)
    mgr.up("eu-edge", region="eu", capacity=5, lat=50.1, lon=8.7)
    mgr.publish("game", region="na-east")
    assert mgr.subscribe("game", region="na-east").json()["node"]["name"] == "east-edge"
    # na-east is full now: the nearest region to na-east with capacity is na-west, not eu
    assert mgr.subscribe("game", region="na-east").json()["node"]["name"] == "west-edge"
    # a viewer in Paris without a region is routed by its coordinates
    assert mgr.subscribe("game", lat=48.9, lon=2.4).json()["node"]["name"] == "eu-edge"


def test_publish_uses_nearest_region_when_requested_region_has_no_origin(mgr):
    mgr.up("o-east", "origin", region="na-east", lat=39.0, lon=-77.5)
    mgr.up("o-eu", "origin", region="eu", lat=50.1, lon=8.7)
    mgr.up("e-west", region="na-west", lat=45.6, lon=-121.2)  # gives na-west its coordinates
    assert mgr.publish("p1", region="na-west").json()["node"]["name"] == "o-east"
    assert mgr.publish("p2", lat=51.5, lon=-0.1).json()["node"]["name"] == "o-eu"


def test_edge_capacity_exhaustion_gives_503_with_retry_after(mgr):
    mgr.up("o1", "origin")
    e1 = mgr.up("e1", capacity=2)
    mgr.publish("s")
    assert mgr.subscribe("s").status_code == 200
    assert mgr.subscribe("s").status_code == 200
    mgr.beat(e1, subscribers=1)  # one promised viewer arrived (its slot now counted by the edge), one not yet
    resp = mgr.subscribe("s")
    assert resp.status_code == 503, resp.text
    assert resp.headers["retry-after"] == "2"


def test_arrived_viewers_use_their_reservation_not_a_second_slot(mgr):
    """A viewer the edge counts was promised a slot: it must not hold two for the connect grace
    (a fast ramp was refused at half the capacity)."""
    mgr.up("o1", "origin")
    e1 = mgr.up("e1", capacity=4)
    mgr.publish("s")
    assert [mgr.subscribe("s").status_code for _ in range(3)] == [200, 200, 200]
    mgr.beat(e1, subscribers=3)  # all three arrived within the grace
    assert mgr.store.get_node("e1")["reserved"] == 0
    assert mgr.subscribe("s").status_code == 200  # the fourth slot is free
    assert mgr.subscribe("s").status_code == 503


def test_reservations_released_after_grace_and_counted_by_heartbeat(mgr):
    mgr.up("o1", "origin")
    e1 = mgr.up("e1", capacity=2)
    mgr.publish("s")
    assert mgr.subscribe("s").status_code == 200
    assert mgr.subscribe("s").status_code == 200
    assert mgr.subscribe("s").status_code == 503
    mgr.clock.advance(mgr.store.settings.connect_grace + 0.1)
    mgr.beat(e1, subscribers=1)  # only one of the two promised viewers actually came
    assert mgr.subscribe("s").status_code == 200
    assert mgr.subscribe("s").status_code == 503


def test_sunset_and_fault_edges_are_never_chosen(mgr):
    mgr.up("o1", "origin")
    mgr.up("sunset-edge")
    stale = mgr.up("fault-edge")
    good = mgr.up("good-edge", capacity=100)
    mgr.publish("s")
    resp = mgr.client.put("/api/v1/nodes/sunset-edge/state", json={"state": "SUNSET", "reason": "drain"},
                          headers=ADMIN)
    assert resp.status_code == 200 and resp.json()["state"] == "SUNSET"
    mgr.clock.advance(mgr.store.settings.heartbeat_timeout + 1)
    for node_id in (good, mgr.store.get_node("sunset-edge")["id"], mgr.store.get_node("o1")["id"]):
        mgr.beat(node_id)
    assert stale  # fault-edge stays silent
    mgr.app.state.leader.tick()
    assert mgr.store.get_node("fault-edge")["state"] == "FAULT"
    names = {mgr.subscribe("s").json()["node"]["name"] for _ in range(20)}
    assert names == {"good-edge"}


def test_silent_edge_not_routed_even_before_leader_marks_it(mgr):
    mgr.up("o1", "origin")
    mgr.up("quiet")
    loud = mgr.up("loud")
    mgr.publish("s")
    mgr.clock.advance(mgr.store.settings.heartbeat_timeout + 0.5)
    mgr.beat(loud)
    mgr.beat(mgr.store.get_node("o1")["id"])
    assert {mgr.subscribe("s").json()["node"]["name"] for _ in range(5)} == {"loud"}


def test_stream_with_dead_origin_is_503(mgr):
    o1 = mgr.up("o1", "origin")
    e1 = mgr.up("e1")
    mgr.publish("s")
    mgr.clock.advance(mgr.store.settings.heartbeat_timeout + 1)
    mgr.beat(e1)
    assert o1
    resp = mgr.subscribe("s")
    assert resp.status_code == 503 and "origin" in resp.json()["detail"]


def test_no_edges_at_all_is_503(mgr):
    mgr.up("o1", "origin")
    mgr.publish("s")
    assert mgr.subscribe("s").status_code == 503


def test_invalid_stream_names_rejected(mgr):
    assert mgr.client.post("/api/v1/streams/live/bad%20name/publish").status_code == 422
    assert mgr.client.get("/api/v1/streams/live/..%2Fetc/subscribe").status_code in (404, 422)


def test_subscribe_answer_matches_its_documented_schema(mgr):
    from ccds_cli.sm.schemas import SubscribeAnswer

    mgr.up("o1", "origin")
    mgr.up("e1")
    mgr.publish("s")
    body = mgr.subscribe("s", region="r1").json()
    assert SubscribeAnswer.model_validate(body).node.name == "e1"
    assert set(body) == set(SubscribeAnswer.model_fields)
