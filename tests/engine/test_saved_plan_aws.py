"""Saved plans on AWS (the real provider against moto): the plan reviewed is the plan applied, and a
plan whose workspace state moved on is refused before Terraform runs."""

from __future__ import annotations

import json

from tests.engine.motoenv import Moto, aws_e2e_marks, ccds, ccds_env

SPEC = """\
version: 1
name: savedplan
engine: {kind: mediamtx}
providers:
  aws-main: {cloud: aws}
regions:
  na-east:
    placement: aws-main/us-east-1
    network: {cidr: 10.10.0.0/16}
    pools:
      origin: {instance_type: t3.small, min: 1, max: 1, capacity: 20}
      edge:   {instance_type: t3.small, min: 1, max: 3, capacity: 200}
security:
  admin_cidrs: [203.0.113.0/24]
"""

pytestmark = aws_e2e_marks()


def _running(moto: Moto) -> int:
    pages = moto.ec2("us-east-1").describe_instances(Filters=[
        {"Name": "tag:ccds-deployment", "Values": ["savedplan"]},
        {"Name": "instance-state-name", "Values": ["pending", "running"]}])
    return sum(len(r["Instances"]) for r in pages["Reservations"])


def _json(proc, code=0):
    assert proc.returncode == code, f"exit {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-4000:]}"
    return json.loads(proc.stdout)


def test_saved_plan_on_aws(tmp_path):
    moto = Moto()
    try:
        (tmp_path / "ccds.yaml").write_text(SPEC)
        env = ccds_env(tmp_path / "tf", moto.url)
        planned = _json(ccds(["plan", "ccds.yaml", "--out", "plan-1", "-o", "json"], env, tmp_path))["result"]
        assert planned["saved"]["workspaces"] == ["aws-main.us-east-1"]
        row = planned["terraform"][0]
        assert row["result"] == "planned" and row["planned"]["add"] > 0
        assert _running(moto) == 0  # planning created nothing

        applied = _json(ccds(["up", "ccds.yaml", "--plan", "plan-1", "--yes", "-o", "json"], env, tmp_path))["result"]
        ws = applied["workspaces"][0]
        assert (ws["name"], ws["result"]) == ("aws-main.us-east-1", "ok")
        assert ws["changes"]["add"] == row["planned"]["add"]  # exactly what was reviewed
        assert _running(moto) == 2

        # A second plan, then the state moves (the edge pool scaled): the saved plan is refused.
        _json(ccds(["plan", "ccds.yaml", "--out", "plan-2", "-o", "json"], env, tmp_path))
        serial = json.loads((tmp_path / "plan-2" / "manifest.json").read_text())["workspaces"][0]["state"]["serial"]
        _json(ccds(["scale", "ccds.yaml", "na-east", "edge=2", "--yes", "-o", "json"], env, tmp_path))
        assert _running(moto) == 3
        refused = _json(ccds(["up", "ccds.yaml", "--plan", "plan-2", "--yes", "-o", "json"], env, tmp_path), 2)
        message = refused["error"]["message"]
        assert "scale count na-east/edge from the spec -> 2" in message
        assert f"workspace aws-main.us-east-1 state serial {serial} -> " in message
        assert _running(moto) == 3  # nothing applied

        # A plan made now applies; the deployment converges through it.
        _json(ccds(["plan", "ccds.yaml", "--out", "plan-3", "-o", "json"], env, tmp_path))
        again = _json(ccds(["up", "ccds.yaml", "--plan", "plan-3", "--yes", "-o", "json"], env, tmp_path))
        assert again["result"]["workspaces"][0]["result"] == "ok"

        # A saved plan whose create meets the resource already there (created, the answer lost): it is
        # imported and the rest of the plan, planned again alike, applied; no duplicate, no new plan.
        (tmp_path / "ccds.yaml").write_text(SPEC.replace("[203.0.113.0/24]", "[203.0.113.0/24, 198.51.100.0/24]"))
        _json(ccds(["plan", "ccds.yaml", "--out", "plan-4", "-o", "json"], env, tmp_path))
        ec2 = moto.ec2("us-east-1")
        (group,) = ec2.describe_security_groups(Filters=[{"Name": "tag:Name", "Values": ["savedplan-na-east-edge"]}])[
            "SecurityGroups"]
        ec2.authorize_security_group_ingress(GroupId=group["GroupId"], IpPermissions=[{
            "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "198.51.100.0/24"}]}])
        finished = _json(ccds(["up", "ccds.yaml", "--plan", "plan-4", "--yes", "-o", "json"], env, tmp_path))
        (ws,) = finished["result"]["workspaces"]
        planned = json.loads((tmp_path / "plan-4" / "manifest.json").read_text())["workspaces"][0]["planned"]
        assert ws["result"] == "ok" and ws["changes"]["add"] == planned["add"], ws
        assert any("already existed" in r for r in ws["retries"]) and any(
            r.startswith("finishing the saved plan: ") for r in ws["retries"]), ws["retries"]
        rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group["GroupId"]]}])
        ssh = [r for r in rules["SecurityGroupRules"] if r.get("CidrIpv4") == "198.51.100.0/24" and r["FromPort"] == 22]
        assert len(ssh) == 1
        assert _json(ccds(["plan", "ccds.yaml", "-o", "json"], env, tmp_path))["result"]["terraform"][0]["planned"] == {
            "add": 0, "change": 0, "destroy": 0, "import": 0}
        _json(ccds(["down", "ccds.yaml", "--yes", "-o", "json"], env, tmp_path))
        assert _running(moto) == 0
    finally:
        moto.stop()
