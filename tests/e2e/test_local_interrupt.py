"""Interrupting `ccds up` on the local cloud (Ctrl-C: SIGINT to its process group) while nodes are being
started: it exits 130 after Terraform saved its state, the next `ccds up` converges, and there is exactly
one nginx master per media node and one stream manager: no duplicates, no orphans."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
from e2ehelp import explain, ok, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def started_nodes(dep, workspace_glob: str) -> list:
    return [d for ws in dep.root.joinpath("local").glob(workspace_glob) for d in (ws / "nodes").glob("*")]


def interrupted_up(dep, during: str) -> tuple[int, str]:
    """Start `ccds up`, send SIGINT to its process group once the `during` stage starts a node."""
    glob = "control.*" if during == "control" else "[!c]*"
    with open(dep.workdir / "interrupted-up.log", "w+") as log:
        proc = subprocess.Popen(dep.argv("up", str(dep.spec), "--yes"), cwd=dep.workdir, env=dep.env,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            # As soon as the first node of that stage is being started, press "Ctrl-C".
            wait_for(lambda: started_nodes(dep, glob) or proc.poll() is not None, 60, interval=0.05,
                     what=f"the {during} stage to start a node")
            assert proc.poll() is None, "ccds up finished before it could be interrupted"
            os.killpg(proc.pid, signal.SIGINT)
            code = proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
        log.seek(0)
        return code, log.read()


@pytest.mark.parametrize("during", ["control", "region"])
def test_sigint_during_up_then_up_converges_without_duplicates(deployment, during):
    dep = deployment
    code, output = interrupted_up(dep, during)
    assert code == 130, f"interrupted `ccds up` exited {code}:\n{output[-4000:]}"
    assert "SIGINT received" in output

    started = time.monotonic()
    up = ok(dep.run("up", "{spec}", "--yes"))
    assert time.monotonic() - started < 60, explain(up, "re-run took too long")
    envelope = dep.run_json("status", "{spec}", expect=0)
    assert envelope["result"]["healthy"] is True

    records = dep.records()
    media = {n: r for n, r in records.items() if r["role"] != "manager"}
    assert len(media) == 3 and all(r["running"] for r in records.values()), records
    masters = dep.nginx_masters()
    assert len(masters) == len(media), f"nginx masters {masters} vs media nodes {sorted(media)}"
    assert {p["pid"] for r in media.values() for p in r["processes"] if p["kind"] == "nginx"} == set(masters)
    managers = [c for c in dep.processes().values() if " sm serve " in f" {c} "]
    assert len(managers) == 1, managers
    agents = [p["pid"] for r in media.values() for p in r["processes"] if p["kind"] == "agent"]
    assert len(agents) == 3

    # Another `up` is a no-op: nothing planned, the same processes.
    again = dep.run_json("up", "{spec}", "--yes")
    assert all(sum(w["planned"].values()) == 0 for w in again["result"]["workspaces"])
    assert set(dep.nginx_masters()) == set(masters)


class Leftover(AssertionError):
    """The specific failure this test guards against (named, so a regression is clear)."""


def test_down_right_after_interrupted_up_leaves_nothing(deployment):
    dep = deployment
    code, output = interrupted_up(dep, "control")
    assert code == 130, output[-4000:]
    ok(dep.run("down", "{spec}", "--yes"))
    left = dep.processes()
    if left or dep.busy_ports():
        raise Leftover(f"after `ccds down`: processes {left}, listening ports {sorted(dep.busy_ports())}")
