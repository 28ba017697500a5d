"""VMware vSphere (private cloud): clones a template, cloud-init through guestinfo."""

from __future__ import annotations

from typing import Literal

from ccds_cli.clouds.base import Cloud, ProviderConfig


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


class Vsphere(Cloud):
    name = "vsphere"
    display = "vSphere"
    provider_model = VsphereProvider
    tf_provider = ("vsphere", "hashicorp/vsphere", "~> 2.0")
    extra = "vsphere"
    private = True
    credential_env = ("VSPHERE_USER", "VSPHERE_PASSWORD")
    default_instance_type = "4x8"
    unsupported = {
        "managed_database": "vSphere has no managed PostgreSQL: the database runs on a VM",
        "load_balancer": "vSphere has no load balancer resource: put your own VIP in front of the managers",
        "dns": "DNS records are not managed on vSphere",
    }

    def provider_block(self, cfg, region, tags):
        return {"vsphere_server": cfg.server, "allow_unverified_ssl": cfg.allow_unverified_ssl}

    def module_settings(self, cfg, region):
        settings = {k: getattr(cfg, k) for k in ("datacenter", "cluster", "datastore", "network", "template")}
        for key in ("folder", "resource_pool"):
            if getattr(cfg, key):
                settings[key] = getattr(cfg, key)
        return settings


CLOUD = Vsphere()
