"""`ccds failover` for real: a region moves between AWS regions (the real provider against moto).

Make before break: the target comes up first, then the old placement is destroyed; failing back
returns it. Bad targets are refused before anything runs.
"""

from __future__ import annotations

import json

from tests.engine.motoenv import Moto, aws_e2e_marks, ccds, ccds_env

SPEC = """\
version: 1
name: fotest
engine: {kind: mediamtx}
providers:
  aws-main: {cloud: aws}
regions:
  na-east:
    placement: aws-main/us-east-1
    failover: [aws-main/us-west-2]
    network: {cidr: 10.10.0.0/16}
    pools:
      origin: {instance_type: t3.small, min: 1, max: 1, capacity: 20}
      edge:   {instance_type: t3.small, min: 1, max: 2, capacity: 200}
security:
  admin_cidrs: [203.0.113.0/24]
"""

pytestmark = aws_e2e_marks()


def _running(moto: Moto, region: str) -> int:
    pages = moto.ec2(region).describe_instances(Filters=[
        {"Name": "tag:ccds-deployment", "Values": ["fotest"]},
        {"Name": "instance-state-name", "Values": ["pending", "running"]}])
    return sum(len(r["Instances"]) for r in pages["Reservations"])


def _ok(proc):
    assert proc.returncode == 0, f"exit {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-4000:]}"
    return json.loads(proc.stdout)["result"]


def test_failover_moves_the_region_and_fails_back(tmp_path):
    moto = Moto()
    try:
        (tmp_path / "ccds.yaml").write_text(SPEC)
        env = ccds_env(tmp_path / "tf", moto.url)
        _ok(ccds(["up", "ccds.yaml", "--yes", "-o", "json"], env, tmp_path))
        assert (_running(moto, "us-east-1"), _running(moto, "us-west-2")) == (2, 0)

        bad = ccds(["failover", "ccds.yaml", "na-east", "--to", "aws-main/eu-west-1", "--yes"], env, tmp_path)
        assert bad.returncode == 2 and "not a placement of region na-east" in bad.stderr
        unknown = ccds(["failover", "ccds.yaml", "eu", "--yes"], env, tmp_path)
        assert unknown.returncode == 2 and "unknown region" in unknown.stderr

        moved = _ok(ccds(["failover", "ccds.yaml", "na-east", "--yes", "-o", "json"], env, tmp_path))
        assert (moved["from"], moved["to"]) == ("aws-main/us-east-1", "aws-main/us-west-2")
        # the new placement first, then the old one destroyed
        assert [w["name"] for w in moved["workspaces"]] == ["aws-main.us-west-2", "aws-main.us-east-1"]
        assert (_running(moto, "us-east-1"), _running(moto, "us-west-2")) == (0, 2)
        saved = json.loads((tmp_path / ".ccds" / "fotest" / "failover.json").read_text())
        assert saved == {"na-east": "aws-main/us-west-2"}

        # a later `up` keeps the region where failover put it, and status is healthy there
        again = _ok(ccds(["up", "ccds.yaml", "--yes", "-o", "json"], env, tmp_path))
        assert [w["name"] for w in again["workspaces"]] == ["aws-main.us-west-2"]
        assert all(sum(w["changes"].values()) == 0 for w in again["workspaces"])
        # and `plan` agrees with that `up`: the failed-over workspace, nothing to change
        planned = _ok(ccds(["plan", "ccds.yaml", "-o", "json"], env, tmp_path))["terraform"]
        assert [(r["workspace"], sum(r["planned"].values())) for r in planned] == [("aws-main.us-west-2", 0)]
        assert _ok(ccds(["status", "ccds.yaml", "-o", "json"], env, tmp_path))["healthy"] is True

        back = _ok(ccds(["failover", "ccds.yaml", "na-east", "--to", "aws-main/us-east-1", "--yes", "-o", "json"],
                        env, tmp_path))
        assert back["to"] == "aws-main/us-east-1"
        assert (_running(moto, "us-east-1"), _running(moto, "us-west-2")) == (2, 0)
        assert json.loads((tmp_path / ".ccds" / "fotest" / "failover.json").read_text()) == {}

        _ok(ccds(["down", "ccds.yaml", "--yes", "-o", "json"], env, tmp_path))
        assert (_running(moto, "us-east-1"), _running(moto, "us-west-2")) == (0, 0)
    finally:
        moto.stop()
