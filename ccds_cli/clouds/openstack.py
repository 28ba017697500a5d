"""OpenStack (private cloud): Neutron networking with floating IPs."""

from __future__ import annotations

from typing import Literal

from ccds_cli.clouds.base import Cloud, ProviderConfig


class OpenstackProvider(ProviderConfig):
    cloud: Literal["openstack"]
    auth_url: str
    external_network: str
    image: str = "ubuntu-22.04"
    cloud_name: str | None = None  # an entry of clouds.yaml
    availability_zone: str | None = None


class Openstack(Cloud):
    name = "openstack"
    display = "OpenStack"
    provider_model = OpenstackProvider
    tf_provider = ("openstack", "terraform-provider-openstack/openstack", "~> 3.0")
    extra = "openstack"
    private = True
    credential_env = ("OS_CLOUD", "OS_USERNAME", "OS_PASSWORD", "OS_APPLICATION_CREDENTIAL_ID")
    default_instance_type = "m1.medium"
    unsupported = {"managed_database": "no managed PostgreSQL assumed on OpenStack: the database runs on a VM"}

    def provider_block(self, cfg, region, tags):
        block = {"auth_url": cfg.auth_url, "region": region}
        if cfg.cloud_name:
            block["cloud"] = cfg.cloud_name
        return block

    def module_settings(self, cfg, region):
        settings = {"external_network": cfg.external_network, "image": cfg.image}
        if cfg.availability_zone:
            settings["availability_zone"] = cfg.availability_zone
        return settings


CLOUD = Openstack()
