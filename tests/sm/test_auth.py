"""Bearer tokens on admin and node endpoints, and the round-trip check against a real HTTP backend."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from smhelp import ADMIN, NODE

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


def test_node_endpoints_need_the_node_token(mgr):
    body = {"deployment": "demo", "name": "x", "region": "r", "provider": "p", "role": "edge",
            "engine": "nginx-rtmp", "capacity": 1}
    assert mgr.client.post("/api/v1/nodes", json=body).status_code == 401
    assert mgr.client.post("/api/v1/nodes", json=body, headers={"Authorization": "Bearer x"}).status_code == 403
    node_id = mgr.client.post("/api/v1/nodes", json=body, headers=NODE).json()["id"]
    assert mgr.client.post(f"/api/v1/nodes/{node_id}/heartbeat", json={}).status_code == 401
    assert mgr.client.delete(f"/api/v1/nodes/{node_id}", headers={"Authorization": "Bearer x"}).status_code == 403
    assert mgr.store.get_node("x")["state"] == "STARTING"


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
