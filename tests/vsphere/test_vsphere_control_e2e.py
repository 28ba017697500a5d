"""The control workspace on vSphere for real (provider 2.0.2 against the vCenter simulator): the
database VM, the stream manager VM whose guestinfo user data names the database's address, `down`."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

from tests.vsphere.vsenv import MARKS, ccds, extra, ok, ours, spec

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "nodepkg"))
from loopindex import LoopIndex  # noqa: E402

pytestmark = MARKS


def test_control_plane_database_vm(project, vcenter):
    """The control workspace on vSphere: the database VM is cloned first and the stream manager's
    guestinfo user data names its address; `down` removes both."""
    cwd, env = project
    index = LoopIndex()  # the install preflight asks this loopback index, never PyPI
    index.add_ccds()
    index.add_dependencies()
    try:
        (cwd / "ccds.yaml").write_text(spec(vcenter, control=True, index=index.simple))
        si = vcenter.connect()
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
