"""Microsoft Azure."""

from __future__ import annotations

import os
from typing import Any, Literal

from ccds_cli.clouds import _tags
from ccds_cli.clouds._lazy import require
from ccds_cli.clouds.base import CheckResult, Cloud, InstanceInfo, ProviderConfig

_SCOPE = "https://management.azure.com/.default"
_FIX_LOGIN = ("run `az login`, or export ARM_TENANT_ID, ARM_CLIENT_ID and ARM_CLIENT_SECRET "
              "(a service principal)")


class AzureProvider(ProviderConfig):
    cloud: Literal["azure"]
    subscription_id: str | None = None  # else ARM_SUBSCRIPTION_ID
    dns_resource_group: str | None = None  # resource group of the DNS zone, when DNS is used


def _raw(model: Any) -> dict:
    """The REST JSON of an SDK model (azure models keep the wire names in `as_dict()`)."""
    return model.as_dict() if hasattr(model, "as_dict") else dict(model or {})


class Azure(Cloud):
    name = "azure"
    display = "Azure"
    provider_model = AzureProvider
    tf_provider = ("azurerm", "hashicorp/azurerm", "~> 5.0")
    extra = "azure"
    credential_env = ("ARM_SUBSCRIPTION_ID", "ARM_TENANT_ID", "ARM_CLIENT_ID", "ARM_CLIENT_SECRET")
    default_instance_type = "Standard_F4s_v2"
    default_region = "eastus"
    node_resource = "azurerm_linux_virtual_machine"  # the module resource that is one node (what `ccds operate` replaces)
    sdk_loggers = ("azure", "msal", "urllib3")
    # `Standard_<size>` (Standard_F4s_v2); PostgreSQL Flexible Server SKUs are `<tier>_Standard_<size>`.
    instance_type_pattern = r"(?i:standard|basic)_[A-Za-z0-9_-]+"
    database_class_pattern = r"(?:B|GP|MO)_Standard_[A-Za-z0-9_]+"
    default_database_class = "B_Standard_B1ms"
    max_database_replicas = 1  # Flexible Server high availability: one standby

    def database_class(self, given, replicas):
        """modules/azure: burstable SKUs have no HA standby, so a standby means General Purpose."""
        return given or ("GP_Standard_D2ds_v5" if replicas >= 1 else self.default_database_class)
    # Power states from the instance view ("PowerState/<x>"), then provisioning states.
    state_map = {"starting": "pending", "running": "running", "stopping": "stopped", "stopped": "stopped",
                 "deallocating": "stopped", "deallocated": "stopped", "creating": "pending",
                 "updating": "running", "deleting": "terminated", "failed": "unknown"}

    def provider_block(self, cfg, region, tags):
        block: dict = {"features": {}}
        if cfg.subscription_id:
            block["subscription_id"] = cfg.subscription_id
        return block

    def module_settings(self, cfg, region):
        return {"dns_resource_group": cfg.dns_resource_group} if cfg.dns_resource_group else {}

    # -- SDK ---------------------------------------------------------------------------------
    def _subscription(self, cfg) -> str:
        return (cfg.subscription_id or os.environ.get("ARM_SUBSCRIPTION_ID")
                or os.environ.get("AZURE_SUBSCRIPTION_ID") or "")

    def _sdk_kwargs(self) -> dict:
        return {"transport": self.transport} if self.transport is not None else {}

    def _credential(self):
        """The service principal Terraform uses (ARM_*), else azure-identity's default chain."""
        if self.credential is not None:
            return self.credential
        identity = require("azure.identity", "azure")
        env = os.environ
        if env.get("ARM_TENANT_ID") and env.get("ARM_CLIENT_ID") and env.get("ARM_CLIENT_SECRET"):
            return identity.ClientSecretCredential(env["ARM_TENANT_ID"], env["ARM_CLIENT_ID"],
                                                   env["ARM_CLIENT_SECRET"], **self._sdk_kwargs())
        return identity.DefaultAzureCredential(exclude_interactive_browser_credential=True,
                                               **self._sdk_kwargs())

    def _clients(self, cfg):
        compute = require("azure.mgmt.compute", "azure")
        network = require("azure.mgmt.network", "azure")
        credential, sub = self._credential(), self._subscription(cfg)
        kwargs = self._sdk_kwargs()
        if self.endpoint:
            kwargs["base_url"] = self.endpoint
        return (compute.ComputeManagementClient(credential, sub, **kwargs),
                network.NetworkManagementClient(credential, sub, **kwargs))

    def _check(self, cfg):
        require("azure.mgmt.compute", "azure")
        from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

        if not self._subscription(cfg):
            return CheckResult(False, "no subscription id", "set `subscription_id` on the provider alias "
                                                            "or export ARM_SUBSCRIPTION_ID")
        try:
            self._credential().get_token(_SCOPE)
        except ClientAuthenticationError as exc:
            return CheckResult(False, f"no usable Azure credentials: {exc.message.splitlines()[0]}", _FIX_LOGIN)
        try:
            compute, _ = self._clients(cfg)
            next(iter(compute.virtual_machines.list_all().by_page()), None)
        except ClientAuthenticationError as exc:
            return CheckResult(False, f"credentials rejected: {exc.message}", _FIX_LOGIN)
        except HttpResponseError as exc:
            code = getattr(exc.error, "code", None) or exc.status_code
            if exc.status_code == 403:
                return CheckResult(False, f"not allowed ({code}): {exc.message}",
                                   "assign the Reader role (Contributor to deploy) on the subscription")
            if exc.status_code == 404:
                return CheckResult(False, f"subscription not found ({code}): {exc.message}",
                                   "fix subscription_id / ARM_SUBSCRIPTION_ID")
            return CheckResult(False, f"Azure API error {exc.status_code} ({code}): {exc.message}", _FIX_LOGIN)
        return CheckResult(True, f"subscription {self._subscription(cfg)}: virtual machines can be listed")

    def _inventory(self, cfg, deployment, regions):
        compute, network = self._clients(cfg)
        wanted = {r.lower() for r in regions}
        vms = []
        # statusOnly=true adds each VM's instance view (power state) to the subscription listing.
        for vm in compute.virtual_machines.list_all(status_only="true"):
            raw = _raw(vm)
            if (raw.get("tags") or {}).get(_tags.DEPLOYMENT) != deployment:
                continue
            if wanted and raw.get("location", "").lower() not in wanted:
                continue
            vms.append(raw)
        if not vms:
            return []
        nics = {n["id"].lower(): n for n in map(_raw, network.network_interfaces.list_all())}
        pips = {p["id"].lower(): p for p in map(_raw, network.public_ip_addresses.list_all())}
        return [self._info(vm, nics, pips) for vm in vms]

    def _info(self, vm: dict, nics: dict, pips: dict) -> InstanceInfo:
        props = vm.get("properties") or {}
        tags = vm.get("tags") or {}
        cloud_state = props.get("provisioningState", "")
        for status in (props.get("instanceView") or {}).get("statuses") or []:
            if status.get("code", "").startswith("PowerState/"):
                cloud_state = status["code"].split("/", 1)[1]
        if str(props.get("provisioningState", "")).lower() == "deleting":
            cloud_state = "deleting"
        public, private = "", ""
        for ref in (props.get("networkProfile") or {}).get("networkInterfaces") or []:
            nic = nics.get(str(ref.get("id", "")).lower()) or {}
            for ipc in (nic.get("properties") or {}).get("ipConfigurations") or []:
                ip_props = ipc.get("properties") or {}
                private = private or ip_props.get("privateIPAddress", "")
                pip_id = str((ip_props.get("publicIPAddress") or {}).get("id", "")).lower()
                public = public or ((pips.get(pip_id) or {}).get("properties") or {}).get("ipAddress", "")
        return InstanceInfo(
            id=vm.get("id", ""), name=vm.get("name", ""), region=vm.get("location", ""),
            role=tags.get(_tags.ROLE, ""), state=self.ccds_state(cloud_state), public_ip=public,
            private_ip=private, launched_at=str(props.get("timeCreated", "")),
            workspace=tags.get(_tags.WORKSPACE, ""), cloud_state=cloud_state)


CLOUD = Azure()
