"""`ccds up examples/local.yaml` gives a deployment that runs itself: the control workspace starts
`ccds operate` beside the stream manager, a killed edge comes back with no command typed, and
`ccds down` stops the controller with everything else."""

from __future__ import annotations

import os
import signal
import time

import pytest
from e2ehelp import LocalDeployment, children, fresh_base_port, process_alive, require_tools, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture
def deployment(tmp_path):
    require_tools()
    dep = LocalDeployment(tmp_path, fresh_base_port(set()), controller=True)
    try:
        yield dep
    finally:
        dep.cleanup()


def _controller(dep) -> dict:
    return next(r for n, r in dep.records().items() if n.endswith("-controller"))


def test_up_starts_the_controller_which_replaces_a_killed_edge(deployment):
    dep = deployment
    dep.run_json("up", "{spec}", "--yes", expect=0)
    ctl = _controller(dep)
    assert ctl["running"], ctl
    ctl_pids = [p["pid"] for p in ctl["processes"]]
    wait_for(lambda: dep.run_json("status", "{spec}", expect=None)["result"]["controller"]["alive"], 30,
             what="the controller's first round")
    # the controller is not an untracked instance of the control workspace: the deployment is healthy
    control = [w for w in dep.run_json("status", "{spec}", expect=None)["result"]["workspaces"]
               if w["name"].startswith("control.")]
    assert control and all(not w["untracked"] and not w["problems"] for w in control), control

    victim = sorted(n for n in dep.records() if "-edge-" in n)[0]
    old = [p["pid"] for p in dep.records()[victim]["processes"]]
    for pid in old:
        for p in [pid, *children(pid)]:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def replaced() -> bool:
        rec = dep.records().get(victim)
        return bool(rec and rec["running"] and not set(p["pid"] for p in rec["processes"]) & set(old))

    wait_for(replaced, 90, interval=0.5, what=f"the controller to replace {victim}")
    events = dep.run_json("events", "{spec}")["result"]["operations"]
    assert any(o["command"].startswith("operate:") for o in events), [o["command"] for o in events]

    down = dep.run_json("down", "{spec}", "--yes", expect=None, timeout=180)
    if down["exit_code"] == 3:  # the controller was mid-action: a second try finds the lock free
        time.sleep(5)
        down = dep.run_json("down", "{spec}", "--yes", expect=0, timeout=180)
    assert down["ok"], down
    assert not [p for p in ctl_pids if process_alive(p)], "the controller survived `ccds down`"
    assert dep.records() == {}
