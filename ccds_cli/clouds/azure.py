"""Microsoft Azure."""

from __future__ import annotations

from typing import Literal

from ccds_cli.clouds.base import Cloud, ProviderConfig


class AzureProvider(ProviderConfig):
    cloud: Literal["azure"]
    subscription_id: str | None = None  # else ARM_SUBSCRIPTION_ID
    dns_resource_group: str | None = None  # resource group of the DNS zone, when DNS is used


class Azure(Cloud):
    name = "azure"
    display = "Azure"
    provider_model = AzureProvider
    tf_provider = ("azurerm", "hashicorp/azurerm", "~> 5.0")
    extra = "azure"
    credential_env = ("ARM_SUBSCRIPTION_ID", "ARM_TENANT_ID", "ARM_CLIENT_ID", "ARM_CLIENT_SECRET")
    default_instance_type = "Standard_F4s_v2"

    def provider_block(self, cfg, region, tags):
        block: dict = {"features": {}}
        if cfg.subscription_id:
            block["subscription_id"] = cfg.subscription_id
        return block

    def module_settings(self, cfg, region):
        return {"dns_resource_group": cfg.dns_resource_group} if cfg.dns_resource_group else {}


CLOUD = Azure()
