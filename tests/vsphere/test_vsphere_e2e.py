"""`ccds up / status / scale / down` on vSphere for real: terraform-provider-vsphere 2.0.2 from the
test bed's mirror against the vCenter simulator (scripts/vcsim.sh), checked through pyvmomi and the
simulator's tagging API. One deployment, every step asserted on it.
"""

from __future__ import annotations

import base64
import json

from tests.vsphere.vcsim import Tagging, vm_folder
from tests.vsphere.vsenv import MARKS, ccds, extra, ok, ours, spec

pytestmark = MARKS


def test_up_status_scale_replace_down(project, vcenter):
    cwd, env = project
    (cwd / "ccds.yaml").write_text(spec(vcenter))
    si = vcenter.connect()

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
    tagging = Tagging(vcenter)
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
    tagging = Tagging(vcenter)
    try:
        assert tagging.categories() == []  # the workspace's tag category and tags are gone too
    finally:
        tagging.close()
    assert ccds(["status", "ccds.yaml"], env, cwd).returncode == 4  # nothing is running now
