"""`state: {backend: s3}` for real: the AWS provider against moto, the state in a moto S3 bucket
reached as an S3-compatible store (`endpoint`, `use_path_style`), shared by two "CI runners".

One deployment for every assertion:
1. runner A `ccds up`: each workspace's state is the object `<key_prefix>/<name>/<workspace>.tfstate`
   in the bucket, no lock object is left, and no state file lies in the workspace directories.
   AWS_ENDPOINT_URL_S3 points at a closed port, so the state can only have gone to the spec's endpoint.
2. runner B (an empty `--state-dir`, only the deployment's secrets.json restored, as docs/ci.md says)
   `ccds plan --out` while another runner holds the state lock (a `.tflock` object, as `use_lockfile`
   writes it): terraform waits and leaves the foreign lock alone (moto refuses the conditional
   write, HTTP 412, like S3); once it is released the plan finishes and sees the same resources:
   nothing to change.
3. runner C (fresh too, as the apply job in docs/ci.md): `ccds status` on nothing rendered yet reads the
   shared state (healthy, the same instances); `ccds up --plan` applies runner B's saved plan
   (its serial/lineage check reads the remote state), then `ccds down` destroys everything: no
   instance runs and the state object holds no resource.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.engine.motoenv import Moto, aws_e2e_marks, ccds, ccds_env, free_port

NAME = "s3state"
BUCKET = "ccds-team-state"
PREFIX = "ci/ccds"
WORKSPACE = "aws-main.us-east-1"
KEY = f"{PREFIX}/{NAME}/{WORKSPACE}.tfstate"

SPEC = """\
version: 1
name: s3state
engine: {kind: mediamtx}
state:
  backend: s3
  bucket: %(bucket)s
  region: us-east-1
  key_prefix: %(prefix)s
  endpoint: %(endpoint)s
  use_path_style: true
  skip_s3_checksum: true
providers:
  aws-main: {cloud: aws}
regions:
  na-east:
    placement: aws-main/us-east-1
    network: {cidr: 10.10.0.0/16}
    pools:
      origin: {instance_type: t3.small, min: 1, max: 1, capacity: 20}
      edge:   {instance_type: t3.small, min: 1, max: 2, capacity: 200}
security:
  admin_cidrs: [203.0.113.0/24]
"""

pytestmark = aws_e2e_marks()


@pytest.fixture
def moto():
    m = Moto()
    try:
        yield m
    finally:
        m.stop()


def _s3(moto: Moto):
    import boto3

    return boto3.client("s3", region_name="us-east-1", endpoint_url=moto.url,
                        aws_access_key_id="test", aws_secret_access_key="test")


SHARED = f"{PREFIX}/{NAME}/ccds/"  # the deployment state ccds shares beside Terraform's


def _keys(moto: Moto) -> list[str]:
    """Terraform's objects in the bucket (state, locks)."""
    return sorted(o["Key"] for o in _s3(moto).list_objects_v2(Bucket=BUCKET).get("Contents", [])
                  if not o["Key"].startswith(SHARED))


def _shared(moto: Moto) -> list[str]:
    return sorted(o["Key"][len(SHARED):] for o in _s3(moto).list_objects_v2(Bucket=BUCKET, Prefix=SHARED)
                  .get("Contents", []))


def _state(moto: Moto) -> dict:
    return json.loads(_s3(moto).get_object(Bucket=BUCKET, Key=KEY)["Body"].read())


def _running(moto: Moto) -> list[str]:
    pages = moto.ec2("us-east-1").describe_instances(Filters=[
        {"Name": "tag:ccds-deployment", "Values": [NAME]},
        {"Name": "instance-state-name", "Values": ["pending", "running"]}])
    return sorted(i["InstanceId"] for r in pages["Reservations"] for i in r["Instances"])


def _ok(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, f"exit {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return json.loads(proc.stdout)["result"]


def _wait_for_plan_log(logs: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    """Until terraform plan has started in the workspace (init is done, the lock is next)."""
    deadline = time.monotonic() + timeout
    while not list(logs.glob(f"{WORKSPACE}/*-plan.log")):
        assert proc.poll() is None, f"ccds plan ended early:\n{proc.communicate()}"
        assert time.monotonic() < deadline, "ccds plan never started terraform plan"
        time.sleep(0.2)


def test_s3_state_shared_by_two_runners(tmp_path, moto):
    _s3(moto).create_bucket(Bucket=BUCKET)
    (tmp_path / "ccds.yaml").write_text(SPEC % {"bucket": BUCKET, "prefix": PREFIX, "endpoint": moto.url})
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: only the spec's endpoint reaches the bucket
    env_a = ccds_env(tmp_path / "tf", moto.url, {"AWS_ENDPOINT_URL_S3": dead,
                                                 "CCDS_STATE_DIR": str(tmp_path / "runner-a")})

    # 1. runner A applies; the state is in the bucket only
    up = _ok(ccds(["up", "ccds.yaml", "--yes", "-o", "json"], env_a, tmp_path))
    assert [(w["name"], w["result"]) for w in up["workspaces"]] == [(WORKSPACE, "ok")]
    assert up["workspaces"][0]["changes"]["add"] > 0
    instances = _running(moto)
    assert len(instances) == 2
    assert _keys(moto) == [KEY]  # the state, and no lock left behind
    assert _shared(moto) == ["ledger.json", "spec.yaml"]  # what the next runner learns of this one
    applied = _state(moto)
    assert {i["attributes"]["id"] for r in applied["resources"] if r["type"] == "aws_instance"
            for i in r["instances"]} == set(instances)
    root_a = tmp_path / "runner-a" / NAME
    assert (root_a / "workspaces" / WORKSPACE / "main.tf.json").is_file()
    assert [p for p in (root_a / "workspaces").rglob("terraform.tfstate") if ".terraform" not in p.parts] == []

    # 2. runner B: a fresh state dir with only the secrets restored; another runner holds the lock
    root_b = tmp_path / "runner-b" / NAME
    root_b.mkdir(parents=True)
    shutil.copy(root_a / "secrets.json", root_b / "secrets.json")
    env_b = {**env_a, "CCDS_STATE_DIR": str(tmp_path / "runner-b")}
    held = json.dumps({"ID": "6c1b0f5e-0000-4000-8000-000000000001", "Operation": "OperationTypeApply",
                       "Info": "", "Who": "ci@other-runner", "Version": "1.11.4",
                       "Created": "2026-12-02T00:00:00Z", "Path": f"{BUCKET}/{KEY}"}).encode()
    _s3(moto).put_object(Bucket=BUCKET, Key=KEY + ".tflock", Body=held)
    plan = subprocess.Popen([sys.executable, "-m", "ccds_cli", "plan", "ccds.yaml", "--out", "saved", "-o", "json"],
                            cwd=tmp_path, env=env_b, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_plan_log(root_b / "logs", plan)
        time.sleep(2)
        assert plan.poll() is None, f"plan did not wait for the lock:\n{plan.communicate()}"
        lock = _s3(moto).get_object(Bucket=BUCKET, Key=KEY + ".tflock")["Body"].read()
        assert lock == held, "the foreign lock was overwritten"
        _s3(moto).delete_object(Bucket=BUCKET, Key=KEY + ".tflock")
        stdout, stderr = plan.communicate(timeout=120)
    finally:
        if plan.poll() is None:
            plan.kill()
            plan.communicate()
    assert plan.returncode == 0, f"exit {plan.returncode}:\n{stdout[-3000:]}\n{stderr[-5000:]}"
    (row,) = json.loads(stdout)["result"]["terraform"]
    assert row["workspace"] == WORKSPACE and row["planned"] == {"add": 0, "change": 0, "destroy": 0, "import": 0}, row
    assert _keys(moto) == [KEY] and _state(moto)["serial"] == applied["serial"]  # a plan writes nothing

    # 3. runner C (fresh again, as the apply job of docs/ci.md): status, then it applies that saved plan
    # (its state check reads the remote state) and tears everything down
    root_c = tmp_path / "runner-c" / NAME
    root_c.mkdir(parents=True)
    shutil.copy(root_a / "secrets.json", root_c / "secrets.json")
    env_c = {**env_a, "CCDS_STATE_DIR": str(tmp_path / "runner-c")}
    status = _ok(ccds(["status", "ccds.yaml", "-o", "json"], env_c, tmp_path))  # nothing rendered here yet
    assert status["healthy"] is True, json.dumps(status)[-3000:]
    assert {i["id"] for w in status["workspaces"] for r in w["roles"] for i in r["instances"]} == set(instances)
    seen = _ok(ccds(["events", "ccds.yaml", "-o", "json"], env_c, tmp_path))["operations"]
    assert [o["command"] for o in seen] == ["plan", "up"]  # what runners A and B did, shared
    applied_c = _ok(ccds(["up", "ccds.yaml", "--plan", "saved", "--yes", "-o", "json"], env_c, tmp_path))
    assert [(w["name"], w["result"], w["changes"]["add"]) for w in applied_c["workspaces"]] == [(WORKSPACE, "ok", 0)]
    down = _ok(ccds(["down", "ccds.yaml", "--yes", "-o", "json"], env_c, tmp_path))
    assert [(w["name"], w["result"]) for w in down["workspaces"]] == [(WORKSPACE, "ok")]
    assert down["workspaces"][0]["changes"]["destroy"] > 0
    assert _running(moto) == []
    assert _keys(moto) == [KEY] and _state(moto)["resources"] == []
    assert [p for p in tmp_path.rglob("terraform.tfstate") if ".terraform" not in p.parts] == []
