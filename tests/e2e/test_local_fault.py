"""Issue 4 on the local cloud: `ccds probe` finds the manager from the deployment state and measures a
stream through origin -> edge; an edge whose nginx is stopped by PID goes FAULT within the heartbeat
window, new viewers only get the other edge, and `ccds status` says unhealthy (exit 4).
Also: the next `ccds up` restarts the stopped node (the local cloud names dead nodes for `-replace`)."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
from e2ehelp import Publisher, explain, http_get, ok, process_alive, streams, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

HEARTBEAT_WINDOW = 3.5  # ccds_cli/clouds/local.py gives the local manager --heartbeat-timeout 3.5
MARGIN = 4.0


def nginx_pid(record: dict) -> int:
    return next(p["pid"] for p in record["processes"] if p["kind"] == "nginx")


def subscribe(api: str, stream: str) -> dict:
    status, body = http_get(f"{api}/api/v1/streams/live/{stream}/subscribe?region=local")
    assert status == 200, body
    return json.loads(body)


def stop_edge_nginx(dep, name: str) -> tuple[int, float]:
    """SIGTERM the edge's nginx master (PID from the supervisor's node record); wait until it is gone."""
    pid = nginx_pid(dep.records()[name])
    os.kill(pid, signal.SIGTERM)
    killed_at = time.monotonic()
    wait_for(lambda: not process_alive(pid), 10, interval=0.05, what=f"nginx {pid} to exit")
    return pid, killed_at


def test_probe_then_edge_fault_reroutes_and_status_unhealthy(deployment, tmp_path):
    dep = deployment
    ok(dep.run("up", "{spec}", "--yes"))

    # No --manager: probe reads the manager URL and admin token from the deployment's state.
    probe = dep.run_json("probe", "{spec}", "--timeout", "40", expect=0, timeout=90)["result"]
    assert probe["ok"] is True and probe["error"] is None
    assert probe["frames"] > 0 and probe["time_to_first_frame_ms"] > 0
    assert 0 <= probe["latency_ms_p50"] <= probe["latency_ms_max"] < 5000
    assert probe["origin"].endswith("origin-0") and "-edge-" in probe["edge"]

    api = dep.manager_url()
    assert probe["manager"] == api
    names = wait_for(lambda: (lambda n: n if sum(v["state"] == "INSERVICE" for v in n.values()) == 3 else None)(
        dep.manager_nodes(api)), 20, what="origin and both edges INSERVICE")
    edges = sorted(n for n, v in names.items() if v["role"] == "edge")
    assert len(edges) == 2
    victim, survivor = edges

    # A published stream, so that subscribe has something to route.
    records = dep.records()
    origin = next(r for r in records.values() if r["role"] == "origin")
    with Publisher(f"rtmp://127.0.0.1:{origin['ports']['rtmp']}/live/fault", 90, tmp_path / "pub.log"):
        answer = _post_publish(api, "fault")
        assert answer["node"]["name"] == origin["name"]
        wait_for(lambda: streams(f"http://127.0.0.1:{origin['ports']['http']}/stat").get("fault", {})
                 .get("publishing"), 20, what="the publisher on the origin")
        before = {subscribe(api, "fault")["node"]["name"] for _ in range(6)}
        assert before == {victim, survivor}, "both edges should take viewers while healthy"

        victim_pid, killed_at = stop_edge_nginx(dep, victim)
        wait_for(lambda: dep.manager_nodes(api)[victim]["state"] == "FAULT", HEARTBEAT_WINDOW + MARGIN,
                 interval=0.2, what=f"{victim} FAULT in the manager")
        detected = time.monotonic() - killed_at
        assert detected <= HEARTBEAT_WINDOW + MARGIN
        after = [subscribe(api, "fault") for _ in range(10)]
        assert {a["node"]["name"] for a in after} == {survivor}
        assert all(a["urls"]["rtmp"].startswith(f"rtmp://127.0.0.1:{records[survivor]['ports']['rtmp']}/")
                   for a in after)

        status = dep.run_json("status", "{spec}", expect=4)
        assert status["ok"] is False and status["result"]["healthy"] is False
        problems = [p for ws in status["result"]["workspaces"] for r in ws["roles"] for p in r["problems"]]
        assert any(victim in p for p in problems), problems
        assert status["result"]["manager"]["faulty"] == [victim]
        assert not process_alive(victim_pid)


def _post_publish(api: str, stream: str) -> dict:
    import urllib.request

    req = urllib.request.Request(f"{api}/api/v1/streams/live/{stream}/publish",
                                 data=json.dumps({"region": "local"}).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status == 200
        return json.loads(resp.read())


class NotRestarted(AssertionError):
    """The specific failure this test guards against (named, so a regression is clear)."""


def test_up_restarts_a_stopped_edge(deployment):
    dep = deployment
    ok(dep.run("up", "{spec}", "--yes"))
    victim = sorted(n for n, r in dep.records().items() if r["role"] == "edge")[0]
    old_pid, _ = stop_edge_nginx(dep, victim)
    assert dep.run("status", "{spec}").returncode == 4

    up = dep.run("up", "{spec}", "--yes")
    assert up.returncode == 0, explain(up, "re-running up after a node died")
    record = dep.records()[victim]
    if not (record["running"] and nginx_pid(record) != old_pid):
        raise NotRestarted(f"{victim} was not restarted by `ccds up`: {record}")
    envelope = dep.run_json("status", "{spec}", expect=0)
    assert envelope["result"]["healthy"] is True
    api = dep.manager_url()
    wait_for(lambda: dep.manager_nodes(api)[victim]["state"] == "INSERVICE", 15, what=f"{victim} INSERVICE again")
