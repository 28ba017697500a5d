"""The HLS fallback decision, on SQLite and PostgreSQL (every test runs on both, see conftest): with every
edge full the stream's origin answers with its HLS when it registered an `hls` endpoint (its region's
`fallback: hls`), else the 503 stays; `protocol=hls` asks for it directly; fallbacks count as demand."""

from __future__ import annotations

from smhelp import ADMIN

from ccds_cli.sm.schemas import SubscribeAnswer

HLS = "http://o1.example:8088/hls/{app}/{stream}/index.m3u8"


def _origin(mgr, name="o1", hls=True, **kw):
    endpoints = {"rtmp": f"rtmp://{name}.example:1935/live"}
    if hls:
        endpoints["hls"] = HLS.replace("o1", name)
    return mgr.up(name, "origin", endpoints=endpoints, **kw)


def test_full_edges_answer_the_origins_hls(mgr):
    o1 = _origin(mgr)
    mgr.up("e1", capacity=2)
    assert mgr.publish("s", region="r1").status_code == 200
    first = [mgr.subscribe("s", region="r1").json() for _ in range(2)]
    assert [a["node"]["name"] for a in first] == ["e1", "e1"] and not any(a["fallback"] for a in first)
    resp = mgr.subscribe("s", region="r1")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["fallback"] == "hls" and body["fallback_reason"] == "no_capacity"
    assert body["urls"] == {"hls": "http://o1.example:8088/hls/live/s/index.m3u8"}
    assert body["node"]["name"] == "o1" and body["origin"] == "o1"
    assert body["reservation"] is None and body["reserved_until"] is None
    assert SubscribeAnswer.model_validate(body).fallback == "hls" and set(body) == set(SubscribeAnswer.model_fields)
    assert mgr.store.get_node("e1")["reserved"] == 2  # no slot taken by the HLS viewer
    # counted: demand for the autoscaler, one event (not one per viewer), the metric
    mgr.subscribe("s", region="r1")
    demand = mgr.client.get("/api/v1/demand", headers=ADMIN).json()["regions"]
    assert demand["r1"]["fallback"] == 2 and "refused" not in demand["r1"]
    events = [e for e in mgr.client.get("/api/v1/events", headers=ADMIN).json() if e["kind"] == "fallback"]
    assert len(events) == 1 and events[0]["node_name"] == "o1" and "live/s" in events[0]["reason"]
    metrics = mgr.client.get("/metrics", headers=ADMIN).text
    assert 'ccds_sm_hls_fallbacks_total{region="r1"} 2.0' in metrics
    # a slot frees up: real time again
    mgr.clock.advance(mgr.store.settings.reservation_ttl + 1)
    mgr.beat(o1, publishers=1)
    mgr.beat(mgr.store.get_node("e1")["id"], subscribers=1)
    again = mgr.subscribe("s", region="r1").json()
    assert again["node"]["name"] == "e1" and again["fallback"] is None


def test_fallback_none_keeps_the_503(mgr):
    """An origin without an `hls` endpoint (its region sets `fallback: none`): refused as before."""
    _origin(mgr, hls=False)
    mgr.up("e1", capacity=1)
    mgr.publish("s")
    assert mgr.subscribe("s").status_code == 200
    resp = mgr.subscribe("s")
    assert resp.status_code == 503 and resp.headers["retry-after"] == "2", resp.text
    assert "no INSERVICE edge with spare capacity" in resp.json()["detail"]
    assert mgr.client.get("/api/v1/demand", headers=ADMIN).json()["regions"][""] == {"refused": 1}
    asked = mgr.subscribe("s", protocol="hls")
    assert asked.status_code == 404 and "fallback: none" in asked.json()["detail"]


def test_hls_comes_from_the_streams_own_origin_even_with_no_edges(mgr):
    _origin(mgr, "o1")
    _origin(mgr, "o2", hls=False)
    assert {mgr.publish(n).json()["node"]["name"] for n in ("a", "b")} == {"o1", "o2"}
    on_o1 = next(n for n in ("a", "b") if mgr.client.post(f"/api/v1/streams/live/{n}/publish").json()["node"]["name"]
                 == "o1")
    on_o2 = "b" if on_o1 == "a" else "a"
    assert mgr.subscribe(on_o1).json()["urls"]["hls"] == f"http://o1.example:8088/hls/live/{on_o1}/index.m3u8"
    assert mgr.subscribe(on_o2).status_code == 503  # its origin makes no HLS
    assert mgr.subscribe("never-published").status_code == 404


def test_protocol_hls_skips_the_edges_and_is_not_demand(mgr):
    _origin(mgr)
    mgr.up("e1", capacity=5)
    mgr.publish("s")
    for params in ({"protocol": "hls"}, {"protocol": "hls", "region": "r1"}):
        body = mgr.subscribe("s", **params).json()
        assert (body["fallback"], body["fallback_reason"], body["node"]["name"]) == ("hls", "requested", "o1")
    post = mgr.client.post("/api/v1/streams/live/s/subscribe", json={"protocol": "hls"}).json()
    assert post["urls"]["hls"].endswith("/hls/live/s/index.m3u8")
    assert mgr.store.get_node("e1")["reserved"] == 0
    assert mgr.client.get("/api/v1/demand", headers=ADMIN).json()["regions"] == {}
    assert mgr.subscribe("s", protocol="webrtc").status_code == 422
    assert mgr.subscribe("nope", protocol="hls").status_code == 404


def test_no_hls_from_a_dead_origin(mgr):
    _origin(mgr)
    mgr.publish("s")
    mgr.clock.advance(mgr.store.settings.heartbeat_timeout + 1)
    for params in ({}, {"protocol": "hls"}):
        resp = mgr.subscribe("s", **params)
        assert resp.status_code == 503 and "origin" in resp.json()["detail"], resp.text
