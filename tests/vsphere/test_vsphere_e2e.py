"""`ccds up / status / scale / down` on vSphere for real: terraform-provider-vsphere 2.0.2 from the
test bed's mirror against the vCenter simulator (scripts/vcsim.sh), checked through pyvmomi.

The simulator's VMs run no guest: a powered-on VM reports a loopback address (the simulator's
stand-in for VMware Tools after DHCP), so the spec sets `guest_net_timeout: 0` (provider 2.0.2's
address waiter ignores loopback addresses) and nothing ever connects off the machine.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.vsphere.vcsim import PASSWORD, USER, Tagging, Vcsim, cli_config, ready, vm_folder

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "nodepkg"))
from loopindex import LoopIndex  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
DEPLOYMENT = "vstest"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("terraform") is None, reason="needs terraform"),
    pytest.mark.skipif(bool(ready()), reason=ready() or "ready"),
]


def spec(sim: Vcsim, *, control: bool = False, index: str = "") -> dict:
    doc = {
        "version": 1, "name": DEPLOYMENT, "engine": {"kind": "mediamtx"},
        "providers": {"lab": {"cloud": "vsphere", "server": sim.server, "datacenter": "DC0", "cluster": "DC0_C0",
                              "datastore": "LocalDS_0", "network": "VM Network", "template": "DC0_H0_VM0",
                              "folder": "ccds", "allow_unverified_ssl": True, "guest_net_timeout": 0}},
        "regions": {"dc": {"placement": "lab/dc0", "network": {"cidr": "10.30.0.0/16"}, "pools": {
            "origin": {"instance_type": "1x1", "min": 1, "max": 2, "capacity": 20},
            "edge": {"instance_type": "2x2", "min": 2, "max": 3, "capacity": 200, "disk_gb": 40}}}},
        "security": {"publish_cidrs": ["0.0.0.0/0"], "admin_cidrs": ["203.0.113.0/24"]},
    }
    if control:
        doc["control"] = {"placement": ["lab/dc0"], "stream_managers": 1, "instance_type": "2x4",
                          "database": {"engine": "postgres"}}
        doc["install"] = {"requirement": "ccds[postgres]==0.1.0", "index_url": index}
    return doc


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    server = Vcsim(tmp_path_factory.mktemp("vcsim"))
    si = server.connect()
    vm_folder(si, "DC0", "ccds")  # the VM folder the spec names exists, as in a real vCenter
    yield server
    server.stop()


@pytest.fixture
def project(tmp_path, sim):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "VSPHERE_", "CCDS_"))}
    env.update(TF_CLI_CONFIG_FILE=str(cli_config(tmp_path / "tf")), TF_IN_AUTOMATION="1", TF_INPUT="0",
               CHECKPOINT_DISABLE="1", VSPHERE_USER=USER, VSPHERE_PASSWORD=PASSWORD, CI="true",
               PYTHONPATH=str(REPO))
    return tmp_path, env


def ccds(args: list[str], env: dict, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ccds_cli", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def ok(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, f"exit {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return json.loads(proc.stdout)["result"]


def ours(si) -> dict[str, object]:
    """The deployment's VMs by name (vim.VirtualMachine), as vCenter lists them."""
    from pyVmomi import vim

    view = si.content.viewManager.CreateContainerView(si.content.rootFolder, [vim.VirtualMachine], True)
    try:
        return {vm.name: vm for vm in view.view if vm.name.startswith(f"{DEPLOYMENT}-")}
    finally:
        view.Destroy()


def extra(vm) -> dict[str, str]:
    return {o.key: str(o.value) for o in vm.config.extraConfig}


def test_up_status_scale_replace_down(project, sim):
    cwd, env = project
    (cwd / "ccds.yaml").write_text(yaml.safe_dump(spec(sim), sort_keys=False))
    si = sim.connect()

    up = ok(ccds(["up", "ccds.yaml", "--yes", "-o", "json"], env, cwd))
    assert [(w["name"], w["result"]) for w in up["workspaces"]] == [("lab.dc0", "ok")]
    vms = ours(si)
    assert sorted(vms) == ["vstest-dc-edge-0", "vstest-dc-edge-1", "vstest-dc-origin-0"]
    assert sorted(n["name"] for n in up["nodes"]) == sorted(vms)
    for name, vm in vms.items():
        assert vm.parent.name == "ccds"  # the spec's folder
        assert [n.name for n in vm.network] == ["VM Network"]  # moved off the template's port group
        assert str(vm.runtime.powerState) == "poweredOn"
        assert "ccds-deployment=vstest" in vm.config.annotation.splitlines()
        info = extra(vm)
        meta = json.loads(base64.b64decode(info["guestinfo.metadata"]))
        assert meta == {"instance-id": name, "local-hostname": name}
        assert info["guestinfo.userdata.encoding"] == "base64"
        assert base64.b64decode(info["guestinfo.userdata"]).decode().startswith("#cloud-config\n")
        assert json.loads(info["guestinfo.ccds.firewall"])  # the role's ingress rules for the node agent
    edge = vms["vstest-dc-edge-0"]
    assert (edge.config.hardware.numCPU, edge.config.hardware.memoryMB) == (2, 2048)
    assert {n["name"]: n["public_ip"] for n in up["nodes"]}["vstest-dc-edge-0"] == edge.guest.ipAddress
    assert edge.guest.ipAddress.startswith("127.77.")
    tagging = Tagging(sim)
    try:
        assert tagging.categories() == ["vstest-dc-tags"]
        assert tagging.attached(edge) == ["ccds-deployment:vstest", "ccds-pool:edge", "ccds-role:edge",
                                          "ccds-workspace:dc", "managed-by:ccds"]
    finally:
        tagging.close()

    status = ok(ccds(["status", "ccds.yaml", "-o", "json"], env, cwd))
    assert status["healthy"] is True
    ws = status["workspaces"][0]
    assert ws["inventory"] == "ok"
    assert {r["role"]: (r["desired"], r["actual"], r["running"]) for r in ws["roles"]} == \
        {"edge": (2, 2, 2), "origin": (1, 1, 1)}

    scaled = ok(ccds(["scale", "ccds.yaml", "dc", "edge=3", "--yes", "-o", "json"], env, cwd))
    assert [w["changes"]["add"] for w in scaled["workspaces"]] == [1]
    assert sorted(ours(si)) == ["vstest-dc-edge-0", "vstest-dc-edge-1", "vstest-dc-edge-2", "vstest-dc-origin-0"]

    # a VM powered off behind ccds's back: status says so (exit 4), the next up replaces it
    victim = ours(si)["vstest-dc-edge-1"]
    old_ref = victim._moId
    victim.PowerOffVM_Task()
    sick = ccds(["status", "ccds.yaml", "-o", "json"], env, cwd)
    assert sick.returncode == 4, sick.stdout + sick.stderr
    problems = [p for w in json.loads(sick.stdout)["result"]["workspaces"] for r in w["roles"] for p in r["problems"]]
    assert problems == ["vstest-dc-edge-1 is stopped"]
    again = ok(ccds(["up", "ccds.yaml", "--yes", "-o", "json"], env, cwd))
    assert [(w["changes"]["add"], w["changes"]["destroy"]) for w in again["workspaces"]] == [(1, 1)]
    vms = ours(si)
    assert len(vms) == 4  # the scale override is kept
    assert vms["vstest-dc-edge-1"]._moId != old_ref  # a new VM (the simulator derives BIOS UUIDs from names)
    assert all(str(vm.runtime.powerState) == "poweredOn" for vm in vms.values())
    assert ok(ccds(["status", "ccds.yaml", "-o", "json"], env, cwd))["healthy"] is True

    down = ok(ccds(["down", "ccds.yaml", "--yes", "-o", "json"], env, cwd))
    assert [w["result"] for w in down["workspaces"]] == ["ok"]
    assert ours(si) == {}
    assert vm_folder(si, "DC0", "ccds").childEntity == []
    tagging = Tagging(sim)
    try:
        assert tagging.categories() == []  # the workspace's tag category and tags are gone too
    finally:
        tagging.close()
    assert ccds(["status", "ccds.yaml"], env, cwd).returncode == 4  # nothing is running now


def test_control_plane_database_vm(project, sim):
    """The control workspace on vSphere: the database VM is cloned first and the stream manager's
    guestinfo user data names its address; `down` removes both."""
    cwd, env = project
    index = LoopIndex()  # the install preflight asks this loopback index, never PyPI
    index.add_ccds()
    index.add_dependencies()
    try:
        (cwd / "ccds.yaml").write_text(yaml.safe_dump(spec(sim, control=True, index=index.simple), sort_keys=False))
        si = sim.connect()
        up = ok(ccds(["up", "ccds.yaml", "--yes", "-o", "json"], env, cwd))
        assert [(w["name"], w["result"]) for w in up["workspaces"]] == [("control.lab.dc0", "ok"), ("lab.dc0", "ok")]
        vms = ours(si)
        db, manager = vms["vstest-control-database-0"], vms["vstest-control-manager-0"]
        assert db.guest.ipAddress.startswith("127.77.")
        boot = base64.b64decode(extra(manager)["guestinfo.userdata"]).decode()
        assert f"@{db.guest.ipAddress}:5432/ccds" in boot and "@@CCDS_" not in boot
        assert up["manager"] == f"http://{manager.guest.ipAddress}:8080"
        # the simulated VMs run no stream manager: status says the manager does not answer
        status = ccds(["status", "ccds.yaml", "-o", "json"], env, cwd)
        assert status.returncode == 4
        assert json.loads(status.stdout)["result"]["manager"]["reachable"] is False

        ok(ccds(["down", "ccds.yaml", "--yes", "-o", "json"], env, cwd))
        assert ours(si) == {}
    finally:
        index.close()
