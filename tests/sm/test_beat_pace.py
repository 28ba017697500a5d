"""The managers slow a large fleet's beats down themselves, and fault detection follows the slower beat."""

from __future__ import annotations

import pytest
from smhelp import ADMIN
from test_beat_scale import _agent

from ccds_cli.sm.pace import MAX_ASK_S, Pace, asked_interval
from ccds_cli.sm.settings import Settings
from ccds_cli.sm.store import Store


@pytest.mark.parametrize(("nodes", "rate", "floor", "current", "want"), [
    (100, 500, None, None, None),  # 0.22 s needed: agents' own 2 s is slower already
    (2_000, 500, None, None, 4.5),  # 4 s needed, +10 %, in 0.25 s steps
    (2_000, 0, None, None, None),  # pacing off
    (10, 500, 3.0, None, 3.0),  # the operator's --beat-interval is the floor
    (10_000_000, 500, None, None, MAX_ASK_S),
    (1_800, 500, None, 4.5, 4.5),  # a little smaller: kept (no flapping)
    (1_000, 500, None, 4.5, 2.25),  # down by more than a quarter: lowered
    (100, 500, None, 4.5, None),  # small again: agents' own
])
def test_asked_interval(nodes, rate, floor, current, want):
    assert asked_interval(nodes, rate, floor, current) == want


def test_fault_timeout_follows_the_interval_and_keeps_the_old_one_while_agents_slow_down():
    assert Pace(None).fault_timeout(6.0, now=100.0) == 6.0
    assert Pace(1.0).fault_timeout(6.0, now=100.0) == 6.0
    assert Pace(4.5).fault_timeout(6.0, now=100.0) == 13.5
    lowered = Pace(1.0, prev_interval=4.5, changed_at=100.0)
    assert lowered.fault_timeout(6.0, now=108.9) == 13.5  # agents hear the new one with their slow beat
    assert lowered.fault_timeout(6.0, now=109.1) == 6.0


def _fleet(mgr, n: int) -> list[str]:
    return [mgr.up(f"e{i}") for i in range(n)]


def _faults(mgr) -> set[str]:
    return {n["name"] for n in mgr.client.get("/api/v1/nodes", headers=ADMIN).json() if n["state"] == "FAULT"}


def test_a_growing_fleet_is_asked_to_beat_slower_and_a_silent_node_is_judged_by_that(make_manager):
    mgr = make_manager(max_beat_rate=5.0)  # 12 nodes at 2 s would be 6 beats/s
    ids = _fleet(mgr, 12)
    mgr.app.state.leader.tick()  # the leader counts the fleet on its first tick
    assert mgr.beat(ids[0])["interval"] == 2.75  # 12 / 5 beats/s = 2.4 s, +10 %, up to 0.25 s steps
    health = mgr.client.get("/api/v1/health").json()
    assert health["beat_interval"] == 2.75 and health["fault_timeout"] == 8.25  # 3 beats at 2.75 s > 6 s
    metrics = mgr.client.get("/metrics", headers=ADMIN).text
    assert "ccds_sm_beat_interval_seconds 2.75" in metrics and "ccds_sm_fault_timeout_seconds 8.25" in metrics
    agent = _agent(mgr, "e99", interval=2.0)
    assert agent.heartbeat() and agent.interval == 2.75  # a real agent adopts it

    # Every node but e0 beats on; e0 is silent past the configured 6 s but within 3 paced beats.
    for step in (3.5, 3.5):
        mgr.clock.advance(step)
        for node_id in ids[1:]:
            mgr.beat(node_id)
        agent.heartbeat()
        mgr.store.detect_faults()
    assert _faults(mgr) == set()  # 7 s of silence: not a fault at this pace
    mgr.clock.advance(1.5)
    mgr.store.detect_faults()
    assert _faults(mgr) == {"e0"}  # 8.5 s > 8.25 s
    events = mgr.client.get("/api/v1/events", headers=ADMIN).json()
    assert any(e["node_name"] == "e0" and e["to_state"] == "FAULT" and "timeout 8.25s" in e["reason"] for e in events)

    # Another manager (or worker) on the same database answers with the leader's pace.
    other = Store(Settings(database_url=mgr.store.settings.database_url, run_background=False), clock=mgr.clock)
    try:
        assert other.load_pace().interval == 2.75 and other.fault_timeout() == 8.25
    finally:
        other.close()


def test_the_pace_comes_down_when_the_fleet_shrinks_and_fault_detection_speeds_up_after_a_grace(make_manager):
    mgr = make_manager(max_beat_rate=5.0)
    ids = _fleet(mgr, 12)
    assert mgr.store.adjust_pace().interval == 2.75
    for node_id in ids[3:]:  # nine nodes leave
        resp = mgr.client.delete(f"/api/v1/nodes/{node_id}", headers=mgr.node_headers(node_id))
        assert resp.status_code in (200, 204), resp.text
    mgr.clock.advance(1.0)
    pace = mgr.store.adjust_pace()
    assert pace.interval == 0.75 and pace.nodes == 3  # 3 / 5 = 0.6 s, +10 %: 0.75 s
    assert mgr.beat(ids[0])["interval"] == 0.75
    assert mgr.store.fault_timeout() == 8.25  # agents still at 2.75 s until their next beat
    mgr.clock.advance(2 * 2.75 + 0.1)
    assert mgr.store.fault_timeout() == 6.0  # the configured timeout again


def test_pacing_off_leaves_agents_at_their_own_interval(make_manager):
    mgr = make_manager(max_beat_rate=0)
    ids = _fleet(mgr, 6)
    mgr.store.adjust_pace()
    assert mgr.beat(ids[0])["interval"] is None and mgr.store.fault_timeout() == 6.0
