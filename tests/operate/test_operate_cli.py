"""`ccds operate` as users run it: --once against a real `ccds sm serve`, JSON output, exit codes,
a second controller standing by, --unblock / --resume, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import httpx
import pytest
from ophelp import SPEC
from sm_pg import free_port
from speccli_path import run_ccds

from ccds_cli.operate import state
from ccds_cli.operate.model import Memory

TOKEN = "admin-op"


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "ccds.yaml"
    path.write_text(SPEC % {"na_extra": "", "eu_extra": "", "top_extra": ""})
    return path


@pytest.fixture
def manager(tmp_path):
    port = free_port()
    env = {**os.environ, "CCDS_ADMIN_TOKEN": TOKEN, "CCDS_NODE_KEY": "node-op"}
    log = open(tmp_path / "sm.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "ccds_cli", "sm", "serve", "--port", str(port),
                             "--database-url", f"sqlite:///{tmp_path}/sm.db"], env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{base}/api/v1/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def operate(spec_file, *args, manager=None, timeout=60):
    extra = ["--manager", manager] if manager else []
    return run_ccds(["operate", str(spec_file), *args, *extra], env={"CCDS_ADMIN_TOKEN": TOKEN}, timeout=timeout)


def test_once_json_then_standby_while_another_holds_the_lease(spec_file, manager):
    proc = operate(spec_file, "--once", "-o", "json", manager=manager)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    env = json.loads(proc.stdout)
    assert env["command"] == "operate" and env["ok"]
    rnd = env["result"]["round"]
    assert rnd["role"] == "active" and rnd["lease"]["granted"]
    assert set(rnd["observation"]["regions"]) == {"na-east", "eu-west"}
    assert {(p["region"], p["role"]) for p in rnd["decision"]["pools"]} >= {("na-east", "edge"), ("eu-west", "edge")}
    # the round released the lease on exit; now another controller holds it
    got = httpx.post(f"{manager}/api/v1/leases/operate.demo", json={"holder": "other", "ttl_s": 60},
                     headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert got["granted"]
    proc = operate(spec_file, "--once", "-o", "json", manager=manager)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    env = json.loads(proc.stdout)
    assert env["result"]["round"]["role"] == "standby" and env["result"]["round"]["lease"]["holder"] == "other"
    text = operate(spec_file, "--once", manager=manager)
    assert text.returncode == 3 and "standing by: lease held by other" in text.stdout
    events = run_ccds(["events", str(spec_file), "-o", "json"])
    messages = [e["message"] for op in json.loads(events.stdout)["result"]["operations"] for e in op["events"]]
    assert "standing by: lease operate.demo held by other" in messages


def test_unreachable_managers_exit_4(spec_file):
    proc = operate(spec_file, "--once", manager=f"http://127.0.0.1:{free_port()}")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "standing by" in proc.stdout


def test_unblock_and_resume(spec_file):
    root = spec_file.parent / ".ccds" / "demo"
    state.block(root, "spare/local", "na-east", "no serving edge for 31 s", time.time() + 3600)
    mem = Memory()
    mem.pool("na-east", "edge").paused = {"since": time.time(), "reason": "4 replacements"}
    state.save_memory(root, mem.as_dict())
    proc = operate(spec_file, "--unblock", "spare/local", "--unblock", "third/local", "--resume", "na-east/edge",
                   "-o", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = json.loads(proc.stdout)["result"]
    assert res["unblocked"] == ["spare/local"] and res["not_blocked"] == ["third/local"]
    assert res["resumed"] == ["na-east/edge"] and res["block_list"] == []
    assert state.blocked_placements(root) == {}
    assert Memory.from_dict(state.load_memory(root)).pool("na-east", "edge").paused is None
    again = operate(spec_file, "--resume", "na-east/edge")
    assert again.returncode == 0 and "na-east/edge: was not paused" in again.stdout


@pytest.mark.parametrize("args, message", [
    (["--resume", "na-east/relay"], "expected REGION/ROLE of this spec"),
    (["--resume", "mars/edge"], "expected REGION/ROLE of this spec"),
    (["--unblock", "nowhere"], "expected ALIAS/REGION"),
    (["-o", "json"], "--output json needs --once"),
])
def test_bad_input_exit_2(spec_file, args, message):
    proc = operate(spec_file, *args, manager="http://127.0.0.1:9")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stdout + proc.stderr and "Traceback" not in proc.stderr


def test_no_control_plane_or_not_deployed(tmp_path):
    path = tmp_path / "ccds.yaml"
    text = SPEC % {"na_extra": "", "eu_extra": "", "top_extra": ""}
    path.write_text(text)
    proc = run_ccds(["operate", str(path), "--once"])
    assert proc.returncode == 2 and "not deployed" in proc.stderr
    cut = text.split("control:")[0] + "regions:" + text.split("regions:")[1]
    path.write_text(cut)
    proc = run_ccds(["operate", str(path), "--once"])
    assert proc.returncode == 2 and "no `control:` section" in proc.stderr


def test_no_control_plane_with_a_lease_only_manager(tmp_path, manager):
    """Without `control:` a `--manager` holds the lease only; the cloud alone judges the nodes."""
    path = tmp_path / "ccds.yaml"
    text = SPEC % {"na_extra": "", "eu_extra": "", "top_extra": ""}
    path.write_text(text.split("control:")[0] + "regions:" + text.split("regions:")[1])
    proc = operate(path, "--once", "-o", "json", manager=manager)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rnd = json.loads(proc.stdout)["result"]["round"]
    assert rnd["role"] == "active" and rnd["observation"]["cloud_only"] is True
    assert rnd["results"] == []  # not deployed: nothing Terraform holds is missing, nothing to do
