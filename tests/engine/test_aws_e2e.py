"""`ccds up / status / scale / down / events` for real: the AWS provider from the mirror against moto.

The spec (specs/aws-two-regions.yaml) places two regions in two AWS regions, so there are two
workspaces applied in parallel. Everything runs `python -m ccds_cli` as a subprocess, as a user
would, and checks the result through boto3.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.engine.motoenv import FaultProxy, Moto, aws_e2e_marks, ccds, ccds_env

SPEC = Path(__file__).resolve().parent / "specs" / "aws-two-regions.yaml"
DEPLOYMENT = "enginetest"
REGIONS = {"na-east": "us-east-1", "eu-west": "eu-west-1"}
DESIRED = {("na-east", "origin"): 1, ("na-east", "edge"): 2, ("eu-west", "origin"): 1, ("eu-west", "edge"): 1}

pytestmark = aws_e2e_marks()


@pytest.fixture(scope="module")
def moto():
    server = Moto()
    yield server
    server.stop()


@pytest.fixture
def project(tmp_path, moto):
    """A fresh moto and a directory with the spec; returns (dir, env)."""
    moto.reset()
    shutil.copy(SPEC, tmp_path / "ccds.yaml")
    return tmp_path, ccds_env(tmp_path / "tf", moto.url)


def _json(proc: subprocess.CompletedProcess) -> dict:
    try:
        return json.loads(proc.stdout)
    except ValueError:
        raise AssertionError(f"no JSON (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")


def _ok(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, f"exit {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return _json(proc)


def _instances(moto: Moto, region: str, states=("pending", "running")) -> list[dict]:
    pages = moto.ec2(region).describe_instances(Filters=[
        {"Name": "tag:ccds-deployment", "Values": [DEPLOYMENT]},
        {"Name": "instance-state-name", "Values": list(states)}])
    return [i for r in pages["Reservations"] for i in r["Instances"]]


def _counts(moto: Moto) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for key, region in REGIONS.items():
        for inst in _instances(moto, region):
            tags = {t["Key"]: t["Value"] for t in inst["Tags"]}
            assert tags["ccds-workspace"] == key
            counts[(key, tags["ccds-role"])] = counts.get((key, tags["ccds-role"]), 0) + 1
    return counts


def _ingress(moto: Moto, region: str, instance: dict) -> set[tuple[str, int, int, str]]:
    group_ids = [g["GroupId"] for g in instance["SecurityGroups"]]
    rules = set()
    for group in moto.ec2(region).describe_security_groups(GroupIds=group_ids)["SecurityGroups"]:
        for perm in group["IpPermissions"]:
            for rng in perm.get("IpRanges", []):
                rules.add((perm["IpProtocol"], perm.get("FromPort", -1), perm.get("ToPort", -1), rng["CidrIp"]))
    return rules


def test_up_status_scale_replace_down(project, moto):
    cwd, env = project
    up = _ok(ccds(["up", "ccds.yaml", "--yes", "-o", "json"], env, cwd))["result"]
    assert sorted(w["name"] for w in up["workspaces"]) == ["aws-main.eu-west-1", "aws-main.us-east-1"]
    assert all(w["result"] == "ok" and w["changes"]["add"] > 0 for w in up["workspaces"])
    assert _counts(moto) == DESIRED
    assert {(n["region_key"], n["role"]) for n in up["nodes"]} == set(DESIRED)
    assert len(up["access"]["publish"]) == 2 and len(up["access"]["play"]) == 3
    assert up["access"]["publish"][0]["rtmp"].startswith("rtmp://")

    # tags and security-group rules, checked through the cloud's own API
    edge = next(i for i in _instances(moto, "us-east-1")
                if {t["Key"]: t["Value"] for t in i["Tags"]}["ccds-role"] == "edge")
    tags = {t["Key"]: t["Value"] for t in edge["Tags"]}
    assert tags["ccds-deployment"] == DEPLOYMENT and tags["managed-by"] == "ccds"
    rules = _ingress(moto, "us-east-1", edge)
    assert ("tcp", 8888, 8888, "0.0.0.0/0") in rules  # HLS to viewers
    assert ("tcp", 22, 22, "203.0.113.0/24") in rules  # SSH only from the admin CIDR
    assert not any(r[1] == 22 and r[3] == "0.0.0.0/0" for r in rules)
    origin = next(i for i in _instances(moto, "us-east-1")
                  if {t["Key"]: t["Value"] for t in i["Tags"]}["ccds-role"] == "origin")
    assert ("tcp", 1935, 1935, "0.0.0.0/0") in _ingress(moto, "us-east-1", origin)  # RTMP ingest

    status = _ok(ccds(["status", "ccds.yaml", "-o", "json"], env, cwd))["result"]
    assert status["healthy"] is True
    rows = {(r["region"], r["role"]): r for w in status["workspaces"] for r in w["roles"]}
    assert {k: (r["desired"], r["actual"], r["running"]) for k, r in rows.items()} == \
        {k: (n, n, n) for k, n in DESIRED.items()}

    # scale touches only that region's workspace and is validated against min/max
    eu_before = sorted(i["InstanceId"] for i in _instances(moto, "eu-west-1"))
    scaled = _ok(ccds(["scale", "ccds.yaml", "na-east", "edge=3", "--yes", "-o", "json"], env, cwd))["result"]
    assert [w["name"] for w in scaled["workspaces"]] == ["aws-main.us-east-1"]
    assert _counts(moto)[("na-east", "edge")] == 3
    assert sorted(i["InstanceId"] for i in _instances(moto, "eu-west-1")) == eu_before
    bad = ccds(["scale", "ccds.yaml", "na-east", "edge=9", "--yes"], env, cwd)
    assert bad.returncode == 2 and "2..4" in bad.stderr
    assert json.loads((cwd / ".ccds" / DEPLOYMENT / "scale.json").read_text()) == {"na-east": {"edge": 3}}

    # an instance terminated behind our back: status says unhealthy (exit 4), the next up replaces it
    victim = _instances(moto, "eu-west-1")[0]["InstanceId"]
    moto.ec2("eu-west-1").terminate_instances(InstanceIds=[victim])
    sick = ccds(["status", "ccds.yaml", "-o", "json"], env, cwd)
    assert sick.returncode == 4
    problems = [p for w in _json(sick)["result"]["workspaces"] for r in w["roles"] for p in r["problems"]]
    assert any("terminated" in p for p in problems)
    # ... and a rule that exists in the cloud but not in the state (an interrupted apply created it and the
    # provider's read-back was cancelled): the re-run's create meets InvalidPermission.Duplicate, ccds
    # imports the existing rule and plans again instead of failing
    lost = 'module.na-east.aws_vpc_security_group_ingress_rule.role["origin-tcp-22-22-203.0.113.0/24"]'
    forgot = subprocess.run(["terraform", f"-chdir={cwd / '.ccds' / DEPLOYMENT / 'workspaces' / 'aws-main.us-east-1'}",
                             "state", "rm", lost], env=env, capture_output=True, text=True, timeout=120)
    assert forgot.returncode == 0, forgot.stderr
    again = _ok(ccds(["up", "ccds.yaml", "--yes", "-o", "json"], env, cwd))["result"]
    assert _counts(moto) == {**DESIRED, ("na-east", "edge"): 3}  # the scale override is kept
    assert victim not in {i["InstanceId"] for i in _instances(moto, "eu-west-1")}
    us = {w["name"]: w for w in again["workspaces"]}["aws-main.us-east-1"]
    assert us["changes"]["add"] == 0 and any(lost in r and "imported sgr-" in r for r in us["retries"]), us
    assert ("tcp", 22, 22, "203.0.113.0/24") in _ingress(moto, "us-east-1", origin)
    assert _ok(ccds(["status", "ccds.yaml", "-o", "json"], env, cwd))["result"]["healthy"] is True

    down = _ok(ccds(["down", "ccds.yaml", "--yes", "-o", "json"], env, cwd))["result"]
    assert all(w["result"] == "ok" for w in down["workspaces"])
    assert all(not _instances(moto, region) for region in REGIONS.values())
    assert ccds(["status", "ccds.yaml"], env, cwd).returncode == 4  # everything is gone now

    events = _ok(ccds(["events", "ccds.yaml", "-o", "json"], env, cwd))["result"]["operations"]
    assert [o["command"] for o in events if o["result"] == "ok"] == ["down", "up", "scale", "up"]
    assert all(o["spec_sha256"] and o["finished"] for o in events if o["result"] == "ok")


def _start_up(cwd: Path, env: dict, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ccds_cli", "up", "ccds.yaml", "--yes", *extra], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_instance_create(cwd: Path, proc: subprocess.Popen, timeout: float = 240) -> None:
    """Until some workspace's apply log shows an EC2 instance being created."""
    logs = cwd / ".ccds" / DEPLOYMENT / "logs"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"ccds up ended early:\n{proc.stderr.read()[-3000:]}"
        for log in logs.glob("*/*-apply.log") if logs.exists() else []:
            text = log.read_text()
            if '"apply_start"' in text and "aws_instance.node" in text:
                return
        time.sleep(0.3)
    proc.kill()
    pytest.fail("no instance creation started")


def _assert_converged_without_duplicates(cwd: Path, env: dict, moto: Moto, *extra: str) -> None:
    _ok(ccds(["up", "ccds.yaml", "--yes", "-o", "json", *extra], env, cwd))
    assert _counts(moto) == DESIRED
    assert _ok(ccds(["status", "ccds.yaml", "-o", "json"], env, cwd))["result"]["healthy"] is True


def test_sigint_mid_apply_then_converge_and_concurrent_up_refused(project, moto):
    cwd, env = project
    first = _start_up(cwd, env)
    _wait_for_instance_create(cwd, first)
    second = ccds(["up", "ccds.yaml", "--yes"], env, cwd)
    assert second.returncode == 3
    assert f"pid {first.pid}" in second.stderr and "locked" in second.stderr
    first.send_signal(signal.SIGINT)
    _, err = first.communicate(timeout=300)
    assert first.returncode == 130, err[-3000:]
    assert "SIGINT received" in err
    assert not (cwd / ".ccds" / DEPLOYMENT / "lock").exists()
    ops = _ok(ccds(["events", "ccds.yaml", "-o", "json"], env, cwd))["result"]["operations"]
    assert ops[0]["result"] == "interrupted"
    _assert_converged_without_duplicates(cwd, env, moto)


def test_sigkill_mid_apply_stale_lock_then_converge(project, moto):
    cwd, env = project
    first = _start_up(cwd, env)
    _wait_for_instance_create(cwd, first)
    first.kill()
    first.communicate(timeout=60)
    refused = ccds(["up", "ccds.yaml", "--yes"], env, cwd)
    assert refused.returncode == 3 and "stale" in refused.stderr and "--break-lock" in refused.stderr
    # the orphaned terraform keeps the state lock until it saved state; the re-run waits for it
    _assert_converged_without_duplicates(cwd, env, moto, "--break-lock")
    ops = _ok(ccds(["events", "ccds.yaml", "-o", "json"], env, cwd))["result"]["operations"]
    assert any(e["kind"] == "lock" and "stale" in e["message"] for e in ops[0]["events"])


def test_throttling_proxy_retries_and_succeeds(tmp_path, moto):
    """Throttling / 503 answers from a fault-injecting proxy in front of moto: `ccds up` retries and succeeds.

    The AWS provider retries throttling itself (25 attempts by default), which would hide the
    faults; the spec lowers it with the alias's `max_retries: 1` so they reach terraform's
    diagnostics, as they do on AWS once the SDK gives up, and ccds's own retry takes over.
    """
    moto.reset()
    proxy = FaultProxy(moto.url, every=3, limit=3)
    spec = tmp_path / "ccds.yaml"
    spec.write_text(SPEC.read_text().replace("aws-main: {cloud: aws}", "aws-main: {cloud: aws, max_retries: 1}")
                    .split("  eu-west:")[0] + "security:\n  admin_cidrs: [203.0.113.0/24]\n")
    env = ccds_env(tmp_path / "tf", proxy.url)
    try:
        res = _ok(ccds(["up", str(spec), "--yes", "--output", "json"], env, tmp_path))
    finally:
        proxy.stop()
    assert proxy.injected == 3
    [ws] = res["result"]["workspaces"]
    assert ws["result"] == "ok" and 1 <= len(ws["retries"]) <= 3, ws
    logs = "".join(p.read_text() for p in (tmp_path / ".ccds" / DEPLOYMENT / "logs" / ws["name"]).glob("*.log"))
    assert "after transient error" in logs and ("throttling" in logs or "server error" in logs)
    assert len(_instances(moto, "us-east-1")) == 3  # retries re-planned from saved state: nothing twice
    vpcs = moto.ec2("us-east-1").describe_vpcs(Filters=[{"Name": "tag:ccds-deployment", "Values": [DEPLOYMENT]}])
    assert len(vpcs["Vpcs"]) == 1
