"""`ccds down` removes everything the state holds, even after an `up` that failed on one workspace
and even when the spec was since edited into one that no longer validates."""

from __future__ import annotations

import pytest
import yaml
from e2ehelp import process_alive

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _edit(dep, change) -> None:
    data = yaml.safe_load(dep.spec.read_text())
    change(data)
    dep.spec.write_text(yaml.safe_dump(data, sort_keys=False))


def test_down_after_an_up_that_failed_on_one_workspace(deployment):
    dep = deployment
    # 51 edges: the spec allows it, the local module's variable validation refuses it (50 at most),
    # so the region workspace fails at plan while the control workspace (the manager) comes up.
    _edit(dep, lambda d: d["regions"]["local"]["pools"]["edge"].update(min=51, max=60))
    up = dep.run_json("up", "{spec}", "--yes", expect=1)
    results = {w["name"]: w["result"] for w in up["result"]["workspaces"]}
    assert results["control.laptop.local"] == "ok" and results["laptop.local"] == "failed", results
    manager_pids = dep.record_pids()
    assert manager_pids and all(process_alive(p) for p in manager_pids)

    down = dep.run_json("down", "{spec}", "--yes", expect=0)
    assert {w["name"]: w["result"] for w in down["result"]["workspaces"]} == {
        "control.laptop.local": "ok", "laptop.local": "ok"}
    assert not [p for p in manager_pids if process_alive(p)], "the stream manager survived `ccds down`"
    assert dep.busy_ports() == set()


def test_down_destroys_what_was_applied_when_the_spec_no_longer_validates(deployment):
    dep = deployment
    dep.run_json("up", "{spec}", "--yes", expect=0)
    pids = dep.record_pids()
    assert len(pids) >= 3
    _edit(dep, lambda d: d.update(regions={"local": {**d["regions"]["local"], "pools": {"edge": {"capacity": 0}}}},
                                  colour="blue"))
    assert dep.run("validate", "{spec}").returncode == 2
    down = dep.run_json("down", "{spec}", "--yes", expect=0)
    assert any("does not validate" in w for w in down["warnings"]), down["warnings"]
    assert sorted(w["name"] for w in down["result"]["workspaces"]) == ["control.laptop.local", "laptop.local"]
    assert not [p for p in pids if process_alive(p)], "processes survived `ccds down`"
    assert dep.busy_ports() == set() and dep.records() == {}
