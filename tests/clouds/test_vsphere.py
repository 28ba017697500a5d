"""vSphere adapter: what can be tested without a vCenter (no practical fake of the vSphere SOAP API
exists; the pyvmomi calls themselves are not exercised here)."""

from __future__ import annotations

import datetime as dt

from ccds_cli.clouds.vsphere import Vsphere, VsphereProvider

NOTES = "Managed by ccds.\nccds-deployment=watch\nccds-pool=edge\nccds-role=edge\nccds-workspace=lab"


def test_power_states_map_to_ccds_states():
    cloud = Vsphere()
    assert [cloud.ccds_state(s) for s in ("poweredOn", "poweredOff", "suspended", "x")] == [
        "running", "stopped", "stopped", "unknown"]


def test_annotation_decides_membership_and_role():
    cloud = Vsphere()
    created = dt.datetime(2026, 11, 20, 19, 10, tzinfo=dt.timezone.utc)
    info = cloud.info_from_props({"id": "vm-42", "name": "watch-lab-edge-0", "annotation": NOTES,
                                  "power_state": "poweredOn", "ip": "10.1.2.3", "created": created},
                                 "watch", ["dc1"])
    assert (info.state, info.role, info.workspace, info.region) == ("running", "edge", "lab", "dc1")
    assert (info.private_ip, info.public_ip) == ("10.1.2.3", "")
    assert info.launched_at == created.isoformat()
    # Same name prefix, other deployment's notes (e.g. "watch-2"): not ours.
    assert cloud.info_from_props({"id": "vm-43", "name": "watch-2-lab-edge-0",
                                  "annotation": NOTES.replace("=watch\n", "=watch-2\n"),
                                  "power_state": "poweredOn"}, "watch", ["dc1"]) is None


def test_check_without_credentials_never_raises(clean_env):
    cfg = VsphereProvider(cloud="vsphere", server="127.0.0.1:9", datacenter="dc1", cluster="c", datastore="d",
                          network="n", template="t")
    result = Vsphere().check(cfg)
    assert not result.ok and "VSPHERE_USER" in result.reason


def test_check_unreachable_vcenter(clean_env, monkeypatch):
    monkeypatch.setenv("VSPHERE_USER", "u")
    monkeypatch.setenv("VSPHERE_PASSWORD", "p")
    cfg = VsphereProvider(cloud="vsphere", server="127.0.0.1:9", datacenter="dc1", cluster="c", datastore="d",
                          network="n", template="t")
    result = Vsphere().check(cfg)
    assert not result.ok and "cannot reach vCenter" in result.reason
