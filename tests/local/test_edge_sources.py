"""Two origins, one edge: the edge plays each stream from the origin that holds it, and refuses
publishers of its own.

Real components: Terraform applies modules/local (a stream manager, two nginx-rtmp origins, an
nginx-rtmp edge whose agent answers nginx's on_play with a redirect), ffmpeg publishes straight to
each origin and reads back through the edge. Then a stream moves to the other origin (its publisher
reconnects there) and a new viewer of the edge still gets it.
"""

from __future__ import annotations

import json
import time

import pytest
from localtf import (
    free_base_port,
    http_get,
    master_secrets,
    module_call,
    outputs,
    secrets_for,
    terraform,
    terraform_env,
    wait_for,
    write_root,
)
from media import Publisher, read_frames, streams

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _get(api: str, path: str, admin: str):
    return json.loads(http_get(f"{api}{path}", headers={"Authorization": f"Bearer {admin}"})[1])


def test_edge_pulls_each_stream_from_its_origin(tmp_path):
    ws, state = tmp_path / "ws", tmp_path / "state"
    base = free_base_port(span=800)
    master = master_secrets()
    admin = master["admin_token"]
    control = module_call("control", state / "control", base,
                          {"manager": {"role": "manager", "count": 1, "instance_type": "process"}})
    region = module_call("local", state / "region", base + 400, {
        "origin": {"role": "origin", "count": 2, "instance_type": "process"},
        "edge": {"role": "edge", "count": 1, "instance_type": "process"},
    }, manager_url="${module.control.endpoints.api}", agent_interval="1")
    write_root(ws, {"control": control, "local": region})
    env = terraform_env(tmp_path, secrets=secrets_for(ws, master))
    terraform(ws, "init", "-input=false", env=env)
    terraform(ws, "apply", "-auto-approve", env=env)
    try:
        out = outputs(ws, env)
        api = out["endpoints"]["control"]["api"]
        ports = {n["name"]: n["ports"] for n in out["nodes"]}
        o1, o2, edge = "lt-local-origin-0", "lt-local-origin-1", "lt-local-edge-0"
        rtmp = {name: f"rtmp://127.0.0.1:{ports[name]['rtmp']}/live" for name in (o1, o2, edge)}
        wait_for(lambda: {n["name"] for n in _get(api, "/api/v1/nodes", admin) if n["state"] == "INSERVICE"}
                 >= {o1, o2, edge}, 40, interval=0.5, what="origins and edge INSERVICE")

        def origins() -> dict[str, str]:
            return {s["name"]: s["origin"] for s in _get(api, "/api/v1/streams", admin) if s["live"]}

        with Publisher(f"{rtmp[o1]}/alpha", 90, tmp_path / "alpha-o1.log") as alpha, \
                Publisher(f"{rtmp[o2]}/beta", 90, tmp_path / "beta.log"):
            wait_for(lambda: origins() == {"alpha": o1, "beta": o2}, 30, what="both streams live on their origins")
            for stream in ("alpha", "beta"):
                played = read_frames(f"{rtmp[edge]}/{stream}")
                assert played.returncode == 0, f"{stream} through the edge: {played.stderr[-500:]}"

            # Nobody but its origins feeds an edge: a publisher pointed straight at it is dropped
            # (`deny publish all`), while the edge's own pulls above played.
            with Publisher(f"{rtmp[edge]}/intruder", 20, tmp_path / "intruder.log") as intruder:
                assert intruder.proc is not None
                intruder.proc.wait(timeout=20)
            assert intruder.proc.returncode != 0
            assert "intruder" not in streams(f"http://127.0.0.1:{ports[edge]['http']}/stat")
            assert "access forbidden" in (state / "region" / "nodes").joinpath(
                edge, "logs", "error.log").read_text(errors="replace")

            # alpha's publisher reconnects to the other origin.
            alpha.__exit__(None, None, None)
            wait_for(lambda: "alpha" not in streams(f"http://127.0.0.1:{ports[edge]['http']}/stat"), 20,
                     what="the edge's pull of alpha from origin 1 to end")
            with Publisher(f"{rtmp[o2]}/alpha", 60, tmp_path / "alpha-o2.log"):
                wait_for(lambda: origins().get("alpha") == o2, 30, what="alpha registered on origin 2")
                # The edge's agent refreshes its copy of the sources after each heartbeat (every 1 s here):
                # a viewer arriving before that is sent to the old origin and has to retry.
                time.sleep(3)
                played = read_frames(f"{rtmp[edge]}/alpha")
                assert played.returncode == 0, f"alpha after the move: {played.stderr[-500:]}"
                assert "alpha" not in streams(f"http://127.0.0.1:{ports[o1]['http']}/stat")
    finally:
        terraform(ws, "destroy", "-auto-approve", env=env, check=False)
