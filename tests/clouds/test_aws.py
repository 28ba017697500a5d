"""AWS adapter against a real moto server on loopback: credentials, tags, instance states."""

from __future__ import annotations

import boto3
import httpx
import pytest
from fakeapi import free_port
from moto.server import ThreadedMotoServer

from ccds_cli.clouds.aws import Aws, AwsProvider

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def moto_url():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws_env(clean_env, monkeypatch, moto_url):
    httpx.post(f"{moto_url}/moto-api/reset")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    return moto_url


def _launch(region: str, deployment: str, role: str, count: int = 1) -> list[str]:
    ec2 = boto3.client("ec2", region_name=region)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    tags = [{"Key": "ccds-deployment", "Value": deployment}, {"Key": "ccds-workspace", "Value": "na-east"},
            {"Key": "ccds-role", "Value": role}, {"Key": "Name", "Value": f"{deployment}-{role}"}]
    resp = ec2.run_instances(ImageId=image, MinCount=count, MaxCount=count, InstanceType="c5.large",
                             TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])
    return [i["InstanceId"] for i in resp["Instances"]]


def test_check_ok(aws_env):
    result = Aws().check(AwsProvider(cloud="aws"))
    assert result.ok, result
    assert "account" in result.reason


def test_check_without_credentials(clean_env, monkeypatch, moto_url):
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    result = Aws().check(AwsProvider(cloud="aws"))
    assert not result.ok
    assert "no AWS credentials" in result.reason and "aws configure" in result.fix


def test_check_unknown_profile(aws_env):
    result = Aws().check(AwsProvider(cloud="aws", profile="nope"))
    assert not result.ok and "nope" in result.fix


def test_check_rejected_credentials(aws_env):
    # Turn on moto's IAM authentication: unknown access keys are then refused.
    httpx.post(f"{aws_env}/moto-api/reset-auth", content=b"0")
    try:
        result = Aws().check(AwsProvider(cloud="aws"))
    finally:
        httpx.post(f"{aws_env}/moto-api/reset-auth", content=b"inf")
    assert not result.ok
    assert "credentials rejected" in result.reason


def test_inventory_tags_and_states(aws_env):
    cloud = Aws()
    cfg = AwsProvider(cloud="aws")
    edges = _launch("us-east-1", "watch", "edge", count=3)
    origin = _launch("us-east-1", "watch", "origin")[0]
    other = _launch("us-east-1", "another", "edge")[0]
    far = _launch("eu-west-1", "watch", "edge")[0]

    ec2 = boto3.client("ec2", region_name="us-east-1")
    ec2.stop_instances(InstanceIds=[edges[1]])
    ec2.terminate_instances(InstanceIds=[edges[2]])

    found = cloud.inventory(cfg, "watch", ["us-east-1", "eu-west-1"])
    by_id = {i.id: i for i in found}
    assert other not in by_id
    assert set(by_id) == set(edges) | {origin, far}
    assert by_id[edges[0]].state == "running" and by_id[edges[0]].cloud_state == "running"
    assert by_id[edges[1]].state == "stopped"
    assert by_id[edges[2]].state == "terminated"
    assert by_id[origin].role == "origin" and by_id[edges[0]].role == "edge"
    assert by_id[far].region == "eu-west-1"
    assert by_id[origin].workspace == "na-east"
    assert by_id[origin].private_ip and by_id[origin].launched_at
    assert by_id[origin].name == "watch-origin"
    # Sorted by region then name, so output is stable.
    assert [i.region for i in found] == sorted(i.region for i in found)


def test_inventory_paginates(aws_env):
    # One reservation each: EC2 pages by reservation.
    ids = [i for _ in range(12) for i in _launch("us-east-1", "big", "edge")]
    cloud = Aws()
    cloud.page_size = 5  # 12 instances: three pages, all must come back
    found = cloud.inventory(AwsProvider(cloud="aws"), "big", ["us-east-1"])
    assert sorted(i.id for i in found) == sorted(ids)
    first = boto3.client("ec2", region_name="us-east-1").describe_instances(
        MaxResults=5, Filters=[{"Name": "tag:ccds-deployment", "Values": ["big"]}])
    assert "NextToken" in first  # the server really paged


def test_state_map():
    cloud = Aws()
    assert cloud.ccds_state("shutting-down") == "terminated"
    assert cloud.ccds_state("stopping") == "stopped"
    assert cloud.ccds_state("weird") == "unknown"
