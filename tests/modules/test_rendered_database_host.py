"""What `ccds render` writes for the control plane, run through each module's own expressions.

examples/eight-clouds.yaml with its primary control placement moved to each cloud in turn is
rendered by the real CLI. The primary control workspace's root module (`main.tf.json`, exactly as
rendered, minus provider and backend) then calls a provider-less copy of the module whose
resource-dependent locals are stubbed (tfexpr.py), and terraform computes the managers'
user_data: it must name that cloud's database and the login the managers need (user and database
in the URL, the password in the 0600 file cloud-init decodes), with no placeholder left. The
secondary placement (engine "none") must get the primary's address and login from
`var.database_*` and create no database; its rendered file holds no password.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tfexpr import apply_outputs, resource_locals, write_harness

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "eight-clouds.yaml"
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
SECRETS = {"db_password": "pw-0123456789", "manager/admin_token": "adm", "manager/node_key": "nk"}
OURS = SECRETS["db_password"]
# primary placement: (user, database, password) the managers log in with.
LOGIN = {
    "gcp-main/us-central1": ("ref:google_sql_user.this[0].name", "ref:google_sql_database.this[0].name", OURS),
    "azure-main/westeurope": ("ref:azurerm_postgresql_flexible_server.this[0].administrator_login",
                              "ref:azurerm_postgresql_flexible_server_database.this[0].name", OURS),
    "oci-main/sa-saopaulo-1": ("ref:oci_psql_db_system.this[0].credentials[0].username", "postgres", OURS),
    "do-main/fra1": ("ref:digitalocean_database_cluster.this[0].user", "ref:digitalocean_database_db.ccds[0].name",
                     "ref:digitalocean_database_cluster.this[0].password"),
    "linode-main/ap-south": ("ref:linode_database_postgresql_v2.this[0].root_username", "defaultdb",
                             "ref:linode_database_postgresql_v2.this[0].root_password"),
    "onprem/dc1": ("ccds", "ccds", OURS),
    "lab/regionone": ("ccds", "ccds", OURS),
}


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
    copied = resource_locals(ws["cloud"])
    write_harness(ws["cloud"], root / "harness", copied, copied)
    harness_root = {
        "variable": doc["variable"],
        "module": {"control": {**call, "source": "./harness"}},
        "output": {n: {"value": f"${{module.control.{n}}}", "sensitive": True} for n in copied},
    }
    (root / "main.tf.json").write_text(json.dumps(harness_root, indent=2))
    args = [f"-var={k}={v}" for k, v in extra_vars.items()]
    (root / "secrets.auto.tfvars.json").write_text(json.dumps({"secrets": {"control": SECRETS}}))
    return apply_outputs(root, *args)


def _manager_login(out: dict) -> tuple[str, str, str, str]:
    """(user, host:port, database, password) from the managers' user_data as terraform filled it."""
    ud = out["node_user_data"]
    user_data = ud["manager"] if "manager" in ud else ud["manager-0"]
    assert "@@CCDS_DATABASE" not in user_data  # the secrets placeholder is filled per instance
    files = {f["path"]: f for f in yaml.safe_load(user_data)["write_files"]}
    script = files["/usr/local/sbin/ccds-bootstrap"]["content"]
    match = re.search(r'--database-url "postgresql\+psycopg://([^"@]*)@([^"/]*)/([^"?]*)\?sslmode=require"', script)
    assert match, script
    password_file = files["/etc/ccds/db-password"]
    assert password_file["permissions"] == "0600" and password_file["encoding"] == "b64"
    password = base64.b64decode(password_file["content"] or "").decode()
    return match.group(1), match.group(2), match.group(3), password


def _manager_db_url(out: dict) -> str:
    return _manager_login(out)[1]


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

    user, _, name, password = _manager_login(out)
    assert (user, name, password) == LOGIN[primary]
    assert out["database_user"] == user and out["database_name"] == name and out["database_password"] == password
    doc = json.loads((Path(first["path"]) / "main.tf.json").read_text())
    assert doc["output"]["database_password"] == {"value": "${module.control.database_password}", "sensitive": True}

    # The secondary: no database of its own; the primary's address and login arrive as variables.
    odd = "p@ss:w/rd with spaces?&'\"$(x)"  # what a cloud may generate; a shell or URL would mangle it
    out = _run_control(second, tmp_path, {"database_host": "db.primary.example", "database_port": "25060",
                                          "database_user": "doadmin", "database_name": "ccds",
                                          "database_password": odd})
    assert _manager_login(out) == ("doadmin", "db.primary.example:25060", "ccds", odd)
    assert out["database_host"] == "" and out["database_port"] == ""
    assert out["database_user"] == "" and out["database_name"] == "" and out["database_password"] == ""


def test_secondary_password_is_a_sensitive_variable_without_value(tmp_path):
    """The primary's database password reaches a secondary placement only as TF_VAR_database_password."""
    spec = yaml.safe_load(EXAMPLE.read_text())
    spec["control"]["placement"] = ["do-main/fra1", "gcp-main/us-central1"]
    spec["control"].pop("instance_type", None)
    rendered = {w["workspace"]: w for w in _render(spec, tmp_path)}
    text = (Path(rendered["control.gcp-main.us-central1"]["path"]) / "main.tf.json").read_text()
    doc = json.loads(text)
    variable = doc["variable"]["database_password"]
    assert variable["sensitive"] is True and variable["default"] == ""
    for name in ("database_host", "database_port", "database_user", "database_name"):
        assert name in doc["variable"]
    user_data = doc["module"]["control"]["pools"]["manager"]["user_data"]
    assert "${base64encode(var.database_password)}" in user_data and "${var.database_user}" in user_data
    assert "${var.database_name}" in user_data and "@@CCDS_DATABASE" not in user_data
    # Nothing else names it: no tfvars beside the root, no value anywhere in the file.
    assert not list(Path(rendered["control.gcp-main.us-central1"]["path"]).glob("*.tfvars*"))
    rest = text
    for allowed in ('"database_password": {', "var.database_password", "module.control.database_password",
                    "TF_VAR_database_password"):  # declarations, references and the variable's description
        rest = rest.replace(allowed, "")
    assert "database_password" not in rest
    primary = json.loads((Path(rendered["control.do-main.fra1"]["path"]) / "main.tf.json").read_text())
    assert "database_password" not in primary["variable"]
    assert "@@CCDS_DATABASE_PASSWORD_B64@@" in primary["module"]["control"]["pools"]["manager"]["user_data"]
