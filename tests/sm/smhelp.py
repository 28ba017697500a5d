"""Helpers for the stream manager tests (a unique module name: `conftest` is ambiguous across test dirs)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from ccds_cli.sm.store import Store
from ccds_cli.state.secrets import node_credential

ADMIN = {"Authorization": "Bearer admin-secret"}
NODE_KEY = "node-secret"  # the managers' node key in these tests (conftest)


def node_auth(name: str = "e1", role: str = "edge", region: str = "r1", deployment: str = "demo",
              key: str = NODE_KEY, capacity: int | None = None) -> dict[str, str]:
    """The headers of one node's own credential (bounded to `capacity` when given)."""
    cred = node_credential(key, deployment=deployment, region=region, role=role, name=name, capacity=capacity)
    return {"Authorization": f"Bearer {cred}"}


NODE = node_auth()  # edge e1 of region r1: enough for what every node may read (node list, sources)


class Clock:
    def __init__(self, t: float = 1_800_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class Manager:
    """A TestClient plus helpers to bring nodes into service."""

    def __init__(self, client: TestClient, store: Store, clock: Clock):
        self.client, self.store, self.clock = client, store, clock
        self.app = client.app
        self.auth: dict[str, dict[str, str]] = {}  # node id -> that node's credential headers

    def register(self, name: str, role: str = "edge", region: str = "r1", capacity: int = 10,
                 lat: float | None = None, lon: float | None = None, port: int = 1935, **extra) -> str:
        body = {"deployment": "demo", "name": name, "region": region, "provider": "local", "role": role,
                "engine": "nginx-rtmp", "public_host": f"{name}.example", "private_host": f"10.0.0.{port % 250}",
                "capacity": capacity, "lat": lat, "lon": lon,
                "endpoints": {"rtmp": f"rtmp://{name}.example:{port}/live"}, "stats_url": "", **extra}
        headers = node_auth(name, role, region, body["deployment"])
        resp = self.client.post("/api/v1/nodes", json=body, headers=headers)
        assert resp.status_code == 201, resp.text
        self.auth[resp.json()["id"]] = headers
        return resp.json()["id"]

    def node_headers(self, node_id: str) -> dict[str, str]:
        """The credential the node `node_id` registered with (ADMIN for a node registered otherwise)."""
        return self.auth.get(node_id, ADMIN)

    def beat(self, node_id: str, **counters) -> dict:
        body = {"engine_ok": True, **counters}
        resp = self.client.post(f"/api/v1/nodes/{node_id}/heartbeat", json=body, headers=self.node_headers(node_id))
        assert resp.status_code == 200, resp.text
        return resp.json()

    def up(self, name: str, role: str = "edge", **kw) -> str:
        node_id = self.register(name, role, **kw)
        assert self.beat(node_id)["state"] == "INSERVICE"
        return node_id

    def publish(self, stream: str, **body):
        return self.client.post(f"/api/v1/streams/live/{stream}/publish", json=body)

    def subscribe(self, stream: str, **params):
        return self.client.get(f"/api/v1/streams/live/{stream}/subscribe", params=params)
