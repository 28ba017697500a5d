"""Heartbeats whose cost does not grow with the fleet: the versioned peer list, stream-list diffs,
the lean path's answers equal to the general path's, and agents that follow the manager's pace."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest
import sqlalchemy as sa
from sm_pg import free_port
from smhelp import ADMIN, NODE, node_auth

from ccds_cli.agent.runner import Agent, AgentConfig
from ccds_cli.agent.stats import EngineStats
from ccds_cli.sm.store import nodes_t


def _beat(mgr, node_id: str, **body) -> dict:
    resp = mgr.client.post(f"/api/v1/nodes/{node_id}/heartbeat", json={"engine_ok": True, **body},
                           headers=mgr.node_headers(node_id))
    assert resp.status_code == 200, resp.text
    return resp.json()


def _stored_streams(mgr, name: str) -> list[dict]:
    with mgr.store.read() as conn:
        got = conn.execute(sa.select(nodes_t.c.streams).where(nodes_t.c.name == name)).scalar_one()
    return sorted(got, key=lambda s: (s["app"], s["name"]))


def _hosts(*names: str) -> list[str]:
    """What smhelp registers: public `<name>.example`, private 10.0.0.x (port 1935 -> 10.0.0.185)."""
    return sorted({f"{n}.example" for n in names} | {"10.0.0.185"})


def test_peer_list_only_when_its_version_changed_and_exact_after_a_missed_version(mgr):
    mgr.up("o1", "origin")
    e1, e2 = mgr.up("e1"), mgr.up("e2")
    first = _beat(mgr, e1)  # an agent that knows no version gets the list
    assert first["peers"] == _hosts("e1", "e2")
    v = first["peers_version"]
    assert _beat(mgr, e1, peers_version=v)["peers"] is None  # unchanged: no list at all
    # e2's answer: the state, no list, the version, its stream list's sequence number (mgr.up's beat
    # was 1, this full list 2), and no interval of the manager's own.
    assert _beat(mgr, e2, peers_version=v) == {"id": e2, "state": "INSERVICE", "peers": None, "peers_version": v,
                                               "streams_seq": 2, "interval": None}
    mgr.up("o2", "origin")  # origins are not peers: the version stays
    assert _beat(mgr, e1, peers_version=v)["peers"] is None
    mgr.up("r1", "relay")
    joined = _beat(mgr, e1, peers_version=v)
    assert joined["peers"] == _hosts("e1", "e2", "r1") and joined["peers_version"] > v
    v2 = joined["peers_version"]
    assert mgr.client.delete(f"/api/v1/nodes/{e2}", headers=mgr.node_headers(e2)).status_code == 200
    left = _beat(mgr, e1, peers_version=v2)
    assert left["peers"] == _hosts("e1", "r1") and left["peers_version"] > v2
    # An agent that slept through both changes, or holds a version the manager never issued, gets the
    # current list in full.
    for stale in (v, v2, 10**12, 0):
        assert _beat(mgr, e1, peers_version=stale)["peers"] == _hosts("e1", "r1")
    assert mgr.client.put("/api/v1/nodes/r1/state", json={"state": "TERMINATED"}, headers=ADMIN).status_code == 200
    assert _beat(mgr, e1, peers_version=left["peers_version"])["peers"] == _hosts("e1")


def test_stream_diffs_apply_exactly_and_a_wrong_base_asks_for_the_full_list(mgr):
    mgr.up("o1", "origin")
    e1 = mgr.up("e1")
    for s in ("a", "b", "c"):
        assert mgr.publish(s).status_code == 200
    a, b, c = ({"app": "live", "name": n, "publishing": False, "subscribers": k, "bw_in": 0, "bw_out": 0}
               for n, k in (("a", 1), ("b", 2), ("c", 3)))
    seq = _beat(mgr, e1, streams=[a, b])["streams_seq"]
    assert _stored_streams(mgr, "e1") == [a, b]
    b2 = {**b, "subscribers": 7}
    got = _beat(mgr, e1, streams_base=seq, streams_changed=[b2, c], streams_removed=[{"app": "live", "name": "a"}])
    assert got["streams_seq"] == seq + 1
    assert _stored_streams(mgr, "e1") == [b2, c]
    viewers = {s["name"]: s["viewers"] for s in mgr.client.get("/api/v1/streams", headers=ADMIN).json()}
    assert viewers == {"a": 0, "b": 7, "c": 3}
    # Nothing changed: the same sequence number, nothing rewritten.
    assert _beat(mgr, e1, streams_base=seq + 1)["streams_seq"] == seq + 1
    # A diff against a list the manager no longer holds (the agent missed an answer) is not applied.
    stale = _beat(mgr, e1, streams_base=seq, streams_changed=[a], subscribers=4)
    assert stale["streams_seq"] is None
    assert _stored_streams(mgr, "e1") == [b2, c]
    assert mgr.store.get_node("e1")["subscribers"] == 4  # the counters were taken all the same
    resync = _beat(mgr, e1, streams=[a])
    assert _stored_streams(mgr, "e1") == [a] and resync["streams_seq"] == seq + 2
    # Re-registering starts a new sequence: a diff held from before cannot apply.
    mgr.register("e1")
    assert _beat(mgr, e1, streams_base=seq + 2, streams_changed=[b])["streams_seq"] is None


def test_origin_streams_stay_live_on_unchanged_beats_and_new_ones_are_registered(mgr):
    o1 = mgr.up("o1", "origin")
    e1 = mgr.up("e1")
    live = {"app": "live", "name": "direct", "publishing": True, "subscribers": 0, "bw_in": 0, "bw_out": 0}
    seq = _beat(mgr, o1, streams=[live])["streams_seq"]  # published straight to the origin: registered
    step = mgr.store.settings.heartbeat_timeout * 0.6
    for _ in range(3):  # longer than the heartbeat timeout in all, with beats that change nothing
        mgr.clock.advance(step)
        assert _beat(mgr, o1, streams_base=seq)["streams_seq"] == seq
        _beat(mgr, e1)
    streams = {s["name"]: s for s in mgr.client.get("/api/v1/streams", headers=ADMIN).json()}
    assert streams["direct"]["live"] and streams["direct"]["origin"] == "o1"
    assert mgr.subscribe("direct").status_code == 200
    gone = _beat(mgr, o1, streams_base=seq, streams_removed=[{"app": "live", "name": "direct"}])
    assert gone["streams_seq"] == seq + 1
    mgr.clock.advance(mgr.store.settings.heartbeat_timeout + 0.1)
    _beat(mgr, o1, streams_base=seq + 1)
    assert not {s["name"]: s for s in mgr.client.get("/api/v1/streams", headers=ADMIN).json()}["direct"]["live"]


def test_lean_beats_keep_state_changes_fault_detection_and_reservations(mgr):
    mgr.up("o1", "origin")
    e1 = mgr.up("e1", capacity=3)
    mgr.publish("s")
    assert [mgr.subscribe("s").status_code for _ in range(2)] == [200, 200]
    _beat(mgr, e1, subscribers=1)  # one promised viewer arrived: one reservation goes
    assert mgr.store.get_node("e1")["reserved"] == 1
    mgr.clock.advance(mgr.store.settings.connect_grace + 0.1)
    _beat(mgr, e1, subscribers=1)  # the other never came: gone after the grace
    assert mgr.store.get_node("e1")["reserved"] == 0
    assert _beat(mgr, e1, engine_ok=False)["state"] == "FAULT"
    assert _beat(mgr, e1)["state"] == "INSERVICE"
    mgr.clock.advance(mgr.store.settings.heartbeat_timeout + 0.1)
    mgr.app.state.leader.tick()
    assert mgr.store.get_node("e1")["state"] == "FAULT"
    assert _beat(mgr, e1)["state"] == "INSERVICE"
    reasons = [e["reason"] for e in mgr.client.get("/api/v1/events", headers=ADMIN).json() if e["node_name"] == "e1"]
    assert reasons[-4:][0].startswith("engine stats unreadable") and reasons[-1] == "heartbeats resumed"


def test_heartbeat_credentials_and_bad_bodies_are_refused(mgr):
    e1 = mgr.up("e1")
    url = f"/api/v1/nodes/{e1}/heartbeat"
    assert mgr.client.post(url, json={}).status_code == 401
    assert mgr.client.post(url, json={}, headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert mgr.client.post(url, json={}, headers=ADMIN).status_code == 200
    assert mgr.client.post("/api/v1/nodes/nope/heartbeat", json={}, headers=NODE).status_code == 404
    assert mgr.client.post(url, json={}, headers=node_auth("e2")).status_code == 403  # another node's credential
    stat = {"app": "live", "name": "a"}
    for body in ({"streams": [stat], "streams_base": 1}, {"streams_changed": [stat]},
                 {"streams_removed": [stat]}, {"peers_version": -1}, {"streams_base": "x"}):
        assert mgr.client.post(url, json=body, headers=mgr.node_headers(e1)).status_code == 422, body


class _Reader:
    def __init__(self):
        self.streams: list[dict] = []

    def read(self, client, peers):
        return EngineStats(subscribers=sum(s["subscribers"] for s in self.streams), streams=list(self.streams))


class _Lossy:
    """The manager takes the beat, but its answer never arrives (once)."""

    def __init__(self, client):
        self.client, self.lose = client, False

    def post(self, *a, **kw):
        resp = self.client.post(*a, **kw)
        if self.lose and "/heartbeat" in a[0]:
            self.lose = False
            raise httpx.ReadTimeout("answer lost")
        return resp

    def __getattr__(self, name):
        return getattr(self.client, name)


def _agent(mgr, name: str, client=None, role: str = "edge", interval: float = 0.1) -> Agent:
    token = node_auth(name, role)["Authorization"].removeprefix("Bearer ")  # the node's own credential
    cfg = AgentConfig(manager="http://testserver", token=token, deployment="demo", region="r1",
                      provider="local", role=role, name=name, engine="nginx-rtmp", stats_url="unused",
                      public_host=f"{name}.example", private_host="", capacity=50,
                      endpoints={"rtmp": f"rtmp://{name}.example:1935/live"}, interval=interval)
    agent = Agent(cfg, _Reader(), client=client or mgr.client)
    assert agent.register()
    return agent


def test_agents_hear_a_join_and_a_leave_within_two_beats(mgr):
    agents = [_agent(mgr, f"e{i}") for i in range(3)]
    for a in agents:
        assert a.heartbeat()
    assert all(a.peers == {"e0.example", "e1.example", "e2.example"} for a in agents)
    newcomer = _agent(mgr, "r9", role="relay")
    for _ in range(2):
        for a in agents:
            assert a.heartbeat()
    assert all("r9.example" in a.peers for a in agents)
    newcomer.deregister()
    for _ in range(2):
        for a in agents:
            assert a.heartbeat()
    assert all(a.peers == {"e0.example", "e1.example", "e2.example"} for a in agents)


def test_agent_diffs_stay_exact_through_a_lost_answer(mgr):
    lossy = _Lossy(mgr.client)
    agent = _agent(mgr, "e1", client=lossy)
    reader = agent.reader

    def stat(name, subs):
        return {"app": "live", "name": name, "publishing": False, "subscribers": subs, "bw_in": 0, "bw_out": 0}

    lists = [[stat("a", 1)], [stat("a", 2), stat("b", 1)], [stat("b", 1)], [stat("b", 5), stat("c", 0)], []]
    for i, streams in enumerate(lists):
        reader.streams = streams
        lossy.lose = i == 2  # the manager applies this diff; the agent never hears so
        assert agent.heartbeat() == (i != 2)
        if i == 3:  # its next diff is against the list before: refused, the agent forgets its base
            assert agent.streams_seq is None and _stored_streams(mgr, "e1") == lists[2]
            assert agent.heartbeat()  # so the full list follows
        if i != 2:
            assert agent.streams_seq is not None
            assert _stored_streams(mgr, "e1") == sorted(streams, key=lambda s: s["name"])


def test_agent_follows_the_managers_interval_and_backs_off_on_busy_answers(make_manager):
    mgr = make_manager(beat_interval=5.0)
    agent = _agent(mgr, "e1")
    assert agent.heartbeat() and agent.interval == 5.0
    assert 4.5 <= agent.next_wait() <= 5.5
    slow = _agent(mgr, "e2", interval=9.0)
    assert slow.heartbeat() and slow.interval == 9.0  # the manager can slow agents down, never hurry them

    answers = iter([httpx.Response(503, headers={"Retry-After": "7"}), httpx.Response(429),
                    httpx.Response(503), httpx.Response(503, headers={"Retry-After": "9999"})])
    busy = httpx.Client(transport=httpx.MockTransport(lambda request: next(answers)))
    agent.client = busy
    waits = []
    for _ in range(4):
        assert not agent.heartbeat()
        waits.append(agent.backoff)
    assert waits == [7.0, 14.0, 28.0, 30.0]  # Retry-After, else doubling; capped
    assert 27.0 <= agent.next_wait() <= 33.0
    agent.client = mgr.client
    assert agent.heartbeat() and agent.backoff == 0.0


def test_workers_need_postgresql_and_beat_settings_must_be_sane(tmp_path):
    env = {**os.environ, "CCDS_ADMIN_TOKEN": "a", "CCDS_NODE_KEY": "n"}
    db = f"sqlite:///{tmp_path}/x.db"
    for args, message in ((["--workers", "2"], "--workers 2 needs PostgreSQL"),
                          (["--beat-interval", "0"], "--beat-interval 0 must be positive"),
                          (["--beat-interval", "90"], "at most 60 s"),
                          (["--max-beat-rate", "-1"], "--max-beat-rate -1 must be 0"),
                          (["--max-beat-rate", "inf"], "--max-beat-rate inf must be 0"),
                          (["--workers", "0"], "--workers")):
        proc = subprocess.run([sys.executable, "-m", "ccds_cli", "sm", "serve", "--port", "1", "--database-url", db,
                               *args], env=env, capture_output=True, text=True, timeout=60)
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0, out
        assert message in " ".join(out.split()) and "Traceback" not in out


def test_quiet_beats_take_the_lean_path_and_answer_as_the_general_path_does(mgr, monkeypatch):
    o1 = mgr.up("o1", "origin")
    e1 = mgr.up("e1")
    mgr.publish("s")
    stat = {"app": "live", "name": "s", "publishing": True, "subscribers": 0, "bw_in": 0, "bw_out": 0}
    general = {"edge": _beat(mgr, e1, streams=[{**stat, "publishing": False}]), "origin": _beat(mgr, o1, streams=[stat])}
    calls = []
    real = mgr.store.heartbeat
    monkeypatch.setattr(mgr.store, "heartbeat", lambda *a: calls.append(a) or real(*a))
    lean = {"edge": _beat(mgr, e1, streams=[{**stat, "publishing": False, "subscribers": 2}], subscribers=2),
            "origin": _beat(mgr, o1, streams_base=general["origin"]["streams_seq"])}
    assert calls == []  # neither beat left the lean path
    assert lean["edge"] == {**general["edge"], "streams_seq": general["edge"]["streams_seq"] + 1}
    assert lean["origin"] == general["origin"]
    assert mgr.store.get_node("e1")["subscribers"] == 2
    _beat(mgr, e1, engine_ok=False)  # a state change goes the general way
    assert len(calls) == 1


@pytest.mark.slow
def test_two_workers_on_postgresql_share_the_beats_and_detect_a_fault_once(pg_server, tmp_path):
    """`ccds sm serve --workers 2`: both processes answer, one leads, a silent node is FAULT once."""
    port = free_port()
    env = {**os.environ, "CCDS_ADMIN_TOKEN": "admin-secret", "CCDS_NODE_KEY": "node-secret"}
    with open(tmp_path / "sm.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "ccds_cli", "sm", "serve", "--port", str(port), "--workers", "2",
                                 "--database-url", pg_server.new_database(), "--heartbeat-timeout", "3"],
                                env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        instances: set[str] = set()
        end = time.monotonic() + 60
        while len(instances) < 2 and time.monotonic() < end:  # a new connection each time: either worker
            try:
                instances.add(httpx.get(f"{base}/health", timeout=2).json()["instance"])
            except httpx.HTTPError:
                time.sleep(0.2)
        assert len(instances) == 2, (tmp_path / "sm.log").read_text()[-2000:]
        ids = {}
        for name in ("keep", "victim"):
            body = {"deployment": "demo", "name": name, "region": "r1", "provider": "local", "role": "edge",
                    "engine": "nginx-rtmp", "public_host": f"{name}.example", "capacity": 10}
            ids[name] = httpx.post(f"{base}/nodes", json=body, headers=node_auth(name), timeout=5).json()["id"]
        answers = [httpx.post(f"{base}/nodes/{ids[n]}/heartbeat", json={}, headers=node_auth(n), timeout=5)
                   for n in ("keep", "victim") for _ in range(3)]
        assert [a.status_code for a in answers] == [200] * 6
        end = time.monotonic() + 30
        state = None
        while state != "FAULT" and time.monotonic() < end:
            httpx.post(f"{base}/nodes/{ids['keep']}/heartbeat", json={}, headers=node_auth("keep"), timeout=5)
            state = httpx.get(f"{base}/nodes/victim", headers=ADMIN, timeout=5).json()["state"]
            time.sleep(0.3)
        assert state == "FAULT"
        for _ in range(7):  # both workers' leaders tick several times more; `keep` goes on beating
            httpx.post(f"{base}/nodes/{ids['keep']}/heartbeat", json={}, headers=node_auth("keep"), timeout=5)
            time.sleep(0.3)
        events = httpx.get(f"{base}/events", params={"node": "victim"}, headers=ADMIN, timeout=5).json()
        assert [e["to_state"] for e in events] == ["STARTING", "INSERVICE", "FAULT"]
        assert httpx.get(f"{base}/nodes/keep", headers=ADMIN, timeout=5).json()["state"] == "INSERVICE"
        leader = httpx.get(f"{base}/health", timeout=5).json()["leader"]
        assert leader in instances
    finally:
        proc.terminate()
        proc.wait(timeout=30)
