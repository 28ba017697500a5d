"""What `ccds render` writes for the control plane, run through each module's own expressions.

examples/eight-clouds.yaml with its primary control placement moved to each cloud in turn is
rendered by the real CLI. The primary control workspace's root module (`main.tf.json`, exactly as
rendered, minus provider and backend) then calls a provider-less copy of the module whose
resource-dependent locals are stubbed (tfexpr.py), and terraform computes the managers'
user_data: it must name that cloud's database, with no placeholder left. The secondary placement
(engine "none") must get the primary's address from `var.database_host` and create no database.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tfexpr import apply_outputs, write_harness

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "eight-clouds.yaml"
COPIED = ["database_host", "database_port", "node_user_data"]
# primary placement: the database attribute the managers must be given (VMs: their pool's first).
PRIMARY = {
    "gcp-main/us-central1": ("ref:google_sql_database_instance.this[0].public_ip_address", "5432"),
    "azure-main/westeurope": ("ref:azurerm_postgresql_flexible_server.this[0].fqdn", "5432"),
    "oci-main/sa-saopaulo-1": ("ref:oci_psql_db_system.this[0].network_details[0].primary_db_endpoint_private_ip", "5432"),
    "do-main/fra1": ("ref:digitalocean_database_cluster.this[0].private_host", "ref:digitalocean_database_cluster.this[0].port"),
    "linode-main/ap-south": ("ref:linode_database_postgresql_v2.this[0].host_primary", "ref:linode_database_postgresql_v2.this[0].port"),
    "onprem/dc1": ("ref:vsphere_virtual_machine.database[local.first_database].default_ip_address", "5432"),
    "lab/regionone": ("ref:openstack_networking_port_v2.this[local.first_database].all_fixed_ips[0]", "5432"),
}
SECRETS = {"db_password": "pw-0123456789", "node_token": "tok", "admin_token": "adm"}


def _render(spec: dict, tmp_path: Path) -> list[dict]:
    path = tmp_path / "ccds.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    proc = subprocess.run([sys.executable, "-m", "ccds_cli", "render", str(path), "--out", str(tmp_path / "ws"),
                           "--state-dir", str(tmp_path / "state"), "--output", "json"],
                          cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_COLOR": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)["result"]


def _run_control(ws: dict, tmp_path: Path, extra_vars: dict[str, str]) -> dict:
    """Apply the rendered control root against the harness copy of its cloud module."""
    doc = json.loads((Path(ws["path"]) / "main.tf.json").read_text())
    call = doc["module"]["control"]
    root = tmp_path / ws["workspace"]
    write_harness(ws["cloud"], root / "harness", COPIED, COPIED)
    harness_root = {
        "variable": doc["variable"],
        "module": {"control": {**call, "source": "./harness"}},
        "output": {n: {"value": f"${{module.control.{n}}}", "sensitive": True} for n in COPIED},
    }
    (root / "main.tf.json").write_text(json.dumps(harness_root, indent=2))
    args = [f"-var={k}={v}" for k, v in extra_vars.items()]
    (root / "secrets.auto.tfvars.json").write_text(json.dumps({"secrets": SECRETS}))
    return apply_outputs(root, *args)


def _manager_db_url(out: dict) -> str:
    ud = out["node_user_data"]
    user_data = ud["manager"] if "manager" in ud else ud["manager-0"]
    assert "@@CCDS_" not in user_data
    match = re.search(r"postgresql\+psycopg://ccds:\$db_password@(.*?)/ccds", user_data)
    assert match, user_data
    return match.group(1)


@pytest.mark.parametrize("primary", sorted(PRIMARY))
def test_rendered_managers_name_the_database(primary, tmp_path):
    secondary = "azure-main/westeurope" if primary.startswith("gcp") else "gcp-main/us-central1"
    spec = yaml.safe_load(EXAMPLE.read_text())
    spec["control"]["placement"] = [primary, secondary]
    spec["control"].pop("instance_type", None)  # c5.large is an AWS type
    rendered = {w["workspace"]: w for w in _render(spec, tmp_path)}
    first = rendered[f"control.{primary.replace('/', '.')}"]
    second = rendered[f"control.{secondary.replace('/', '.')}"]

    out = _run_control(first, tmp_path, {})
    host, port = PRIMARY[primary]
    assert _manager_db_url(out) == f"{host}:{port}"  # the managed service's own port where it has one
    assert out["database_host"] == host

    # The secondary: no database of its own; the primary's address arrives as a variable.
    out = _run_control(second, tmp_path, {"database_host": "db.primary.example", "database_port": "25060"})
    assert _manager_db_url(out) == "db.primary.example:25060"
    assert out["database_host"] == "" and out["database_port"] == ""
