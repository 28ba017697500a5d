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


def test_guest_net_timeout_reaches_the_module_only_when_changed():
    fields = {"cloud": "vsphere", "server": "vc", "datacenter": "dc1", "cluster": "c", "datastore": "d",
              "network": "n", "template": "t"}
    assert "guest_net_timeout" not in Vsphere().module_settings(VsphereProvider(**fields), "r")
    assert Vsphere().module_settings(VsphereProvider(**fields, guest_net_timeout=0), "r")["guest_net_timeout"] == "0"


def test_stale_resources_reads_the_state_and_asks_nothing_without_vms(tmp_path):
    """The state's VMs with their terraform addresses; without any, vCenter is not contacted."""
    import json

    from ccds_cli.clouds.vsphere import _state_vms

    state = {"resources": [
        {"module": "module.dc", "mode": "managed", "type": "vsphere_virtual_machine", "name": "this",
         "instances": [{"index_key": "edge-0", "attributes": {"id": "u-1"}},
                       {"index_key": "edge-1", "status": "tainted", "attributes": {"id": "u-2"}}]},
        {"module": "module.dc", "mode": "data", "type": "vsphere_virtual_machine", "name": "template",
         "instances": [{"index_key": "t", "attributes": {"id": "u-3"}}]},
        {"mode": "managed", "type": "vsphere_tag", "name": "this", "instances": [{"attributes": {"id": "x"}}]}]}
    (tmp_path / "terraform.tfstate").write_text(json.dumps(state))
    assert _state_vms(tmp_path / "terraform.tfstate") == [('module.dc.vsphere_virtual_machine.this["edge-0"]', "u-1")]
    assert _state_vms(state) == _state_vms(tmp_path / "terraform.tfstate")  # a state pulled from a remote backend
    (tmp_path / "terraform.tfstate").write_text(json.dumps({"resources": []}))
    assert Vsphere().stale_resources(tmp_path, tmp_path) == []  # no main.tf.json needed: nothing to ask


def test_guest_net_timeout_is_bounded():
    import pytest
    from pydantic import ValidationError

    fields = {"cloud": "vsphere", "server": "vc", "datacenter": "dc1", "cluster": "c", "datastore": "d",
              "network": "n", "template": "t"}
    for bad in (-1, 601, "soon"):
        with pytest.raises(ValidationError, match="guest_net_timeout"):
            VsphereProvider(**fields, guest_net_timeout=bad)
