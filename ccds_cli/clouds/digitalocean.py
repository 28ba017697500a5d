"""DigitalOcean."""

from __future__ import annotations

from typing import Literal

from ccds_cli.clouds.base import Cloud, ProviderConfig


class DigitalOceanProvider(ProviderConfig):
    cloud: Literal["digitalocean"]


class DigitalOcean(Cloud):
    name = "digitalocean"
    display = "DigitalOcean"
    provider_model = DigitalOceanProvider
    tf_provider = ("digitalocean", "digitalocean/digitalocean", "~> 2.0")
    extra = "digitalocean"
    credential_env = ("DIGITALOCEAN_TOKEN",)
    default_instance_type = "c-4"


CLOUD = DigitalOcean()
