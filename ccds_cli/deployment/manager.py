"""What the stream manager of a deployed deployment says (probe, status, the controller)."""

from __future__ import annotations

from pathlib import Path


def manager_url(loaded, root: Path) -> str | None:
    """The stream manager API URL from the primary control workspace's outputs, if it is deployed."""
    from ccds_cli.deployment import Deployment

    env = Deployment(loaded, Path(root)).control_env()
    return env.get("TF_VAR_manager_url") or None


def admin_token(root: Path) -> str | None:
    """The deployment's admin token (secrets.json, 0600), or None before the first `up`."""
    import json

    secrets_file = Path(root) / "secrets.json"
    try:
        return json.loads(secrets_file.read_text()).get("admin_token") if secrets_file.is_file() else None
    except (OSError, ValueError):
        return None


def manager_access(spec_path: Path, state_dir: Path | None) -> tuple[str | None, str | None, str]:
    """(manager URL or None when not deployed, admin token or None, deployment name) for a spec
    file: what `probe` and `load` need to talk to the manager like clients do. Raises BadInput or
    SpecError for a missing or invalid spec."""
    from ccds_cli.deployment import connect_state_backend
    from ccds_cli.output import current
    from ccds_cli.paths import state_root
    from ccds_cli.spec import load_spec

    loaded = load_spec(spec_path)
    for warning in loaded.warnings:
        current().warn(str(warning))
    connect_state_backend(loaded)  # the manager URL is read from the control workspace's state
    root = state_root(loaded.path, state_dir) / loaded.spec.name
    token = admin_token(root)
    if loaded.spec.control is None or not root.is_dir():
        return None, token, loaded.spec.name
    return manager_url(loaded, root), token, loaded.spec.name


def manager_view(loaded, root: Path, timeout: float = 5.0) -> dict | None:
    """What the stream manager knows: nodes by state, live streams, viewers. None without a control
    plane; `reachable: False` (with the error) when it is deployed but does not answer."""
    if loaded.spec.control is None:
        return None
    url = manager_url(loaded, root)
    if not url:
        return {"url": None, "reachable": False, "error": "the control workspace is not deployed"}
    token = admin_token(root)
    import httpx

    from ccds_cli.sm.client import ManagerClient, ManagerError

    try:
        with ManagerClient(url, token, timeout=timeout) as client:
            health = client.health()
            nodes = client.nodes()
            streams = client.streams()
            try:
                demand = client.demand()
            except ManagerError:  # a manager from before the demand counters
                demand = {}
    except (httpx.HTTPError, ManagerError) as exc:
        return {"url": url, "reachable": False, "error": str(exc)}
    faulty = [n["name"] for n in nodes if n.get("state") == "FAULT"]
    edges = [n for n in nodes if n.get("role") == "edge" and n.get("state") == "INSERVICE"]
    capacity = sum(int(n.get("capacity") or 0) for n in edges)
    reserved = sum(int(n.get("reserved") or 0) for n in edges)
    viewers = sum(int(n.get("subscribers") or 0) for n in edges)
    return {
        "url": url, "reachable": True, "status": health.get("status"), "leader": health.get("leader"),
        "nodes": health.get("nodes", {}), "faulty": faulty, "live_streams": health.get("live_streams", 0),
        "viewers": health.get("viewers", 0),
        # Slots promised to viewers who were routed but have not connected yet count against capacity
        # too: with every slot reserved, subscribe refuses although "viewers" may still say 0.
        "edge_slots": {"capacity": capacity, "viewers": viewers, "reserved": reserved,
                       "free": max(0, capacity - viewers - reserved)},
        # Viewers the manager could not place on an edge of their region, since its database began.
        "refused_joins": sum(int(kinds.get("refused", 0)) for kinds in demand.values()),
        "hls_fallbacks": sum(int(kinds.get("fallback", 0)) for kinds in demand.values()),  # edges were full
        "demand": demand,
        # The beat interval the managers ask of the fleet (None: agents' own) and the fault timeout it implies.
        "beat_interval": health.get("beat_interval"), "fault_timeout": health.get("fault_timeout"),
        "streams": [{"name": s.get("name") or s.get("stream"), "viewers": s.get("viewers", 0)} for s in streams],
    }
