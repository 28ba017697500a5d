"""modules/aws control hand-off for real: the AWS provider from the local mirror against moto.

The managers' user_data carries `@@CCDS_DATABASE_HOST@@:@@CCDS_DATABASE_PORT@@` the way ccds
renders it; with `control.database.engine = "none"` the plan has no database resource at all and
the placeholders are emptied. (That an applied control plane's managers hold the RDS address is
checked in test_aws_moto.py's control apply, which already pays for one RDS create.)
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from pathlib import Path

import boto3
import pytest
from tfgraph import depends_on, find_cycle, module_graph
from tfhelp import terraform, terraform_env

MODULE = Path(__file__).resolve().parents[2] / "modules" / "aws"
REGION = "us-east-1"
SECRETS = {"db_password": "s3cret-pass-word", "manager/node_key": "tok-123"}
MANAGER_UD = ("#cloud-config\nwrite_files:\n- path: /etc/ccds/node.env\n  encoding: b64\n"
              "  content: @@CCDS_SECRETS_B64@@\nruncmd:\n"
              "- [ccds, sm, serve, --database-url, 'postgresql+psycopg://ccds:x@@@CCDS_DATABASE_HOST@@:@@CCDS_DATABASE_PORT@@/ccds']\n"
              "# login=@@CCDS_DATABASE_USER@@/@@CCDS_DATABASE_NAME@@ pw=@@CCDS_DATABASE_PASSWORD_B64@@\n")


def test_graph_no_cycle_managers_after_rds():
    graph = module_graph(MODULE)
    assert find_cycle(graph) == []
    assert depends_on(graph, "aws_instance.node", "aws_db_instance.this")
    assert not depends_on(graph, "aws_db_instance.this", "aws_instance.node")


def _ec2(url: str):
    return boto3.client("ec2", region_name=REGION, endpoint_url=url,
                        aws_access_key_id="test", aws_secret_access_key="test")


def _workspace(tmp_path: Path, url: str, deployment: str, engine: str) -> tuple[Path, dict[str, str]]:
    """A root module shaped like ccds renders it: moto provider, one call of modules/aws."""
    images = _ec2(url).describe_images(Filters=[{"Name": "architecture", "Values": ["x86_64"]}])["Images"]
    assert images, "moto has no x86_64 image"
    image = sorted(i["ImageId"] for i in images)[0]
    ws = tmp_path / "ws"
    shutil.copytree(MODULE, ws / "modules" / "aws")
    services = ["ec2", "elbv2", "rds", "route53", "sts", "iam"]
    root = {
        "terraform": {"required_providers": {"aws": {"source": "hashicorp/aws", "version": ">= 5.0, < 6.0"}}},
        "provider": {"aws": {
            "region": REGION, "access_key": "test", "secret_key": "test",
            "skip_credentials_validation": True, "skip_requesting_account_id": True,
            "skip_metadata_api_check": True, "max_retries": 2,
            "endpoints": [{s: url for s in services}],
        }},
        "variable": {"secrets": {"type": "map(string)", "sensitive": True, "default": {}}},
        "module": {"ccds": {
            "source": "./modules/aws", "secrets": "${var.secrets}",
            "deployment": deployment, "workspace": "control", "region": REGION,
            "network_cidr": "10.60.0.0/16",
            "tags": {"ccds-deployment": deployment, "ccds-workspace": "control"},
            "pools": {"manager": {"role": "manager", "count": 1, "instance_type": "t3.small",
                                  "image": image, "user_data": MANAGER_UD}},
            "firewall_rules": [{"role": "manager", "protocol": "tcp", "from_port": 8080, "to_port": 8080,
                                "cidrs": ["0.0.0.0/0"], "description": "api"}],
            "control": {"enabled": True, "api_port": 8080, "database": {"engine": engine}},
        }},
        "output": {"endpoints": {"value": "${module.ccds.endpoints}"}},
    }
    (ws / "main.tf.json").write_text(json.dumps(root, indent=2))
    env = terraform_env(tmp_path / "tfcli", {
        "TF_VAR_secrets": json.dumps(SECRETS), "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_EC2_METADATA_DISABLED": "true",
    })
    terraform(["init", "-no-color"], ws, env)
    terraform(["validate", "-no-color"], ws, env)
    return ws, env


def _expected(host: str, port: str) -> str:
    secrets = base64.b64encode(b"node_key=tok-123\n").decode()  # the manager's share only
    return (MANAGER_UD.replace("@@CCDS_SECRETS_B64@@", secrets)
            .replace("@@CCDS_DATABASE_HOST@@", host).replace("@@CCDS_DATABASE_PORT@@", port)
            .replace("@@CCDS_DATABASE_USER@@", "").replace("@@CCDS_DATABASE_NAME@@", "")
            .replace("@@CCDS_DATABASE_PASSWORD_B64@@", ""))


@pytest.mark.slow
def test_engine_none_plans_no_database(tmp_path, moto_url):
    ws, env = _workspace(tmp_path, moto_url, "wp-none", "none")
    terraform(["plan", "-no-color", "-out", "none.plan"], ws, env)
    plan = json.loads(terraform(["show", "-json", "none.plan"], ws, env).stdout)
    changes = {c["address"]: c["change"] for c in plan["resource_changes"]}
    assert not [a for a in changes if "aws_db_" in a or "database" in a], sorted(changes)
    assert "module.ccds.aws_lb.this[0]" in changes  # the rest of the control plane is there
    manager = changes['module.ccds.aws_instance.node["manager-0"]']
    # Known at plan time (nothing to wait for); the provider keeps user_data as its SHA-1.
    assert not manager["after_unknown"].get("user_data")
    assert manager["after"]["user_data"] == hashlib.sha1(_expected("", "").encode()).hexdigest()
