"""`GET /metrics` of the stream manager, read with prometheus-client's own parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from smhelp import ADMIN, NODE


def scrape(mgr, headers=ADMIN) -> dict[str, list]:
    resp = mgr.client.get("/metrics", headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain; version=")
    return {f.name: f.samples for f in text_string_to_metric_families(resp.text)}


def value(families: dict, name: str, **labels) -> float:
    samples = [s for fam in families.values() for s in fam if s.name == name]
    found = [s.value for s in samples if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (name, labels, samples)
    return found[0]


def test_metrics_need_a_token(mgr, monkeypatch):
    assert mgr.client.get("/metrics").status_code == 401
    assert mgr.client.get("/metrics", headers=NODE).status_code == 403  # a node's token is not enough
    mgr.app.state.settings.metrics_token = "scrape-only"
    assert mgr.client.get("/metrics", headers={"Authorization": "Bearer scrape-only"}).status_code == 200
    assert mgr.client.get("/api/v1/streams", headers={"Authorization": "Bearer scrape-only"}).status_code == 403


def test_fleet_gauges_requests_and_refusals(mgr):
    origin = mgr.up("o1", role="origin", capacity=5)
    edge = mgr.up("e1", capacity=2)
    mgr.up("e2", region="r2", capacity=3)
    mgr.beat(origin, publishers=1, streams=[{"app": "live", "name": "s", "publishing": True}])
    mgr.beat(edge, subscribers=1)
    assert mgr.publish("s", region="r1").status_code == 200
    assert mgr.subscribe("s", region="r1").status_code == 200  # the edge's last slot (1 viewer + 1 reserved)
    assert mgr.subscribe("s", region="r2").status_code == 200
    for _ in range(2):
        assert mgr.subscribe("s", region="r2").status_code == 200
    refused = mgr.subscribe("s", region="r1")
    assert refused.status_code == 503
    assert mgr.subscribe("nope").status_code == 404
    assert mgr.subscribe("s", region="made-up-by-a-client").status_code == 503

    mgr.app.state.leader.tick()  # on PostgreSQL: takes the leader lock (tests drive the leader by hand)
    m = scrape(mgr)
    assert value(m, "ccds_sm_nodes", region="r1", role="edge", state="INSERVICE") == 1
    assert value(m, "ccds_sm_nodes", region="r1", role="origin", state="INSERVICE") == 1
    assert value(m, "ccds_sm_pool_load", region="r1", role="edge") == 2
    assert value(m, "ccds_sm_pool_capacity", region="r1", role="edge") == 2
    assert value(m, "ccds_sm_pool_load", region="r2", role="edge") == 3
    assert value(m, "ccds_sm_node_load", node="e1") == 2
    assert value(m, "ccds_sm_viewers", region="r1") == 1
    assert value(m, "ccds_sm_reserved_slots", region="r2") == 3
    assert value(m, "ccds_sm_publishers", region="r1") == 1
    assert value(m, "ccds_sm_live_streams") == 1
    assert value(m, "ccds_sm_requests_total", action="subscribe", result="ok") == 4
    assert value(m, "ccds_sm_requests_total", action="subscribe", result="refused") == 2
    assert value(m, "ccds_sm_requests_total", action="subscribe", result="not_found") == 1
    assert value(m, "ccds_sm_requests_total", action="publish", result="ok") == 1
    assert value(m, "ccds_sm_request_duration_seconds_count", action="subscribe") == 7
    # refusals by the region asked for; a region no node is in is "other" (labels stay bounded)
    assert value(m, "ccds_sm_refused_joins_total", region="r1") == 1
    assert value(m, "ccds_sm_refused_joins_total", region="other") == 1
    assert value(m, "ccds_sm_leader", instance=mgr.app.state.settings.instance_id) == 1
    assert value(m, "ccds_sm_database_up") == 1
    assert value(m, "ccds_sm_events", kind="state") >= 3
    assert value(m, "ccds_sm_beat_interval_seconds") == 0  # a small fleet beats at the agents' own interval
    assert value(m, "ccds_sm_fault_timeout_seconds") == mgr.store.settings.heartbeat_timeout


def test_a_silent_node_counts_as_fault_before_the_leader_marks_it(mgr):
    mgr.up("e1")
    mgr.clock.advance(60)
    m = scrape(mgr)
    assert value(m, "ccds_sm_nodes", region="r1", role="edge", state="FAULT") == 1
    assert value(m, "ccds_sm_pool_capacity", region="r1", role="edge") == 0
    assert value(m, "ccds_sm_node_heartbeat_age_seconds", node="e1") == 60
