"""The built-in local cloud: nodes are processes on this machine, started through Terraform's
built-in `terraform_data`, so the whole system runs and is tested without a cloud account."""

from __future__ import annotations

from typing import Literal

from ccds_cli.clouds.base import CheckResult, Cloud, ProviderConfig


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

    def _check(self, cfg):
        return CheckResult(True, "no credentials needed")


CLOUD = Local()
