"""End-to-end helpers: the real `ccds` console script driving a copy of examples/local.yaml.

A uniquely named module (not conftest.py, which pytest imports under a shared name); the
`deployment` fixture in conftest.py builds on it.
Every test gets its own directory, state dir and loopback port block (the provider's `base_port`),
so tests cannot collide with each other or with a user's own `ccds up examples/local.yaml`.
Process, port and media helpers come from tests/local (one copy of them, shared).
Teardown always runs `ccds down --yes` and then stops, by PID, anything a record still names.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "local"))

from localtf import children, free_base_port, http_get, listening_ports, port_open, process_alive, wait_for  # noqa: E402,F401 - re-exported
from media import Publisher, probe_video, read_frames, streams  # noqa: E402,F401 - re-exported for the tests

EXAMPLE = REPO / "examples" / "local.yaml"
# The renderer gives each local module call a block of 400 ports: control at base_port, the region
# at base_port + 400 (ccds_cli/render.py LOCAL_PORT_BLOCK).
PORT_SPAN = 800

def ccds_binary() -> str:
    """The console script installed for this interpreter (what a user runs), else the one on PATH."""
    beside = Path(sys.executable).parent / "ccds"
    found = str(beside) if beside.is_file() else shutil.which("ccds")
    assert found, "the `ccds` console script must be installed (pip install -e .)"
    return found


def require_tools() -> None:
    missing = [t for t in ("terraform", "nginx", "ffmpeg", "ffprobe") if not shutil.which(t)
               and not (t == "nginx" and Path("/usr/sbin/nginx").exists())]
    if missing:
        pytest.fail(f"end-to-end tests need {', '.join(missing)} (bash scripts/setup.sh installs them)")


class LocalDeployment:
    """A copy of examples/local.yaml with its own base_port and state dir, driven through `ccds`."""

    def __init__(self, workdir: Path, base_port: int, controller: bool = False):
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.base_port = base_port
        self.spec = workdir / "local.yaml"
        self.state_dir = workdir / "state"
        data = yaml.safe_load(EXAMPLE.read_text())
        alias = next(a for a, p in data["providers"].items() if p.get("cloud") == "local")
        data["providers"][alias]["base_port"] = base_port
        # `ccds up` starts the controller on the local cloud; tests that are not about it drive the
        # deployment themselves (a controller would replace the nodes they kill).
        data.setdefault("operate", {})["enabled"] = controller
        self.name = data["name"]
        self.spec.write_text(yaml.safe_dump(data, sort_keys=False))
        rc = workdir / "empty.tfrc"  # the local module installs no provider: keep user config out
        rc.write_text("")
        self.env = dict(os.environ, CCDS_STATE_DIR=str(self.state_dir), CI="true", TF_CLI_CONFIG_FILE=str(rc),
                        CHECKPOINT_DISABLE="1", TF_IN_AUTOMATION="1")
        for leak in ("CCDS_ADMIN_TOKEN", "CCDS_NODE_TOKEN", "CCDS_NODE_KEY", "CCDS_TERRAFORM"):
            self.env.pop(leak, None)
        self.calls: list[tuple[list[str], int, float]] = []

    @property
    def root(self) -> Path:
        """`.ccds/<name>/` under the test's state dir."""
        return self.state_dir / self.name

    @property
    def ports(self) -> range:
        return range(self.base_port, self.base_port + PORT_SPAN)

    # -- running ccds -------------------------------------------------------------------------
    def argv(self, *args: str) -> list[str]:
        return [ccds_binary(), *args]

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """`ccds ARGS` with the spec path substituted for "{spec}"; bounded by `timeout`."""
        argv = self.argv(*(str(self.spec) if a == "{spec}" else a for a in args))
        started = time.monotonic()
        proc = subprocess.run(argv, cwd=self.workdir, env=self.env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout)
        self.calls.append((argv[1:], proc.returncode, time.monotonic() - started))
        return proc

    def run_json(self, *args: str, expect: int | None = 0, timeout: float = 120) -> dict:
        """`ccds ARGS -o json`: the envelope, after checking the exit code (None: any)."""
        proc = self.run(*args, "--output", "json", timeout=timeout)
        if expect is not None:
            assert proc.returncode == expect, explain(proc, f"expected exit {expect}")
        try:
            envelope = json.loads(proc.stdout)
        except ValueError:
            raise AssertionError(explain(proc, "stdout is not one JSON envelope"))
        assert envelope["exit_code"] == proc.returncode, explain(proc, "envelope exit_code differs")
        return envelope

    # -- what the deployment left on this machine ----------------------------------------------
    def records(self) -> dict[str, dict]:
        """Supervisor node records (`node.json` + liveness) of every local workspace, by node name."""
        from ccds_cli.localcloud.node import list_nodes

        found = {}
        local = self.root / "local"
        for ws_dir in sorted(local.iterdir()) if local.is_dir() else []:
            for rec in list_nodes(ws_dir):
                found[rec["name"]] = dict(rec, state_dir=str(ws_dir))
        return found

    def record_pids(self) -> set[int]:
        """Recorded processes of every node plus their children (nginx workers)."""
        own = {p["pid"] for rec in self.records().values() for p in rec.get("processes", [])}
        return own | set().union(*(children(p) for p in own)) if own else set()

    def processes(self) -> dict[int, str]:
        """Live processes running in or naming the deployment's state dir (cwd or command line)."""
        root = str(self.root.resolve())
        found = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                cwd = os.readlink(entry / "cwd")
            except OSError:
                continue
            if (root in cmdline or cwd.startswith(root)) and process_alive(int(entry.name)):
                found[int(entry.name)] = cmdline.strip()
        return found

    def nginx_masters(self) -> dict[int, str]:
        return {pid: cmd for pid, cmd in self.processes().items() if "nginx: master" in cmd
                or (cmd.split(" ", 1)[0].endswith("nginx") and " -p " in f" {cmd}")}

    def busy_ports(self) -> set[int]:
        return set(self.ports) & listening_ports()

    # -- the stream manager ---------------------------------------------------------------------
    def admin_token(self) -> str:
        return json.loads((self.root / "secrets.json").read_text())["admin_token"]

    def manager_url(self) -> str:
        """The API endpoint from the control workspace's terraform outputs (as `ccds` reads it)."""
        ws = next((self.root / "workspaces").glob("control.*"))
        out = subprocess.run(["terraform", "output", "-json"], cwd=ws, env=self.env, capture_output=True,
                             text=True, timeout=60, check=True)
        return json.loads(out.stdout)["endpoints"]["value"]["control"]["api"]

    def manager_nodes(self, url: str) -> dict[str, dict]:
        _, body = http_get(f"{url}/api/v1/nodes", headers={"Authorization": f"Bearer {self.admin_token()}"})
        return {n["name"]: n for n in json.loads(body)}

    # -- teardown -------------------------------------------------------------------------------
    def cleanup(self) -> None:
        """`ccds down --yes`, then stop by PID whatever a supervisor record still names."""
        from ccds_cli.localcloud.node import list_nodes, stop

        if self.root.is_dir():
            try:
                self.run("down", "{spec}", "--yes", "--break-lock", timeout=180)
            except subprocess.TimeoutExpired:
                pass
        for nodes_dir in self.workdir.rglob("nodes"):
            for record in list_nodes(nodes_dir.parent):
                stop(nodes_dir.parent, record["name"], grace=3)


def explain(proc: subprocess.CompletedProcess, why: str) -> str:
    return (f"{why}: `{' '.join(map(str, proc.args[1:]))}` exited {proc.returncode}\n"
            f"--- stdout ---\n{proc.stdout[-3000:]}\n--- stderr ---\n{proc.stderr[-4000:]}")


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, explain(proc, "expected exit 0")
    return proc


def fresh_base_port(used: set[int]) -> int:
    """A free port block that does not overlap one handed out earlier in this session."""
    base = free_base_port(PORT_SPAN)
    for _ in range(20):
        if all(abs(base - b) >= PORT_SPAN for b in used):
            break
        base = free_base_port(PORT_SPAN)
    used.add(base)
    return base
