"""The deployment plan: node counts from traffic, firewall rules from the engine's ports, and the
instance type a region gets when it fails over to another cloud. Pure functions, so every figure
is checked exactly."""

from __future__ import annotations

import copy
import math
from ipaddress import ip_network

import pytest

from ccds_cli import engines
from ccds_cli.plan import build_plan, instance_type_for
from ccds_cli.spec.models import Spec

BASE = {
    "version": 1,
    "name": "plan-test",
    "providers": {
        "aws-main": {"cloud": "aws"},
        "gcp-main": {"cloud": "gcp", "project": "p"},
        "lab": {"cloud": "openstack", "auth_url": "https://keystone.lab.example:5000/v3",
                "external_network": "public"},
    },
    "control": {"placement": ["aws-main/us-east-1"], "network": {"cidr": "10.250.0.0/16"}},
    "regions": {
        "na-east": {
            "placement": "aws-main/us-east-1",
            "failover": ["gcp-main/us-east4", "lab/regionone"],
            "network": {"cidr": "10.10.0.0/16"},
            "pools": {
                "origin": {"instance_type": "c5.large", "min": 1, "max": 4, "capacity": 20},
                "edge": {"instance_type": "c5.xlarge", "min": 2, "max": 200, "capacity": 400},
            },
        },
    },
    "security": {"publish_cidrs": ["198.51.100.0/24"], "viewer_cidrs": ["0.0.0.0/0"],
                 "admin_cidrs": ["203.0.113.0/24"]},
    "traffic": {"bitrate_kbps": 4500, "peak_viewers": {"na-east": 30000}},
}


def spec_with(**changes) -> Spec:
    """BASE with dotted-path changes, e.g. `spec_with(**{"regions.na-east.scale_out_at": 0.5})`."""
    data = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        node = data
        *parents, last = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return Spec.model_validate(data)


def pools(plan, key="na-east"):
    return plan.regions[key].pools


# -- capacity ---------------------------------------------------------------------------------

@pytest.mark.parametrize("viewers, capacity, headroom", [
    (30000, 400, 0.6), (240, 400, 0.6), (241, 400, 0.6), (1000, 250, 0.8), (7, 10, 1.0)])
def test_edges_are_viewers_over_capacity_times_scale_out(viewers, capacity, headroom):
    spec = spec_with(**{"traffic.peak_viewers": {"na-east": viewers},
                        "regions.na-east.scale_out_at": headroom,
                        "regions.na-east.pools.edge": {"min": 0, "max": 10000, "capacity": capacity}})
    edge = pools(build_plan(spec))["edge"]
    assert edge.needed == math.ceil(viewers / (capacity * headroom))
    assert edge.count == edge.needed


def test_boundary_of_the_scale_out_line():
    """240 viewers fill one 400-viewer edge to exactly 60%; the 241st needs a second edge."""
    at = build_plan(spec_with(**{"traffic.peak_viewers": {"na-east": 240}}))
    over = build_plan(spec_with(**{"traffic.peak_viewers": {"na-east": 241},
                                   "regions.na-east.pools.edge.min": 0}))
    assert pools(at)["edge"].needed == 1 and pools(over)["edge"].needed == 2


def test_no_viewers_keeps_the_pool_minimum():
    plan = build_plan(spec_with(**{"traffic.peak_viewers": {}}))
    assert pools(plan)["edge"].count == 2 and pools(plan)["edge"].needed == 0
    assert plan.regions["na-east"].egress_gbps == 0


def test_too_small_max_is_clamped_with_a_warning():
    plan = build_plan(spec_with(**{"regions.na-east.pools.edge.max": 40}))
    edge = pools(plan)["edge"]
    assert (edge.needed, edge.count) == (125, 40)
    assert any("edge needs 125 nodes" in w and "max is 40" in w and "regions.na-east.pools.edge.max" in w
               for w in plan.warnings), plan.warnings


def test_no_warning_when_max_suffices():
    plan = build_plan(spec_with())
    assert pools(plan)["edge"].count == 125
    assert not [w for w in plan.warnings if "max is" in w]


def test_egress_is_viewers_times_bitrate():
    plan = build_plan(spec_with())
    assert plan.regions["na-east"].egress_gbps == pytest.approx(30000 * 4500 / 1e6)  # 135 Gbit/s


def test_origins_follow_publishers():
    plan = build_plan(spec_with(**{"traffic.publishers": {"na-east": 30}}))
    assert pools(plan)["origin"].needed == math.ceil(30 / (20 * 0.6))  # 3
    default = build_plan(spec_with())
    assert pools(default)["origin"].count == 1  # one publisher assumed


def test_relays_appear_only_when_edges_exceed_what_origins_feed():
    relay = {"instance_type": "c5.xlarge", "min": 0, "max": 20, "capacity": 8}
    few = build_plan(spec_with(**{"regions.na-east.pools.relay": relay,
                                  "traffic.peak_viewers": {"na-east": 8 * 240}}))  # 8 edges: 1 origin feeds them
    assert pools(few)["edge"].count == 8 and pools(few)["relay"].count == 0
    many = build_plan(spec_with(**{"regions.na-east.pools.relay": relay,
                                   "traffic.peak_viewers": {"na-east": 9 * 240}}))  # 9 edges: relays needed
    assert pools(many)["edge"].count == 9 and pools(many)["relay"].count == math.ceil(9 / 8)
    wide = build_plan(spec_with(**{"regions.na-east.pools.relay": dict(relay, max=40),
                                   "regions.na-east.relay_fanout": 4}))  # 125 edges, 4 per relay
    assert pools(wide)["relay"].count == math.ceil(125 / 4)


def test_missing_relay_pool_is_a_warning():
    plan = build_plan(spec_with())
    assert "relay" not in pools(plan)
    assert any("add a relay pool to regions.na-east.pools" in w for w in plan.warnings), plan.warnings


def test_transcoders_follow_publishers():
    plan = build_plan(spec_with(**{"regions.na-east.pools.transcoder": {"min": 0, "max": 10, "capacity": 4},
                                   "traffic.publishers": {"na-east": 9}}))
    assert pools(plan)["transcoder"].count == 3


def test_scale_overrides_win_and_say_so():
    plan = build_plan(spec_with(), overrides={("na-east", "edge"): 7})
    edge = pools(plan)["edge"]
    assert edge.count == 7 and "ccds scale" in edge.reason and "125" in edge.reason
    assert plan.workspace_of_region("na-east").pools["na-east"]["edge"] == 7
    assert pools(plan)["origin"].count == 1  # other roles untouched


def test_event_viewers_replace_peak_viewers():
    plan = build_plan(spec_with(), viewers={"na-east": 48000})
    assert pools(plan)["edge"].count == 200  # ceil(48000 / 240) = 200 = max


# -- workspaces -------------------------------------------------------------------------------

def test_workspaces_per_alias_and_region_control_first():
    spec = spec_with(**{
        "regions.na-east2": {"placement": "aws-main/us-east-1", "network": {"cidr": "10.11.0.0/16"},
                             "pools": {"origin": {"capacity": 20}, "edge": {"capacity": 400}}},
        "regions.na-west": {"placement": "gcp-main/us-west1", "network": {"cidr": "10.12.0.0/16"},
                            "pools": {"origin": {"capacity": 20}, "edge": {"capacity": 400}}},
        "control.placement": ["aws-main/us-east-1", "lab/regionone"],
    })
    plan = build_plan(spec)
    names = [(ws.name, ws.kind, ws.stage) for ws in plan.workspaces]
    assert names == [("control.aws-main.us-east-1", "control", 0), ("control.lab.regionone", "control", 1),
                     ("aws-main.us-east-1", "region", 1), ("gcp-main.us-west1", "region", 1)]
    assert plan.workspace("aws-main.us-east-1").region_keys == ["na-east", "na-east2"]
    primary, secondary = plan.workspaces[0].control, plan.workspaces[1].control
    assert primary.primary and primary.database.engine == "postgres" and not primary.database.vm  # RDS on AWS
    assert primary.database.managed
    assert not secondary.primary and secondary.database.engine == "none"
    assert plan.workspaces[1].pools == {"control": {"manager": 2}}


def test_database_runs_on_a_vm_where_no_managed_postgres():
    plan = build_plan(spec_with(**{"control.placement": ["lab/regionone"]}))
    ctl = plan.workspaces[0]
    assert ctl.control.database.vm and ctl.pools["control"] == {"manager": 2, "database": 1}
    db_rules = [r for r in ctl.rules["control"] if r.role == "database"]
    assert {(r.from_port, r.cidrs) for r in db_rules} == {
        (5432, ("10.10.0.0/16", "10.250.0.0/16")), (22, ("203.0.113.0/24",))}


# -- firewall ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["mediamtx", "nginx-rtmp", "red5pro"])
def test_rules_open_only_the_engines_ports(kind):
    extra = {"engine": {"kind": kind, **({"license_env": "RED5PRO_LICENSE"} if kind == "red5pro" else {})}}
    spec = spec_with(**extra, **{"regions.na-east.pools.relay": {"min": 0, "max": 4, "capacity": 8}})
    plan = build_plan(spec)
    engine = engines.get(kind)
    rules = plan.workspace_of_region("na-east").rules["na-east"]
    assert rules
    for rule in rules:
        allowed = {(p.protocol, p.from_port, p.to_port) for p in engine.ports_for(rule.role)}
        assert (rule.protocol, rule.from_port, rule.to_port) in allowed, rule
    for role in ("origin", "relay", "edge"):
        wanted = {(p.protocol, p.from_port, p.to_port) for p in engine.ports_for(role)}
        got = {(r.protocol, r.from_port, r.to_port) for r in rules if r.role == role}
        assert got == wanted, (role, wanted - got)


AUDIENCE_CIDRS = {
    "publishers": ("198.51.100.0/24",),
    "viewers": ("0.0.0.0/0",),
    "admins": ("203.0.113.0/24",),
    "cluster": ("10.10.0.0/16", "10.250.0.0/16"),  # the region's network and the control plane's
}


@pytest.mark.parametrize("kind", ["mediamtx", "nginx-rtmp", "red5pro"])
def test_audiences_map_to_their_cidrs(kind):
    extra = {"engine": {"kind": kind, **({"license_env": "RED5PRO_LICENSE"} if kind == "red5pro" else {})}}
    rules = build_plan(spec_with(**extra)).workspace_of_region("na-east").rules["na-east"]
    engine = engines.get(kind)
    for rule in rules:
        audiences = {p.audience for p in engine.ports_for(rule.role)
                     if (p.protocol, p.from_port, p.to_port) == (rule.protocol, rule.from_port, rule.to_port)
                     and rule.description.endswith(f"from {p.audience}")}
        assert len(audiences) == 1, rule
        assert rule.cidrs == AUDIENCE_CIDRS[audiences.pop()], rule


@pytest.mark.parametrize("kind", ["mediamtx", "nginx-rtmp", "red5pro"])
def test_viewers_reach_origins_only_for_the_hls_fallback(kind):
    extra = {"engine": {"kind": kind, **({"license_env": "RED5PRO_LICENSE"} if kind == "red5pro" else {})}}
    rules = build_plan(spec_with(**extra)).workspace_of_region("na-east").rules["na-east"]
    to_viewers = [r for r in rules if r.role == "origin" and "0.0.0.0/0" in r.cidrs]
    assert [r.description for r in to_viewers] == ["hls from viewers"]  # fallback: hls, the default
    none = spec_with(**extra, **{"regions.na-east.fallback": "none"})
    rules = build_plan(none).workspace_of_region("na-east").rules["na-east"]
    assert not [r for r in rules if r.role == "origin" and "0.0.0.0/0" in r.cidrs]


def test_viewers_never_reach_origins_and_publishers_never_reach_edges():
    rules = build_plan(spec_with(**{"regions.na-east.fallback": "none"})).workspace_of_region("na-east").rules["na-east"]
    assert not [r for r in rules if r.role == "origin" and "0.0.0.0/0" in r.cidrs]
    assert not [r for r in rules if r.role == "edge" and "198.51.100.0/24" in r.cidrs]
    ssh = [r for r in rules if r.from_port == 22]
    assert ssh and all(r.cidrs == ("203.0.113.0/24",) for r in ssh)


def test_no_admin_cidrs_means_no_admin_rules():
    spec = spec_with(**{"security.admin_cidrs": []})
    plan = build_plan(spec)
    rules = plan.workspace_of_region("na-east").rules["na-east"]
    assert not [r for r in rules if r.description.endswith("from admins")]
    assert not [r for r in plan.workspaces[0].rules["control"] if r.from_port == 22]
    for rule in rules:
        for cidr in rule.cidrs:
            ip_network(cidr)  # every rule still carries valid CIDRs


def test_control_api_open_to_publishers_viewers_and_every_cluster():
    spec = spec_with(**{"control.api_port": 8443, "security.viewer_cidrs": ["192.0.2.0/24"]})
    rules = build_plan(spec).workspaces[0].rules["control"]
    api = [r for r in rules if r.from_port == 8443]
    assert len(api) == 1
    assert set(api[0].cidrs) == {"198.51.100.0/24", "192.0.2.0/24", "10.10.0.0/16", "10.250.0.0/16"}


# -- failover instance types ------------------------------------------------------------------

@pytest.mark.parametrize("target, expected", [
    ("gcp", "c3-highcpu-4"),  # 4 vCPU / 8 GB, like c5.xlarge
    ("azure", "Standard_F4s_v2"),
    ("digitalocean", "c-4"),
    ("linode", "g6-dedicated-4"),  # g6-standard-4 is the same size; ties go by name
    ("oci", "VM.Standard2.2"),  # the only 4-vCPU shape in the list
    ("vsphere", "4x8"),  # sized freely: the same vCPUs and memory
    ("aws", "c5.xlarge"),  # home cloud: unchanged
])
def test_failover_maps_to_the_closest_size(target, expected):
    assert instance_type_for(spec_with(), "na-east", "edge", target) == expected


def test_failover_from_a_vsphere_size_to_a_catalogue_cloud():
    spec = spec_with(**{"regions.na-east.pools.edge.instance_type": "4x8"})
    # the home cloud is AWS in spec_with(); a vSphere-style size is unknown there, so check the
    # vSphere adapter's own reading of sizes, which the mapping uses when vSphere is home
    from ccds_cli import clouds

    v = clouds.get("vsphere")
    assert (v.instance_type("8x16").vcpu, v.instance_type("8x16").memory_gb) == (8, 16)
    assert v.instance_type("large") is None and v.size_for(2, 3.75) == "2x4"
    assert instance_type_for(spec, "na-east", "edge", "vsphere") == "4x8"


def test_failover_never_picks_a_smaller_machine_when_a_big_enough_one_exists():
    from ccds_cli import clouds

    aws = clouds.get("aws")
    for src in aws.instance_types().values():
        if src.name.startswith("db."):
            continue
        spec = spec_with(**{"regions.na-east.pools.edge.instance_type": src.name})
        for target in ("gcp", "azure", "oci", "digitalocean", "linode"):
            types = clouds.get(target).instance_types()
            got = types[instance_type_for(spec, "na-east", "edge", target)]
            if any(t.vcpu >= src.vcpu and t.memory_gb >= src.memory_gb for t in types.values()):
                assert got.vcpu >= src.vcpu and got.memory_gb >= src.memory_gb, (src, target, got)


def test_unknown_home_type_falls_back_to_the_targets_default():
    spec = spec_with(**{"regions.na-east.pools.edge.instance_type": "x9.enormous"})
    assert instance_type_for(spec, "na-east", "edge", "gcp") == "e2-highcpu-4"
    assert instance_type_for(spec, "na-east", "edge", "aws") == "x9.enormous"


def test_failover_moves_the_region_to_the_target_workspace():
    plan = build_plan(spec_with(), failover_to={"na-east": "gcp-main/us-east4"})
    ws = plan.workspace_of_region("na-east")
    assert (ws.name, ws.cloud) == ("gcp-main.us-east4", "gcp")
    assert pools(plan)["edge"].instance_type == "c3-highcpu-4"
    assert pools(plan)["edge"].count == 125  # the same capacity, on the other cloud
