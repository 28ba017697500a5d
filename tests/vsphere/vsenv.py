"""What the vSphere end-to-end tests share: the spec, the simulator and project fixtures, `ccds` runs,
and reading the deployment's VMs back through pyvmomi (terraform-provider-vsphere 2.0.2 from the
test bed's mirror against the vCenter simulator, scripts/vcsim.sh).

The simulator's VMs run no guest: a powered-on VM reports a loopback address (the simulator's
stand-in for VMware Tools after DHCP), so the spec sets `guest_net_timeout: 0` (provider 2.0.2's
address waiter ignores loopback addresses) and nothing ever connects off the machine.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.vsphere.vcsim import Vcsim, ready

REPO = Path(__file__).resolve().parents[2]
DEPLOYMENT = "vstest"

MARKS = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("terraform") is None, reason="needs terraform"),
    pytest.mark.skipif(bool(ready()), reason=ready() or "ready"),
]


def spec(sim: Vcsim, *, control: bool = False, index: str = "") -> str:
    """The spec's YAML: one vSphere region (origin 1, edge 2) on the simulator, optionally a control plane."""
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
    return yaml.safe_dump(doc, sort_keys=False)


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


