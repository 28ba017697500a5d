"""Azure module logic, evaluated by the real terraform binary without the azurerm provider.

As for GCP: `locals.tf` holds every value derived only from the inputs, so a scratch root made
of `variables.tf`, `locals.tf` and outputs for the locals can be applied with no provider.
"""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

MODULE = Path(__file__).resolve().parents[2] / "modules" / "azure"
LOCALS = ["nodes", "node_keys", "manager_keys", "user_data", "roles", "nsg_rules", "subnet_cidr",
          "lb_enabled", "db_enabled", "dns_enabled", "db_sku", "db_storage_mb",
          "db_allowed_ranges", "dns_record_name", "node_secrets_b64"]


def evaluate(tmp_path: Path, inputs: dict) -> dict:
    """Return the module's locals for `inputs` (a tfvars dict) via terraform apply."""
    terraform = shutil.which("terraform")
    assert terraform, "terraform must be on PATH"
    for name in ("variables.tf", "locals.tf"):
        shutil.copy(MODULE / name, tmp_path / name)
    (tmp_path / "harness.tf").write_text("".join(
        f'output "{n}" {{\n  value     = local.{n}\n  sensitive = true\n}}\n' for n in LOCALS))
    (tmp_path / "test.tfvars.json").write_text(json.dumps(inputs))
    for args in (["init", "-input=false", "-no-color"],
                 ["apply", "-auto-approve", "-input=false", "-no-color", "-var-file=test.tfvars.json"]):
        proc = subprocess.run([terraform, *args], cwd=tmp_path, capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = subprocess.run([terraform, "output", "-json"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, check=True)
    return {k: v["value"] for k, v in json.loads(proc.stdout).items()}


def base_inputs(**over) -> dict:
    inputs = {
        "deployment": "watchparty",
        "workspace": "eu-west",
        "region": "westeurope",
        "network_cidr": "10.20.0.0/16",
        "pools": {
            "origin": {"role": "origin", "count": 2, "instance_type": "Standard_D2s_v5",
                       "user_data": "key: @@CCDS_SECRETS_B64@@"},
            "edge": {"role": "edge", "count": 1, "instance_type": "Standard_D4s_v5"},
        },
        "firewall_rules": [
            {"role": "edge", "protocol": "tcp", "from_port": 8889, "to_port": 8889,
             "cidrs": ["0.0.0.0/0"], "description": "WHEP"},
            {"role": "origin", "protocol": "tcp", "from_port": 22, "to_port": 22,
             "cidrs": [], "description": "dropped: no source"},
            {"role": "origin", "protocol": "udp", "from_port": 8000, "to_port": 8100,
             "cidrs": ["10.20.0.0/16"], "description": "x" * 200},
            {"role": "edge", "protocol": "icmp", "from_port": 0, "to_port": 0,
             "cidrs": ["10.20.0.0/16"], "description": "ping"},
            {"role": "relay", "protocol": "tcp", "from_port": 1935, "to_port": 1935,
             "cidrs": ["10.20.0.0/16"], "description": "no relay pool here"},
            {"role": "origin", "protocol": "tcp", "from_port": 1935, "to_port": 1935,
             "cidrs": ["198.51.100.0/24", "10.20.0.0/16"], "description": "RTMP"},
        ],
        "tags": {"ccds-deployment": "watchparty", "ccds-workspace": "eu-west"},
        "secrets": {"origin/1/node_token": "t0k"},
    }
    inputs.update(over)
    return inputs


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory) -> dict:
    return evaluate(tmp_path_factory.mktemp("azure"), base_inputs())


def test_nodes(evaluated):
    assert evaluated["node_keys"] == ["edge-0", "origin-0", "origin-1"]
    node = evaluated["nodes"]["origin-1"]
    assert node["name"] == "watchparty-eu-west-origin-1"
    assert node["tags"] == {"ccds-deployment": "watchparty", "ccds-workspace": "eu-west",
                            "ccds-role": "origin", "ccds-pool": "origin"}
    assert evaluated["subnet_cidr"] == "10.20.0.0/17"


def test_each_node_gets_only_its_own_secrets(evaluated):
    assert evaluated["user_data"]["origin"] == "key: @@CCDS_SECRETS_B64@@"  # filled per VM (main.tf)
    assert evaluated["node_secrets_b64"] == {"edge-0": "", "origin-0": "", "origin-1": "bm9kZV90b2tlbj10MGsK"}


def test_security_rules_priorities_per_role(evaluated):
    rules = evaluated["nsg_rules"]
    assert evaluated["roles"] == ["edge", "origin"]
    assert sorted(rules) == ["edge-0", "edge-1", "origin-0", "origin-1"]  # no relay, no empty
    assert (rules["edge-0"]["priority"], rules["edge-1"]["priority"]) == (100, 101)
    assert rules["edge-0"]["protocol"] == "Tcp" and rules["edge-0"]["ports"] == "8889"
    assert rules["edge-1"]["protocol"] == "Icmp" and rules["edge-1"]["ports"] == "*"
    assert rules["origin-0"]["ports"] == "8000-8100" and rules["origin-0"]["protocol"] == "Udp"
    assert len(rules["origin-0"]["description"]) == 140
    assert rules["origin-1"]["cidrs"] == ["198.51.100.0/24", "10.20.0.0/16"]
    assert rules["origin-1"]["priority"] == 101


def test_control_off(evaluated):
    assert not (evaluated["lb_enabled"] or evaluated["db_enabled"] or evaluated["dns_enabled"])


@pytest.mark.parametrize("dns_name,record", [
    ("live.example.com", "live"), ("live.example.com.", "live"), ("example.com", "@"),
    ("sm", "sm"), ("a.b.example.com", "a.b"),
])
def test_control_database_and_dns(tmp_path, dns_name, record):
    inputs = base_inputs(
        workspace="control",
        pools={"manager": {"role": "manager", "count": 2, "instance_type": "Standard_B2s"}},
        firewall_rules=[],
        settings={"db_allowed_cidrs": "203.0.113.0/24,192.0.2.9/32", "subnet_cidr": "10.20.8.0/24"},
        control={"enabled": True, "dns_zone": "example.com", "dns_name": dns_name,
                 "database": {"replicas": 2, "storage_gb": 40}},
    )
    out = evaluate(tmp_path, inputs)
    assert out["dns_record_name"] == record
    assert out["lb_enabled"] and out["db_enabled"] and out["dns_enabled"]
    assert out["manager_keys"] == ["manager-0", "manager-1"]
    assert out["db_sku"] == "GP_Standard_D2ds_v5"  # burstable SKUs have no HA standby
    assert out["db_storage_mb"] == 65536
    assert out["subnet_cidr"] == "10.20.8.0/24"
    assert out["db_allowed_ranges"] == {
        "setting-0": {"start": "203.0.113.0", "end": "203.0.113.255"},
        "setting-1": {"start": "192.0.2.9", "end": "192.0.2.9"},
    }


def test_small_database_defaults(tmp_path):
    out = evaluate(tmp_path, base_inputs(control={"enabled": True}))
    assert out["db_enabled"] and not out["lb_enabled"]  # no manager pool, no load balancer
    assert out["db_sku"] == "B_Standard_B1ms"
    assert out["db_storage_mb"] == 32768


def test_long_names_shortened(tmp_path):
    inputs = base_inputs(deployment="a-rather-long-deployment-name-x",
                         workspace="south-america-east",
                         pools={"transcoder-with-a-very-long-pool-name":
                                {"role": "transcoder", "count": 12, "instance_type": "F8s"}})
    names = [n["name"] for n in evaluate(tmp_path, inputs)["nodes"].values()]
    assert len(set(names)) == 12
    for name in names:
        assert re.fullmatch(r"[a-z0-9][a-z0-9-]{0,63}", name) and not name.endswith("-"), name
