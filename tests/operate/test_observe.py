"""The Observer: manager nodes + cloud inventory + deployment state -> one Observation."""

from __future__ import annotations

import pytest
from ophelp import SPEC, client_of

from ccds_cli.clouds.base import InstanceInfo
from ccds_cli.errors import CcdsError
from ccds_cli.operate.observe import (
    Observer,
    desired_from_state,
    node_index,
    pick_instance,
    tracked_from_state,
)
from ccds_cli.spec import load_spec
from ccds_cli.state import failover as failover_state
from ccds_cli.state import overrides as scale_overrides


@pytest.fixture
def loaded(tmp_path):
    path = tmp_path / "ccds.yaml"
    path.write_text(SPEC % {"na_extra": "", "eu_extra": "", "top_extra": ""})
    return load_spec(path)


def test_node_index():
    assert node_index("demo-na-east-edge-12") == 12 and node_index("edge") is None


def test_desired_counts_and_placements_follow_the_deployment_state(loaded, tmp_path):
    root = tmp_path / "state"
    root.mkdir()
    counts, placements = desired_from_state(loaded, root)()
    assert counts[("na-east", "edge")] == 1 and placements["na-east"] == "laptop/local"
    scale_overrides.save(root / "scale.json", {("na-east", "edge"): 4, ("gone", "edge"): 2})
    failover_state.save(root / "failover.json", {"na-east": "spare/local", "eu-west": "nowhere/x"})
    counts, placements = desired_from_state(loaded, root)()
    assert counts[("na-east", "edge")] == 4 and ("gone", "edge") not in counts
    assert placements == {"na-east": "spare/local", "eu-west": "laptop/local"}


def test_observation_merges_manager_and_cloud(loaded, tmp_path, managers):
    mgr = managers()
    e0 = mgr.up("demo-na-east-edge-0", region="na-east", capacity=50)
    mgr.up("demo-na-east-origin-0", role="origin", region="na-east", capacity=20)
    mgr.register("demo-na-east-edge-1", region="na-east", capacity=50)  # STARTING
    mgr.beat(e0, subscribers=7)
    mgr.publish("s", region="na-east")
    assert mgr.subscribe("s", region="na-east").status_code == 200  # a reservation on edge-0
    mgr.store.count_demand("na-east", "refused", 3)

    def inventory(key, placement):
        if key == "eu-west":
            raise CcdsError("Local inventory failed: boom")
        return [InstanceInfo(id="a", name="demo-na-east-edge-0", region="local", role="edge", state="running",
                             workspace="na-east"),
                InstanceInfo(id="b", name="demo-na-east-edge-2", region="local", role="edge", state="stopped",
                             workspace="na-east"),
                InstanceInfo(id="c", name="demo-eu-west-edge-0", region="local", role="edge", state="running",
                             workspace="eu-west")]

    counts = {("na-east", "edge"): 3, ("na-east", "origin"): 1, ("eu-west", "edge"): 1, ("eu-west", "origin"): 1}
    obs = Observer(loaded, tmp_path, client_of(mgr), desired=lambda: (counts, {"eu-west": "spare/local"}),
                   inventory=inventory, clock=mgr.clock).observe()
    assert obs.manager_ok and obs.now == mgr.clock()
    na = obs.regions["na-east"]
    edge = na.pools["edge"]
    assert edge.desired == 3 and [n.name for n in edge.nodes] == [f"demo-na-east-edge-{i}" for i in range(3)]
    n0, n1, n2 = edge.nodes
    assert (n0.state, n0.load, n0.capacity, n0.cloud_state, n0.index) == ("INSERVICE", 8, 50, "running", 0)
    assert (n1.state, n1.cloud_state) == ("STARTING", None)
    assert (n2.state, n2.cloud_state, n2.index) == (None, "stopped", 2)
    assert na.pools["origin"].nodes[0].load == 0 and na.demand == {"refused": 3}
    assert na.cloud_error is None
    eu = obs.regions["eu-west"]
    assert eu.placement == "spare/local" and eu.cloud_error == "Local inventory failed: boom"


def test_managers_down(loaded, tmp_path):
    from ccds_cli.sm.client import ManagerClient

    dead = ManagerClient("http://127.0.0.1:9", "x", timeout=0.5)
    obs = Observer(loaded, tmp_path, dead, desired=lambda: ({}, {}), inventory=lambda k, p: []).observe()
    assert not obs.manager_ok and "ConnectError" in obs.manager_error
    assert obs.regions["na-east"].pools["edge"].desired == 0


def _no_control(tmp_path):
    text = SPEC % {"na_extra": "", "eu_extra": "", "top_extra": ""}
    path = tmp_path / "ccds.yaml"
    path.write_text(text.split("control:")[0] + "regions:" + text.split("regions:")[1])
    loaded = load_spec(path)
    assert loaded.spec.control is None
    return loaded


def test_without_a_control_plane_the_cloud_alone_knows_the_nodes(tmp_path):
    """No `control:`: the managers are not asked for nodes; of two instances with one node's name
    (a terminated one stays listed after its replacement) the one Terraform tracks stands for it,
    else the running one; a node Terraform holds that the answering cloud does not list is `missing`."""
    loaded = _no_control(tmp_path)

    class NotAsked:
        def nodes(self):
            raise AssertionError("a lease-only manager knows no node of this deployment")

        demand = nodes

    def inventory(key, placement):
        if placement == "spare/local":
            raise CcdsError("AWS inventory failed: throttled")
        return [InstanceInfo(id="i-new", name="demo-na-east-edge-0", region="local", role="edge", state="running",
                             launched_at="2026-12-01T10:05:00+00:00", workspace="na-east"),
                InstanceInfo(id="i-old", name="demo-na-east-edge-0", region="local", role="edge",
                             state="terminated", launched_at="2026-12-01T09:00:00+00:00", workspace="na-east"),
                InstanceInfo(id="i-o", name="demo-na-east-origin-0", region="local", role="origin",
                             state="stopped", workspace="na-east")]

    counts = {("na-east", "edge"): 2, ("na-east", "origin"): 1, ("eu-west", "edge"): 1, ("eu-west", "origin"): 1}
    in_state = {"na-east": {"demo-na-east-edge-0": "i-new", "demo-na-east-edge-1": "i-gone",
                            "demo-na-east-origin-0": "i-o"},
                "eu-west": {"demo-eu-west-edge-0": "i-e", "demo-eu-west-origin-0": "i-eo"}}
    for order in (1, -1):  # whatever order the cloud lists them in
        obs = Observer(loaded, tmp_path, NotAsked(), desired=lambda: (counts, {"eu-west": "spare/local"}),
                       inventory=lambda k, p, order=order: inventory(k, p)[::order], tracked=lambda: in_state,
                       clock=lambda: 1000.0).observe()
        assert obs.cloud_only and obs.manager_ok
        edge = obs.regions["na-east"].pools["edge"]
        assert [(n.name, n.state, n.cloud_state) for n in edge.nodes] == [
            ("demo-na-east-edge-0", None, "running"), ("demo-na-east-edge-1", None, "missing")]
        assert [n.cloud_state for n in obs.regions["na-east"].pools["origin"].nodes] == ["stopped"]
        eu = obs.regions["eu-west"]  # the cloud did not answer: nothing is said missing
        assert eu.cloud_error and all(p.nodes == () for p in eu.pools.values())


def test_missing_is_only_what_terraform_holds(loaded, tmp_path, managers):
    """Counts alone do not make a node missing (not deployed yet: nothing is); a node Terraform
    holds is, whether the managers know it or not."""
    mgr = managers()
    mgr.register("demo-na-east-edge-1", region="na-east", capacity=50)  # STARTING, not listed by the cloud
    counts = {("na-east", "edge"): 3, ("na-east", "origin"): 1, ("eu-west", "edge"): 1, ("eu-west", "origin"): 1}

    def observe(tracked):
        return Observer(loaded, tmp_path, client_of(mgr), desired=lambda: (counts, {}), inventory=lambda k, p: [],
                        tracked=lambda: tracked, clock=mgr.clock).observe()

    nothing = observe({})
    assert [(n.name, n.cloud_state) for n in nothing.regions["na-east"].pools["edge"].nodes] == [
        ("demo-na-east-edge-1", None)]
    held = observe({"na-east": {"demo-na-east-edge-1": "a", "demo-na-east-edge-2": "b"}, "eu-west": None})
    assert [(n.name, n.state, n.cloud_state) for n in held.regions["na-east"].pools["edge"].nodes] == [
        ("demo-na-east-edge-1", "STARTING", "missing"), ("demo-na-east-edge-2", None, "missing")]
    assert held.regions["eu-west"].pools["edge"].nodes == ()  # its state unreadable: nothing said


def test_the_tracked_then_most_alive_then_newest_instance_stands_for_a_node():
    def inst(i, state, at=""):
        return InstanceInfo(id=i, name="n", region="r", role="edge", state=state, launched_at=at)

    assert pick_instance([inst("a", "terminated", "2"), inst("b", "running", "1")]).id == "b"
    assert pick_instance([inst("a", "stopped", "1"), inst("b", "terminated", "2")]).id == "a"
    assert pick_instance([inst("a", "pending", "2"), inst("b", "running", "1")]).id == "b"
    assert pick_instance([inst("a", "terminated", "1"), inst("b", "terminated", "2")]).id == "b"
    # a running duplicate Terraform does not track (an interrupted run) does not hide the dead node
    assert pick_instance([inst("a", "terminated", "1"), inst("b", "running", "2")], tracked_id="a").id == "a"
    assert pick_instance([inst("a", "terminated", "1"), inst("b", "running", "2")], tracked_id="zz").id == "b"


def test_tracked_nodes_come_from_the_workspace_state(loaded, tmp_path):
    import json

    from ccds_cli.deployment import Deployment

    root = tmp_path / "state"
    assert tracked_from_state(loaded, root)() == {"na-east": {}, "eu-west": {}}  # never applied
    ws = Deployment(loaded, root).make_plan().workspace_of_region("na-east")
    rendered = Deployment(loaded, root).build()
    path = next(w.path for w in rendered if w.name == ws.name)
    nodes = [{"id": "i-1", "name": "demo-na-east-edge-0", "region_key": "na-east"},
             {"id": "i-2", "name": "demo-eu-west-edge-0", "region_key": "eu-west"}]
    (path / "terraform.tfstate").write_text(json.dumps({"version": 4, "outputs": {"nodes": {"value": nodes}}}))
    assert tracked_from_state(loaded, root)() == {"na-east": {"demo-na-east-edge-0": "i-1"},
                                                 "eu-west": {"demo-eu-west-edge-0": "i-2"}}
    (path / "terraform.tfstate").write_text("{half a state")
    assert tracked_from_state(loaded, root)() == {"na-east": None, "eu-west": None}


def test_hls_fallbacks_reach_the_controller_as_demand(loaded, tmp_path, managers):
    """Viewers sent to HLS because the region's edges are full are load the autoscaler must see."""
    from ccds_cli.operate import policy
    from ccds_cli.operate.model import Memory

    mgr = managers()
    mgr.up("demo-na-east-edge-0", region="na-east", capacity=2)
    mgr.up("demo-na-east-origin-0", role="origin", region="na-east", capacity=20,
           endpoints={"rtmp": "rtmp://o.example:1935/live", "hls": "http://o.example:8088/hls/{app}/{stream}/index.m3u8"})
    mgr.publish("s", region="na-east")
    answers = [mgr.subscribe("s", region="na-east").json() for _ in range(5)]
    assert [a["fallback"] for a in answers] == [None, None, "hls", "hls", "hls"]
    counts = {("na-east", "edge"): 1, ("na-east", "origin"): 1, ("eu-west", "edge"): 1, ("eu-west", "origin"): 1}
    observer = Observer(loaded, tmp_path, client_of(mgr), desired=lambda: (counts, {}), inventory=lambda k, p: [],
                        clock=mgr.clock)
    first = observer.observe()
    assert first.regions["na-east"].demand == {"fallback": 3}
    memory = policy.decide(loaded.spec, first, Memory()).memory  # the first look sets the baseline
    mgr.subscribe("s", region="na-east")
    mgr.subscribe("s", region="na-east")
    second = observer.observe()
    assert second.regions["na-east"].demand == {"fallback": 5}
    view = next(r for r in policy.decide(loaded.spec, second, memory).regions if r["region"] == "na-east")
    assert view["demand"] == 2  # two more viewers sent to HLS since the last round: load on the edges
