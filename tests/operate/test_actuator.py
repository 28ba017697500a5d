"""The Terraform Actuator's pieces that the local e2e tests do not reach: node keys, and `replace`
tainting exactly the dead node's resource in a real Terraform state (the local cloud would also
replace a dead process by itself; clouds whose providers cannot see an agent died need the taint)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from ccds_cli.operate.actuator import node_key, taint_nodes

pytestmark = pytest.mark.skipif(not shutil.which("terraform"), reason="terraform not on PATH")


def test_node_key():
    assert node_key("demo", "na-east", "demo-na-east-edge-3") == "edge-3"
    assert node_key("demo", "na-east", "other-name") == "other-name"


def test_taint_marks_only_the_named_nodes(tmp_path):
    ws = tmp_path / "ws"
    (ws / "mod").mkdir(parents=True)
    (ws / "mod" / "main.tf").write_text(
        'variable "keys" {}\n'
        'resource "terraform_data" "this" {\n  for_each = toset(var.keys)\n  input = each.key\n}\n'
        'resource "terraform_data" "manager" {\n  input = "m"\n}\n')
    (ws / "main.tf.json").write_text(json.dumps({"module": {
        "na-east": {"source": "./mod", "keys": ["edge-0", "edge-1", "origin-0"]},
        "eu-west": {"source": "./mod", "keys": ["edge-1"]}}}))
    env = {"TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1", "PATH": "/usr/local/bin:/usr/bin:/bin"}
    for args in (["init", "-input=false"], ["apply", "-auto-approve", "-input=false"]):
        subprocess.run(["terraform", *args], cwd=ws, env=env, check=True, capture_output=True, timeout=120)
    tainted = taint_nodes(ws, tmp_path / "logs", {}, "na-east", ["edge-1"])
    assert tainted == ['module.na-east.terraform_data.this["edge-1"]']
    state = json.loads((ws / "terraform.tfstate").read_text())
    marks = {(r.get("module"), i.get("index_key")): i.get("status")
             for r in state["resources"] for i in r["instances"]}
    assert marks[("module.na-east", "edge-1")] == "tainted"
    assert all(v != "tainted" for k, v in marks.items() if k != ("module.na-east", "edge-1"))
    assert taint_nodes(ws, tmp_path / "logs", {}, "na-east", ["edge-9"]) == []
