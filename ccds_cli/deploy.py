"""Facts about a deployed deployment that commands outside the Terraform flow need (probe, status)."""

from __future__ import annotations

from pathlib import Path


def manager_url(loaded, root: Path) -> str | None:
    """The stream manager API URL from the primary control workspace's outputs, if it is deployed."""
    from ccds_cli.tf.deploy import Deployment

    env = Deployment(loaded, Path(root)).control_env()
    return env.get("TF_VAR_manager_url") or None
