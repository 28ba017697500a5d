"""VMware vSphere (private cloud): clones a template, cloud-init through guestinfo."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Literal

from pydantic import Field

from ccds_cli.clouds import _tags
from ccds_cli.clouds._lazy import require
from ccds_cli.clouds.base import CheckResult, Cloud, InstanceInfo, InstanceType, Pricing, ProviderConfig

_FIX_LOGIN = "export VSPHERE_USER and VSPHERE_PASSWORD (a vCenter user with read access to the datacenter)"
_PRIVATE = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


class VsphereProvider(ProviderConfig):
    cloud: Literal["vsphere"]
    server: str
    datacenter: str
    cluster: str
    datastore: str
    network: str
    template: str
    folder: str | None = None
    resource_pool: str | None = None
    allow_unverified_ssl: bool = False
    # Minutes `terraform apply` waits for VMware Tools to report each VM's address (the provider's
    # wait_for_guest_net_timeout); 0 = do not wait, for templates without VMware Tools.
    guest_net_timeout: int = Field(5, ge=0, le=600)
    pricing: Pricing = Pricing()  # what ccds cost charges per vCPU-hour / GB-month (default 0)


class Vsphere(Cloud):
    name = "vsphere"
    display = "vSphere"
    provider_model = VsphereProvider
    tf_provider = ("vsphere", "hashicorp/vsphere", "~> 2.0")
    extra = "vsphere"
    private = True
    credential_env = ("VSPHERE_USER", "VSPHERE_PASSWORD")
    default_instance_type = "4x8"
    default_region = "region-1"
    node_resource = "vsphere_virtual_machine"  # the module resource that is one node (what `ccds operate` replaces)
    init_fields = (", server: vcenter.example.internal, datacenter: dc1, cluster: c1, datastore: ds1,"
                   " network: VM Network, template: ubuntu-22.04")
    unsupported = {
        "managed_database": "vSphere has no managed PostgreSQL: the database runs on a VM",
        "load_balancer": "vSphere has no load balancer resource: put your own VIP in front of the managers",
        "dns": "DNS records are not managed on vSphere",
    }
    state_map = {"poweredon": "running", "poweredoff": "stopped", "suspended": "stopped"}

    def instance_type(self, name):
        import re

        m = re.fullmatch(r"([1-9][0-9]{0,2})x([1-9][0-9]{0,4})", name or "")
        return InstanceType(name, float(m.group(1)), float(m.group(2))) if m else None

    def size_for(self, vcpu, memory_gb):
        import math

        return f"{max(1, math.ceil(vcpu))}x{max(1, math.ceil(memory_gb))}"

    def instance_type_error(self, name):
        """vSphere sizes are `<vcpus>x<memory_gb>` (the module clones a template at that size)."""
        import re

        if not re.fullmatch(r"[1-9][0-9]{0,2}x[1-9][0-9]{0,4}", name):
            return f"{name!r} is not a vSphere size; expected <vcpus>x<memory_gb>, e.g. 4x8"
        return None

    def provider_block(self, cfg, region, tags):
        return {"vsphere_server": cfg.server, "allow_unverified_ssl": cfg.allow_unverified_ssl}

    def module_settings(self, cfg, region):
        settings = {k: getattr(cfg, k) for k in ("datacenter", "cluster", "datastore", "network", "template")}
        for key in ("folder", "resource_pool"):
            if getattr(cfg, key):
                settings[key] = getattr(cfg, key)
        if cfg.guest_net_timeout != 5:
            settings["guest_net_timeout"] = str(cfg.guest_net_timeout)
        return settings

    def stale_resources(self, workspace_dir, state_dir, state=None):
        """VMs in the workspace's state that vCenter reports powered off or suspended (or no longer
        has): the provider's refresh keeps a stopped VM as it is, so the next plan replaces it.
        Without credentials or a reachable vCenter nothing is replaced (the plan reports the error)."""
        import json

        vms = _state_vms(Path(workspace_dir) / "terraform.tfstate" if state is None else state)
        if not vms:
            return []
        try:
            block = json.loads((Path(workspace_dir) / "main.tf.json").read_text())["provider"]["vsphere"]
            block = block[0] if isinstance(block, list) else block
            cfg = _Connection(server=str(block["vsphere_server"]),
                              allow_unverified_ssl=bool(block.get("allow_unverified_ssl", False)))
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            return []
        try:
            require("pyVim.connect", "vsphere")
            from pyVim.connect import Disconnect

            si = self._connect(cfg)
        except Exception:  # no SDK, no login, no vCenter: refresh and plan say what is wrong
            return []
        try:
            search = si.content.searchIndex
            stale = []
            for address, uuid in vms:
                vm = search.FindByUuid(None, uuid, True, False)
                if vm is not None and str(vm.runtime.powerState) != "poweredOn":
                    stale.append(address)
            return sorted(stale)
        finally:
            Disconnect(si)

    # -- SDK ---------------------------------------------------------------------------------
    def _connect(self, cfg):
        import ssl

        connect = require("pyVim.connect", "vsphere")
        host, _, port = (self.endpoint or cfg.server).removeprefix("https://").partition(":")
        # An explicit verifying context: pyvmomi skips verification for localhost and 127.0.0.1 on
        # its own (an SSH tunnel to vCenter), where the Terraform provider would refuse the certificate.
        context = None if cfg.allow_unverified_ssl else ssl.create_default_context()
        return connect.SmartConnect(host=host, port=int(port or 443), user=os.environ.get("VSPHERE_USER", ""),
                                    pwd=os.environ.get("VSPHERE_PASSWORD", ""), sslContext=context,
                                    disableSslCertValidation=cfg.allow_unverified_ssl)

    def _check(self, cfg):
        require("pyVim.connect", "vsphere")
        import ssl

        from pyVim.connect import Disconnect
        from pyVmomi import vim

        if not (os.environ.get("VSPHERE_USER") and os.environ.get("VSPHERE_PASSWORD")):
            return CheckResult(False, "VSPHERE_USER / VSPHERE_PASSWORD are not set", _FIX_LOGIN)
        try:
            si = self._connect(cfg)
        except vim.fault.InvalidLogin as exc:
            return CheckResult(False, f"vCenter refused the login: {exc.msg}", _FIX_LOGIN)
        except ssl.SSLError as exc:
            return CheckResult(False, f"TLS to {cfg.server} failed: {exc}",
                               "install the vCenter CA certificate, or set allow_unverified_ssl: true")
        except OSError as exc:
            return CheckResult(False, f"cannot reach vCenter {cfg.server}: {exc}", "check `server` and the network")
        try:
            dc = si.content.searchIndex.FindByInventoryPath(cfg.datacenter)
            if dc is None:
                return CheckResult(False, f"datacenter {cfg.datacenter!r} not found or not visible",
                                   "fix `datacenter` in the spec or grant read access to it")
            about = si.content.about
            return CheckResult(True, f"{about.fullName}: datacenter {cfg.datacenter} visible")
        finally:
            Disconnect(si)

    def _inventory(self, cfg, deployment, regions):
        require("pyVim.connect", "vsphere")
        from pyVim.connect import Disconnect
        from pyVmomi import vim

        si = self._connect(cfg)
        try:
            content = si.content
            root = content.searchIndex.FindByInventoryPath(cfg.datacenter) or content.rootFolder
            view = content.viewManager.CreateContainerView(root, [vim.VirtualMachine], True)
            try:
                found = []
                for vm in view.view:
                    if not vm.name.startswith(f"{deployment}-"):
                        continue
                    # The provider's id of a VM is its BIOS UUID (config.uuid): that is what
                    # the `nodes` output holds, so status matches inventory on it.
                    props = {"id": vm.config.uuid if vm.config else vm._moId, "name": vm.name, "annotation": vm.config.annotation if vm.config else "",
                             "power_state": str(vm.runtime.powerState),
                             "ip": vm.guest.ipAddress if vm.guest else "",
                             "created": vm.config.createDate if vm.config else None}
                    info = self.info_from_props(props, deployment, regions)
                    if info is not None:
                        found.append(info)
                return found
            finally:
                view.Destroy()
        finally:
            Disconnect(si)

    def info_from_props(self, props: dict, deployment: str, regions: list[str]) -> InstanceInfo | None:
        """One VM's properties -> InstanceInfo, or None when the VM is not the deployment's.

        A ccds VM is named `<deployment>-...` and its notes hold `ccds-deployment=<deployment>`.
        """
        tags = _tags.from_lines(props.get("annotation"))
        if tags.get(_tags.DEPLOYMENT) != deployment:
            return None
        ip = props.get("ip") or ""
        public = ip if ip and not any(ipaddress.ip_address(ip) in n for n in _PRIVATE) else ""
        created = props.get("created")
        # A vSphere alias is one vCenter datacenter; with one spec region there, that is the region.
        region = regions[0] if len(regions) == 1 else ""
        return InstanceInfo(
            id=str(props["id"]), name=props["name"], region=region, role=tags.get(_tags.ROLE, ""),
            state=self.ccds_state(props.get("power_state")), public_ip=public, private_ip=ip,
            launched_at=created.isoformat() if hasattr(created, "isoformat") else str(created or ""),
            workspace=tags.get(_tags.WORKSPACE, ""), cloud_state=str(props.get("power_state") or ""))


class _Connection:
    """What `_connect` needs of a provider alias, read back from a rendered workspace."""

    def __init__(self, server: str, allow_unverified_ssl: bool):
        self.server = server
        self.allow_unverified_ssl = allow_unverified_ssl


def _state_vms(source: Path | dict) -> list[tuple[str, str]]:
    """(terraform address, VM UUID) of every untainted vsphere_virtual_machine in a state file
    (or a state document pulled from a remote backend)."""
    import json

    if isinstance(source, dict):
        state = source
    else:
        try:
            state = json.loads(source.read_text())
        except (OSError, ValueError):
            return []
    found = []
    for res in state.get("resources", []) if isinstance(state, dict) else []:
        if res.get("type") != "vsphere_virtual_machine" or res.get("mode") != "managed":
            continue
        prefix = (res["module"] + "." if res.get("module") else "") + f"vsphere_virtual_machine.{res['name']}"
        for inst in res.get("instances", []):
            uuid = (inst.get("attributes") or {}).get("id")
            if uuid and inst.get("status") != "tainted":
                key = inst.get("index_key")
                found.append((prefix + (f"[{json.dumps(key)}]" if key is not None else ""), str(uuid)))
    return found


CLOUD = Vsphere()
