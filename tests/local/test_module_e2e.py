"""modules/local for real: Terraform starts nginx-rtmp origin and edges as local processes, a test
pattern published to the origin plays from every edge, edges scale 2 -> 3 -> 1, and after
`terraform destroy` no process and no listening port of the deployment is left."""

from __future__ import annotations

import pytest
from localtf import (
    free_base_port,
    http_get,
    listening_ports,
    module_call,
    node_pids,
    outputs,
    process_alive,
    terraform,
    terraform_env,
    wait_for,
    write_root,
)
from media import Publisher, read_frames, streams

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

EDGE_COUNT = {"type": "number", "default": 2}


def _pools() -> dict:
    return {
        "origin": {"role": "origin", "count": 1, "instance_type": "process"},
        "edge": {"role": "edge", "count": "${var.edge_count}", "instance_type": "process"},
    }


def _apply(ws, env, edges: int) -> dict[str, dict]:
    terraform(ws, "apply", "-auto-approve", f"-var=edge_count={edges}", env=env)
    return {n["name"]: n for n in outputs(ws, env)["nodes"]}


def _plays(port: int) -> None:
    """Read the stream back from one node; one retry covers the edge's on-demand pull start."""
    url = f"rtmp://127.0.0.1:{port}/live/test"
    result = read_frames(url)
    if result.returncode != 0:
        result = read_frames(url)
    assert result.returncode == 0, f"{url}: {result.stderr[-2000:]}"


def test_origin_edges_publish_play_scale_destroy(tmp_path):
    ws, state = tmp_path / "ws", tmp_path / "state"
    base = free_base_port()
    write_root(ws, {"local": module_call("local", state, base, _pools())},
               extra_variables={"edge_count": EDGE_COUNT})
    env = terraform_env(tmp_path)
    terraform(ws, "init", "-input=false", env=env)
    assert not (ws / ".terraform" / "providers").exists(), "the local module must not install providers"

    nodes = _apply(ws, env, 2)
    assert sorted(nodes) == ["lt-local-edge-0", "lt-local-edge-1", "lt-local-origin-0"]
    origin = nodes["lt-local-origin-0"]
    edges = [nodes[f"lt-local-edge-{i}"] for i in range(2)]
    all_ports = [p for n in nodes.values() for p in n["ports"].values()]
    assert len(set(all_ports)) == len(all_ports) and all(base <= p < base + 400 for p in all_ports)
    for node in nodes.values():
        assert node["public_ip"] == node["private_ip"] == "127.0.0.1"
        assert http_get(f"http://127.0.0.1:{node['ports']['http']}/health") == (200, "ok\n")
    seen_pids = node_pids(state)
    assert sorted(seen_pids) == sorted(nodes)

    with Publisher(f"rtmp://127.0.0.1:{origin['ports']['rtmp']}/live/test", 90, tmp_path / "pub.log"):
        stat = f"http://127.0.0.1:{origin['ports']['http']}/stat"
        wait_for(lambda: streams(stat).get("test", {}).get("publishing"), 20, what="publisher on origin")
        assert any("Lavf" in f or "FMLE" in f for f in streams(stat)["test"]["publishers"])
        for edge in edges:
            _plays(edge["ports"]["rtmp"])

        # Scale out: the new edge plays too, and the running nodes are untouched (same PIDs).
        nodes = _apply(ws, env, 3)
        assert "lt-local-edge-2" in nodes
        after = node_pids(state)
        for name in ("lt-local-origin-0", "lt-local-edge-0", "lt-local-edge-1"):
            assert after[name][0] == seen_pids[name][0], f"{name} was restarted by scaling"
        _plays(nodes["lt-local-edge-2"]["ports"]["rtmp"])
        removed = {n: after[n] for n in ("lt-local-edge-1", "lt-local-edge-2")}
        removed_ports = {p for n in removed for p in nodes[n]["ports"].values()}
        seen_pids = after

        # Scale in to one edge: the removed nodes' processes and ports are gone.
        nodes = _apply(ws, env, 1)
        assert sorted(nodes) == ["lt-local-edge-0", "lt-local-origin-0"]
        assert not [p for pids in removed.values() for p in pids if process_alive(p)]
        assert not removed_ports & listening_ports()
        _plays(nodes["lt-local-edge-0"]["ports"]["rtmp"])

    every_pid = [p for pids in node_pids(state).values() for p in pids]
    every_port = {p for n in nodes.values() for p in n["ports"].values()}
    assert every_port <= listening_ports()
    terraform(ws, "destroy", "-auto-approve", env=env)
    assert not [p for p in every_pid + [p for pids in seen_pids.values() for p in pids] if process_alive(p)]
    assert not set(range(base, base + 400)) & listening_ports()
    assert not list((state / "nodes").iterdir())
