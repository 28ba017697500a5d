"""Helpers for local-cloud tests: a root module around modules/local, terraform runs, and checks
on processes and listening ports read straight from /proc (no `ss`/`lsof` needed)."""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MODULE = REPO / "modules" / "local"


def terraform_env(workdir: Path, secrets: dict | None = None) -> dict[str, str]:
    """The local module needs no provider: an empty CLI config keeps user settings out."""
    rc = workdir / "empty.tfrc"
    rc.write_text("")
    env = dict(os.environ, TF_CLI_CONFIG_FILE=str(rc), TF_IN_AUTOMATION="1", TF_INPUT="0",
               CHECKPOINT_DISABLE="1")
    if secrets is not None:
        env["TF_VAR_secrets"] = json.dumps(secrets)
    return env


def master_secrets() -> dict[str, str]:
    """A deployment's generated secrets, as `.ccds/<name>/secrets.json` holds them."""
    import secrets as pysecrets

    return {"admin_token": "at-" + pysecrets.token_hex(12), "node_key": "nk-" + pysecrets.token_hex(12),
            "db_password": "pw-" + pysecrets.token_hex(12)}


def secrets_for(workdir: Path, master: dict[str, str]) -> dict:
    """The TF_VAR_secrets ccds gives the workspace written by `write_root`: each module call its share."""
    from ccds_cli.state.secrets import workspace_secrets

    return workspace_secrets(master, json.loads((workdir / "main.tf.json").read_text()))


def terraform(workdir: Path, *args: str, env: dict, check: bool = True,
              timeout: float = 240) -> subprocess.CompletedProcess:
    binary = shutil.which("terraform") or shutil.which("tofu")
    assert binary, "terraform must be on PATH"
    proc = subprocess.run([binary, *args, "-no-color"], cwd=workdir, env=env, capture_output=True,
                          text=True, timeout=timeout)
    if check:
        assert proc.returncode == 0, f"terraform {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def outputs(workdir: Path, env: dict) -> dict:
    proc = terraform(workdir, "output", "-json", env=env)
    return {k: v["value"] for k, v in json.loads(proc.stdout).items()}


def module_call(workspace: str, state_dir: Path, base_port: int, pools: dict, **settings) -> dict:
    """One `module` block calling a copy of modules/local, as ccds's renderer does."""
    return {
        "source": "./modules/local",
        "deployment": "lt",
        "workspace": workspace,
        "region": "local",
        "network_cidr": "10.0.0.0/16",
        "pools": pools,
        "firewall_rules": [],
        "tags": {"ccds-deployment": "lt", "ccds-workspace": workspace},
        "secrets": f'${{lookup(var.secrets, "{workspace}", {{}})}}',  # the module key is the workspace
        "settings": {"state_dir": str(state_dir), "python": sys.executable,
                     "base_port": str(base_port), **settings},
        "control": {"enabled": workspace == "control"},
    }


def write_root(workdir: Path, modules: dict, extra_variables: dict | None = None) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(MODULE, workdir / "modules" / "local", dirs_exist_ok=True)
    names = sorted(modules)
    root = {
        "variable": {"secrets": {"type": "map(map(string))", "sensitive": True, "default": {}},
                     **(extra_variables or {})},
        "module": modules,
        "output": {
            "nodes": {"value": "${concat(" + ", ".join(f"module.{n}.nodes" for n in names) + ")}"},
            "endpoints": {"value": "${{" + ", ".join(f'"{n}" = module.{n}.endpoints' for n in names) + "}}"},
        },
    }
    (workdir / "main.tf.json").write_text(json.dumps(root, indent=2))


def free_base_port(span: int = 400) -> int:
    """A base port with `span` bindable loopback ports above it (bounded number of tries).

    Chosen in 10000-32000, below Linux's ephemeral range (32768+): outgoing connections of ffmpeg, nginx pulls
    and terraform take local ports there at random, which would collide with a node's listener.
    """
    from ccds_cli.localcloud.procs import port_free

    low, high = 10000, 32000
    # Parallel test workers (pytest-xdist) each draw from their own slice: two workers checking the
    # same free block at the same moment would otherwise both take it (seen as "port in use").
    worker, count = os.environ.get("PYTEST_XDIST_WORKER", ""), int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if worker.startswith("gw") and worker[2:].isdigit() and count > 1:
        size = (high - low) // count
        low = low + size * int(worker[2:])
        high = low + size
    rng = random.Random()
    for _ in range(50):
        base = rng.randrange(low, max(low + 100, high - span), 100)
        if all(port_free(p) for p in range(base, base + span)):
            return base
    raise RuntimeError("no free port range found")


def listening_ports() -> set[int]:
    """TCP ports in LISTEN state on this machine (IPv4 and IPv6), from /proc/net."""
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 3 and fields[3] == "0A":
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def process_alive(pid: int) -> bool:
    """Running and not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


def children(pid: int) -> set[int]:
    """Direct children (nginx workers of a master)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if stat[stat.rfind(")") + 2:].split()[1] == str(pid):
                found.add(int(entry.name))
    return found


def node_pids(state_dir: Path) -> dict[str, list[int]]:
    """Recorded process ids per node, plus nginx worker processes."""
    from ccds_cli.localcloud.node import list_nodes

    pids = {}
    for node in list_nodes(state_dir):
        own = [p["pid"] for p in node["processes"]]
        pids[node["name"]] = own + sorted(set().union(*(children(p) for p in own)))
    return pids


def http_get(url: str, timeout: float = 5.0, headers: dict | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return resp.status, resp.read().decode()


def wait_for(predicate, timeout: float, interval: float = 0.25, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except Exception as exc:  # noqa: BLE001 - keep polling until the deadline
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False
