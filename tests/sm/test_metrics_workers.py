"""`/metrics` of a manager with several worker processes is the manager's, whichever worker answers;
a manager with one process serves what it always did, with no directory and no files."""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from prometheus_client import values
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families
from sm_pg import free_port
from smhelp import ADMIN, node_auth

from ccds_cli.sm.metrics import MULTIPROC_ENV


def parse(text: str) -> list:
    return [s for fam in text_string_to_metric_families(text) for s in fam.samples]


def only(samples: list, name: str, **labels) -> float:
    found = [s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (name, labels, found)
    return found[0]


# What one process served before workers were summed (and still does, plus the beat pace): family, type,
# label names.
ONE_PROCESS = sorted([
    ("ccds_sm_beat_interval_seconds", "gauge", ()), ("ccds_sm_fault_timeout_seconds", "gauge", ()),
    ("ccds_sm_database_up", "gauge", ()), ("ccds_sm_events", "gauge", ()), ("ccds_sm_hls_fallbacks", "counter", ()),
    ("ccds_sm_leader", "gauge", ("instance",)), ("ccds_sm_live_streams", "gauge", ()),
    ("ccds_sm_node_capacity", "gauge", ()), ("ccds_sm_node_heartbeat_age_seconds", "gauge", ()),
    ("ccds_sm_node_load", "gauge", ()), ("ccds_sm_nodes", "gauge", ()), ("ccds_sm_pool_capacity", "gauge", ()),
    ("ccds_sm_pool_load", "gauge", ()), ("ccds_sm_publishers", "gauge", ()), ("ccds_sm_refused_joins", "counter", ()),
    ("ccds_sm_request_duration_seconds", "histogram", ("action", "le")),
    ("ccds_sm_request_duration_seconds_created", "gauge", ("action",)),
    ("ccds_sm_requests", "counter", ("action", "result")), ("ccds_sm_requests_created", "gauge", ("action", "result")),
    ("ccds_sm_reserved_slots", "gauge", ()), ("ccds_sm_viewers", "gauge", ()), ("process_cpu_seconds", "counter", ()),
    ("process_max_fds", "gauge", ()), ("process_open_fds", "gauge", ()), ("process_resident_memory_bytes", "gauge", ()),
    ("process_start_time_seconds", "gauge", ()), ("process_virtual_memory_bytes", "gauge", ())])


def test_one_process_serves_its_own_registry_with_no_multiprocess_files(mgr):
    """The default manager (and every SQLite one): in-memory values, the families it always had."""
    assert MULTIPROC_ENV not in os.environ and not values.ValueClass._multiprocess
    m = mgr.app.state.metrics
    assert m.multiprocess_dir is None and m.values is m.registry
    assert mgr.subscribe("nope").status_code == 404
    text = mgr.client.get("/metrics", headers=ADMIN).text
    families = sorted((f.name, f.type, tuple(sorted({k for s in f.samples for k in s.labels})))
                      for f in text_string_to_metric_families(text))
    assert families == ONE_PROCESS
    samples = parse(text)
    assert only(samples, "ccds_sm_requests_total", action="subscribe", result="not_found") == 1
    assert only(samples, "ccds_sm_request_duration_seconds_count", action="subscribe") == 1
    # this process's own leader flag under its own instance id (PostgreSQL: 0 until the leader ticks)
    assert only(samples, "ccds_sm_leader", instance=mgr.app.state.settings.instance_id) == \
        (0 if mgr.store.postgres else 1)
    mgr.app.state.leader.tick()
    assert only(parse(mgr.client.get("/metrics", headers=ADMIN).text), "ccds_sm_leader") == 1
    assert only(samples, "process_cpu_seconds_total") > 0


def _worker_counts(path: Path) -> dict[int, float]:
    """Requests each worker counted, read from its own file (what it would answer alone)."""
    counts = {}
    for f in glob.glob(str(path / "counter_*.db")):
        pid = int(Path(f).stem.split("_")[1])
        counts[pid] = sum(v for key, v, _, _ in MmapedDict.read_all_values_from_file(f)
                          if '"ccds_sm_requests_total"' in key)
    return counts


def _live_pids(path: Path) -> set[int]:
    return {int(Path(f).stem.rsplit("_", 1)[1]) for f in glob.glob(str(path / "gauge_livemax_*.db"))}


def _beat(base: str, node_id: str, name: str, role: str, **body) -> None:
    resp = httpx.post(f"{base}/nodes/{node_id}/heartbeat", json={"engine_ok": True, **body},
                      headers=node_auth(name, role), timeout=5)
    assert resp.status_code == 200, resp.text


@pytest.mark.slow
def test_two_workers_serve_the_managers_counters_on_every_scrape(pg_server, tmp_path):
    tmp = tmp_path / "tmp"  # the manager makes its private directory here (TMPDIR)
    tmp.mkdir()
    port = free_port()
    env = {**os.environ, "CCDS_ADMIN_TOKEN": "admin-secret", "CCDS_NODE_KEY": "node-secret", "TMPDIR": str(tmp)}
    env.pop(MULTIPROC_ENV, None)
    log_path = tmp_path / "sm.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "ccds_cli", "sm", "serve", "--port", str(port), "--workers", "2",
                                 "--database-url", pg_server.new_database(), "--heartbeat-timeout", "60"],
                                env=env, stdout=log, stderr=subprocess.STDOUT)
    root = f"http://127.0.0.1:{port}"
    base = f"{root}/api/v1"

    def why() -> str:
        return log_path.read_text()[-3000:]

    try:
        end = time.monotonic() + 60
        dirs: list[Path] = []
        while time.monotonic() < end:
            dirs = list(tmp.glob("ccds-sm-metrics-*"))
            if dirs and len(_live_pids(dirs[0])) == 2:
                try:
                    if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
            time.sleep(0.2)
        else:
            pytest.fail(f"two workers never came up: {why()}")
        assert len(dirs) == 1
        mdir = dirs[0]
        assert mdir.stat().st_mode & 0o777 == 0o700
        workers = _live_pids(mdir)

        ids = {}
        for name, role in (("o1", "origin"), ("e1", "edge")):
            body = {"deployment": "demo", "name": name, "region": "r1", "provider": "local", "role": role,
                    "engine": "nginx-rtmp", "public_host": f"{name}.example", "capacity": 100_000,
                    "endpoints": {"rtmp": f"rtmp://{name}.example:1935/live"}}
            resp = httpx.post(f"{base}/nodes", json=body, headers=node_auth(name, role), timeout=5)
            assert resp.status_code == 201, resp.text
            ids[name] = resp.json()["id"]
        _beat(base, ids["o1"], "o1", "origin", publishers=1, streams=[{"app": "live", "name": "s", "publishing": True}])
        _beat(base, ids["e1"], "e1", "edge")

        # Requests on fresh connections (httpx.post opens one each) until both workers answered some.
        made: Counter = Counter()
        for _ in range(20):
            for _ in range(5):
                made["publish", httpx.post(f"{base}/streams/live/s/publish", json={}, timeout=5).status_code] += 1
                made["subscribe", httpx.get(f"{base}/streams/live/s/subscribe", timeout=5).status_code] += 1
                made["subscribe", httpx.get(f"{base}/streams/live/gone/subscribe", timeout=5).status_code] += 1
            per_worker = _worker_counts(mdir)
            if len([n for n in per_worker.values() if n > 0]) == 2:
                break
        assert set(made) == {("publish", 200), ("subscribe", 200), ("subscribe", 404)}, made
        total = sum(made.values())
        assert sorted(per_worker) == sorted(workers) and all(0 < n < total for n in per_worker.values()), \
            (per_worker, total)  # both answered, neither alone knows the manager's total
        assert sum(per_worker.values()) == total

        def check(samples: list, extra: Counter = Counter()) -> None:
            counted = {**made, **{k: made[k] + n for k, n in extra.items()}}
            assert only(samples, "ccds_sm_requests_total", action="publish", result="ok") == counted["publish", 200]
            assert only(samples, "ccds_sm_requests_total", action="subscribe", result="ok") == counted["subscribe", 200]
            assert only(samples, "ccds_sm_requests_total", action="subscribe", result="not_found") == \
                counted["subscribe", 404]
            assert only(samples, "ccds_sm_requests_total", action="publish", result="error") == 0
            assert only(samples, "ccds_sm_request_duration_seconds_count", action="publish") == counted["publish", 200]
            assert only(samples, "ccds_sm_request_duration_seconds_count", action="subscribe") == \
                counted["subscribe", 200] + counted["subscribe", 404]
            assert only(samples, "ccds_sm_request_duration_seconds_bucket", action="subscribe", le="+Inf") == \
                counted["subscribe", 200] + counted["subscribe", 404]
            # the fleet gauges once, as the database has them; one leader series for the manager
            assert only(samples, "ccds_sm_nodes", region="r1", role="edge", state="INSERVICE") == 1
            assert only(samples, "ccds_sm_nodes", region="r1", role="origin", state="INSERVICE") == 1
            assert only(samples, "ccds_sm_publishers", region="r1") == 1
            assert only(samples, "ccds_sm_live_streams") == 1
            assert only(samples, "ccds_sm_database_up") == 1

        leader_series = []
        for _ in range(6):  # a fresh connection each: whichever worker takes it answers
            resp = httpx.get(f"{root}/metrics", headers=ADMIN, timeout=5)
            assert resp.status_code == 200, resp.text
            samples = parse(resp.text)
            check(samples)
            leader_series.append([(s.labels, s.value) for s in samples if s.name == "ccds_sm_leader"])
            assert {s.labels["pid"] for s in samples if s.name == "process_cpu_seconds_total"} == \
                {str(p) for p in workers}
        # the worker holding the advisory lock makes its manager the leader: 1, one series, the same each time
        assert len(leader_series[0]) == 1 and leader_series[0][0][1] == 1
        assert all(series == leader_series[0] for series in leader_series), leader_series

        # A worker stopped (SIGTERM): its shutdown marks it dead, no scrape needed; the supervisor starts
        # another. Then that one killed (no shutdown): the next scrape marks it dead. Both times its counts
        # stay in the sums and the pid leaves the leader max and the process metrics.
        leader_pid = int(httpx.get(f"{base}/health", timeout=5).json()["leader"].rsplit("-", 2)[1])
        assert leader_pid in workers
        victim = next(p for p in workers if p != leader_pid)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            os.kill(victim, sig)
            end = time.monotonic() + 30
            while time.monotonic() < end and not (victim not in _live_pids(mdir) and len(_live_pids(mdir)) == 2
                                                  if sig == signal.SIGTERM else len(_live_pids(mdir) - {victim}) == 2):
                time.sleep(0.2)
            assert len(_live_pids(mdir) - {victim}) == 2, why()
            assert (victim in _live_pids(mdir)) is (sig == signal.SIGKILL)  # a killed worker wrote nothing more
            samples = parse(httpx.get(f"{root}/metrics", headers=ADMIN, timeout=5).text)
            check(samples)
            assert victim not in _live_pids(mdir) and (mdir / f"counter_{victim}.db").exists()
            pids = {int(s.labels["pid"]) for s in samples if s.name == "process_cpu_seconds_total"}
            assert pids == _live_pids(mdir) and victim not in pids and leader_pid in pids
            assert [(s.labels, s.value) for s in samples if s.name == "ccds_sm_leader"] == leader_series[0]
            victim = next(iter(pids - {leader_pid}))
        extra = Counter()
        for _ in range(4):
            extra["subscribe", httpx.get(f"{base}/streams/live/s/subscribe", timeout=5).status_code] += 1
        assert set(extra) == {("subscribe", 200)}
        check(parse(httpx.get(f"{root}/metrics", headers=ADMIN, timeout=5).text), extra)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert proc.returncode == 0, why()
    assert not mdir.exists() and not list(tmp.glob("ccds-sm-metrics-*"))  # gone with the manager
