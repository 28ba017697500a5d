"""Google Cloud."""

from __future__ import annotations

from typing import Literal

from ccds_cli.clouds.base import Cloud, ProviderConfig


class GcpProvider(ProviderConfig):
    cloud: Literal["gcp"]
    project: str
    zone: str | None = None  # zone letter suffix or full zone; default "<region>-a"


class Gcp(Cloud):
    name = "gcp"
    display = "Google Cloud"
    provider_model = GcpProvider
    tf_provider = ("google", "hashicorp/google", "~> 7.0")
    extra = "gcp"
    credential_env = ("GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CREDENTIALS")
    default_instance_type = "e2-highcpu-4"

    def provider_block(self, cfg, region, tags):
        return {"project": cfg.project, "region": region}

    def module_settings(self, cfg, region):
        zone = cfg.zone or "a"
        return {"zone": zone if zone.startswith(region) else f"{region}-{zone}"}


CLOUD = Gcp()
