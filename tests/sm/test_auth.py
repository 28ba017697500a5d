"""Bearer tokens on admin and node endpoints, and the round-trip check against a real HTTP backend."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from smhelp import ADMIN, NODE, node_auth

ADMIN_GETS = ["/api/v1/streams", "/api/v1/events", "/api/v1/nodes/e1"]


def test_node_list_needs_the_node_or_admin_token(mgr):
    """Cloud edges' bootstrap lists their region's origins with the node token."""
    mgr.up("e1")
    assert mgr.client.get("/api/v1/nodes").status_code == 401
    wrong = mgr.client.get("/api/v1/nodes", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403 and "e1.example" not in wrong.text
    for headers in (NODE, ADMIN):
        resp = mgr.client.get("/api/v1/nodes", headers=headers)
        assert resp.status_code == 200 and any(n["name"] == "e1" for n in resp.json())


@pytest.mark.parametrize("path", ADMIN_GETS)
def test_admin_endpoints_refuse_missing_and_wrong_tokens_without_data(mgr, path):
    mgr.up("e1")
    missing = mgr.client.get(path)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    for headers in (NODE, {"Authorization": "Bearer nope"}, {"Authorization": "Basic YWRtaW4="}):
        resp = mgr.client.get(path, headers=headers)
        assert resp.status_code in (401, 403)
        assert "e1.example" not in resp.text and "10.0.0" not in resp.text
    assert mgr.client.get(path, headers=ADMIN).status_code == 200


def test_node_endpoints_need_a_node_credential(mgr):
    body = {"deployment": "demo", "name": "x", "region": "r", "provider": "p", "role": "edge",
            "engine": "nginx-rtmp", "capacity": 1}
    assert mgr.client.post("/api/v1/nodes", json=body).status_code == 401
    assert mgr.client.post("/api/v1/nodes", json=body, headers={"Authorization": "Bearer x"}).status_code == 403
    own = node_auth("x", region="r")
    node_id = mgr.client.post("/api/v1/nodes", json=body, headers=own).json()["id"]
    assert mgr.client.post(f"/api/v1/nodes/{node_id}/heartbeat", json={}).status_code == 401
    assert mgr.client.delete(f"/api/v1/nodes/{node_id}", headers={"Authorization": "Bearer x"}).status_code == 403
    assert mgr.store.get_node("x")["state"] == "STARTING"
    assert mgr.client.post(f"/api/v1/nodes/{node_id}/heartbeat", json={}, headers=own).json()["state"] == "INSERVICE"


REGISTER = {"deployment": "demo", "name": "e1", "region": "r1", "provider": "local", "role": "edge",
            "engine": "nginx-rtmp", "capacity": 10, "endpoints": {"rtmp": "rtmp://e1.example/live"}}


@pytest.mark.parametrize("claim", [{"name": "e2"}, {"role": "origin", "capacity": 100000}, {"region": "r2"},
                                   {"deployment": "other"}])
def test_a_node_credential_registers_only_its_own_node(mgr, claim):
    """The shared node token let any holder register a fake origin with capacity 100000."""
    resp = mgr.client.post("/api/v1/nodes", json={**REGISTER, **claim}, headers=node_auth("e1"))
    assert resp.status_code == 403 and "cannot register" in resp.json()["detail"]
    assert mgr.client.get("/api/v1/nodes", headers=ADMIN).json() == []
    assert mgr.client.post("/api/v1/nodes", json=REGISTER, headers=node_auth("e1")).status_code == 201


def test_a_node_credential_bounds_the_capacity_it_registers_with(mgr):
    """A leaked edge credential cannot re-register its node with 100,000 slots and draw the region's viewers."""
    bounded = node_auth("e1", capacity=10)
    resp = mgr.client.post("/api/v1/nodes", json={**REGISTER, "capacity": 100000}, headers=bounded)
    assert resp.status_code == 403 and "capacity of at most 10" in resp.json()["detail"]
    assert mgr.client.get("/api/v1/nodes", headers=ADMIN).json() == []
    for capacity in (10, 4):  # its own pool's capacity, or less
        resp = mgr.client.post("/api/v1/nodes", json={**REGISTER, "capacity": capacity}, headers=bounded)
        assert resp.status_code == 201 and resp.json()["capacity"] == capacity
    tampered = bounded["Authorization"].split(".")
    unbounded = node_auth("e1")["Authorization"].split(".")
    swapped = {"Authorization": f"{unbounded[0]}.{unbounded[1]}.{tampered[2]}"}  # the bound dropped, the MAC kept
    assert mgr.client.post("/api/v1/nodes", json=REGISTER, headers=swapped).status_code == 403


def test_a_node_credential_cannot_change_or_deregister_another_node(mgr):
    victim = mgr.up("e2", capacity=7)
    mgr.up("e1")
    e1 = node_auth("e1")
    beat = mgr.client.post(f"/api/v1/nodes/{victim}/heartbeat", json={"engine_ok": False, "error": "x"}, headers=e1)
    assert beat.status_code == 403 and "another node" in beat.json()["detail"]
    assert mgr.client.delete(f"/api/v1/nodes/{victim}", headers=e1).status_code == 403
    assert mgr.client.put("/api/v1/nodes/e2/state", json={"state": "SUNSET"}, headers=e1).status_code == 403
    assert mgr.client.post("/api/v1/nodes/no-such-id/heartbeat", json={}, headers=e1).status_code == 404
    assert mgr.store.get_node("e2")["state"] == "INSERVICE"
    # the victim's own credential and the admin token still act on it
    assert mgr.client.post(f"/api/v1/nodes/{victim}/heartbeat", json={}, headers=node_auth("e2")).status_code == 200
    assert mgr.client.delete(f"/api/v1/nodes/{victim}", headers=ADMIN).json()["state"] == "TERMINATED"


@pytest.mark.parametrize("method,path", [("GET", "/api/v1/streams"), ("GET", "/api/v1/events"),
                                         ("GET", "/api/v1/nodes/e1"), ("PUT", "/api/v1/nodes/e1/state"),
                                         ("POST", "/api/v1/leases/operate"), ("GET", "/api/v1/demand"),
                                         ("GET", "/metrics"), ("GET", "/ui"), ("GET", "/openapi.json")])
def test_a_node_credential_cannot_touch_admin_routes(mgr, method, path):
    mgr.up("e1")
    body = {"state": "SUNSET"} if path.endswith("/state") else {"holder": "x", "ttl_s": 10}
    resp = mgr.client.request(method, path, json=None if method == "GET" else body, headers=mgr.node_headers(
        mgr.store.get_node("e1")["id"]))
    assert resp.status_code in (401, 403), resp.text
    assert "e1.example" not in resp.text and mgr.store.get_node("e1")["state"] == "INSERVICE"


def test_forged_credentials_are_refused(mgr):
    good = node_auth("e1")["Authorization"].removeprefix("Bearer ")
    _, claims, mac = good.split(".")
    other_claims = node_auth("e2")["Authorization"].split(".")[1]
    forged = [node_auth("e1", key="not-the-node-key"), {"Authorization": f"Bearer n1.{other_claims}.{mac}"},
              {"Authorization": f"Bearer n1.{claims}.{mac[:-1]}"}, {"Authorization": f"Bearer n1.{claims}"},
              {"Authorization": "Bearer n1.!!!." + mac}, {"Authorization": "Bearer " + good + "x"}]
    for headers in forged:
        resp = mgr.client.post("/api/v1/nodes", json=REGISTER, headers=headers)
        assert resp.status_code == 403 and resp.json()["detail"] == "invalid node credential", headers
    assert mgr.client.get("/api/v1/nodes", headers=ADMIN).json() == []


def test_a_manager_without_a_node_key_accepts_no_credential(make_manager):
    m = make_manager()
    m.app.state.settings.node_key = ""
    resp = m.client.post("/api/v1/nodes", json=REGISTER, headers=node_auth("e1"))
    assert resp.status_code == 403


def test_empty_configured_token_locks_endpoints(make_manager):
    m = make_manager()
    m.app.state.settings.admin_token = ""
    assert m.client.get("/api/v1/nodes", headers={"Authorization": "Bearer "}).status_code == 401
    assert m.client.get("/api/v1/nodes", headers={"Authorization": "Bearer anything"}).status_code == 403


class _Backend(BaseHTTPRequestHandler):
    """Allows user 'alice' with password 'pw'; sleeps when asked to, to test the timeout."""

    seen: list[dict] = []

    def do_POST(self):  # noqa: N802 - http.server API
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Backend.seen.append(body)
        if body.get("username") == "slow":
            time.sleep(1.5)
        ok = body.get("username") == "alice" and body.get("password") == "pw"
        self.send_response(200 if ok else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def backend():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Backend)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Backend.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}/validate"
    server.shutdown()
    server.server_close()


def test_round_trip_auth_allows_only_2xx_and_fails_closed(make_manager, backend):
    m = make_manager(auth_url=backend, auth_timeout=0.5)
    m.up("o1", "origin")
    m.up("e1")
    assert m.publish("s", username="alice", password="wrong").status_code == 403
    assert m.publish("s").status_code == 403
    assert m.publish("s", username="alice", password="pw").status_code == 200
    assert _Backend.seen[-1] == {"username": "alice", "password": "pw", "token": None, "stream": "live/s",
                                 "action": "publish"}
    assert m.subscribe("s", username="bob", password="pw").status_code == 403
    assert m.subscribe("s", username="alice", password="pw", token="t").status_code == 200
    assert _Backend.seen[-1]["action"] == "subscribe" and _Backend.seen[-1]["token"] == "t"
    started = time.monotonic()
    assert m.subscribe("s", username="slow", password="pw").status_code == 403  # timeout -> deny
    assert time.monotonic() - started < 1.4


def test_round_trip_auth_unreachable_backend_denies(make_manager):
    m = make_manager(auth_url="http://127.0.0.1:9/validate", auth_timeout=0.5)
    m.up("o1", "origin")
    assert m.publish("s", username="alice", password="pw").status_code == 403


def test_subscribe_by_post_keeps_credentials_out_of_the_url(make_manager, backend):
    m = make_manager(auth_url=backend, auth_timeout=0.5)
    m.up("o1", "origin")
    m.up("e1")
    assert m.publish("s", username="alice", password="pw").status_code == 200
    url = "/api/v1/streams/live/s/subscribe"
    assert m.client.post(url, json={"username": "alice", "password": "nope"}).status_code == 403
    ok = m.client.post(url, json={"username": "alice", "password": "pw", "region": "r1"})
    assert ok.status_code == 200 and ok.json()["node"]["name"] == "e1"
    assert _Backend.seen[-1] == {"username": "alice", "password": "pw", "token": None, "stream": "live/s",
                                 "action": "subscribe"}


def test_subscribe_rejects_out_of_range_coordinates_with_422(mgr):
    mgr.up("o1", "origin")
    mgr.up("e1")
    assert mgr.publish("s").status_code == 200
    bad = mgr.client.get("/api/v1/streams/live/s/subscribe", params={"lat": 95, "lon": 0})
    assert bad.status_code == 422 and "lat" in bad.text
