"""Real components for `ccds load` tests: nginx-rtmp nodes with the local cloud's own config, a
stream manager with node agents, and ffmpeg publishers; everything stopped by PID at teardown.

A uniquely named module (not conftest.py) so tests import it by name.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ccds_cli.agent.stats import parse_nginx_rtmp
from ccds_cli.localcloud import nginx as local_nginx
from ccds_cli.localcloud.procs import free_port, port_open
from ccds_cli.state.secrets import node_credential

NGINX_MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")
ADMIN, NODE = "load-admin", "load-node"  # NODE: the node key


def require_media_tools() -> None:
    missing = [t for t in ("ffmpeg",) if not shutil.which(t)]
    try:
        local_nginx.rtmp_module(local_nginx.nginx_binary())
    except Exception as exc:  # noqa: BLE001 - MissingTool, with its hint
        missing.append(f"nginx with the rtmp module ({exc})")
    if missing:
        pytest.fail(f"load tests need {', '.join(missing)} (bash scripts/setup.sh installs them)")


def wait(cond, timeout: float, what: str, every: float = 0.1):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = cond()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def stop_proc(proc: subprocess.Popen, grace: float = 5.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


class Nginx:
    """One nginx-rtmp node with the config the local cloud writes (`ccds_cli.localcloud.nginx`)."""

    def __init__(self, root: Path, name: str, role: str = "origin", pull: str | None = None):
        self.name, self.role = name, role
        self.rtmp_port, self.http_port = free_port(), free_port()
        self.dir = root / name
        argv, _ = local_nginx.prepare(self.dir, name=name, role=role, rtmp_port=self.rtmp_port,
                                      http_port=self.http_port, pull=pull)
        self.log = open(self.dir / "stdout.log", "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        wait(lambda: port_open(self.rtmp_port) and port_open(self.http_port), 10, f"nginx {name} to listen")

    @property
    def rtmp(self) -> str:
        return f"rtmp://127.0.0.1:{self.rtmp_port}/live"

    @property
    def stat_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/stat"

    def stats(self):
        return parse_nginx_rtmp(httpx.get(self.stat_url, timeout=5).text)

    def stop(self) -> None:
        stop_proc(self.proc)
        self.log.close()


class Publisher:
    """ffmpeg pushing a test pattern (optionally at a fixed bitrate) for at most `seconds`."""

    def __init__(self, url: str, log: Path, seconds: int = 120, kbps: int | None = None):
        rate = ["-b:v", f"{kbps}k", "-minrate", f"{kbps}k", "-maxrate", f"{kbps}k", "-bufsize", f"{kbps}k",
                "-x264-params", "nal-hrd=cbr"] if kbps else []
        argv = [shutil.which("ffmpeg"), "-nostdin", "-loglevel", "error", "-re", "-f", "lavfi", "-i",
                "testsrc=size=320x240:rate=25", "-f", "lavfi", "-i", "sine", "-t", str(seconds), "-c:v", "libx264",
                "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25", *rate, "-c:a", "aac", "-f", "flv", url]
        self.out = open(log, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.out, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        stop_proc(self.proc, grace=5)
        self.out.close()


class Cluster:
    """`ccds sm serve` (SQLite) plus nginx nodes, each with its `ccds node agent` heartbeating."""

    def __init__(self, root: Path, heartbeat_timeout: float = 4.0, interval: float = 0.5):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.interval = interval
        self.procs: list[subprocess.Popen] = []
        self.nodes: dict[str, Nginx] = {}
        self.agents: dict[str, subprocess.Popen] = {}
        self.env = {**os.environ, "CCDS_ADMIN_TOKEN": ADMIN, "CCDS_NODE_KEY": NODE}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._spawn([sys.executable, "-m", "ccds_cli", "sm", "serve", "--port", str(self.port), "--database-url",
                     f"sqlite:///{root}/sm.db", "--heartbeat-timeout", str(heartbeat_timeout)], "manager")
        wait(lambda: port_open(self.port), 20, "the stream manager to listen")

    def _spawn(self, argv: list[str], name: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        log = open(self.root / f"{name}.log", "wb")
        proc = subprocess.Popen(argv, env=env or self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def add(self, name: str, role: str, capacity: int = 50, pull: str | None = None, region: str = "r1") -> Nginx:
        node = Nginx(self.root, name, role, pull)
        self.nodes[name] = node
        self.agents[name] = self._spawn(
            [sys.executable, "-m", "ccds_cli", "node", "agent", "--manager", self.url, "--deployment", "load",
             "--region", region, "--provider", "local", "--role", role, "--name", name, "--engine", "nginx-rtmp",
             "--stats-url", node.stat_url, "--public-host", "127.0.0.1", "--private-host", "127.0.0.1",
             "--capacity", str(capacity), "--endpoint", f"rtmp={node.rtmp}", "--interval", str(self.interval)],
            f"{name}-agent", env={**os.environ, "CCDS_NODE_TOKEN": node_credential(  # its own credential only
                NODE, deployment="load", region=region, role=role, name=name)})
        return node

    def manager_nodes(self) -> dict[str, dict]:
        resp = httpx.get(f"{self.url}/api/v1/nodes", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=5)
        return {n["name"]: n for n in resp.json()}

    def wait_inservice(self, *names: str, timeout: float = 30) -> None:
        wait(lambda: all(self.manager_nodes().get(n, {}).get("state") == "INSERVICE" for n in names), timeout,
             f"{', '.join(names)} INSERVICE")

    def close(self) -> None:
        for proc in reversed(self.procs):  # agents first (they deregister), the manager last
            stop_proc(proc)
        for node in self.nodes.values():
            node.stop()
