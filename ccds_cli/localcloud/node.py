"""Start, stop and inspect one local node (nginx-rtmp media node or stream manager).

A node lives in `<state_dir>/nodes/<name>/`: its config, logs and `node.json`, which records the
processes started for it. `start` and `stop` are idempotent so Terraform can re-run them after
any interruption: starting a node that already runs with the same configuration does nothing,
and stopping a node that is gone succeeds.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ccds_cli.errors import BadInput, CcdsError
from ccds_cli.localcloud import nginx
from ccds_cli.localcloud.procs import (
    Proc,
    alive,
    free_port,
    log_tail,
    port_free,
    spawn,
    terminate,
    wait_ports,
    working_in,
)
from ccds_cli.vocab import ROLES

# What the local cloud runs: the media roles (a transcoder is nginx-rtmp plus its agent's ffmpeg
# processes), managers, and the controller (`ccds operate`) of the deployment.
LOCAL_ROLES = (*ROLES, "manager", "controller")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,80}$")


@dataclass
class Agent:
    """`ccds node agent` arguments (contracts.md); the token comes from CCDS_NODE_TOKEN."""

    manager_url: str
    deployment: str
    region: str
    provider: str
    capacity: int
    lat: str = ""
    lon: str = ""
    interval: str = ""

    def argv(self, node: "NodeSpec", on_play_port: int = 0, metrics_port: int = 0) -> list[str]:
        host = node.host
        argv = [sys.executable if not node.python else node.python, "-m", "ccds_cli", "node",
                "agent", "--manager", self.manager_url, "--deployment", self.deployment,
                "--region", self.region, "--provider", self.provider, "--role", node.role,
                "--name", node.name, "--engine", "nginx-rtmp",
                "--stats-url", f"http://{host}:{node.http_port}/stat",
                "--public-host", host, "--private-host", host, "--capacity", str(self.capacity),
                "--endpoint", f"rtmp=rtmp://{host}:{node.rtmp_port}/live"]
        if node.hls:  # the stream manager's fallback when every edge is full (nginx.HLS_URL_PATH)
            argv += ["--endpoint", f"hls=http://{host}:{node.http_port}{nginx.HLS_URL_PATH}"]
        if on_play_port:
            argv += ["--on-play-port", str(on_play_port)]
        if node.role == "transcoder":  # its ffmpeg reads what publishers send to this node's nginx
            argv += ["--transcode-input", f"rtmp://{host}:{node.rtmp_port}/{{app}}/{{stream}}"]
            if node.renditions:
                argv += ["--renditions", node.renditions]
        if metrics_port:
            argv += ["--metrics-port", str(metrics_port)]
        for flag, value in (("--lat", self.lat), ("--lon", self.lon), ("--interval", self.interval)):
            if value:
                argv += [flag, value]
        return argv


@dataclass
class NodeSpec:
    """Everything that defines a node; its hash decides whether a running node can be kept."""

    state_dir: Path
    name: str
    role: str
    http_port: int = 0
    rtmp_port: int = 0
    # Edges/relays without an agent: rtmp://host:port/live of the one node they pull from. With an
    # agent it is not used: the stream manager names each stream's origin (or relay) at play time.
    pull: str = ""
    database_url: str = ""  # manager only
    deployment: str = ""
    heartbeat_timeout: str = ""
    python: str = ""
    host: str = "127.0.0.1"
    hls: bool = False  # origin: nginx-rtmp also writes HLS, served on the http port (region fallback: hls)
    agent: Agent | None = None
    # controller only: `ccds operate SPEC --state-dir CCDS_STATE_DIR --manager MANAGER_URL`
    spec_file: str = ""
    ccds_state_dir: str = ""
    manager_url: str = ""
    renditions: str = ""  # transcoder agent and manager: the ladder, HEIGHT:KBPS,... (spec `renditions`)

    @property
    def dir(self) -> Path:
        return self.state_dir / "nodes" / self.name

    @property
    def ports(self) -> dict[str, int]:
        if self.role == "controller":
            return {}
        if self.role == "manager":
            return {"http": self.http_port}
        return {"rtmp": self.rtmp_port, "http": self.http_port}

    def digest(self) -> str:
        data = {k: v for k, v in self.__dict__.items() if k != "agent"}
        data["state_dir"] = str(self.state_dir)
        data["agent"] = self.agent.__dict__ if self.agent else None
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()

    def validate(self) -> None:
        if not self.state_dir.is_absolute():
            raise BadInput(f"--state-dir must be an absolute path, got {self.state_dir}")
        if not NAME_RE.match(self.name):
            raise BadInput(f"invalid node name {self.name!r}")
        if self.role not in LOCAL_ROLES:
            raise BadInput(f"role {self.role!r} cannot run on the local cloud",
                           hint=f"local roles: {', '.join(LOCAL_ROLES)}")
        ports = list(self.ports.values())
        if any(not 1024 <= p <= 65535 for p in ports) or len(set(ports)) != len(ports):
            raise BadInput(f"node {self.name}: ports must be distinct and in 1024-65535: {self.ports}")
        if self.renditions:
            from ccds_cli.ladder import parse_ladder

            try:
                parse_ladder(self.renditions)
            except ValueError as exc:
                raise BadInput(f"node {self.name}: --renditions: {exc}") from None
        if self.hls and self.role != "origin":
            raise BadInput(f"node {self.name}: --hls is for origins (they hold every stream), not {self.role}s")
        if self.role == "manager" and not self.database_url:
            raise BadInput("a manager node needs --database-url")
        if self.role == "controller" and not (Path(self.spec_file).is_absolute() and self.ccds_state_dir
                                              and self.manager_url):
            raise BadInput("a controller needs --spec (an absolute path), --ccds-state-dir and --manager-url")


def _read_record(node_dir: Path) -> dict | None:
    try:
        return json.loads((node_dir / "node.json").read_text())
    except (OSError, ValueError):
        return None


def _write_record(spec: NodeSpec, procs: list[Proc], state: str, extra: dict | None = None) -> None:
    record = {"name": spec.name, "role": spec.role, "ports": spec.ports, "digest": spec.digest(),
              "state": state, "processes": [p.as_dict() for p in procs], **(extra or {})}
    tmp = spec.dir / "node.json.tmp"
    tmp.write_text(json.dumps(record, indent=2))
    os.replace(tmp, spec.dir / "node.json")


def _procs(record: dict | None) -> list[Proc]:
    return [Proc(**p) for p in (record or {}).get("processes", [])]


def status(state_dir: Path, name: str) -> dict:
    """The node's record plus whether each process is alive (`running` = all of them)."""
    node_dir = state_dir / "nodes" / name
    record = _read_record(node_dir)
    if record is None:
        return {"name": name, "exists": node_dir.exists(), "running": False, "processes": []}
    procs = _procs(record)
    record["processes"] = [dict(p.as_dict(), alive=alive(p)) for p in procs]
    record["exists"] = True
    record["running"] = record.get("state") == "running" and bool(procs) and all(alive(p) for p in procs)
    return record


def list_nodes(state_dir: Path) -> list[dict]:
    """Status of every node recorded under `state_dir` (what `ccds status` can show locally)."""
    nodes = state_dir / "nodes"
    if not nodes.is_dir():
        return []
    return [status(state_dir, d.name) for d in sorted(nodes.iterdir()) if d.is_dir()]


def stop(state_dir: Path, name: str, grace: float = 10.0) -> dict:
    """Stop every process of the node (agent first, so it deregisters) and remove its files."""
    node_dir = state_dir / "nodes" / name
    procs = _procs(_read_record(node_dir))
    # A start that died between spawning nginx and recording it still left nginx's own pid file.
    pid_file = node_dir / "nginx.pid"
    if pid_file.is_file() and not any(p.kind == "nginx" for p in procs):
        try:
            pid = int(pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            if str(node_dir) in cmdline:
                procs.append(Proc("nginx", pid, "", ""))
        except (OSError, ValueError):
            pass
    # A start killed right after spawning a process left it running but unrecorded: find it by its cwd.
    recorded = {p.pid for p in procs}
    procs = [p for p in working_in(node_dir) if p.pid not in recorded] + procs
    stopped = [p.pid for p in procs if alive(p)]
    for proc in reversed(procs):
        terminate(proc, grace)
    if node_dir.exists():
        shutil.rmtree(node_dir, ignore_errors=True)
    return {"name": name, "action": "stopped" if stopped else "absent", "pids": stopped}


def start(spec: NodeSpec, timeout: float = 20.0) -> dict:
    """Start the node and return once its ports accept connections (bounded by `timeout`)."""
    spec.validate()
    current = status(spec.state_dir, spec.name)
    if current["running"] and current.get("digest") == spec.digest():
        return {"name": spec.name, "action": "running", "ports": spec.ports,
                "pids": [p["pid"] for p in current["processes"]]}
    if current["exists"]:
        stop(spec.state_dir, spec.name)
    busy = [p for p in spec.ports.values() if not port_free(p, spec.host)]
    if busy:
        raise CcdsError(f"node {spec.name}: port(s) {', '.join(map(str, busy))} on {spec.host} are "
                        "already in use by another program",
                        hint="stop that program or choose another base_port for the local cloud")
    spec.dir.mkdir(parents=True, exist_ok=True)
    procs: list[Proc] = []
    _write_record(spec, procs, "starting")
    try:
        extra = _start_processes(spec, procs, timeout)
    except BaseException:
        stop(spec.state_dir, spec.name)
        raise
    _write_record(spec, procs, "running", extra)
    return {"name": spec.name, "action": "started", "ports": spec.ports,
            "pids": [p.pid for p in procs]}


def _start_processes(spec: NodeSpec, procs: list[Proc], timeout: float) -> dict:
    """Start the node's processes; returns what the record adds (the agent's metrics URL)."""
    python = spec.python or sys.executable
    logs = spec.dir / "logs"
    if spec.role == "controller":
        argv = [python, "-m", "ccds_cli", "operate", spec.spec_file, "--state-dir", spec.ccds_state_dir,
                "--manager", spec.manager_url]
        # No port: it only has to stay up (a bad spec or a second controller's lease shows at once).
        _launch(spec, procs, "controller", argv, logs / "controller.log", [], min(timeout, 2.0))
        return
    if spec.role == "manager":
        argv = [python, "-m", "ccds_cli", "sm", "serve", "--host", spec.host,
                "--port", str(spec.http_port), "--database-url", spec.database_url]
        if spec.deployment:
            argv += ["--deployment", spec.deployment]
        if spec.heartbeat_timeout:
            argv += ["--heartbeat-timeout", spec.heartbeat_timeout]
        if spec.renditions:
            argv += ["--renditions", spec.renditions]
        _launch(spec, procs, "manager", argv, logs / "manager.log", [spec.http_port], timeout)
        return {}
    # The agent's on_play port is any free loopback port: it is only written into this node's own
    # nginx.conf, so it needs no place in the local module's port plan.
    on_play_port = free_port() if spec.agent and spec.role in ("edge", "relay") else 0
    argv, _ = nginx.prepare(spec.dir, name=spec.name, role=spec.role, rtmp_port=spec.rtmp_port,
                            http_port=spec.http_port, pull=spec.pull or None, host=spec.host, hls=spec.hls,
                            on_play=f"http://127.0.0.1:{on_play_port}/on_play" if on_play_port else None)
    problem = nginx.check_config(argv)
    if problem:
        raise CcdsError(f"node {spec.name}: nginx rejects the generated config: {problem}")
    _launch(spec, procs, "nginx", argv, logs / "nginx.out", [spec.rtmp_port, spec.http_port], timeout)
    if spec.agent:
        if not os.environ.get("CCDS_NODE_TOKEN"):
            raise BadInput(f"node {spec.name}: the agent needs its node credential in CCDS_NODE_TOKEN")
        # Like on_play, the agent's metrics port is any free loopback port, named in the node's record.
        metrics_port = free_port()
        _launch(spec, procs, "agent", spec.agent.argv(spec, on_play_port, metrics_port), logs / "agent.log",
                [p for p in (on_play_port, metrics_port) if p], timeout)
        return {"agent_metrics": f"http://{spec.host}:{metrics_port}/metrics"}
    return {}


def _launch(spec: NodeSpec, procs: list[Proc], kind: str, argv: list[str], log: Path,
            ports: list[int], timeout: float) -> None:
    """Spawn, record at once (so `stop` can find it), then wait for its ports.

    A process without ports (the agent) only has to survive `timeout` seconds: a bad argument or
    a missing command shows up as an early exit.
    """
    proc = spawn(kind, argv, log, cwd=spec.dir)
    procs.append(proc)
    _write_record(spec, procs, "starting")
    if ports:
        problem = wait_ports([proc], ports, timeout)
    else:
        problem = _survives(proc, timeout)
    if problem:
        tail = log_tail(log) or log_tail(spec.dir / "logs" / "error.log")
        raise CcdsError(f"node {spec.name}: {problem}" + (f"\n--- {log} ---\n{tail}" if tail else ""))


def _survives(proc: Proc, seconds: float) -> str | None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(proc):
            return f"{proc.kind} (pid {proc.pid}) exited during start-up"
        time.sleep(0.1)
    return None
