"""The controller's block list is honoured by the commands people run: `ccds failover` never picks a
blocked placement (and refuses one named with --to), `ccds up` never applies a region to one, and
`ccds status` shows the entries. Nothing here reaches Terraform: every refusal happens before."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "spec"))
from speccli import EXAMPLES, assert_no_traceback, run_ccds  # noqa: E402

from ccds_cli.operate import state  # noqa: E402

SPEC = """\
version: 1
name: blocks
engine: {kind: mediamtx}
providers:
  aws-main: {cloud: aws}
regions:
  na-east:
    placement: aws-main/us-east-1
    failover: [aws-main/us-west-2, aws-main/us-east-2]
    network: {cidr: 10.10.0.0/16}
    pools:
      origin: {instance_type: t3.small, min: 1, max: 1, capacity: 20}
      edge:   {instance_type: t3.small, min: 1, max: 2, capacity: 200}
"""
# Any AWS call would go to a closed loopback port, never outside.
ENV = {"AWS_ENDPOINT_URL": "http://127.0.0.1:1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
       "AWS_EC2_METADATA_DISABLED": "true", "TF_CLI_CONFIG_FILE": "/nonexistent"}


def _setup(tmp_path: Path, *blocked: str) -> tuple[Path, Path]:
    spec = tmp_path / "ccds.yaml"
    spec.write_text(SPEC)
    root = tmp_path / "state" / "blocks"
    root.mkdir(parents=True)
    for placement in blocked:
        state.block(root, placement, "na-east", "no serving edge for 30 s", time.time() + 3600, by="test")
    return spec, root


def _ccds(tmp_path: Path, *args: str):
    proc = run_ccds([*args, "--state-dir", str(tmp_path / "state"), "-o", "json"], env=ENV)
    assert_no_traceback(proc)
    return proc, json.loads(proc.stdout)


def test_failover_skips_a_blocked_target_and_refuses_one_named(tmp_path):
    spec, _ = _setup(tmp_path, "aws-main/us-west-2")
    proc, doc = _ccds(tmp_path, "failover", str(spec), "na-east", "--to", "aws-main/us-west-2", "--yes")
    assert proc.returncode == 2
    assert "aws-main/us-west-2 is blocked until" in doc["error"]["message"]
    assert "no serving edge" in doc["error"]["message"] and "--unblock" in doc["error"]["hint"]

    from ccds_cli.commands.failover import choose_target
    from ccds_cli.spec import load_spec

    loaded = load_spec(spec)
    blocks = state.blocked_placements(tmp_path / "state" / "blocks")
    assert choose_target(loaded.spec, "na-east", "aws-main/us-east-1", None, blocks) == "aws-main/us-east-2"


def test_failover_with_every_target_blocked_says_so(tmp_path):
    spec, _ = _setup(tmp_path, "aws-main/us-west-2", "aws-main/us-east-2")
    proc, doc = _ccds(tmp_path, "failover", str(spec), "na-east", "--yes")
    assert proc.returncode == 2 and "every failover target of region na-east is blocked" in doc["error"]["message"]


def test_up_refuses_a_region_on_a_blocked_placement_and_applies_nothing(tmp_path):
    spec, root = _setup(tmp_path, "aws-main/us-east-1")
    proc, doc = _ccds(tmp_path, "up", str(spec), "--yes")
    assert proc.returncode == 2, doc
    assert "region na-east: aws-main/us-east-1 is blocked until" in doc["error"]["message"]
    assert "nothing was applied" in doc["error"]["hint"]
    assert not (root / "logs").exists() or not list((root / "logs").rglob("*.log"))  # terraform never ran
    # A run that does not touch the region is not refused (here: it selects nothing at all).
    other = run_ccds(["up", str(spec), "--yes", "--state-dir", str(tmp_path / "state"), "-o", "json",
                      "--target", "control"], env=ENV)
    assert other.returncode == 0, other.stdout + other.stderr
    assert state.unblock(root, "aws-main/us-east-1") and not state.blocked_placements(root)


def test_status_shows_the_controller_and_the_block_list(tmp_path):
    spec = tmp_path / "local.yaml"
    spec.write_text((EXAMPLES / "local.yaml").read_text())
    root = tmp_path / "state" / "local-demo"
    root.mkdir(parents=True)
    state.block(root, "laptop/local", "local", "region lost", time.time() + 600, by="test")
    proc = run_ccds(["status", str(spec), "--state-dir", str(tmp_path / "state"), "-o", "json"])
    assert_no_traceback(proc)
    controller = json.loads(proc.stdout)["result"]["controller"]
    assert controller["alive"] is False
    assert [b["placement"] for b in controller["block_list"]] == ["laptop/local"]
    text = run_ccds(["status", str(spec), "--state-dir", str(tmp_path / "state")])
    assert "blocked: laptop/local since" in text.stdout and "region lost" in text.stdout, text.stdout
    assert "controller: not running" in text.stdout
