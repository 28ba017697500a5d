"""The Observer: manager nodes + cloud inventory + deployment state -> one Observation."""

from __future__ import annotations

import pytest
from ophelp import SPEC, client_of

from ccds_cli.clouds.base import InstanceInfo
from ccds_cli.errors import CcdsError
from ccds_cli.operate.observe import Observer, desired_from_state, node_index
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
