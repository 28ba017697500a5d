"""Node lifecycle, events, streams list, health and schema migrations."""

from __future__ import annotations

import sqlalchemy as sa
from smhelp import ADMIN, NODE, node_auth

from ccds_cli.sm import migrations
from ccds_cli.sm.models import Base


def _states(mgr, name):
    events = mgr.client.get("/api/v1/events", params={"node": name}, headers=ADMIN).json()
    return [(e["from_state"], e["to_state"]) for e in events]


def test_lifecycle_is_recorded_as_events(mgr):
    node_id = mgr.register("e1")
    assert mgr.store.get_node("e1")["state"] == "STARTING"
    assert mgr.beat(node_id, subscribers=0)["state"] == "INSERVICE"
    mgr.clock.advance(mgr.store.settings.heartbeat_timeout + 0.5)
    mgr.app.state.leader.tick()
    assert mgr.store.get_node("e1")["state"] == "FAULT"
    assert mgr.beat(node_id)["state"] == "INSERVICE"  # heartbeats resumed
    resp = mgr.client.delete(f"/api/v1/nodes/{node_id}", headers=NODE)
    assert resp.json()["state"] == "TERMINATED"
    assert _states(mgr, "e1") == [(None, "STARTING"), ("STARTING", "INSERVICE"), ("INSERVICE", "FAULT"),
                                  ("FAULT", "INSERVICE"), ("INSERVICE", "TERMINATED")]
    fault = mgr.client.get("/api/v1/events", params={"node": "e1"}, headers=ADMIN).json()[2]
    assert "no heartbeat" in fault["reason"]


def test_engine_failure_reported_by_agent_is_fault(mgr):
    node_id = mgr.up("e1")
    resp = mgr.client.post(f"/api/v1/nodes/{node_id}/heartbeat", json={"engine_ok": False, "error": "refused"},
                           headers=NODE)
    assert resp.json()["state"] == "FAULT"
    assert "refused" in mgr.client.get("/api/v1/events", headers=ADMIN).json()[-1]["reason"]


def test_forgotten_or_terminated_node_heartbeat_is_404_and_reregistration_works(mgr):
    node_id = mgr.up("e1")
    mgr.client.delete(f"/api/v1/nodes/{node_id}", headers=NODE)
    resp = mgr.client.post(f"/api/v1/nodes/{node_id}/heartbeat", json={}, headers=NODE)
    assert resp.status_code == 404
    assert mgr.client.post("/api/v1/nodes/no-such-id/heartbeat", json={}, headers=NODE).status_code == 404
    again = mgr.register("e1")
    assert again == node_id  # same (deployment, name) -> same node, back to STARTING
    assert mgr.beat(again)["state"] == "INSERVICE"


def test_deployment_scope_rejects_foreign_nodes(make_manager):
    m = make_manager(deployment="other")
    body = {"deployment": "demo", "name": "x", "region": "r", "provider": "p", "role": "edge",
            "engine": "nginx-rtmp", "capacity": 1}
    resp = m.client.post("/api/v1/nodes", json=body, headers=ADMIN)
    assert resp.status_code == 400 and "deployment" in resp.json()["detail"]
    # a node credential of another deployment is refused before the body is looked at
    resp = m.client.post("/api/v1/nodes", json=body, headers=node_auth("x", region="r"))
    assert resp.status_code == 403 and "deployment 'demo'" in resp.json()["detail"]


def test_streams_list_counts_viewers_over_edges(mgr):
    origin = mgr.up("o1", "origin")
    e1, e2 = mgr.up("e1"), mgr.up("e2")
    mgr.publish("show")
    mgr.beat(origin, publishers=1, relays=2, streams=[{"app": "live", "name": "show", "publishing": True}])
    mgr.beat(e1, subscribers=3, streams=[{"app": "live", "name": "show", "subscribers": 3}])
    mgr.beat(e2, subscribers=4, streams=[{"app": "live", "name": "show", "subscribers": 4}])
    streams = mgr.client.get("/api/v1/streams", headers=ADMIN).json()
    assert [(s["name"], s["origin"], s["live"], s["viewers"], s["edges"]) for s in streams] == [
        ("show", "o1", True, 7, ["e1", "e2"])]


def test_directly_published_stream_is_registered_from_origin_heartbeat(mgr):
    origin = mgr.up("o1", "origin")
    mgr.up("e1")
    assert mgr.subscribe("direct").status_code == 404
    mgr.beat(origin, publishers=1, streams=[{"app": "live", "name": "direct", "publishing": True}])
    assert mgr.subscribe("direct").json()["node"]["name"] == "e1"


def test_health_is_public_and_summarises(mgr):
    assert mgr.client.get("/api/v1/health").json()["status"] == "empty"
    origin = mgr.up("o1", "origin")
    mgr.up("e1")
    mgr.beat(origin, streams=[{"app": "live", "name": "a", "publishing": True}])
    mgr.app.state.leader.tick()
    h = mgr.client.get("/api/v1/health").json()
    assert h["status"] == "ok" and h["nodes"] == {"origin": {"INSERVICE": 1}, "edge": {"INSERVICE": 1}}
    assert h["live_streams"] == 1 and h["is_leader"] is True and h["leader"] == h["instance"]
    assert "public_host" not in str(h)


def test_sunset_needs_admin_and_inservice_needs_heartbeats(mgr):
    mgr.up("e1")
    assert mgr.client.put("/api/v1/nodes/e1/state", json={"state": "SUNSET"}, headers=NODE).status_code == 403
    assert mgr.client.put("/api/v1/nodes/e1/state", json={"state": "FAULT"}, headers=ADMIN).status_code == 422
    mgr.clock.advance(100)
    resp = mgr.client.put("/api/v1/nodes/e1/state", json={"state": "INSERVICE"}, headers=ADMIN)
    assert resp.status_code == 400


def test_migrations_create_the_modelled_schema_and_are_idempotent(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path}/m.db")
    assert migrations.upgrade(engine) == [1, 2, 3, 4, 5, 6, 7]
    assert migrations.upgrade(engine) == []
    insp = sa.inspect(engine)
    for table in Base.metadata.sorted_tables:
        assert {c["name"] for c in insp.get_columns(table.name)} == set(table.columns.keys()), table.name
        assert {i["name"] for i in insp.get_indexes(table.name)} >= {i.name for i in table.indexes}
    with engine.connect() as conn:
        assert migrations.current_version(conn) == 7


def test_v2_backfills_reserved_counter_from_existing_reservations(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path}/old.db")
    assert migrations.upgrade(engine, target=1) == [1]
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO nodes VALUES ('n1','d','e1','r','p','edge','nginx-rtmp','INSERVICE','','',5,NULL,NULL,"
            "'{}','',0,0,0,0,0,'[]',1,0,0,0)"))
        for i in range(3):
            conn.execute(sa.text("INSERT INTO reservations (node_id, stream_id, created_at, expires_at) "
                                 "VALUES ('n1', 1, 0, 99)"))
    assert migrations.upgrade(engine, target=2) == [2]
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT reserved FROM nodes WHERE id='n1'")).scalar_one() == 3


def test_v3_replaces_the_edge_pick_index(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path}/v2.db")
    migrations.upgrade(engine, target=2)
    assert migrations.upgrade(engine, target=3) == [3]
    names = {i["name"] for i in sa.inspect(engine).get_indexes("nodes")}
    assert "ix_nodes_role_state_region" in names and "ix_nodes_role_state" not in names


def test_openapi_document_served(mgr):
    doc = mgr.client.get("/openapi.json", headers=ADMIN).json()  # without docs on: the admin token
    assert "/api/v1/streams/{app}/{stream}/subscribe" in doc["paths"]
    assert "/api/v1/nodes/{node_id}/heartbeat" in doc["paths"]


def test_sqlite_checkpoints_only_in_the_leaders_background_work(tmp_path):
    """Commits never checkpoint (an fsync on the request path); the leader's tick moves the WAL back."""
    from ccds_cli.sm.leader import Leader
    from ccds_cli.sm.settings import Settings
    from ccds_cli.sm.store import Store

    db = tmp_path / "wal.db"
    store = Store(Settings(database_url=f"sqlite:///{db}", run_background=False))
    store.migrate()
    store.checkpoint()
    before = db.stat().st_size
    for i in range(1500):  # well past SQLite's default auto-checkpoint of 1000 pages
        store.register({"deployment": "d", "name": f"n{i}", "region": "r", "provider": "p", "role": "edge",
                        "engine": "nginx-rtmp", "public_host": "h" * 200, "private_host": "", "capacity": 1,
                        "lat": None, "lon": None, "endpoints": {}, "stats_url": ""})
    assert db.stat().st_size == before, "a commit checkpointed the WAL"
    Leader(store).tick()
    assert db.stat().st_size > before
    store.close()
