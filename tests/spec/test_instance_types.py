"""Instance types must fit the cloud of every placement they are used on (issue 15): another
cloud's type, or a name of the wrong shape, is refused by `ccds validate` with file:line:col; what
a cloud legitimately accepts (private clouds' own flavors, the local cloud's ignored types,
failover placements, which map sizes) still validates."""

from __future__ import annotations

import json
import re
from pathlib import Path

from speccli import EXAMPLES, assert_no_traceback, run_ccds

HEAD = """\
version: 1
name: types
providers:
  aws-main: {cloud: aws}
  azure-main: {cloud: azure, subscription_id: 00000000-0000-0000-0000-000000000000}
  gcp-main: {cloud: gcp, project: my-project}
  lab: {cloud: openstack, auth_url: https://keystone.lab.example:5000/v3, external_network: public, image: u22}
  onprem: {cloud: vsphere, server: vc.example, datacenter: dc1, cluster: c1, datastore: ds1, network: VM Network,
           template: ubuntu}
security:
  admin_cidrs: [203.0.113.0/24]
"""


def _validate(tmp_path: Path, body: str, name: str = "spec.yaml"):
    spec = tmp_path / name
    spec.write_text(HEAD + body)
    proc = run_ccds(["validate", str(spec)])
    assert_no_traceback(proc)
    return spec, proc


def test_eight_clouds_example_prices_every_control_node(tmp_path):
    """The example's managers on Azure used to get the AWS size c5.large, priced $0."""
    proc = run_ccds(["cost", str(EXAMPLES / "eight-clouds.yaml"), "--output", "json"])
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)["result"]
    managers = {line["cloud"]: line for line in report["lines"] if line["role"] == "manager"}
    assert set(managers) == {"aws", "azure"}
    assert managers["azure"]["item"] == "Standard_F4s_v2" and managers["azure"]["usd"] > 0
    assert not [w for w in report["warnings"] if "no price" in w], report["warnings"]


def test_control_type_is_checked_on_every_placement(tmp_path):
    spec, proc = _validate(tmp_path, """\
control:
  placement: [azure-main/westeurope, aws-main/us-east-1]
  instance_type: Standard_F4s_v2
regions:
  na-east:
    placement: aws-main/us-east-1
    network: {cidr: 10.10.0.0/16}
    pools: {origin: {capacity: 20}, edge: {capacity: 400}}
""")
    assert proc.returncode == 2
    assert re.search(re.escape(f"{spec}:14:3: control.instance_type: 'Standard_F4s_v2' is an Azure instance type, "
                               "not an AWS one (e.g. c5.large); it is used on control placement aws-main/us-east-1"),
                     proc.stderr), proc.stderr


def test_database_class_applies_to_the_primary_placement_only(tmp_path):
    """The database runs on the first control placement: an RDS class is right there, and the
    Azure managers beside it never use it."""
    _, proc = _validate(tmp_path, """\
control:
  placement: [aws-main/us-east-1, azure-main/westeurope]
  database: {instance_type: db.m6g.large}
regions:
  na-east:
    placement: aws-main/us-east-1
    network: {cidr: 10.10.0.0/16}
    pools: {origin: {capacity: 20}, edge: {capacity: 400}}
""")
    assert proc.returncode == 0, proc.stderr


def test_what_clouds_legitimately_accept_still_validates(tmp_path):
    """OpenStack flavors are the operator's own names (even one that looks like an AWS type), vSphere
    sizes are <vcpus>x<gb> (also for the database VM), and a region failing over to another cloud
    keeps its home cloud's type (failover maps it to the closest size there)."""
    _, proc = _validate(tmp_path, """\
control:
  placement: [onprem/dc1, lab/regionone]
  instance_type: 2x4
  database: {instance_type: 4x16}
regions:
  na-east:
    placement: aws-main/us-east-1
    failover: [gcp-main/us-east4, azure-main/eastus]
    network: {cidr: 10.10.0.0/16}
    pools: {origin: {capacity: 20, instance_type: c5.large}, edge: {capacity: 400, instance_type: c5.xlarge}}
  eu-lab:
    placement: lab/regionone
    network: {cidr: 10.11.0.0/16}
    pools: {origin: {capacity: 20, instance_type: c5.large}, edge: {capacity: 400, instance_type: gpu_big-1}}
""")
    assert proc.returncode == 0, proc.stderr


def test_local_cloud_ignores_instance_types(tmp_path):
    spec = tmp_path / "local.yaml"
    spec.write_text("""\
version: 1
name: here
engine: {kind: nginx-rtmp}
providers:
  laptop: {cloud: local}
regions:
  here:
    placement: laptop/local
    network: {cidr: 10.10.0.0/16}
    pools: {origin: {capacity: 20, instance_type: c5.large}, edge: {capacity: 50}}
""")
    proc = run_ccds(["validate", str(spec)])
    assert proc.returncode == 0, proc.stderr
