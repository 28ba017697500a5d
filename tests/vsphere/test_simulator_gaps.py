"""What govmomi 0.24's simulator lacks for terraform-provider-vsphere 2.0.2, pinned call by call.

Each gap made a clone fail ("error loading default device list" was the provider crashing on the
first one); `scripts/vcsim/main.go` fills them (`-vcenter-like`, the default) the way vCenter
answers. Run with `-vcenter-like=false` the gaps must still be there, or the fixups are obsolete.
"""

from __future__ import annotations

import httpx
import pytest

from tests.vsphere.vcsim import PASSWORD, USER, Vcsim, ready

pytestmark = pytest.mark.skipif(bool(ready()), reason=ready() or "ready")


@pytest.fixture(scope="module", params=[False, True], ids=["govmomi-as-is", "vcenter-like"])
def sim(request, tmp_path_factory):
    server = Vcsim(tmp_path_factory.mktemp("vcsim"), vcenter_like=request.param)
    server.vcenter_like = request.param
    server.si = server.connect()
    yield server
    server.stop()


def _template(si):
    return si.content.searchIndex.FindByInventoryPath("DC0/vm/DC0_H0_VM0")


def test_network_card_resource_allocation(sim):
    """The provider reads bandwidth limit/reservation/shares of every card (nil pointer: crash)."""
    from pyVmomi import vim

    (card,) = [d for d in _template(sim.si).config.hardware.device if isinstance(d, vim.vm.device.VirtualEthernetCard)]
    if sim.vcenter_like:
        assert (card.resourceAllocation.limit, card.resourceAllocation.share.level) == (-1, "normal")
    else:
        assert card.resourceAllocation is None


def test_disk_uuid(sim):
    """The provider finds a clone's disks by backing UUID ("disk UUID is missing" otherwise)."""
    from pyVmomi import vim

    disks = [d for d in _template(sim.si).config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)]
    assert disks
    assert all(bool(d.backing.uuid) == sim.vcenter_like for d in disks)


def test_lookup_distributed_port_group(sim):
    """The provider resolves the port group of the template's card (on DC0_DVPG0) with this call."""
    from pyVmomi import vmodl

    si = sim.si
    dvs = si.content.searchIndex.FindByInventoryPath("DC0/network/DVS0")
    pg = next(p for p in dvs.portgroup if p.name == "DC0_DVPG0")
    if sim.vcenter_like:
        assert si.content.dvSwitchManager.DVSManagerLookupDvPortGroup(dvs.uuid, pg.key) == pg
    else:
        with pytest.raises(vmodl.fault.MethodNotFound, match="does not implement: DVSManagerLookupDvPortGroup"):
            si.content.dvSwitchManager.DVSManagerLookupDvPortGroup(dvs.uuid, pg.key)


def test_powered_on_vm_reports_an_address(sim):
    """VMware Tools' report after DHCP: the provider's default_ip_address and ccds's inventory."""
    ip = _template(sim.si).guest.ipAddress
    if sim.vcenter_like:
        assert ip.startswith("127.77.")
    else:
        assert not ip


def test_tag_category_types_read_back_plain(sim):
    """The provider creates categories with "urn:vim25:VirtualMachine" and compares what it reads
    with the configuration's "VirtualMachine"; the raw form made every later plan fail."""
    base = f"https://{sim.server}/rest/com/vmware/cis"
    with httpx.Client(verify=False, timeout=10) as http:  # the simulator's self-signed certificate, loopback
        token = http.post(f"{base}/session", auth=(USER, PASSWORD)).raise_for_status().json()["value"]
        headers = {"vmware-api-session-id": token}
        spec = {"create_spec": {"name": f"gaps-{sim.vcenter_like}", "description": "", "cardinality": "MULTIPLE",
                                "associable_types": ["urn:vim25:VirtualMachine"]}}
        cid = http.post(f"{base}/tagging/category", json=spec, headers=headers).raise_for_status().json()["value"]
        got = http.get(f"{base}/tagging/category/id:{cid}", headers=headers).raise_for_status().json()["value"]
    assert got["associable_types"] == (["VirtualMachine"] if sim.vcenter_like else ["urn:vim25:VirtualMachine"])
