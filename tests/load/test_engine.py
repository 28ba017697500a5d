"""The load engine against a real stream manager, agents and nginx-rtmp origin + edges."""

from __future__ import annotations

import asyncio

import pytest
from loadhelp import ADMIN, wait

from ccds_cli.errors import BadInput, Unhealthy
from ccds_cli.load import LoadOptions, hold_viewers, run_load, run_load_sync
from ccds_cli.localcloud.procs import free_port

pytestmark = pytest.mark.slow
FAST = LoadOptions(bitrate_kbps=400, size="320x240", media_timeout=8, drop_after=4)


def test_viewers_spread_over_edges_receive_media_and_counts_match_the_edges(cluster):
    progress = []
    report = run_load_sync(cluster.url, ADMIN, viewers=60, publishers=1, ramp=60, duration=4,
                           options=FAST, on_progress=progress.append, progress_interval=0.25)
    r = report.as_dict()
    assert report.ok, r
    assert r["viewers"] == {"started": 60, "received_media": 60, "held": 60, "released": 0, "failed": 0,
                            "fallback": 0, "cancelled": 0}
    assert sum(r["failures"].values()) == 0
    edges = {e["edge"]: e for e in r["edges"]}
    assert set(edges) == {"edge-0", "edge-1"} and sum(e["assigned"] for e in edges.values()) == 60
    # the manager balances by load: neither edge carries everything
    assert all(10 <= e["assigned"] <= 40 for e in edges.values()), edges
    for name, e in edges.items():  # the report read the manager's own counts before the viewers left
        assert e["manager_subscribers"] == e["held"] == e["assigned"], (name, e)
    assert r["regions"] == [{"region": "r1", "assigned": 60, "received_media": 60, "held": 60, "failed": 0,
                             "fallback": 0, "bytes": r["bytes_received"]}]
    assert r["join_ms"]["count"] == 60 and 0 < r["join_ms"]["p50"] <= r["join_ms"]["p99"] < 8000
    assert r["frames"]["video"] > 60 * 25 * 2 and r["kbps_per_viewer"] > 200
    assert r["publishers"][0]["state"] == "stopped" and r["publishers"][0]["origin"] == "origin-0"
    phases = [p.phase for p in progress]
    assert phases[0] == "publishing" and "ramping" in phases and phases[-1] == "holding"
    assert max(p.playing for p in progress) == 60


def test_hold_viewers_keeps_them_until_stopped_and_edges_see_them(cluster):
    with hold_viewers(cluster.url, ADMIN, viewers=30, ramp=100, publishers=1, options=FAST) as load:
        snap = load.snapshot()
        assert snap.playing == 30 and snap.failed == 0
        # the edges' own stats (nginx-rtmp /stat) count exactly the viewers we hold
        wait(lambda: sum(n.stats().subscribers for name, n in cluster.nodes.items() if name.startswith("edge")) == 30,
             10, "edges to count 30 viewers")
        load.add(10)
        assert load.snapshot().playing == 40
        assert load.remove(15) == 15
        assert load.snapshot().playing == 25
        wait(lambda: sum(n.stats().subscribers for name, n in cluster.nodes.items() if name.startswith("edge")) == 25,
             10, "edges to count 25 viewers")
    r = load.report.as_dict()
    assert r["viewers"]["held"] == 25 and r["viewers"]["released"] == 15 and r["viewers"]["failed"] == 0
    assert load.report.ok


def test_full_edges_refuse_through_the_manager_and_are_counted(make_cluster):
    cluster = make_cluster(edge_capacity=20)
    # 2 edges x 20 slots: the manager refuses the rest with 503, a failure by cause
    report = run_load_sync(cluster.url, None, viewers=60, ramp=200, duration=2, options=FAST)
    r = report.as_dict()
    assert not report.ok
    served, refused = r["viewers"]["received_media"], r["failures"]["refused_by_manager"]
    assert served + refused == 60 and 20 <= refused <= 24 and served <= 40, r
    assert sum(r["failures"].values()) == refused
    assert all("503" in d["detail"] for d in r["failure_details"]["refused_by_manager"])
    assert "manager_subscribers" not in r["edges"][0]  # no admin token: only our own counts


def test_a_stream_nobody_publishes_is_refused_by_the_manager(cluster):
    report = run_load_sync(cluster.url, None, viewers=3, publishers=0, stream="nobody-here", duration=1,
                           options=FAST)
    assert report.failures["refused_by_manager"] == 3
    assert "404" in report.failure_details["refused_by_manager"][0]["detail"]


def test_a_manager_that_does_not_answer_is_unhealthy():
    with pytest.raises(Unhealthy, match="does not answer"):
        run_load_sync(f"http://127.0.0.1:{free_port()}", None, viewers=1, duration=1)
    with pytest.raises(BadInput):
        run_load_sync("http://127.0.0.1:9", None, viewers=0)


def test_stop_event_ends_the_run_early_with_a_report(cluster):
    playing = [0]

    async def main():
        stop = asyncio.Event()
        task = asyncio.create_task(run_load(
            cluster.url, ADMIN, viewers=20, ramp=100, duration=120, stop=stop, options=FAST,
            on_progress=lambda p: playing.__setitem__(0, p.playing), progress_interval=0.2))
        for _ in range(300):  # until every viewer plays (bounded: 30 s)
            await asyncio.sleep(0.1)
            if playing[0] >= 20 or task.done():
                break
        stop.set()
        return await asyncio.wait_for(task, 30)

    report = asyncio.run(main())
    assert report.interrupted and not report.ok
    assert report.viewers["held"] == 20 and report.elapsed_s < 60
