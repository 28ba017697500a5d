"""`python -m ccds_cli.localcloud`: idempotent start/stop by PID, with real nginx-rtmp processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from localtf import free_base_port, http_get, listening_ports, port_open, process_alive

from ccds_cli.errors import BadInput, CcdsError
from ccds_cli.localcloud import nginx, node
from ccds_cli.localcloud.procs import Proc, alive, starttime

pytestmark = pytest.mark.timeout(120)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ccds_cli.localcloud", *args], capture_output=True,
                          text=True, timeout=60)


@pytest.fixture
def state(tmp_path):
    """A state dir; conftest stops every node recorded in it at teardown."""
    return tmp_path


def test_config_pulls_only_on_edges(tmp_path):
    origin = nginx.render_config(tmp_path, name="o", role="origin", rtmp_port=2000, http_port=2001,
                                 pull=None, module="/m/ngx_rtmp_module.so")
    edge = nginx.render_config(tmp_path, name="e", role="edge", rtmp_port=2002, http_port=2003,
                               pull="rtmp://127.0.0.1:2000/live", module=None)
    assert origin.startswith("# ccds") and "load_module /m/ngx_rtmp_module.so;" in origin
    assert "pull " not in origin and "pull rtmp://127.0.0.1:2000/live;" in edge
    assert "load_module" not in edge
    for text, port in ((origin, 2000), (edge, 2002)):
        assert f"listen 127.0.0.1:{port};" in text and "rtmp_stat all;" in text
        assert f"pid {tmp_path}/nginx.pid;" in text  # never the system's /run/nginx.pid


def test_rtmp_module_is_found():
    path = nginx.rtmp_module(nginx.nginx_binary())
    assert path is None or Path(path).is_file()


def test_start_is_idempotent_and_stop_removes_everything(state):
    base = free_base_port(span=10)
    args = ["--state-dir", str(state), "--name", "o", "--role", "origin",
            "--rtmp-port", str(base), "--http-port", str(base + 1)]
    first = _cli("start", *args)
    assert first.returncode == 0, first.stderr
    started = json.loads(first.stdout)
    assert started["action"] == "started" and port_open(base) and port_open(base + 1)
    assert http_get(f"http://127.0.0.1:{base + 1}/health")[0] == 200

    again = json.loads(_cli("start", *args).stdout)
    assert again["action"] == "running" and again["pids"] == started["pids"]

    # A changed configuration (now pulling from elsewhere) restarts the node.
    changed = json.loads(_cli("start", *args, "--origin", "rtmp://127.0.0.1:9/live").stdout)
    assert changed["action"] == "started" and changed["pids"] != started["pids"]
    assert not process_alive(started["pids"][0])

    stopped = json.loads(_cli("stop", "--state-dir", str(state), "--name", "o").stdout)
    assert stopped == {"name": "o", "action": "stopped", "pids": changed["pids"]}
    assert not process_alive(changed["pids"][0])
    assert not {base, base + 1} & listening_ports()
    assert not (state / "nodes" / "o").exists()
    gone = _cli("stop", "--state-dir", str(state), "--name", "o")
    assert gone.returncode == 0 and json.loads(gone.stdout)["action"] == "absent"
    journal = [json.loads(line) for line in (state / "supervisor.log").read_text().splitlines()]
    assert [j["command"] for j in journal] == ["start", "start", "start", "stop", "stop"]


def test_port_in_use_fails_cleanly(state):
    import socket

    with socket.socket() as hog:
        # SO_REUSEADDR as nginx and port_free use it: a TIME_WAIT leftover of another test on the port
        # would otherwise refuse our bind although the port is free to listen on.
        hog.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        for _ in range(20):
            base = free_base_port(span=10)
            try:
                hog.bind(("127.0.0.1", base + 1))
                break
            except OSError:
                continue
        else:
            pytest.fail("no port to hog")
        hog.listen()
        spec = node.NodeSpec(state_dir=state, name="e", role="edge", rtmp_port=base, http_port=base + 1)
        with pytest.raises(CcdsError, match=f"port\\(s\\) {base + 1} .* in use"):
            node.start(spec)
    assert not port_open(base)
    assert node.status(state, "e")["exists"] is False


def test_recycled_pid_is_never_signalled(state):
    """A record whose PID now belongs to another process (start time differs) is left alone."""
    me = os.getpid()
    assert alive(Proc("x", me, starttime(me), ""))
    stale = Proc("nginx", me, str(int(starttime(me)) + 1), "")
    assert not alive(stale)
    node_dir = state / "nodes" / "old"
    node_dir.mkdir(parents=True)
    (node_dir / "node.json").write_text(json.dumps({"name": "old", "role": "origin", "state": "running",
                                                    "processes": [stale.as_dict()]}))
    assert node.stop(state, "old", grace=1)["action"] == "absent"
    assert process_alive(me) and not node_dir.exists()


@pytest.mark.parametrize("argv, message", [
    (["--state-dir", "relative/dir", "--name", "a", "--role", "origin", "--rtmp-port", "20000",
      "--http-port", "20001"], "absolute"),
    (["--state-dir", "/tmp/x", "--name", "a b", "--role", "origin", "--rtmp-port", "20000",
      "--http-port", "20001"], "invalid node name"),
    (["--state-dir", "/tmp/x", "--name", "a", "--role", "edge", "--rtmp-port", "20000",
      "--http-port", "20000"], "distinct"),
    (["--state-dir", "/tmp/x", "--name", "a", "--role", "manager", "--http-port", "20000"],
     "--database-url"),
])
def test_bad_input_exits_2(argv, message):
    proc = _cli("start", *argv)
    assert proc.returncode == 2 and message in proc.stderr


def test_agent_needs_token(state, monkeypatch):
    monkeypatch.delenv("CCDS_NODE_TOKEN", raising=False)
    base = free_base_port(span=10)
    spec = node.NodeSpec(state_dir=state, name="e", role="edge", rtmp_port=base, http_port=base + 1,
                         agent=node.Agent(manager_url="http://127.0.0.1:9", deployment="d", region="r",
                                          provider="p", capacity=10))
    with pytest.raises(BadInput, match="CCDS_NODE_TOKEN"):
        node.start(spec)
    assert not {base, base + 1} & listening_ports()  # nginx started first, then was stopped again


def test_start_after_crash_restarts_the_node(state):
    """A node whose nginx died (crash, OOM, reboot) is started afresh by the next `start`."""
    base = free_base_port(span=10)
    spec = node.NodeSpec(state_dir=state, name="o", role="origin", rtmp_port=base, http_port=base + 1)
    first = node.start(spec)
    os.kill(first["pids"][0], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while node.status(state, "o")["running"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert node.status(state, "o")["running"] is False
    again = node.start(spec)
    assert again["action"] == "started" and again["pids"] != first["pids"]
    assert port_open(base) and port_open(base + 1)


def test_stop_also_ends_a_process_its_killed_start_never_recorded(tmp_path):
    """Terraform SIGKILLs a local-exec on interrupt: a `start` killed between spawning a process and
    recording it leaves it running. `stop` finds it by its working directory (the node's own)."""
    node_dir = tmp_path / "nodes" / "n1"
    node_dir.mkdir(parents=True)
    (node_dir / "node.json").write_text(json.dumps({"name": "n1", "role": "manager", "state": "starting",
                                                    "processes": []}))
    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], cwd=node_dir,
                              start_new_session=True)
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], cwd=tmp_path,
                                 start_new_session=True)
    try:
        result = node.stop(tmp_path, "n1", grace=5)
        assert orphan.wait(timeout=10) is not None
        assert result["pids"] == [orphan.pid]
        assert bystander.poll() is None  # another directory's process is not ours
    finally:
        for p in (orphan, bystander):
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
