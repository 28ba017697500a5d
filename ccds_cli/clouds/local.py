"""The built-in local cloud: nodes are processes on this machine, started through Terraform's
built-in `terraform_data`, so the whole system runs and is tested without a cloud account."""

from __future__ import annotations

from typing import Literal

from pathlib import Path

from ccds_cli.clouds.base import CheckResult, Cloud, InstanceInfo, ProviderConfig


class LocalProvider(ProviderConfig):
    cloud: Literal["local"]
    base_port: int = 19300  # first loopback port handed to nodes


class Local(Cloud):
    name = "local"
    display = "local"
    provider_model = LocalProvider
    tf_provider = None
    default_instance_type = "process"
    unsupported = {
        "managed_database": "the local cloud keeps the stream manager database in SQLite",
        "load_balancer": "the local cloud has one stream manager address, no load balancer",
        "dns": "no DNS on the local cloud",
        "engine:mediamtx": "the local cloud runs nginx-rtmp only (use engine: {kind: nginx-rtmp})",
        "engine:red5pro": "the local cloud runs nginx-rtmp only (use engine: {kind: nginx-rtmp})",
    }

    needs_state_dir = True

    def _check(self, cfg):
        return CheckResult(True, "no credentials needed")

    def _inventory(self, cfg, deployment, regions, state_dir=None):
        """Nodes the local supervisor recorded under `.ccds/<name>/local/<workspace>/`."""
        from ccds_cli.localcloud.node import list_nodes

        found = []
        root = Path(state_dir) / "local" if state_dir else None
        if root is None or not root.is_dir():
            return found
        for ws_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            for rec in list_nodes(ws_dir):
                state = "running" if rec.get("running") else ("stopped" if rec.get("exists") else "terminated")
                found.append(InstanceInfo(id=rec["name"], name=rec["name"], region="local", role=rec.get("role", ""),
                                          state=state, public_ip="127.0.0.1", private_ip="127.0.0.1",
                                          workspace=ws_dir.name, cloud_state=str(rec.get("state", ""))))
        return found


CLOUD = Local()
