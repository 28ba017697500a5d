"""Stream manager and node agents on the local cloud: a control module runs `ccds sm serve`, the
region module's nodes start agents that register with it (each with its own credential, only in its
environment), and destroy stops managers, agents and nginx alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from localtf import (
    free_base_port,
    http_get,
    listening_ports,
    master_secrets,
    module_call,
    node_pids,
    outputs,
    process_alive,
    secrets_for,
    terraform,
    terraform_env,
    wait_for,
    write_root,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _nodes(api: str, admin: str) -> dict[str, dict]:
    _, body = http_get(f"{api}/api/v1/nodes", headers={"Authorization": f"Bearer {admin}"})
    return {n["name"]: n for n in json.loads(body)}


def _files_containing(root: Path, needle: str) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and not path.name.startswith("sm.db"):
            try:
                if needle in path.read_text(errors="ignore"):
                    hits.append(str(path))
            except OSError:
                pass
    return hits


def test_manager_and_agents(tmp_path):
    ws, state = tmp_path / "ws", tmp_path / "state"
    base = free_base_port(span=800)
    master = master_secrets()
    control = module_call("control", state / "control", base,
                          {"manager": {"role": "manager", "count": 1, "instance_type": "process"}},
                          heartbeat_timeout="4")
    region = module_call("local", state / "region", base + 400, {
        "origin": {"role": "origin", "count": 1, "instance_type": "process"},
        "edge": {"role": "edge", "count": 1, "instance_type": "process"},
    }, manager_url="${module.control.endpoints.api}", agent_interval="1", capacity_edge="150")
    write_root(ws, {"control": control, "local": region})
    shares = secrets_for(ws, master)
    env = terraform_env(tmp_path, secrets=shares)
    terraform(ws, "init", "-input=false", env=env)
    terraform(ws, "apply", "-auto-approve", env=env)

    out = outputs(ws, env)
    api = out["endpoints"]["control"]["api"]
    assert api == f"http://127.0.0.1:{base}"
    assert out["endpoints"]["local"]["api"] == ""
    assert http_get(f"{api}/api/v1/health")[0] == 200

    registered = wait_for(
        lambda: (lambda n: n if {"lt-local-origin-0", "lt-local-edge-0"} <= {k for k, v in n.items()
                                                                           if v["state"] == "INSERVICE"} else None)(
            _nodes(api, master["admin_token"])),
        30, interval=0.5, what="both nodes INSERVICE")
    edge = registered["lt-local-edge-0"]
    assert (edge["region"], edge["role"], edge["capacity"], edge["engine"]) == ("local", "edge", 150, "nginx-rtmp")
    ports = {n["name"]: n["ports"] for n in out["nodes"]}
    assert edge["endpoints"]["rtmp"] == f"rtmp://127.0.0.1:{ports['lt-local-edge-0']['rtmp']}/live"

    pids = node_pids(state / "control") | node_pids(state / "region")
    assert len(pids["lt-local-edge-0"]) >= 3  # nginx master, agent, nginx worker
    # Secrets reach processes only through their environment: never a command line or a file. Each
    # node holds its own share: the manager the admin token and node key, each media node only its
    # own credential (least privilege: an edge never holds the admin token or the node key).
    creds = {name: shares["local"][f"{pool}/0/node_token"] for name, pool in
             (("lt-local-origin-0", "origin"), ("lt-local-edge-0", "edge"))}
    every = [*master.values(), *creds.values()]
    for name, ps in pids.items():
        for pid in ps:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            assert not [s for s in every if s in cmdline]
            environ = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
            held = {s for s in every if s in environ}
            if name in creds:
                assert held <= {creds[name]}, f"{name} holds more than its own credential"
            elif "manager" in name:
                assert held <= {master["admin_token"], master["node_key"]}, f"{name} holds {held}"
    assert any(creds["lt-local-edge-0"] in Path(f"/proc/{p}/environ").read_text(errors="replace")
               for p in pids["lt-local-edge-0"])
    for secret in every:
        assert _files_containing(tmp_path, secret) == []

    terraform(ws, "destroy", "-auto-approve", env=env)
    assert not [p for ps in pids.values() for p in ps if process_alive(p)]
    assert not set(range(base, base + 800)) & listening_ports()
