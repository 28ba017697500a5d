"""Oracle Cloud Infrastructure."""

from __future__ import annotations

from typing import Literal

from ccds_cli.clouds.base import Cloud, ProviderConfig


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


CLOUD = Oci()
