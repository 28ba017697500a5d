"""`ccds load --viewers 200` against the local cloud brought up by `ccds up` (real Terraform, manager,
agents, nginx-rtmp origin and four edges): the manager spreads the viewers over the edges, every viewer
receives media, and the report's per-edge counts match what each edge's own nginx-rtmp `/stat` counts
while the viewers are held (and the manager's heartbeat count in the report)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

from e2ehelp import LocalDeployment, explain, fresh_base_port, ok, require_tools  # noqa: E402
from loadhelp import stop_proc  # noqa: E402

from ccds_cli.agent.stats import parse_nginx_rtmp  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]
VIEWERS, EDGES = 200, 4


@pytest.fixture
def deployment(tmp_path):
    """examples/local.yaml with four edges of 100 slots for 200 viewers."""
    require_tools()
    dep = LocalDeployment(tmp_path, fresh_base_port(set()))
    data = yaml.safe_load(dep.spec.read_text())
    data["regions"]["local"]["pools"]["edge"].update(min=EDGES, max=EDGES, capacity=100)
    data["traffic"]["peak_viewers"] = {"local": VIEWERS}
    dep.spec.write_text(yaml.safe_dump(data, sort_keys=False))
    try:
        yield dep
    finally:
        dep.cleanup()


def edge_viewers(dep: LocalDeployment) -> dict[str, int]:
    """Viewers per edge as each edge's nginx-rtmp counts them (`rtmp_stat all`, relays excluded)."""
    import httpx

    counts = {}
    for name, rec in dep.records().items():
        if rec.get("role") == "edge":
            xml = httpx.get(f"http://127.0.0.1:{rec['ports']['http']}/stat", timeout=5).text
            counts[name] = parse_nginx_rtmp(xml).subscribers
    return counts


def test_load_200_viewers_spread_over_the_edges(deployment):
    dep = deployment
    ok(dep.run("up", "{spec}", "--yes", timeout=240))
    argv = dep.argv("load", str(dep.spec), "--viewers", str(VIEWERS), "--ramp", "50", "--duration", "12",
                    "--bitrate", "500", "--output", "json")
    load = subprocess.Popen(argv, cwd=dep.workdir, env=dep.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        seen: dict[str, int] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and load.poll() is None:  # the edges' view while all are held
            counts = edge_viewers(dep)
            if sum(counts.values()) == VIEWERS:
                seen = counts
                break
            time.sleep(0.5)
        out, err = load.communicate(timeout=120)
    finally:
        stop_proc(load)
    proc = subprocess.CompletedProcess(argv, load.returncode, out, err)
    assert load.returncode == 0, explain(proc, "ccds load should pass")
    envelope = json.loads(out)
    r = envelope["result"]
    assert envelope["ok"] and r["viewers"]["received_media"] == VIEWERS == r["viewers"]["held"], r["viewers"]
    assert sum(r["failures"].values()) == 0 and r["join_ms"]["count"] == VIEWERS
    report = {e["edge"]: e for e in r["edges"]}
    assert len(report) == EDGES, report  # spread over every edge by the manager
    assert all(e["assigned"] >= VIEWERS // EDGES // 3 for e in report.values()), report
    assert seen, f"the edges never counted {VIEWERS} viewers at once"
    assert {name: e["held"] for name, e in report.items()} == seen
    assert {name: e["manager_subscribers"] for name, e in report.items()} == seen
    assert r["regions"][0]["region"] == "local" and r["regions"][0]["received_media"] == VIEWERS
    assert "load" in err and "Traceback" not in err  # plain progress lines on stderr
