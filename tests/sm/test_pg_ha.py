"""HA on a real PostgreSQL: two `ccds sm serve` processes, concurrent subscribes, leader failover."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sm_pg import PgServer, free_port
from smhelp import node_auth

pytestmark = pytest.mark.slow

ADMIN = {"Authorization": "Bearer admin-ha"}
HB_TIMEOUT = 5.0  # generous: other test suites may load the machine heavily


def _serve(url: str, port: int, log) -> subprocess.Popen:
    env = {**os.environ, "CCDS_ADMIN_TOKEN": "admin-ha", "CCDS_NODE_KEY": "node-ha"}
    return subprocess.Popen([sys.executable, "-m", "ccds_cli", "sm", "serve", "--port", str(port),
                             "--database-url", url, "--heartbeat-timeout", str(HB_TIMEOUT), "--log-level", "info",
                             # slots stay reserved for the whole test, however slow the machine is
                             "--connect-grace", "600", "--reservation-ttl", "600"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)


def _wait_health(base: str, timeout: float = 30) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            return httpx.get(f"{base}/api/v1/health", timeout=2).json()
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError(f"{base} never became healthy")


class Cluster:
    """Two managers on one database, and a heartbeat keeper that survives either one dying."""

    def __init__(self, tmp):
        self.pg = PgServer(tmp / "pg")
        self.procs: dict[str, subprocess.Popen] = {}
        self.alive: dict[str, str] = {}  # node name -> id, kept heartbeating
        self.creds: dict[str, dict[str, str]] = {}  # node id -> its own credential headers
        self.stop = threading.Event()
        self.tmp = tmp

    def start(self) -> None:
        self.pg.start()
        for _ in range(2):
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            self.procs[base] = _serve(self.pg.url, port, open(self.tmp / f"sm-{port}.log", "w"))
        for base in self.procs:
            _wait_health(base)
        self.keeper = threading.Thread(target=self._keep, daemon=True)
        self.keeper.start()

    @property
    def bases(self) -> list[str]:
        return [b for b, p in self.procs.items() if p.poll() is None]

    def call(self, method: str, path: str, retry_once: bool = True, start: int = 0, **kw) -> httpx.Response:
        """Like a client behind a load balancer: try one manager, on failure retry once on the other."""
        bases = list(self.procs)
        first = bases[start % len(bases)]
        others = [b for b in bases if b != first]
        for attempt, base in enumerate([first] + (others if retry_once else [])):
            try:
                resp = httpx.request(method, base + path, timeout=5, **kw)
                if resp.status_code < 500 or attempt == len(bases) - 1 or not retry_once:
                    return resp
            except httpx.TransportError:
                if attempt == len(bases) - 1 or not retry_once:
                    raise
        raise AssertionError("unreachable")

    def register(self, name: str, role: str, capacity: int, region: str = "r1") -> str:
        body = {"deployment": "ha", "name": name, "region": region, "provider": "local", "role": role,
                "engine": "nginx-rtmp", "public_host": "127.0.0.1", "private_host": "127.0.0.1",
                "capacity": capacity, "endpoints": {"rtmp": f"rtmp://127.0.0.1/{name}"}}
        node = node_auth(name, role, region, "ha", key="node-ha")
        node_id = self.call("POST", "/api/v1/nodes", json=body, headers=node).json()["id"]
        self.creds[node_id] = node
        assert self.call("POST", f"/api/v1/nodes/{node_id}/heartbeat", json={}, headers=node).json()["state"] \
            == "INSERVICE"
        self.alive[name] = node_id
        return node_id

    def _keep(self) -> None:
        i = 0
        while not self.stop.wait(0.3):
            for node_id in list(self.alive.values()):
                i += 1
                try:
                    self.call("POST", f"/api/v1/nodes/{node_id}/heartbeat", json={}, headers=self.creds[node_id], start=i)
                except httpx.HTTPError:
                    pass

    def close(self) -> None:
        self.stop.set()
        for p in self.procs.values():
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
        self.pg.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("ha"))
    if not c.pg.available:
        pytest.skip("initdb/pg_ctl not on PATH")
    try:
        c.start()
        yield c
    finally:
        c.close()


def test_concurrent_subscribes_across_managers_never_exceed_capacity(cluster):
    cluster.register("o1", "origin", 10)
    cluster.register("e1", "edge", 5)
    cluster.register("e2", "edge", 5)
    assert cluster.call("POST", "/api/v1/streams/live/big/publish").status_code == 200

    def one(i: int) -> tuple[int, str | None]:
        resp = httpx.get(f"{cluster.bases[i % 2]}/api/v1/streams/live/big/subscribe", timeout=10)
        return resp.status_code, resp.json().get("node", {}).get("name") if resp.status_code == 200 else None

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(one, range(40)))
    codes = Counter(code for code, _ in results)
    per_edge = Counter(name for code, name in results if code == 200)
    assert codes == {200: 10, 503: 30}, codes
    assert per_edge == {"e1": 5, "e2": 5}
    nodes = cluster.call("GET", "/api/v1/nodes", headers=ADMIN).json()
    assert {n["name"]: n["reserved"] for n in nodes if n["role"] == "edge"} == {"e1": 5, "e2": 5}


def test_leader_dies_other_takes_over_fault_detection_without_client_failures(cluster):
    healths = {b: httpx.get(f"{b}/api/v1/health").json() for b in cluster.bases}
    leaders = [b for b, h in healths.items() if h["is_leader"]]
    assert len(leaders) == 1, healths
    leader, survivor = leaders[0], next(b for b in cluster.bases if b != leaders[0])
    survivor_id = healths[survivor]["instance"]
    # A roomy edge for the client loop; the small edges are drained so they cannot answer.
    for name in ("e1", "e2"):
        cluster.call("PUT", f"/api/v1/nodes/{name}/state", json={"state": "SUNSET"}, headers=ADMIN)
    cluster.register("roomy", "edge", 1_000_000)
    cluster.register("victim", "edge", 10)

    failures, answered, stop = [], Counter(), threading.Event()

    def client() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            try:
                resp = cluster.call("GET", "/api/v1/streams/live/big/subscribe", start=i)
                answered[resp.status_code] += 1
                if resp.status_code != 200 or resp.json()["node"]["name"] not in ("roomy", "victim"):
                    failures.append((resp.status_code, resp.text[:200]))
            except httpx.HTTPError as exc:
                failures.append(repr(exc))
            time.sleep(0.02)

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    time.sleep(1.0)
    os.kill(cluster.procs[leader].pid, signal.SIGKILL)
    cluster.procs[leader].wait(timeout=10)
    killed_at = time.monotonic()
    del cluster.alive["victim"]  # the victim stops heartbeating right when the leader dies

    took_over = None
    while time.monotonic() - killed_at < 10:
        if httpx.get(f"{survivor}/api/v1/health", timeout=2).json()["is_leader"]:
            took_over = time.monotonic() - killed_at
            break
        time.sleep(0.1)
    assert took_over is not None and took_over < 5, took_over

    fault = None
    while time.monotonic() - killed_at < HB_TIMEOUT + 10:
        events = httpx.get(f"{survivor}/api/v1/events", params={"node": "victim"}, headers=ADMIN).json()
        fault = next((e for e in events if e["to_state"] == "FAULT"), None)
        if fault:
            break
        time.sleep(0.2)
    stop.set()
    thread.join(timeout=10)
    assert fault is not None and fault["instance"] == survivor_id
    assert failures == [], failures
    assert answered[200] > 5, answered
