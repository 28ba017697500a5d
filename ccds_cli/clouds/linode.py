"""Akamai Cloud (Linode)."""

from __future__ import annotations

from typing import Literal

from ccds_cli.clouds.base import Cloud, ProviderConfig


class LinodeProvider(ProviderConfig):
    cloud: Literal["linode"]


class Linode(Cloud):
    name = "linode"
    display = "Linode"
    provider_model = LinodeProvider
    tf_provider = ("linode", "linode/linode", "~> 3.0")
    extra = "linode"
    credential_env = ("LINODE_TOKEN",)
    default_instance_type = "g6-dedicated-4"


CLOUD = Linode()
