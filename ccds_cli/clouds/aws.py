"""Amazon Web Services."""

from __future__ import annotations

from typing import Literal

from ccds_cli.clouds.base import Cloud, ProviderConfig


class AwsProvider(ProviderConfig):
    cloud: Literal["aws"]
    profile: str | None = None  # a named profile of the shared config; else the default chain
    assume_role_arn: str | None = None


class Aws(Cloud):
    name = "aws"
    display = "AWS"
    provider_model = AwsProvider
    tf_provider = ("aws", "hashicorp/aws", ">= 5.0, < 6.0")
    extra = "aws"
    credential_env = ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
    default_instance_type = "c5.large"

    def provider_block(self, cfg, region, tags):
        block: dict = {"region": region, "default_tags": {"tags": tags}}
        if cfg.profile:
            block["profile"] = cfg.profile
        if cfg.assume_role_arn:
            block["assume_role"] = {"role_arn": cfg.assume_role_arn}
        return block


CLOUD = Aws()
