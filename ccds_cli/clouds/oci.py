"""Oracle Cloud Infrastructure."""

from __future__ import annotations

import os
from typing import Literal

from ccds_cli.clouds import _tags
from ccds_cli.clouds._lazy import require
from ccds_cli.clouds.base import CheckResult, Cloud, InstanceInfo, ProviderConfig

_FIX_CONFIG = ("run `oci setup config` (writes ~/.oci/config and an API key) and upload the public key "
               "in the console, or point OCI_CLI_CONFIG_FILE at your config")


class OciProvider(ProviderConfig):
    cloud: Literal["oci"]
    compartment_id: str
    config_profile: str | None = None  # profile in ~/.oci/config
    availability_domain: str | None = None
    ocpus: float | None = None  # for Flex shapes
    memory_gbs: float | None = None


class Oci(Cloud):
    name = "oci"
    display = "Oracle Cloud"
    provider_model = OciProvider
    tf_provider = ("oci", "oracle/oci", "~> 8.0")
    extra = "oci"
    credential_env = ("OCI_CLI_CONFIG_FILE", "OCI_CLI_PROFILE", "TF_VAR_oci_private_key")
    default_instance_type = "VM.Standard.E4.Flex"
    default_region = "us-ashburn-1"
    node_resource = "oci_core_instance"  # the module resource that is one node (what `ccds operate` replaces)
    init_fields = ", compartment_id: ocid1.compartment.oc1..replace-me"
    # shapes `VM.<...>` / `BM.<...>`; OCI Database with PostgreSQL shapes are `PostgreSQL.<...>`.
    instance_type_pattern = r"(?:VM|BM)\.[A-Za-z0-9.]+"
    database_class_pattern = r"PostgreSQL\.[A-Za-z0-9.]+"
    default_database_class = "PostgreSQL.VM.Standard.E5.Flex"
    state_map = {"provisioning": "pending", "starting": "pending", "running": "running",
                 "moving": "running", "creating_image": "running", "stopping": "stopped",
                 "stopped": "stopped", "terminating": "terminated", "terminated": "terminated"}

    def provider_block(self, cfg, region, tags):
        block: dict = {"region": region}
        if cfg.config_profile:
            block["config_file_profile"] = cfg.config_profile
        return block

    def module_settings(self, cfg, region):
        settings = {"compartment_id": cfg.compartment_id}
        for key in ("availability_domain", "ocpus", "memory_gbs"):
            value = getattr(cfg, key)
            if value is not None:
                settings[key] = str(value)
        return settings

    # -- SDK ---------------------------------------------------------------------------------
    def _config(self, cfg) -> dict:
        oci = require("oci", "oci")
        path = os.environ.get("OCI_CLI_CONFIG_FILE") or os.environ.get("OCI_CONFIG_FILE") or "~/.oci/config"
        profile = cfg.config_profile or os.environ.get("OCI_CLI_PROFILE") or "DEFAULT"
        config = oci.config.from_file(file_location=path, profile_name=profile)
        oci.config.validate_config(config)
        return config

    def _clients(self, config: dict, region: str | None):
        oci = require("oci", "oci")
        config = dict(config, region=region or config.get("region"))
        kwargs = {"service_endpoint": self.endpoint} if self.endpoint else {}
        return oci.core.ComputeClient(config, **kwargs), oci.core.VirtualNetworkClient(config, **kwargs)

    def _check(self, cfg):
        oci = require("oci", "oci")
        try:
            config = self._config(cfg)
            compute, _ = self._clients(config, None)
            compute.list_instances(cfg.compartment_id, limit=1)
        except (oci.exceptions.ConfigFileNotFound, oci.exceptions.ProfileNotFound) as exc:
            return CheckResult(False, f"no OCI config: {exc}", _FIX_CONFIG)
        except oci.exceptions.InvalidConfig as exc:
            return CheckResult(False, f"invalid OCI config: {exc}", _FIX_CONFIG)
        except oci.exceptions.ServiceError as exc:
            if exc.status == 401:
                return CheckResult(False, f"request not authenticated ({exc.code}): {exc.message}",
                                   "check the API key fingerprint, key_file, user and tenancy OCIDs in "
                                   "the OCI config, and that the public key is uploaded")
            if exc.status == 404:
                return CheckResult(False, f"compartment not found or not allowed ({exc.code}): {exc.message}",
                                   "fix compartment_id, or add a policy `allow group <g> to read "
                                   "instance-family in compartment <c>`")
            return CheckResult(False, f"OCI API error {exc.status} ({exc.code}): {exc.message}", _FIX_CONFIG)
        except (oci.exceptions.RequestException, oci.exceptions.ConnectTimeout) as exc:
            return CheckResult(False, f"cannot reach OCI: {exc}", "check the network and the config's region")
        return CheckResult(True, f"tenancy {config.get('tenancy', '?')}: instances can be listed")

    def _inventory(self, cfg, deployment, regions):
        oci = require("oci", "oci")
        config = self._config(cfg)
        found: list[InstanceInfo] = []
        for region in regions:
            compute, network = self._clients(config, region)
            # Follows opc-next-page until the last page.
            instances = oci.pagination.list_call_get_all_results(
                compute.list_instances, cfg.compartment_id, limit=self.page_size).data
            mine = [i for i in instances if (i.freeform_tags or {}).get(_tags.DEPLOYMENT) == deployment]
            if not mine:
                continue
            attachments = oci.pagination.list_call_get_all_results(
                compute.list_vnic_attachments, cfg.compartment_id, limit=self.page_size).data
            vnic_of = {a.instance_id: a.vnic_id for a in attachments if a.lifecycle_state == "ATTACHED"}
            for inst in mine:
                public, private = "", ""
                if inst.id in vnic_of and inst.lifecycle_state not in ("TERMINATING", "TERMINATED"):
                    vnic = network.get_vnic(vnic_of[inst.id]).data
                    public, private = vnic.public_ip or "", vnic.private_ip or ""
                found.append(self._info(inst, region, public, private))
        return found

    def _info(self, inst, region: str, public: str, private: str) -> InstanceInfo:
        tags = inst.freeform_tags or {}
        created = inst.time_created
        return InstanceInfo(
            id=inst.id, name=inst.display_name or inst.id, region=region, role=tags.get(_tags.ROLE, ""),
            state=self.ccds_state(inst.lifecycle_state), public_ip=public, private_ip=private,
            launched_at=created.isoformat() if hasattr(created, "isoformat") else str(created or ""),
            workspace=tags.get(_tags.WORKSPACE, ""), cloud_state=inst.lifecycle_state or "")


CLOUD = Oci()
