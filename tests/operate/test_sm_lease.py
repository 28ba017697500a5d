"""The stream manager's lease endpoint (one controller acts) and demand counters, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import sqlalchemy as sa
from smhelp import ADMIN, NODE


def take(mgr, holder: str, ttl: float = 10, name: str = "operate"):
    resp = mgr.client.post(f"/api/v1/leases/{name}", json={"holder": holder, "ttl_s": ttl}, headers=ADMIN)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_one_holder_at_a_time_renewal_and_expiry(managers):
    a, b = managers(), managers()  # two managers on one database
    first = take(a, "ctl-1")
    assert first["granted"] and first["holder"] == "ctl-1" and first["generation"] == 1
    refused = take(b, "ctl-2")
    assert not refused["granted"] and refused["holder"] == "ctl-1"
    assert refused["expires_at"] == first["expires_at"]
    a.clock.advance(5)
    renewed = take(b, "ctl-1")  # renewal through another manager
    assert renewed["granted"] and renewed["generation"] == 1 and renewed["acquired_at"] == first["acquired_at"]
    assert renewed["expires_at"] == first["expires_at"] + 5
    a.clock.advance(9)
    assert not take(a, "ctl-2")["granted"]
    a.clock.advance(1.5)  # expired: the standby takes over, with a new generation
    over = take(a, "ctl-2")
    assert over["granted"] and over["holder"] == "ctl-2" and over["generation"] == 2
    assert not take(b, "ctl-1")["granted"]


def test_release_lets_the_standby_in_at_once(managers):
    a = managers()
    take(a, "ctl-1")
    resp = a.client.delete("/api/v1/leases/operate", params={"holder": "ctl-2"}, headers=ADMIN)
    assert resp.json() == {"name": "operate", "released": False}
    resp = a.client.delete("/api/v1/leases/operate", params={"holder": "ctl-1"}, headers=ADMIN)
    assert resp.json() == {"name": "operate", "released": True}
    assert take(a, "ctl-2")["granted"]
    got = a.client.get("/api/v1/leases/operate", headers=ADMIN).json()
    assert got["holder"] == "ctl-2" and got["expires_at"] > got["now"]


def test_admin_only_and_bad_input(managers):
    a = managers()
    body = {"holder": "x", "ttl_s": 5}
    assert a.client.post("/api/v1/leases/operate", json=body).status_code == 401
    assert a.client.post("/api/v1/leases/operate", json=body, headers=NODE).status_code == 403
    assert a.client.post("/api/v1/leases/leader", json=body, headers=ADMIN).status_code == 400
    assert a.client.post("/api/v1/leases/Bad Name", json=body, headers=ADMIN).status_code == 422
    assert a.client.post("/api/v1/leases/operate", json={"holder": "x", "ttl_s": 0}, headers=ADMIN).status_code == 422
    assert a.client.get("/api/v1/leases/never", headers=ADMIN).status_code == 404
    assert a.client.get("/api/v1/demand", headers=NODE).status_code == 403


def test_concurrent_takers_get_one_grant(managers):
    """Eight callers race for a fresh lease through two managers: exactly one is granted."""
    ms = [managers(), managers()]
    results: list[dict] = []
    lock = threading.Lock()

    def go(i: int) -> None:
        got = ms[i % 2].store.acquire_lease("race", f"h{i}", 30)
        with lock:
            results.append(got)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(results) == 8
    winners = {r["holder"] for r in results if r["granted"]}
    assert len(winners) == 1
    assert all(r["holder"] in winners for r in results)


def test_migration_keeps_existing_leases(db_url):
    """v4 adds a column to an existing table: a database at v3 with a leader lease upgrades in place."""
    from ccds_cli.sm import migrations
    from ccds_cli.sm.store import make_engine

    engine = make_engine(db_url)
    try:
        assert migrations.upgrade(engine, target=3) == [1, 2, 3]
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO leases (name, holder, acquired_at, renewed_at, expires_at) "
                                 "VALUES ('leader', 'sm-1', 1, 1, 2)"))
        assert migrations.upgrade(engine)[:1] == [4]  # and any later ones
        with engine.connect() as conn:
            row = conn.execute(sa.text("SELECT holder, generation FROM leases")).one()
            assert tuple(row) == ("sm-1", 0)
            assert conn.execute(sa.text("SELECT count(*) FROM demand")).scalar_one() == 0
    finally:
        engine.dispose()


def test_refused_spilled_and_sunset_are_visible(managers):
    """Refused joins and spills counted per region; SUNSET edges get no new viewers but keep their load."""
    m = managers()
    m.up("origin-1", role="origin", region="r1")
    e1 = m.up("edge-1", region="r1", capacity=2)
    m.up("edge-2", region="r2", capacity=1)
    assert m.publish("s1", region="r1").status_code == 200
    for _ in range(2):
        assert m.subscribe("s1", region="r1").json()["node"]["name"] == "edge-1"
    spilled = m.subscribe("s1", region="r1")
    assert spilled.json()["node"]["region"] == "r2"
    refused = m.subscribe("s1", region="r1")
    assert refused.status_code == 503
    assert m.client.get("/api/v1/demand", headers=ADMIN).json()["regions"] == {"r1": {"spilled": 1, "refused": 1}}
    # a SUNSET edge keeps its viewers (visible in the node list) and gets no new ones
    m.beat(e1, subscribers=1)
    resp = m.client.put("/api/v1/nodes/edge-1/state", json={"state": "SUNSET", "reason": "drain"}, headers=ADMIN)
    assert resp.json()["state"] == "SUNSET"
    node = [n for n in m.client.get("/api/v1/nodes", headers=ADMIN).json() if n["name"] == "edge-1"][0]
    assert node["state"] == "SUNSET" and node["subscribers"] == 1 and node["reserved"] == 1  # one arrived
    assert m.subscribe("s1", region="r1").status_code == 503
    assert m.store.demand()["r1"]["refused"] == 2
