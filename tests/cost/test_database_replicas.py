"""`control.database.replicas` means the same in the docs, the modules and `ccds cost` (issue 15):
servers kept beside the primary (a standby first, then read replicas), 0 = the primary alone.
`ccds cost` prices the primary plus the replicas the primary's cloud creates; `ccds validate` warns
when a cloud creates fewer than asked."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

SPEC = """\
version: 1
name: db
providers:
  aws-main: {{cloud: aws}}
  azure-main: {{cloud: azure, subscription_id: 00000000-0000-0000-0000-000000000000}}
  gcp-main: {{cloud: gcp, project: p}}
control:
  placement: [{primary}]
  database: {{storage_gb: 20{replicas}}}
regions:
  na-east:
    placement: aws-main/us-east-1
    network: {{cidr: 10.10.0.0/16}}
    pools: {{origin: {{capacity: 20}}, edge: {{capacity: 400}}}}
security:
  admin_cidrs: [203.0.113.0/24]
"""


def _run(tmp_path: Path, command: str, primary: str, replicas: int | None) -> subprocess.CompletedProcess:
    spec = tmp_path / f"{command}-{primary.split('/')[0]}-{replicas}.yaml"
    spec.write_text(SPEC.format(primary=primary, replicas="" if replicas is None else f", replicas: {replicas}"))
    return subprocess.run([sys.executable, "-m", "ccds_cli", command, str(spec), "--output", "json"],
                          capture_output=True, text=True, timeout=60)


def _database_line(tmp_path: Path, primary: str, replicas: int | None) -> dict:
    proc = _run(tmp_path, "cost", primary, replicas)
    assert proc.returncode == 0, proc.stderr
    (line,) = [x for x in json.loads(proc.stdout)["result"]["lines"] if x["category"] == "database"]
    return line


@pytest.mark.parametrize("replicas,servers", [(0, 1), (None, 2), (1, 2), (3, 4)])
def test_aws_prices_the_primary_and_every_replica(tmp_path, replicas, servers):
    """RDS: replicas >= 1 is a Multi-AZ standby (billed as a second instance), more are read replicas.
    The default (1) is one standby."""
    line = _database_line(tmp_path, "aws-main/us-east-1", replicas)
    assert line["item"] == "managed PostgreSQL db.t4g.micro"
    assert line["quantity"] == servers * 730
    assert line["usd"] == pytest.approx(servers * (730 * 0.016 + 20 * 0.115), abs=0.01)


def test_azure_standby_needs_a_general_purpose_sku(tmp_path):
    """modules/azure: a standby (replicas >= 1) cannot run on a burstable SKU, so it uses GP_Standard_D2ds_v5."""
    alone = _database_line(tmp_path, "azure-main/westeurope", 0)
    assert (alone["item"], alone["quantity"]) == ("managed PostgreSQL B_Standard_B1ms", 730)
    standby = _database_line(tmp_path, "azure-main/westeurope", 1)
    assert (standby["item"], standby["quantity"]) == ("managed PostgreSQL GP_Standard_D2ds_v5", 2 * 730)


def test_more_replicas_than_the_cloud_creates_warns_and_is_priced_as_created(tmp_path):
    """Cloud SQL keeps one standby (REGIONAL): replicas: 3 gives 2 servers, and validate says so."""
    line = _database_line(tmp_path, "gcp-main/us-central1", 3)
    assert line["quantity"] == 2 * 730
    proc = _run(tmp_path, "validate", "gcp-main/us-central1", 3)
    assert proc.returncode == 0, proc.stderr
    (warning,) = [w for w in json.loads(proc.stdout)["result"][0]["warnings"] if w["field"] == "control.database.replicas"]
    assert warning["line"] == 9 and re.search(r"at most 1 replica.*3 asked, 1 created", warning["message"]), warning
