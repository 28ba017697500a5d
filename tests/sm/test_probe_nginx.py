"""End to end on loopback: real nginx-rtmp origin and edges, real agents and manager, `ccds probe`."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sm_pg import free_port

from ccds_cli.state.secrets import node_credential

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (shutil.which("nginx") and shutil.which("ffmpeg")
                                      and Path("/usr/lib/nginx/modules/ngx_rtmp_module.so").exists()),
                                 reason="needs nginx-light, libnginx-mod-rtmp and ffmpeg")]

ENV = {**os.environ, "CCDS_ADMIN_TOKEN": "adm", "CCDS_NODE_KEY": "nod"}
ADMIN = {"Authorization": "Bearer adm"}
HB_TIMEOUT, INTERVAL = 5.0, 0.5  # a loaded CI box can delay a beat by seconds; FAULT must still come in time


def _nginx_conf(d: Path, rtmp: int, http: int, pull: int | None) -> Path:
    pull_line = f"pull rtmp://127.0.0.1:{pull}/live;" if pull else ""
    (d / "tmp").mkdir(parents=True)
    conf = d / "nginx.conf"
    conf.write_text(f"""load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
daemon off; master_process off; pid {d}/nginx.pid; error_log {d}/error.log warn;
events {{ worker_connections 256; }}
rtmp {{ server {{ listen 127.0.0.1:{rtmp}; chunk_size 4096;
  application live {{ live on; {pull_line} }} }} }}
http {{ access_log off; client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp;
  uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;
  server {{ listen 127.0.0.1:{http}; location /stat {{ rtmp_stat all; }} }} }}
""")
    return conf


class Local:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.procs: list[subprocess.Popen] = []
        self.node: dict[str, tuple[subprocess.Popen, subprocess.Popen]] = {}
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"

    def spawn(self, args: list[str], name: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        p = subprocess.Popen(args, env=env or ENV, stdout=open(self.tmp / f"{name}.log", "w"), stderr=subprocess.STDOUT)
        self.procs.append(p)
        return p

    def manager(self) -> None:
        self.spawn([sys.executable, "-m", "ccds_cli", "sm", "serve", "--port", str(self.port), "--database-url",
                    f"sqlite:///{self.tmp}/sm.db", "--heartbeat-timeout", str(HB_TIMEOUT)], "sm")
        for _ in range(100):
            try:
                httpx.get(f"{self.base}/api/v1/health", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("manager did not start")

    def nginx(self, name: str, pull: int | None) -> tuple[subprocess.Popen, int, int]:
        """nginx-rtmp on two free ports, once it listens: a port picked free can be taken before nginx binds it
        (another test's outgoing connection), so a start that lost its port is retried on new ones."""
        for attempt in range(5):
            rtmp, http = free_port(), free_port()
            d = self.tmp / f"{name}.{attempt}"
            ngx = self.spawn(["nginx", "-c", str(_nginx_conf(d, rtmp, http, pull)), "-p", str(d)], f"{name}-nginx")
            for _ in range(50):
                if ngx.poll() is not None:
                    break
                try:
                    socket.create_connection(("127.0.0.1", rtmp), timeout=0.5).close()
                    return ngx, rtmp, http
                except OSError:
                    time.sleep(0.1)
            ngx.kill()
            ngx.wait()
        raise AssertionError(f"nginx for {name} never listened: {(d / 'error.log').read_text(errors='replace')}")

    def add(self, name: str, role: str, pull: int | None = None) -> int:
        ngx, rtmp, http = self.nginx(name, pull)
        agent = self.spawn([sys.executable, "-m", "ccds_cli", "node", "agent", "--manager", self.base,
                            "--deployment", "e2e", "--region", "r1", "--provider", "local", "--role", role,
                            "--name", name, "--engine", "nginx-rtmp", "--stats-url", f"http://127.0.0.1:{http}/stat",
                            "--public-host", "127.0.0.1", "--private-host", "127.0.0.1", "--capacity", "50",
                            "--endpoint", f"rtmp=rtmp://127.0.0.1:{rtmp}/live", "--interval", str(INTERVAL)],
                           f"{name}-agent", env={**ENV, "CCDS_NODE_TOKEN": node_credential(
                               "nod", deployment="e2e", region="r1", role=role, name=name)})
        self.node[name] = (ngx, agent)
        return rtmp

    def nodes(self) -> dict[str, str]:
        return {n["name"]: n["state"] for n in httpx.get(f"{self.base}/api/v1/nodes", headers=ADMIN).json()}

    def wait_states(self, want: dict[str, str], timeout: float) -> float:
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            have = self.nodes()
            if all(have.get(k) == v for k, v in want.items()):
                return time.monotonic() - start
            time.sleep(0.1)
        raise AssertionError(f"states {self.nodes()} never matched {want}")

    def probe(self, timeout: float = 30) -> tuple[int, dict]:
        proc = subprocess.run([sys.executable, "-m", "ccds_cli", "probe", str(self.tmp / "ccds.yaml"), "--manager",
                               self.base, "--region", "r1", "--timeout", str(timeout), "--output", "json"],
                              env=ENV, capture_output=True, text=True, timeout=timeout + 30)
        return proc.returncode, json.loads(proc.stdout)

    def why(self, out: dict) -> str:
        """What a failed probe said, with the tail of every process log: CI shows only this message."""
        logs = "\n".join(f"--- {f.name}: {f.read_text(errors='replace')[-600:]}" for f in sorted(self.tmp.glob("*.log")))
        return f"{out.get('result', {}).get('error')} steps={out.get('result', {}).get('steps')}\n{logs}"

    def close(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


@pytest.fixture
def local(tmp_path):
    env = Local(tmp_path)
    try:
        env.manager()
        yield env
    finally:
        env.close()


def test_probe_through_real_nginx_then_edge_failure_reroutes(local):
    origin = local.add("origin-0", "origin")
    local.add("edge-0", "edge", pull=origin)
    local.add("edge-1", "edge", pull=origin)
    local.wait_states({"origin-0": "INSERVICE", "edge-0": "INSERVICE", "edge-1": "INSERVICE"}, 20)

    code, out = local.probe()
    result = out["result"]
    assert code == 0 and out["ok"], local.why(out)
    assert result["origin"] == "origin-0" and result["edge"] in ("edge-0", "edge-1")
    assert result["frames"] >= 5 and result["damaged_frames"] <= result["frames"] // 5
    assert 0 <= result["latency_ms_p50"] < 3000 and result["time_to_first_frame_ms"] > 0

    # Stop one edge (engine and agent) by PID: FAULT within the heartbeat window, viewers go elsewhere.
    ngx, agent = local.node["edge-0"]
    agent.kill()
    ngx.kill()
    agent.wait(timeout=5)
    ngx.wait(timeout=5)
    took = local.wait_states({"edge-0": "FAULT"}, HB_TIMEOUT + 5)
    assert took <= HB_TIMEOUT + 2 * INTERVAL + 1
    httpx.post(f"{local.base}/api/v1/streams/live/after/publish")
    picks = {httpx.get(f"{local.base}/api/v1/streams/live/after/subscribe").json()["node"]["name"] for _ in range(6)}
    assert picks == {"edge-1"}


def test_probe_fails_with_exit_4_when_no_edge_serves(local):
    local.add("origin-0", "origin")
    local.wait_states({"origin-0": "INSERVICE"}, 20)
    code, out = local.probe(timeout=5)
    assert code == 4 and out["ok"] is False and out["exit_code"] == 4
    assert out["result"]["edge"] is None and "edge" in out["result"]["error"]


def test_agent_deregisters_on_sigterm(local):
    local.add("origin-0", "origin")
    local.wait_states({"origin-0": "INSERVICE"}, 20)
    _, agent = local.node["origin-0"]
    agent.terminate()
    assert agent.wait(timeout=10) == 0
    assert local.nodes() == {}  # TERMINATED nodes are hidden from the default listing
    states = httpx.get(f"{local.base}/api/v1/nodes", params={"all": True}, headers=ADMIN).json()
    assert [(n["name"], n["state"]) for n in states] == [("origin-0", "TERMINATED")]
