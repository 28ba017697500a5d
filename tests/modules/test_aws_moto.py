"""modules/aws for real: the AWS provider from the local mirror against a moto server.

A root module shaped like the ones ccds renders (main.tf.json + a copy of modules/aws, secrets
through TF_VAR_secrets) is validated, applied, inspected through boto3, re-planned after a scale
change and destroyed.
"""

from __future__ import annotations

import base64
import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import boto3
import pytest
from tfhelp import terraform, terraform_env
from tfschema import check_workspace

MODULE = Path(__file__).resolve().parents[2] / "modules" / "aws"
REGION = "us-east-1"
SERVICES = ["ec2", "elbv2", "rds", "route53", "sts", "iam", "acm"]
SECRETS = {"db_password": "s3cret-pass-word", "origin/0/node_token": "tok-123", "edge/0/node_token": "e0"}
MANAGER_UD = ("#cloud-config\nwrite_files:\n- path: /etc/ccds/node.env\n  encoding: b64\n"
              "  content: @@CCDS_SECRETS_B64@@\nruncmd:\n"
              "- [ccds, sm, serve, --database-url, 'postgresql+psycopg://ccds:x@@@CCDS_DATABASE_HOST@@:@@CCDS_DATABASE_PORT@@/ccds']\n"
              "# login=@@CCDS_DATABASE_USER@@/@@CCDS_DATABASE_NAME@@ pw=@@CCDS_DATABASE_PASSWORD_B64@@\n")
USER_DATA = "#cloud-config\nwrite_files:\n- path: /etc/ccds/node.env\n  encoding: b64\n  content: @@CCDS_SECRETS_B64@@\n"
CANONICAL = "099720109477"

pytestmark = pytest.mark.slow


def _client(service: str, url: str):
    return boto3.client(service, region_name=REGION, endpoint_url=url,
                        aws_access_key_id="test", aws_secret_access_key="test")


def _ssh_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                         serialization.PublicFormat.OpenSSH).decode() + " ccds@test"


def _write_root(ws: Path, url: str, module_args: dict) -> None:
    """The root module ccds would render: provider for moto, one call of modules/aws."""
    root = {
        "terraform": {"required_providers": {"aws": {"source": "hashicorp/aws", "version": ">= 5.0, < 6.0"}}},
        "provider": {"aws": {
            "region": REGION,
            "access_key": "test",
            "secret_key": "test",
            "skip_credentials_validation": True,
            "skip_requesting_account_id": True,
            "skip_metadata_api_check": True,
            "max_retries": 2,  # a moto gap should fail fast, not back off for minutes
            "endpoints": [{svc: url for svc in SERVICES}],
        }},
        "variable": {"secrets": {"type": "map(string)", "sensitive": True, "default": {}}},
        "module": {"ccds": {"source": "./modules/aws", "secrets": "${var.secrets}", **module_args}},
        "output": {
            "nodes": {"value": "${module.ccds.nodes}"},
            "endpoints": {"value": "${module.ccds.endpoints}"},
            "network_id": {"value": "${module.ccds.network_id}"},
            "database_password": {"value": "${module.ccds.database_password}", "sensitive": True},
        },
    }
    (ws / "main.tf.json").write_text(json.dumps(root, indent=2))


def _workspace(tmp_path: Path, url: str, module_args: dict) -> tuple[Path, dict[str, str]]:
    """Write a ccds-like workspace with a copy of modules/aws, init and validate it."""
    ws = tmp_path / "ws"
    shutil.copytree(MODULE, ws / "modules" / "aws")
    _write_root(ws, url, module_args)
    env = terraform_env(tmp_path / "tfcli", {
        "TF_VAR_secrets": json.dumps(SECRETS),
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_EC2_METADATA_DISABLED": "true",
    })
    assert check_workspace(ws) == []
    terraform(["init", "-no-color"], ws, env)
    terraform(["validate", "-no-color"], ws, env)
    return ws, env


def _outputs(ws: Path, env: dict[str, str]) -> dict:
    raw = json.loads(terraform(["output", "-json", "-no-color"], ws, env).stdout)
    return {k: v["value"] for k, v in raw.items()}


def _instances(ec2, deployment: str, states=("pending", "running")) -> list[dict]:
    pages = ec2.describe_instances(Filters=[
        {"Name": "tag:ccds-deployment", "Values": [deployment]},
        {"Name": "instance-state-name", "Values": list(states)},
    ])
    return [i for r in pages["Reservations"] for i in r["Instances"]]


def _explicit_image(ec2) -> str:
    """moto ships no Ubuntu 22.04, so the node test names an x86_64 image it does have."""
    images = ec2.describe_images(Filters=[{"Name": "architecture", "Values": ["x86_64"]},
                                          {"Name": "virtualization-type", "Values": ["hvm"]}])["Images"]
    assert images, "moto has no x86_64 hvm image"
    return sorted(images, key=lambda i: i["ImageId"])[0]["ImageId"]


def _publish_canonical_jammy(arch: str = "x86_64") -> str:
    """Publish two Canonical-owned Ubuntu 22.04 AMIs in moto's region, as AWS has them.

    moto's bundled images stop at Ubuntu 16.04, so the module's real default lookup (owner
    Canonical, jammy name pattern, most recent) is exercised against these; the newer must win.
    """
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ec2.models import ec2_backends
    from moto.ec2.models.amis import Ami

    backend = ec2_backends[DEFAULT_ACCOUNT_ID][REGION]
    ubuntu_arch, digit = ("amd64", "0") if arch == "x86_64" else ("arm64", "a")
    ids = [f"ami-0a1b2c3d4e5f6{digit}001", f"ami-0a1b2c3d4e5f6{digit}002"]
    for ami_id, stamp in zip(ids, ("20240101", "20250301")):
        backend.amis[ami_id] = Ami(
            backend, ami_id=ami_id, owner_id=CANONICAL, architecture=arch,
            virtualization_type="hvm", root_device_type="ebs", root_device_name="/dev/sda1",
            name=f"ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-{ubuntu_arch}-server-{stamp}",
            creation_date=datetime.strptime(stamp, "%Y%m%d").replace(tzinfo=timezone.utc),
        )
    return ids[1]


def _base_args(deployment: str, workspace: str) -> dict:
    return {
        "deployment": deployment,
        "workspace": workspace,
        "region": REGION,
        "network_cidr": "10.20.0.0/16",
        "tags": {"ccds-deployment": deployment, "ccds-workspace": workspace},
    }


def test_nodes_apply_scale_destroy(tmp_path, moto_url):
    ec2 = _client("ec2", moto_url)
    image = _explicit_image(ec2)
    rules = [
        {"role": "origin", "protocol": "tcp", "from_port": 1935, "to_port": 1935,
         "cidrs": ["0.0.0.0/0"], "description": "rtmp ingest"},
        {"role": "origin", "protocol": "icmp", "from_port": 0, "to_port": 0,
         "cidrs": ["10.20.0.0/16"], "description": "ping"},
        {"role": "edge", "protocol": "udp", "from_port": 8189, "to_port": 8189,
         "cidrs": ["0.0.0.0/0"], "description": "webrtc media"},
        {"role": "edge", "protocol": "tcp", "from_port": 22, "to_port": 22,
         "cidrs": ["203.0.113.0/24", "198.51.100.0/24"], "description": "ssh"},
        {"role": "relay", "protocol": "tcp", "from_port": 1, "to_port": 2,
         "cidrs": ["0.0.0.0/0"], "description": "no relay pool: no group, no rule"},
    ]
    pools = {
        "origin": {"role": "origin", "count": 1, "instance_type": "t3.small", "image": image,
                   "user_data": USER_DATA},
        "edge": {"role": "edge", "count": 2, "instance_type": "t3.medium", "image": image, "disk_gb": 40},
    }
    args = {**_base_args("wp-nodes", "na-east"), "pools": pools, "firewall_rules": rules,
            "ssh_public_key": _ssh_key()}
    ws, env = _workspace(tmp_path, moto_url, args)
    terraform(["apply", "-auto-approve", "-no-color"], ws, env)

    out = _outputs(ws, env)
    nodes = {n["name"]: n for n in out["nodes"]}
    assert sorted(nodes) == ["wp-nodes-na-east-edge-0", "wp-nodes-na-east-edge-1", "wp-nodes-na-east-origin-0"]
    assert all(n["id"].startswith("i-") and n["private_ip"].startswith("10.20.") for n in nodes.values())
    assert out["endpoints"] == {"api": "", "database_host": "", "database_port": "", "database_user": "",
                                "database_name": "", "dns_name": ""}
    assert out["database_password"] == ""
    assert out["network_id"].startswith("vpc-")

    instances = _instances(ec2, "wp-nodes")
    assert len(instances) == 3
    groups = {}
    for inst in instances:
        tags = {t["Key"]: t["Value"] for t in inst["Tags"]}
        assert tags["ccds-workspace"] == "na-east"
        assert tags["Name"] == f"wp-nodes-na-east-{tags['ccds-pool']}-{tags['Name'][-1]}"
        assert tags["ccds-role"] == tags["ccds-pool"]
        assert inst["KeyName"] == "wp-nodes-na-east"
        assert "IamInstanceProfile" not in inst  # nodes call no AWS API: no instance role at all
        assert inst["ImageId"] == image
        assert inst["VpcId"] == out["network_id"]
        (sg,) = inst["SecurityGroups"]
        groups[tags["ccds-role"]] = sg["GroupId"]
    assert len(set(groups.values())) == 2

    def ingress(role):
        found = ec2.describe_security_group_rules(
            Filters=[{"Name": "group-id", "Values": [groups[role]]}])["SecurityGroupRules"]
        return sorted((r["IpProtocol"], r["FromPort"], r["ToPort"], r.get("CidrIpv4"))
                      for r in found if not r["IsEgress"])

    assert ingress("origin") == [("icmp", -1, -1, "10.20.0.0/16"), ("tcp", 1935, 1935, "0.0.0.0/0")]
    assert ingress("edge") == [("tcp", 22, 22, "198.51.100.0/24"), ("tcp", 22, 22, "203.0.113.0/24"),
                               ("udp", 8189, 8189, "0.0.0.0/0")]
    vpc_groups = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [out["network_id"]]}])["SecurityGroups"]
    assert not any(g["GroupName"].endswith("-relay") for g in vpc_groups)

    origin_id = nodes["wp-nodes-na-east-origin-0"]["id"]
    user_data = ec2.describe_instance_attribute(InstanceId=origin_id, Attribute="userData")
    text = base64.b64decode(user_data["UserData"]["Value"]).decode()
    (b64,) = [line.split("content: ", 1)[1] for line in text.splitlines() if "content: " in line]
    assert base64.b64decode(b64).decode() == "node_token=tok-123\n"  # its own share: never db_password

    # Scaling one pool adds exactly one instance and touches nothing else.
    args["pools"]["edge"]["count"] = 3
    _write_root(ws, moto_url, args)
    terraform(["plan", "-no-color", "-out", "scale.plan"], ws, env)
    plan = json.loads(terraform(["show", "-json", "scale.plan"], ws, env).stdout)
    changes = {c["address"]: c["change"]["actions"] for c in plan["resource_changes"]
               if c["change"]["actions"] != ["no-op"]}
    assert changes == {'module.ccds.aws_instance.node["edge-2"]': ["create"]}

    terraform(["destroy", "-auto-approve", "-no-color"], ws, env)
    assert _instances(ec2, "wp-nodes") == []
    assert ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [out["network_id"]]}])["Vpcs"] == []


def _operator_args() -> dict:
    """control.operator as ccds renders it for `operate.on_managers` (ccds_cli/render.py)."""
    from ccds_cli.plan import OperatorPlan
    from ccds_cli.render import _operator

    return _operator(OperatorPlan(deployment="wp-ctl", bucket="ccds-op-state", key_prefix="ci/ccds",
                                  state_region="us-east-1", api_port=8080, regions=("us-east-1", "us-west-2")))


def _document(value) -> dict:
    """An IAM policy document as the API returns it (moto: a dict, or URL-encoded JSON)."""
    from urllib.parse import unquote

    return value if isinstance(value, dict) else json.loads(unquote(value))


def _list(value) -> list:
    return value if isinstance(value, list) else [value]


def test_control_apply_destroy(tmp_path, moto_url, monkeypatch):
    """The control plane with a Route53 zone, so with TLS: ACM certificate validated through the
    zone, HTTPS on 443, the plain listener a redirect on 80, an https:// endpoint. With
    `operate.on_managers` (control.operator, as ccds renders it): the managers' instance profile,
    its role assumable by EC2 only and its policy scoped by tag, region and state prefix (the same
    apply; moto does not evaluate IAM policies, so this checks the documents AWS would enforce)."""
    from moto import settings as moto_settings

    # moto issues a DNS-validated certificate once it is this old (default 60 s) when described
    monkeypatch.setattr(moto_settings, "ACM_VALIDATION_WAIT", 0)
    newest = _publish_canonical_jammy()
    route53 = _client("route53", moto_url)
    zone_id = route53.create_hosted_zone(Name="live.example.com", CallerReference="ccds-test")["HostedZone"]["Id"]
    rules = [
        {"role": "manager", "protocol": "tcp", "from_port": 8080, "to_port": 8080,
         "cidrs": ["0.0.0.0/0"], "description": "stream manager api"},
        {"role": "database", "protocol": "tcp", "from_port": 5432, "to_port": 5432,
         "cidrs": ["10.30.0.0/20"], "description": "postgres from managers"},
    ]
    args = {**_base_args("wp-ctl", "control"), "network_cidr": "10.30.0.0/16",
            "pools": {"manager": {"role": "manager", "count": 2, "instance_type": "t3.small",
                                  "user_data": MANAGER_UD}},
            "firewall_rules": rules,
            # replicas 1 = the Multi-AZ standby (asserted below). Read replicas (replicas >= 2) are
            # checked at plan level (test_database_replicas_plan): moto 5.2 gives a replica the
            # source's DbiResourceId, so the provider cannot read one back after creating it.
            "control": {"enabled": True, "api_port": 8080, "database": {"replicas": 1},
                        "dns_zone": "live.example.com", "dns_name": "api", "operator": _operator_args(),
                        # one of several control placements answering the name (ccds renders this then)
                        "dns_set_id": "aws-main.us-east-1"}}
    ws, env = _workspace(tmp_path, moto_url, args)
    terraform(["apply", "-auto-approve", "-no-color"], ws, env)
    out = _outputs(ws, env)

    ec2 = _client("ec2", moto_url)
    managers = sorted(_instances(ec2, "wp-ctl"), key=lambda i: i["InstanceId"])
    assert len(managers) == 2
    inst = managers[0]
    assert inst["ImageId"] == newest  # the module's own Ubuntu 22.04 lookup picked the newest
    _check_operator(moto_url, managers)

    elb = _client("elbv2", moto_url)
    (lb,) = [x for x in elb.describe_load_balancers()["LoadBalancers"] if x["LoadBalancerName"] == "wp-ctl-control-api"]
    (tg,) = elb.describe_target_groups(LoadBalancerArn=lb["LoadBalancerArn"])["TargetGroups"]
    assert tg["HealthCheckPath"] == "/api/v1/health" and tg["Port"] == 8080
    targets = elb.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]
    assert sorted(t["Target"]["Id"] for t in targets) == [i["InstanceId"] for i in managers]
    listeners = {x["Port"]: x for x in elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]}
    assert sorted(listeners) == [80, 443]  # nothing on api_port: that is the managers' port only
    (redirect,) = listeners[80]["DefaultActions"]
    assert listeners[80]["Protocol"] == "HTTP" and redirect["Type"] == "redirect"
    assert {k: redirect["RedirectConfig"][k] for k in ("Protocol", "Port", "StatusCode")} == {
        "Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}
    https = listeners[443]
    assert https["Protocol"] == "HTTPS" and https["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert [a["TargetGroupArn"] for a in https["DefaultActions"] if a["Type"] == "forward"] == [tg["TargetGroupArn"]]
    (cert_ref,) = https["Certificates"]
    cert = _client("acm", moto_url).describe_certificate(CertificateArn=cert_ref["CertificateArn"])["Certificate"]
    assert cert["DomainName"] == "api.live.example.com" and cert["Status"] == "ISSUED"
    (option,) = cert["DomainValidationOptions"]
    assert option["ValidationMethod"] == "DNS"
    (lb_group,) = lb["SecurityGroups"]
    lb_ingress = sorted((r["FromPort"], r["CidrIpv4"]) for r in ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [lb_group]}])["SecurityGroupRules"] if not r["IsEgress"])
    assert lb_ingress == [(80, "0.0.0.0/0"), (443, "0.0.0.0/0")]  # the manager rule's CIDRs

    rds = _client("rds", moto_url)
    (db,) = rds.describe_db_instances(DBInstanceIdentifier="wp-ctl-control-db")["DBInstances"]
    assert db["Engine"] == "postgres" and db["MultiAZ"] is True
    assert db["PubliclyAccessible"] is False  # database rules stay inside the VPC
    assert out["endpoints"]["database_host"] == db["Endpoint"]["Address"]
    assert out["endpoints"]["database_port"] == str(db["Endpoint"]["Port"])
    # the managers' bootstrap names the database the module created (no placeholder left)
    attr = ec2.describe_instance_attribute(InstanceId=inst["InstanceId"], Attribute="userData")
    user_data = base64.b64decode(attr["UserData"]["Value"]).decode()
    assert "@@CCDS_" not in user_data
    assert f"ccds:x@{db['Endpoint']['Address']}:{db['Endpoint']['Port']}/ccds" in user_data
    # ... and the login: RDS's master user and database, ccds's own password (base64, for cloud-init)
    assert db["MasterUsername"] == out["endpoints"]["database_user"] == "ccds"
    assert db["DBName"] == out["endpoints"]["database_name"] == "ccds"
    assert out["database_password"] == SECRETS["db_password"]
    assert f"login=ccds/ccds pw={base64.b64encode(SECRETS['db_password'].encode()).decode()}" in user_data

    records = route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    (alias,) = [r for r in records if r["Type"] == "A"]
    assert alias["Name"].rstrip(".") == "api.live.example.com"
    # a latency record of its own: the other placements add theirs under the same name
    assert alias["SetIdentifier"] == "aws-main.us-east-1" and alias["Region"] == "us-east-1", alias
    # ACM's validation record, in the same zone
    (cname,) = [r for r in records if r["Type"] == "CNAME"]
    assert cname["Name"] == option["ResourceRecord"]["Name"]
    assert [v["Value"] for v in cname["ResourceRecords"]] == [option["ResourceRecord"]["Value"]]
    assert out["endpoints"]["dns_name"] == "api.live.example.com"
    assert out["endpoints"]["api"] == "https://api.live.example.com"

    terraform(["destroy", "-auto-approve", "-no-color"], ws, env)
    assert _instances(ec2, "wp-ctl") == []
    assert [x for x in elb.describe_load_balancers()["LoadBalancers"] if x["LoadBalancerName"] == "wp-ctl-control-api"] == []
    assert rds.describe_db_instances()["DBInstances"] == []
    iam = _client("iam", moto_url)
    assert [r for r in iam.list_roles()["Roles"] if r["RoleName"].startswith("wp-ctl")] == []
    assert iam.list_instance_profiles()["InstanceProfiles"] == []


def _check_operator(moto_url: str, managers: list[dict]) -> None:
    iam = _client("iam", moto_url)
    role = iam.get_role(RoleName="wp-ctl-control-operator")["Role"]
    (trust,) = _document(role["AssumeRolePolicyDocument"])["Statement"]
    assert (trust["Effect"], trust["Action"], trust["Principal"]) == ("Allow", "sts:AssumeRole",
                                                                       {"Service": "ec2.amazonaws.com"})
    assert iam.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"] == []
    (policy_name,) = iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"]
    policy = _document(iam.get_role_policy(RoleName=role["RoleName"], PolicyName=policy_name)["PolicyDocument"])
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert all(s["Effect"] == "Allow" for s in statements.values())
    actions = [a for s in statements.values() for a in _list(s["Action"])]
    assert {a.split(":")[0] for a in actions} == {"ec2", "s3"}  # nothing on IAM (no PassRole), no STS
    for sid, s in statements.items():  # every EC2 statement: only the regions the spec uses on AWS
        if _list(s["Action"])[0].startswith("ec2:"):
            assert sorted(_list(s["Condition"]["StringEquals"]["aws:RequestedRegion"])) == [
                "us-east-1", "us-west-2"], sid
    create = statements["CreateTagged"]  # creating: only with the deployment's tag in the request
    assert {"ec2:RunInstances", "ec2:CreateVpc", "ec2:CreateSecurityGroup"} <= set(create["Action"])
    assert create["Condition"]["StringEquals"]["aws:RequestTag/ccds-deployment"] == "wp-ctl"
    changing = {a for a in actions if a.startswith(("ec2:Delete", "ec2:Terminate", "ec2:Modify", "ec2:Revoke",
                                                      "ec2:Stop", "ec2:Detach", "ec2:Disassociate"))}
    assert {"ec2:TerminateInstances", "ec2:DeleteVpc", "ec2:RevokeSecurityGroupIngress"} <= changing
    for sid, s in statements.items():  # changing, deleting, terminating: only what carries the tag
        if changing & set(_list(s["Action"])):
            assert s["Condition"]["StringEquals"]["ec2:ResourceTag/ccds-deployment"] == "wp-ctl", sid
    assert statements["UntagOwn"]["Condition"]["ForAllValues:StringNotEquals"]["aws:TagKeys"] == "ccds-deployment"
    assert (statements["Describe"]["Action"], statements["Describe"]["Resource"]) == ("ec2:Describe*", "*")
    listing = statements["StateList"]  # the state bucket: only under <key_prefix>/<name>/
    assert (listing["Action"], listing["Resource"]) == ("s3:ListBucket", "arn:aws:s3:::ccds-op-state")
    assert sorted(_list(listing["Condition"]["StringLike"]["s3:prefix"])) == ["ci/ccds/wp-ctl/", "ci/ccds/wp-ctl/*"]
    objects = statements["StateObjects"]
    assert sorted(_list(objects["Action"])) == ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
    assert objects["Resource"] == "arn:aws:s3:::ccds-op-state/ci/ccds/wp-ctl/*"
    (profile,) = [p for p in iam.list_instance_profiles()["InstanceProfiles"]
                  if p["InstanceProfileName"] == "wp-ctl-control-operator"]
    assert [r["RoleName"] for r in profile["Roles"]] == [role["RoleName"]]
    assert [i.get("IamInstanceProfile", {}).get("Arn") for i in managers] == [profile["Arn"]] * 2


def _plan(ws: Path, env: dict[str, str]) -> dict[str, dict]:
    """`terraform plan` as JSON: resource address -> planned values after the change."""
    terraform(["plan", "-no-color", "-out", "check.plan"], ws, env)
    plan = json.loads(terraform(["show", "-json", "check.plan"], ws, env).stdout)
    return {c["address"]: c["change"]["after"] for c in plan["resource_changes"]}


def test_control_plan_decisions(tmp_path, moto_url):
    """Plan-level choices: Graviton image, public database, API CIDRs, missing password."""
    arm = _publish_canonical_jammy("arm64")
    rules = [
        {"role": "manager", "protocol": "tcp", "from_port": 8000, "to_port": 9000,
         "cidrs": ["203.0.113.0/24"], "description": "api from admins"},
        {"role": "manager", "protocol": "tcp", "from_port": 22, "to_port": 22,
         "cidrs": ["198.51.100.0/24"], "description": "ssh: not an api cidr"},
        {"role": "database", "protocol": "tcp", "from_port": 5432, "to_port": 5432,
         "cidrs": ["10.40.0.0/16", "192.0.2.0/24"], "description": "managers here and in another cloud"},
    ]
    args = {**_base_args("wp-plan", "control"), "network_cidr": "10.40.0.0/16",
            "pools": {"manager": {"role": "manager", "count": 2, "instance_type": "t4g.small"}},
            "firewall_rules": rules, "control": {"enabled": True}}
    ws, env = _workspace(tmp_path, moto_url, args)
    after = _plan(ws, env)
    assert after['module.ccds.aws_instance.node["manager-0"]']["ami"] == arm
    assert after['module.ccds.aws_instance.node["manager-1"]']["ami"] == arm
    db = after["module.ccds.aws_db_instance.this[0]"]
    assert db["publicly_accessible"] is True and db["multi_az"] is False
    assert db["instance_class"] == "db.t4g.micro" and db["engine_version"] == "15"
    lb_rules = sorted(v["cidr_ipv4"] for k, v in after.items()
                      if k.startswith("module.ccds.aws_vpc_security_group_ingress_rule.lb["))
    assert lb_rules == ["203.0.113.0/24"]
    assert "module.ccds.aws_route53_record.api[0]" not in after
    # No zone, no certificate: plain HTTP on api_port straight to the managers, nothing of TLS.
    listener = after["module.ccds.aws_lb_listener.this[0]"]
    assert listener["port"] == 8080 and listener["protocol"] == "HTTP"
    assert [a["type"] for a in listener["default_action"]] == ["forward"]
    assert not [k for k in after if any(w in k for w in ("https", "redirect", "acm", "validation"))]
    assert {v["from_port"] for k, v in after.items() if ".aws_vpc_security_group_ingress_rule.lb[" in k} == {8080}
    assert not any(k.startswith("module.ccds.aws_key_pair") for k in after)

    # Only addresses inside the VPC: the database stays private.
    rules[2]["cidrs"] = ["10.40.16.0/20"]
    _write_root(ws, moto_url, args)
    assert _plan(ws, env)["module.ccds.aws_db_instance.this[0]"]["publicly_accessible"] is False

    # security.tls.certificate_arn without a zone: HTTPS with that certificate, no ACM request, no
    # record; the endpoint is the domain the user points at the load balancer.
    arn = "arn:aws:acm:us-east-1:123456789012:certificate/0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"
    args["control"] = {"enabled": True, "dns_name": "api.example.net", "certificate_arn": arn}
    _write_root(ws, moto_url, args)
    terraform(["plan", "-no-color", "-out", "tls.plan"], ws, env)
    plan = json.loads(terraform(["show", "-json", "tls.plan"], ws, env).stdout)
    after = {c["address"]: c["change"]["after"] for c in plan["resource_changes"]}
    https = after["module.ccds.aws_lb_listener.https[0]"]
    assert https["certificate_arn"] == arn and https["port"] == 443 and https["protocol"] == "HTTPS"
    assert after["module.ccds.aws_lb_listener.redirect[0]"]["port"] == 80
    assert not [k for k in after if "acm" in k or "route53" in k or k == "module.ccds.aws_lb_listener.this[0]"]
    assert {v["from_port"] for k, v in after.items() if ".aws_vpc_security_group_ingress_rule.lb" in k} == {80, 443}
    assert plan["output_changes"]["endpoints"]["after"]["api"] == "https://api.example.net"
    args["control"]["certificate_arn"] = "arn:aws:iam::123456789012:server-certificate/api"
    _write_root(ws, moto_url, args)
    proc = terraform(["plan", "-no-color"], ws, env, check=False)
    assert proc.returncode != 0 and "control.certificate_arn must be the ARN of an ACM certificate" in proc.stderr
    args["control"] = {"enabled": True}
    _write_root(ws, moto_url, args)

    env_without = {**env, "TF_VAR_secrets": json.dumps({"origin/0/node_token": "x"})}
    proc = terraform(["plan", "-no-color"], ws, env_without, check=False)
    assert proc.returncode != 0
    assert 'secrets["db_password"]' in proc.stderr


def test_database_replicas_plan(tmp_path, moto_url):
    """control.database.replicas counts the servers beside the primary: 0 = the primary alone
    (single-AZ); 1 = a Multi-AZ standby; each one more is a read replica of the primary, in the same
    network, class and security group (what `ccds cost` prices: primary + replicas)."""
    rules = [{"role": "database", "protocol": "tcp", "from_port": 5432, "to_port": 5432,
              "cidrs": ["10.50.0.0/16"], "description": "postgres from managers"}]
    args = {**_base_args("wp-rep", "control"), "network_cidr": "10.50.0.0/16", "pools": {}, "firewall_rules": rules,
            "control": {"enabled": True, "database": {"replicas": 0, "instance_class": "db.t3.medium"}}}
    ws, env = _workspace(tmp_path, moto_url, args)
    after = _plan(ws, env)
    dbs = sorted(k for k in after if k.startswith("module.ccds.aws_db_instance."))
    assert dbs == ["module.ccds.aws_db_instance.this[0]"]
    assert after["module.ccds.aws_db_instance.this[0]"]["multi_az"] is False

    args["control"]["database"]["replicas"] = 1  # the spec's default
    _write_root(ws, moto_url, args)
    after = _plan(ws, env)
    assert sorted(k for k in after if k.startswith("module.ccds.aws_db_instance.")) == dbs
    assert after["module.ccds.aws_db_instance.this[0]"]["multi_az"] is True

    args["control"]["database"]["replicas"] = 3
    _write_root(ws, moto_url, args)
    after = _plan(ws, env)
    primary = after["module.ccds.aws_db_instance.this[0]"]
    assert primary["multi_az"] is True
    replicas = [after[f"module.ccds.aws_db_instance.replica[{i}]"] for i in range(2)]
    assert not [k for k in after if k.startswith("module.ccds.aws_db_instance.replica[2]")]
    for i, replica in enumerate(replicas, 1):
        assert replica["identifier"] == f"wp-rep-control-db-replica-{i}"
        assert replica["replicate_source_db"] == primary["identifier"] == "wp-rep-control-db"
        assert replica["instance_class"] == "db.t3.medium" and replica["multi_az"] is False
        assert replica["publicly_accessible"] is False
