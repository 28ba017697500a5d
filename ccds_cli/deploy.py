"""Facts about a deployed deployment that commands outside the Terraform flow need (probe, status)."""

from __future__ import annotations

from pathlib import Path


def manager_url(loaded, root: Path) -> str | None:
    """The stream manager API URL from the primary control workspace's outputs, if it is deployed."""
    from ccds_cli.tf.deploy import Deployment

    env = Deployment(loaded, Path(root)).control_env()
    return env.get("TF_VAR_manager_url") or None


def manager_view(loaded, root: Path, timeout: float = 5.0) -> dict | None:
    """What the stream manager knows: nodes by state, live streams, viewers. None without a control
    plane; `reachable: False` (with the error) when it is deployed but does not answer."""
    import json

    if loaded.spec.control is None:
        return None
    url = manager_url(loaded, root)
    if not url:
        return {"url": None, "reachable": False, "error": "the control workspace is not deployed"}
    token = None
    secrets_file = Path(root) / "secrets.json"
    if secrets_file.is_file():
        token = json.loads(secrets_file.read_text()).get("admin_token")
    import httpx

    from ccds_cli.sm.client import ManagerClient, ManagerError

    try:
        with ManagerClient(url, token, timeout=timeout) as client:
            health = client.health()
            nodes = client.nodes()
            streams = client.streams()
    except (httpx.HTTPError, ManagerError) as exc:
        return {"url": url, "reachable": False, "error": str(exc)}
    faulty = [n["name"] for n in nodes if n.get("state") == "FAULT"]
    return {
        "url": url, "reachable": True, "status": health.get("status"), "leader": health.get("leader"),
        "nodes": health.get("nodes", {}), "faulty": faulty, "live_streams": health.get("live_streams", 0),
        "viewers": health.get("viewers", 0),
        "streams": [{"name": s.get("name") or s.get("stream"), "viewers": s.get("viewers", 0)} for s in streams],
    }
