"""The vSphere test bed `scripts/vcsim.sh` caches: a vCenter simulator process and the real
terraform-provider-vsphere 2.0.2 in a filesystem mirror.

`Vcsim()` starts the simulator on a free loopback port (TLS, its own self-signed certificate, one
user and password) and `stop()` ends it by its PID. `cli_config()` writes a Terraform CLI config
whose only provider sources are that mirror (hashicorp/vsphere) and the machine's mirror (the rest).
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import time
from pathlib import Path

from tests.modules.tfhelp import find_mirror

USER = "ccds-admin"
PASSWORD = "vcsim-Pa55"


def cache_dir() -> Path:
    return Path(os.environ.get("CCDS_VSPHERE_CACHE") or Path.home() / ".cache" / "ccds" / "vsphere")


def simulator_bin() -> Path | None:
    path = cache_dir() / "bin" / "ccds-vcsim"
    return path if os.access(path, os.X_OK) else None


def provider_mirror() -> Path | None:
    root = cache_dir() / "mirror"
    binary = root / "registry.terraform.io/hashicorp/vsphere/2.0.2/linux_amd64/terraform-provider-vsphere_v2.0.2_x5"
    return root if os.access(binary, os.X_OK) else None


def ready() -> str:
    """'' when the test bed is there, else why not (the skip reason)."""
    if simulator_bin() is None or provider_mirror() is None:
        return f"needs the vSphere test bed in {cache_dir()} (bash scripts/vcsim.sh)"
    return ""


class Vcsim:
    """One simulator process: `url`, `host`, `port`, `server` ("127.0.0.1:PORT"), `cert` (PEM file)."""

    def __init__(self, workdir: Path, *, user: str = USER, password: str = PASSWORD, vcenter_like: bool = True,
                 timeout: float = 30) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.cert = workdir / "vcsim-cert.pem"
        self.log = (workdir / "vcsim.log").open("w")
        self.proc = subprocess.Popen([str(simulator_bin()), "-listen", "127.0.0.1:0", "-username", user,
                                      "-password", password, "-cert-out", str(self.cert),
                                      f"-vcenter-like={str(vcenter_like).lower()}"],
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        deadline = time.monotonic() + timeout
        line = ""
        while time.monotonic() < deadline and self.proc.poll() is None:
            if select.select([self.proc.stdout], [], [], 0.2)[0]:
                line = self.proc.stdout.readline()  # the simulator prints its one line whole
                break
        if not line.endswith("\n"):
            self.stop()
            raise RuntimeError(f"the simulator did not start: {(workdir / 'vcsim.log').read_text()[-2000:]}")
        info = json.loads(line)
        self.url, self.host, self.port = info["url"], info["host"], int(info["port"])
        self.server = f"{self.host}:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc.stdout.close()
        self.log.close()

    def connect(self):
        """A pyvmomi ServiceInstance logged in as the simulator's user."""
        from pyVim.connect import SmartConnect

        return SmartConnect(host=self.host, port=self.port, user=USER, pwd=PASSWORD, disableSslCertValidation=True)


def cli_config(workdir: Path) -> Path:
    """A Terraform CLI config: hashicorp/vsphere from the test bed's mirror, the rest from the machine's."""
    workdir.mkdir(parents=True, exist_ok=True)
    blocks = [f'  filesystem_mirror {{\n    path    = {json.dumps(str(provider_mirror()))}\n'
              '    include = ["registry.terraform.io/hashicorp/vsphere"]\n  }\n']
    other = find_mirror()
    if other is not None:
        blocks.append(f'  filesystem_mirror {{\n    path    = {json.dumps(str(other))}\n'
                      '    exclude = ["registry.terraform.io/hashicorp/vsphere"]\n  }\n')
    rc = workdir / "terraformrc"
    rc.write_text("provider_installation {\n" + "".join(blocks) + "}\n")
    return rc


def vm_folder(si, datacenter: str, name: str):
    """The VM folder `name` under the datacenter's VM folder, created when missing (as an admin would)."""
    dc = si.content.searchIndex.FindByInventoryPath(datacenter)
    for child in dc.vmFolder.childEntity:
        if child.name == name:
            return child
    return dc.vmFolder.CreateFolder(name)


class Tagging:
    """The simulator's vAPI tagging service (REST), as the provider uses it."""

    def __init__(self, sim: Vcsim) -> None:
        import httpx

        self.base = f"https://{sim.server}/rest/com/vmware/cis"
        self.http = httpx.Client(verify=False, timeout=10)  # the simulator's self-signed certificate, loopback
        token = self.http.post(f"{self.base}/session", auth=(USER, PASSWORD)).raise_for_status().json()["value"]
        self.http.headers["vmware-api-session-id"] = token

    def categories(self) -> list[str]:
        """Names of every tag category."""
        ids = self.http.get(f"{self.base}/tagging/category").raise_for_status().json()["value"] or []
        return sorted(self.http.get(f"{self.base}/tagging/category/id:{i}").raise_for_status().json()["value"]["name"]
                      for i in ids)

    def attached(self, vm) -> list[str]:
        """Names of the tags attached to a VM (vim.VirtualMachine)."""
        body = {"object_id": {"type": "VirtualMachine", "id": vm._moId}}
        ids = self.http.post(f"{self.base}/tagging/tag-association?~action=list-attached-tags",
                             json=body).raise_for_status().json()["value"] or []
        return sorted(self.http.get(f"{self.base}/tagging/tag/id:{i}").raise_for_status().json()["value"]["name"]
                      for i in ids)

    def close(self) -> None:
        self.http.close()
