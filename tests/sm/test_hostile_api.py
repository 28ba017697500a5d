"""The stream manager never answers 500 to client input (on SQLite and PostgreSQL): NaN, Infinity and
out-of-range numbers are 422, bodies over the limit are 413 before they are parsed, heartbeats are
bounded, and the API description is not published by default."""

from __future__ import annotations

import json
import time

import pytest
from smhelp import ADMIN, NODE, node_auth

INT32_MAX = 2**31 - 1
REGISTER = {"deployment": "demo", "name": "n1", "region": "r1", "provider": "local", "role": "edge",
            "engine": "nginx-rtmp", "capacity": 10}


def raw_post(mgr, path: str, text: str, headers: dict | None = None, method: str = "POST"):
    """A body sent as written: json.dumps would refuse NaN, a hostile client does not."""
    return mgr.client.request(method, path, content=text.encode(),
                              headers={"content-type": "application/json", **(headers or {})})


def with_value(body: dict, key: str, literal: str) -> str:
    return json.dumps({**body, key: "@@"}).replace('"@@"', literal)


@pytest.mark.parametrize("key, literal", [
    ("capacity", "NaN"), ("capacity", "Infinity"), ("capacity", str(2**63)), ("capacity", str(INT32_MAX + 1)),
    ("capacity", "-1"), ("lat", "NaN"), ("lat", "Infinity"), ("lon", "-Infinity"), ("lat", "1e999"),
    ("lat", "91"), ("public_host", json.dumps("h" * 100_000)), ("name", json.dumps("n" * 129)),
    ("endpoints", json.dumps({f"p{i}": "x" for i in range(17)})), ("stats_url", json.dumps("u" * 513)),
])
def test_register_out_of_range_is_422(mgr, key, literal):
    resp = raw_post(mgr, "/api/v1/nodes", with_value(REGISTER, key, literal), NODE)
    assert resp.status_code == 422, resp.text
    assert key in json.dumps(resp.json()["detail"])


@pytest.mark.parametrize("key, literal", [
    ("publishers", str(2**63)), ("subscribers", str(2**64)), ("relays", "NaN"), ("bw_in", str(2**63)),
    ("bw_out", "Infinity"), ("subscribers", "-1"), ("error", json.dumps("e" * 2001)),
    ("streams", json.dumps([{"app": "live", "name": "s", "subscribers": 2**63}])),
    ("streams", json.dumps([{"app": "a" * 129, "name": "s"}])),
    ("streams", json.dumps([{"app": "live", "name": "s" * 256}])),
])
def test_heartbeat_out_of_range_is_422(mgr, key, literal):
    node = mgr.up("e1")
    resp = raw_post(mgr, f"/api/v1/nodes/{node}/heartbeat", with_value({"engine_ok": True}, key, literal), NODE)
    assert resp.status_code == 422, resp.text


def test_edge_above_2_gbit_per_second_is_stored(mgr):
    """bits/s pass 2^31 on a busy edge: stored as sent (BIGINT columns), on the general and the lean path."""
    node = mgr.up("e1")
    for bw_out in (3_000_000_000, 2**53):
        mgr.beat(node, bw_out=bw_out, bw_in=2**40)
        listed = mgr.client.get("/api/v1/nodes", headers=NODE).json()
        assert (listed[0]["bw_out"], listed[0]["bw_in"]) == (bw_out, 2**40)


@pytest.mark.parametrize("route", ["publish", "subscribe"])
@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_public_routes_refuse_non_finite_coordinates(mgr, route, literal):
    mgr.up("o1", "origin")
    resp = raw_post(mgr, f"/api/v1/streams/live/s1/{route}", with_value({"region": "r1"}, "lat", literal))
    assert resp.status_code == 422, resp.text


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e999"])
def test_subscribe_query_refuses_non_finite_coordinates(mgr, value):
    resp = mgr.client.get("/api/v1/streams/live/s1/subscribe", params={"lat": value, "lon": "1"})
    assert resp.status_code == 422, resp.text


@pytest.mark.parametrize("after", [str(2**63), str(2**64), str(2**31), "-1"])
def test_events_after_out_of_range_is_422(mgr, after):
    resp = mgr.client.get("/api/v1/events", params={"after": after}, headers=ADMIN)
    assert resp.status_code == 422, resp.text
    assert mgr.client.get("/api/v1/events", params={"after": str(INT32_MAX)}, headers=ADMIN).status_code == 200


# -- body size: 413 before anything is parsed ---------------------------------------------------------

def test_public_body_limit_is_16_kib(mgr):
    mgr.up("o1", "origin")
    ok = json.dumps({"token": "t" * 8192, "username": "u" * 1024, "password": "p" * 1024})  # the largest valid
    assert mgr.client.post("/api/v1/streams/live/s1/publish", content=ok,
                           headers={"content-type": "application/json"}).status_code == 200
    big = json.dumps({"token": "t" * (16 * 1024)})
    resp = mgr.client.post("/api/v1/streams/live/s1/publish", content=big,
                           headers={"content-type": "application/json"})
    assert resp.status_code == 413 and "limit of 16384 bytes" in resp.json()["detail"]


def test_chunked_body_is_counted(mgr):
    """No Content-Length to trust: the bytes are counted as they stream in."""
    def chunks():
        yield b'{"token": "'
        for _ in range(64):
            yield b"t" * 1024
        yield b'"}'

    resp = mgr.client.post("/api/v1/streams/live/s1/subscribe", content=chunks(),
                           headers={"content-type": "application/json"})
    assert resp.status_code == 413


def test_authenticated_body_limit_is_1_mib_and_checked_before_the_token(mgr):
    node = mgr.up("e1")
    big = '{"engine_ok": true, "error": "' + "e" * (1 << 20) + '"}'
    assert raw_post(mgr, f"/api/v1/nodes/{node}/heartbeat", big).status_code == 413  # no token: still 413
    assert raw_post(mgr, f"/api/v1/nodes/{node}/heartbeat", big, NODE).status_code == 413


def test_body_limits_are_settings(make_manager):
    mgr = make_manager(max_public_body=100)
    resp = mgr.client.post("/api/v1/streams/live/s1/publish", json={"token": "t" * 100})
    assert resp.status_code == 413


# -- heartbeats: bounded, and stored in time independent of history -----------------------------------

def _streams(n: int, prefix: str = "s") -> list[dict]:
    return [{"app": "live", "name": f"{prefix}{i}", "publishing": True, "subscribers": 0} for i in range(n)]


def test_heartbeat_with_50000_streams_is_refused_quickly(mgr):
    """It was accepted in over 10 s and slowed every later request."""
    node = mgr.up("o1", "origin")
    start = time.monotonic()
    resp = mgr.client.post(f"/api/v1/nodes/{node}/heartbeat", json={"engine_ok": True, "streams": _streams(50_000)},
                           headers=mgr.node_headers(node))
    assert resp.status_code == 413
    assert time.monotonic() - start < 2.0


def test_heartbeat_streams_per_beat_are_bounded(mgr):
    node = mgr.up("o1", "origin")
    resp = mgr.client.post(f"/api/v1/nodes/{node}/heartbeat", json={"engine_ok": True, "streams": _streams(1001)},
                           headers=mgr.node_headers(node))
    assert resp.status_code == 422 and "1000" in resp.text
    mgr.beat(node, streams=_streams(1000))
    live = {s["name"] for s in mgr.client.get("/api/v1/streams", headers=ADMIN).json() if s["live"]}
    assert len(live) == 1000


def test_big_heartbeats_do_not_slow_later_requests(mgr):
    """An origin reporting the maximum of streams every beat: later small requests cost what they cost
    before (the stream list is not read back on every request, live streams are marked in bulk)."""
    origin = mgr.up("o1", "origin", capacity=100_000)
    edge = mgr.up("e1", "edge", capacity=100_000)

    def small_requests() -> float:
        start = time.perf_counter()
        for _ in range(10):
            mgr.beat(edge, subscribers=1)
            assert mgr.client.get("/api/v1/nodes", headers=NODE).status_code == 200
        return time.perf_counter() - start

    small_requests()
    before = small_requests()
    for i in range(5):
        mgr.beat(origin, streams=_streams(1000, prefix=f"b{i}-"))
    start = time.perf_counter()
    mgr.beat(origin, streams=_streams(1000, prefix="b4-"))  # all known now: one bulk update
    repeat_beat = time.perf_counter() - start
    after = small_requests()
    assert after < 3 * before + 0.2, (before, after)
    assert repeat_beat < 2.0, repeat_beat


# -- the API description ------------------------------------------------------------------------------

def test_docs_are_off_and_openapi_needs_the_admin_token(mgr):
    assert mgr.client.get("/docs").status_code == 404
    assert mgr.client.get("/redoc").status_code == 404
    assert mgr.client.get("/openapi.json").status_code == 401
    assert mgr.client.get("/openapi.json", headers=NODE).status_code == 403
    doc = mgr.client.get("/openapi.json", headers=ADMIN).json()
    assert "/api/v1/nodes/{node_id}/heartbeat" in doc["paths"]


def test_docs_flag_publishes_them(make_manager):
    mgr = make_manager(docs=True)
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert mgr.client.get(path).status_code == 200, path


def test_docs_from_the_environment(monkeypatch):
    from ccds_cli.sm.settings import Settings

    monkeypatch.setenv("CCDS_SM_DOCS", "1")
    assert Settings.from_env().docs is True
    monkeypatch.setenv("CCDS_SM_DOCS", "0")
    assert Settings.from_env().docs is False


EXPECTED_CODES = {
    ("post", "/api/v1/nodes"): {"201", "400", "401", "403", "413", "422", "503"},
    ("post", "/api/v1/nodes/{node_id}/heartbeat"): {"200", "401", "403", "404", "413", "422", "503"},
    ("delete", "/api/v1/nodes/{node_id}"): {"200", "401", "403", "404", "503"},
    ("get", "/api/v1/nodes"): {"200", "401", "403", "422", "503"},
    ("get", "/api/v1/nodes/{node_ref}"): {"200", "401", "403", "404", "503"},
    ("put", "/api/v1/nodes/{node_ref}/state"): {"200", "400", "401", "403", "404", "413", "422", "503"},
    ("get", "/api/v1/events"): {"200", "401", "403", "422", "503"},
    ("get", "/api/v1/health"): {"200", "503"},
    ("get", "/api/v1/sources"): {"200", "304", "401", "403", "503"},
    ("get", "/api/v1/sources/{app}/{stream}"): {"200", "401", "403", "404", "422", "503"},
    ("get", "/api/v1/streams/{app}/{stream}/subscribe"): {"200", "403", "404", "422", "503"},
    ("post", "/api/v1/streams/{app}/{stream}/subscribe"): {"200", "403", "404", "413", "422", "503"},
    ("post", "/api/v1/streams/{app}/{stream}/publish"): {"200", "403", "413", "422", "503"},
    ("get", "/api/v1/streams"): {"200", "401", "403", "503"},
}


def test_openapi_documents_the_status_codes(mgr):
    doc = mgr.client.get("/openapi.json", headers=ADMIN).json()
    for (method, path), codes in EXPECTED_CODES.items():
        documented = set(doc["paths"][path][method]["responses"])
        assert codes <= documented, (method, path, sorted(codes - documented))


def test_agent_of_a_node_with_more_streams_than_a_beat_may_list(mgr):
    """The agent sends the 1,000 that matter most (publishing, then most watched) instead of a beat the
    manager refuses with 422."""
    from ccds_cli.agent.runner import Agent, AgentConfig
    from ccds_cli.agent.stats import EngineStats

    class Busy:
        def read(self, client, peers):
            return EngineStats(subscribers=1500, streams=[
                {"app": "live", "name": f"s{i}", "publishing": i == 1499, "subscribers": i} for i in range(1500)])

    cfg = AgentConfig(manager="http://testserver", token=node_auth("busy", "origin")["Authorization"][7:],
                      deployment="demo", region="r1", provider="local", role="origin", name="busy", engine="nginx-rtmp", stats_url="",
                      public_host="h", private_host="h", capacity=5000)
    agent = Agent(cfg, Busy(), client=mgr.client)
    assert agent.register()
    assert agent.heartbeat() and agent.state == "INSERVICE"
    live = {s["name"] for s in mgr.client.get("/api/v1/streams", headers=ADMIN).json()}
    assert live == {"s1499"}
