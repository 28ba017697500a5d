"""modules/local without starting anything: input validation at plan time, and the ports, pull
topology and command lines computed in locals.tf (evaluated by the real terraform binary)."""

from __future__ import annotations

import json
import shutil

import pytest
from localtf import MODULE, module_call, terraform, terraform_env, write_root

pytestmark = pytest.mark.timeout(180)

P = {"role": "origin", "count": 1, "instance_type": "process"}


def _plan(tmp_path, pools=None, region="local", **settings):
    call = module_call("na", tmp_path / "state", 30000, pools or {"origin": P})
    call["region"] = region
    call["settings"].update(settings)
    write_root(tmp_path, {"na": call})
    env = terraform_env(tmp_path)
    terraform(tmp_path, "init", "-input=false", env=env)
    return terraform(tmp_path, "plan", "-input=false", env=env, check=False)


@pytest.mark.parametrize("change, message", [
    ({"pools": {"t": {"role": "database-replica", "count": 1, "instance_type": "x"}}},
     "origin, relay, edge, transcoder and manager"),
    ({"pools": {"db": {"role": "database", "count": 1, "instance_type": "x"}}}, "no database"),
    ({"pools": {"edge": {"role": "edge", "count": 51, "instance_type": "x"}}}, "0 to 50 nodes"),
    ({"region": "us-east-1"}, "one region"),
    ({"state_dir": "relative/state"}, "absolute path"),
    ({"engine": "mediamtx"}, "nginx-rtmp engine only"),
    ({"base_port": "80"}, "1024 to 64000"),
])
def test_validation(tmp_path, change, message):
    proc = _plan(tmp_path, **change)
    assert proc.returncode != 0
    assert message in " ".join((proc.stdout + proc.stderr).split())


def test_plan_creates_one_resource_per_node(tmp_path):
    proc = _plan(tmp_path, pools={"origin": P, "edge": dict(P, role="edge", count=2),
                                  "manager": dict(P, role="manager", count=0)})
    assert proc.returncode == 0, proc.stderr
    assert "Plan: 3 to add, 0 to change, 0 to destroy." in proc.stdout


def _locals(tmp_path, pools: dict, **settings) -> dict:
    """Apply variables.tf + locals.tf alone (no resources) and read back selected locals."""
    for name in ("variables.tf", "locals.tf"):
        shutil.copy(MODULE / name, tmp_path / name)
    names = ["ports", "pull", "start_args", "start_command"]
    (tmp_path / "out.tf").write_text("".join(f'output "{n}" {{ value = local.{n} }}\n' for n in names))
    inputs = {"deployment": "lt", "workspace": "na", "region": "local", "network_cidr": "10.0.0.0/16",
              "pools": pools, "firewall_rules": [], "tags": {},
              "settings": {"state_dir": "/s d/x", "python": "/usr/bin/python3", "base_port": "30000", **settings}}
    (tmp_path / "in.tfvars.json").write_text(json.dumps(inputs))
    env = terraform_env(tmp_path)
    terraform(tmp_path, "init", "-input=false", env=env)
    terraform(tmp_path, "apply", "-auto-approve", "-var-file=in.tfvars.json", env=env)
    out = terraform(tmp_path, "output", "-json", env=env)
    return {k: v["value"] for k, v in json.loads(out.stdout).items()}


def test_ports_pull_topology_and_commands(tmp_path):
    pools = {"edge": dict(P, role="edge", count=3), "origin": P, "relay": dict(P, role="relay", count=2),
             "manager": dict(P, role="manager", count=1)}
    got = _locals(tmp_path, pools, manager_url="http://127.0.0.1:1/x", capacity_edge="99")
    # Sorted pools edge, manager, origin, relay own blocks of 100 ports from base_port.
    assert got["ports"]["edge-0"] == {"rtmp": 30000, "http": 30001}
    assert got["ports"]["edge-2"] == {"rtmp": 30004, "http": 30005}
    assert got["ports"]["manager-0"] == {"api": 30100}
    assert got["ports"]["origin-0"] == {"rtmp": 30200, "http": 30201}
    assert got["ports"]["relay-1"] == {"rtmp": 30302, "http": 30303}
    assert got["pull"]["origin-0"] == ""
    assert got["pull"]["relay-0"] == got["pull"]["relay-1"] == "rtmp://127.0.0.1:30200/live"
    assert [got["pull"][f"edge-{i}"] for i in range(3)] == [
        "rtmp://127.0.0.1:30300/live", "rtmp://127.0.0.1:30302/live", "rtmp://127.0.0.1:30300/live"]
    edge = got["start_args"]["edge-1"]
    assert edge[edge.index("--capacity") + 1] == "99" and edge[edge.index("--region") + 1] == "na"
    origin = got["start_args"]["origin-0"]
    assert origin[origin.index("--capacity") + 1] == "20"
    manager = got["start_args"]["manager-0"]
    assert manager[manager.index("--database-url") + 1] == "sqlite:////s d/x/sm.db"
    assert "--manager-url" not in manager
    # The shell command quotes every argument (the state dir has a space in it).
    assert "'--state-dir' '/s d/x'" in got["start_command"]["edge-1"]


def test_edges_without_origin_use_origin_url(tmp_path):
    got = _locals(tmp_path, {"edge": dict(P, role="edge", count=1)}, origin_url="rtmp://10.0.0.5:1935/live")
    assert got["pull"]["edge-0"] == "rtmp://10.0.0.5:1935/live"
    assert "--manager-url" not in got["start_args"]["edge-0"]




def test_fallback_hls_starts_origins_with_hls_and_none_without(tmp_path):
    pools = {"edge": dict(P, role="edge", count=1), "origin": P}
    (tmp_path / "hls").mkdir()
    got = _locals(tmp_path / "hls", pools, manager_url="http://127.0.0.1:1/x", fallback="hls")
    assert "--hls" in got["start_args"]["origin-0"] and "--hls" not in got["start_args"]["edge-0"]
    for settings in ({"fallback": "none"}, {}):  # without the setting (an older ccds): no HLS
        (tmp_path / f"none{len(settings)}").mkdir()
        got = _locals(tmp_path / f"none{len(settings)}", pools, manager_url="http://127.0.0.1:1/x", **settings)
        assert "--hls" not in got["start_args"]["origin-0"]
