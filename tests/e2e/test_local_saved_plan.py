"""Saved plans on the local cloud: `ccds plan --out DIR` then `ccds up --plan DIR` applies exactly
that plan, and refuses (exit 2, naming what moved) once the spec, the scale counts or a workspace's
state changed since, or when the manifest names a workspace the deployment does not have."""

from __future__ import annotations

import json

import pytest
from e2ehelp import explain

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]


def _refused(dep, plans, *needles):
    proc = dep.run("up", "{spec}", "--plan", str(plans), "--yes")
    assert proc.returncode == 2, explain(proc, "expected the saved plan to be refused")
    for needle in needles:
        assert needle in proc.stderr, explain(proc, f"expected {needle!r} in the refusal")
    return proc.stderr


def test_saved_plan_applies_exactly_or_names_what_moved(deployment):
    dep = deployment
    first = dep.workdir / "first"
    # A first deployment: the region plans are made before the manager exists, so applying control
    # changes what they were made against; the regions wait for a new plan instead of going stale.
    planned = dep.run_json("plan", "{spec}", "--out", str(first))
    assert planned["result"]["saved"]["workspaces"] == ["control.laptop.local", "laptop.local"]
    assert any("control.laptop.local will change" in w for w in planned["warnings"])
    manifest = json.loads((first / "manifest.json").read_text())
    assert manifest["spec"]["sha256"] and [w["state"] for w in manifest["workspaces"]] == [None, None]
    assert all((first / w["plan"]).stat().st_size > 0 for w in manifest["workspaces"])
    stopped = dep.run_json("up", "{spec}", "--plan", str(first), "--yes", expect=1)["result"]
    results = {w["name"]: w for w in stopped["workspaces"]}
    assert results["control.laptop.local"]["result"] == "ok"
    assert results["laptop.local"]["result"] == "skipped"
    assert "control plane's outputs" in results["laptop.local"]["error"]
    assert {r["role"] for r in dep.records().values()} == {"manager"}

    # Now with the manager up: plan, review, apply exactly that.
    second = dep.workdir / "second"
    dep.run_json("plan", "{spec}", "--out", str(second))
    applied = dep.run_json("up", "{spec}", "--plan", str(second), "--yes")["result"]
    assert {w["name"]: (w["result"], w["changes"]["add"]) for w in applied["workspaces"]} == {
        "control.laptop.local": ("ok", 0), "laptop.local": ("ok", 3)}
    assert sorted(r["role"] for r in dep.records().values()) == ["edge", "edge", "manager", "origin"]
    saved_serial = json.loads((second / "manifest.json").read_text())["workspaces"][1]["state"]
    assert saved_serial is None  # the region had no state when this plan was made

    # The same plan again: its state moved on (created by the apply), so it is refused.
    _refused(dep, second, "workspace laptop.local state created since the plan")

    # Scale up by editing the spec, save that plan.
    third = dep.workdir / "third"
    original = dep.spec.read_text()
    dep.spec.write_text(original.replace("min: 1, max: 4", "min: 3, max: 4"))
    dep.run_json("plan", "{spec}", "--out", str(third))
    before = json.loads((third / "manifest.json").read_text())["workspaces"][1]["state"]["serial"]

    # The spec edited again after the plan: refused, nothing applied.
    dep.spec.write_text(dep.spec.read_text() + "# reviewed?\n")
    _refused(dep, third, "spec changed (sha256 ")
    dep.spec.write_text(original.replace("min: 1, max: 4", "min: 3, max: 4"))

    # A manifest naming a workspace this deployment does not have: refused.
    forged = dep.workdir / "forged"
    forged.mkdir()
    data = json.loads((third / "manifest.json").read_text())
    for w in data["workspaces"]:
        (forged / w["plan"]).write_bytes((third / w["plan"]).read_bytes())
    data["workspaces"].append(dict(data["workspaces"][1], name="aws-main.us-east-1", plan="aws-main.us-east-1.tfplan"))
    (forged / "manifest.json").write_text(json.dumps(data))
    _refused(dep, forged, "unknown workspace aws-main.us-east-1")

    # Someone scales in between: the counts and the region's state moved; refused and named.
    dep.run_json("scale", "{spec}", "local", "edge=4", "--yes")
    after = json.loads((dep.root / "workspaces" / "laptop.local" / "terraform.tfstate").read_text())["serial"]
    message = _refused(dep, third, "scale count local/edge from the spec -> 4",
                       f"workspace laptop.local state serial {before} -> {after}")
    assert "make a new plan" in message
    assert sorted(r["role"] for r in dep.records().values()).count("edge") == 4
