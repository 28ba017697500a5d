"""Where a deployment's stream manager is: the one place `ccds load` reads the deployment state."""

from __future__ import annotations

import json
from pathlib import Path


def deployment_manager(spec: Path, state_dir: Path | None) -> tuple[str | None, str | None, str]:
    """(manager API URL or None when not deployed, admin token or None, deployment name).

    Raises BadInput/SpecError for a missing or invalid spec."""
    from ccds_cli.deploy import manager_url  # moves with the deployment layer: change this line only
    from ccds_cli.paths import state_root
    from ccds_cli.spec import load_spec

    loaded = load_spec(spec)
    root = state_root(loaded.path, state_dir) / loaded.spec.name
    token = None
    secrets_file = root / "secrets.json"
    if secrets_file.is_file():
        try:
            token = json.loads(secrets_file.read_text()).get("admin_token")
        except (OSError, ValueError):
            token = None
    if loaded.spec.control is None or not root.is_dir():
        return None, token, loaded.spec.name
    return manager_url(loaded, root), token, loaded.spec.name
