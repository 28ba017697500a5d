"""Engine stats parsing and the agent loop against the real manager app."""

from __future__ import annotations

import threading
import time

from smhelp import ADMIN, node_auth

from ccds_cli.agent.runner import Agent, AgentConfig
from ccds_cli.agent.stats import parse_mediamtx, parse_nginx_rtmp

# Captured from nginx-rtmp 1.1.4 (Debian libnginx-mod-rtmp): an origin with one publisher and one
# edge pulling, and that edge with its local relay and two viewers.
ORIGIN_XML = """<?xml version="1.0" encoding="utf-8" ?><rtmp><bw_in>3000</bw_in><bw_out>6000</bw_out>
<server><application><name>live</name><live><stream><name>t3</name><bw_in>2000</bw_in><bw_out>2100</bw_out>
<client><id>8</id><address>127.0.0.1</address><flashver>LNX.11,1,102,55</flashver><active/></client>
<client><id>7</id><address>127.0.0.1</address><flashver>FMLE/3.0 (compatible; Lavf59.27</flashver><publishing/>
<active/></client><nclients>2</nclients><publishing/><active/></stream><nclients>2</nclients></live>
</application></server></rtmp>"""
EDGE_XML = """<?xml version="1.0" encoding="utf-8" ?><rtmp><bw_in>1</bw_in><bw_out>2</bw_out>
<server><application><name>live</name><live><stream><name>t3</name>
<client><id>4</id><address>127.0.0.1</address><flashver>LNX 9,0,124,2</flashver><active/></client>
<client><id>5</id><address>127.0.0.1:19350/live</address><flashver>ngx-local-relay</flashver><publishing/><active/>
</client><client><id>3</id><address>127.0.0.1</address><flashver>LNX 9,0,124,2</flashver><active/></client>
<nclients>3</nclients><publishing/><active/></stream>
<stream><name>other</name><client><id>9</id><address>10.1.0.7</address><flashver>LNX 9,0,124,2</flashver>
</client><client><id>10</id><address>10.1.0.8</address><flashver>LNX 9</flashver></client></stream>
</live></application></server></rtmp>"""


def test_nginx_origin_counts_edge_pull_as_relay_not_viewer():
    s = parse_nginx_rtmp(ORIGIN_XML)
    assert (s.publishers, s.subscribers, s.relays, s.bw_in, s.bw_out) == (1, 0, 1, 3000, 6000)
    assert s.streams == [{"app": "live", "name": "t3", "publishing": True, "subscribers": 0,
                          "bw_in": 2000, "bw_out": 2100}]


def test_nginx_edge_local_relay_is_not_a_publisher_and_peers_are_subtracted():
    s = parse_nginx_rtmp(EDGE_XML, peers={"10.1.0.8", "127.0.0.1"})
    assert (s.publishers, s.subscribers, s.relays) == (0, 3, 1)  # 10.1.0.8 is a peer; loopback never is
    assert [(x["name"], x["publishing"], x["subscribers"]) for x in s.streams] == [("t3", False, 2),
                                                                                     ("other", False, 1)]


def test_mediamtx_readers_minus_peer_pulls():
    paths = {"items": [
        {"name": "live/cam", "source": {"type": "rtmpConn", "id": "c1"}, "ready": True,
         "readers": [{"type": "srtConn", "id": "r1"}, {"type": "webRTCSession", "id": "r2"},
                     {"type": "rtmpConn", "id": "r3"}]},
        {"name": "live/pulled", "source": {"type": "srtSource", "id": ""}, "ready": True,
         "readers": [{"type": "webRTCSession", "id": "r4"}]},
        {"name": "idle", "source": None, "readers": []}]}
    remote = {"r1": "10.0.1.5:40000", "r2": "203.0.113.9:5000", "r3": "127.0.0.1:1234", "r4": "198.51.100.1:1"}
    s = parse_mediamtx(paths, remote, peers={"10.0.1.5", "127.0.0.1"})
    assert (s.publishers, s.subscribers, s.relays) == (1, 3, 1)
    assert [(x["app"], x["name"], x["publishing"], x["subscribers"]) for x in s.streams] == [
        ("live", "cam", True, 2), ("live", "pulled", False, 1), ("", "idle", False, 0)]


class _XmlReader:
    """Feeds fixed engine XML (the real nginx path is covered by the slow probe test)."""

    def __init__(self, xml: str):
        self.xml, self.fail = xml, False

    def read(self, client, peers):
        if self.fail:
            raise ConnectionError("stats endpoint refused")
        return parse_nginx_rtmp(self.xml, peers)


def _wait(cond, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return False


def test_agent_registers_heartbeats_reregisters_and_deregisters(mgr):
    cfg = AgentConfig(manager="http://testserver", token=node_auth("edge-a")["Authorization"][7:],
                      deployment="demo", region="r1", provider="local", role="edge", name="edge-a", engine="nginx-rtmp", stats_url="unused",
                      public_host="127.0.0.1", private_host="127.0.0.1", capacity=50,
                      endpoints={"rtmp": "rtmp://127.0.0.1:19351/live"}, interval=0.1)
    reader = _XmlReader(EDGE_XML)
    agent = Agent(cfg, reader, client=mgr.client)
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert _wait(lambda: agent.state == "INSERVICE")
        node = mgr.client.get("/api/v1/nodes/edge-a", headers=ADMIN).json()
        assert (node["subscribers"], node["relays"], node["endpoints"]) == (4, 0, cfg.endpoints)  # no non-loopback peers
        reader.fail = True
        assert _wait(lambda: agent.state == "FAULT")
        reader.fail = False
        assert _wait(lambda: agent.state == "INSERVICE")
        first_id = agent.node_id
        mgr.client.put("/api/v1/nodes/edge-a/state", json={"state": "TERMINATED"}, headers=ADMIN)
        assert _wait(lambda: agent.state == "INSERVICE" and agent.beats > 0 and
                     mgr.store.get_node("edge-a")["state"] == "INSERVICE")
        assert agent.node_id == first_id  # re-registered under the same (deployment, name)
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()
    assert mgr.store.get_node("edge-a")["state"] == "TERMINATED"


def test_agent_keeps_trying_when_manager_is_down():
    cfg = AgentConfig(manager="http://127.0.0.1:9", token="t", deployment="d", region="r", provider="p",
                      role="edge", name="n", engine="nginx-rtmp", stats_url="", public_host="", private_host="",
                      capacity=1, interval=0.05)
    agent = Agent(cfg, _XmlReader(EDGE_XML))
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,), daemon=True)
    thread.start()
    time.sleep(0.3)
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive() and agent.node_id is None
