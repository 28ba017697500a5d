"""GCP module logic, evaluated by the real terraform binary without the google provider.

The module keeps every value derived only from its inputs in `locals.tf`; copying that file
and `variables.tf` into a scratch root with outputs for the locals lets `terraform apply`
(no resources, so no provider download) compute them from realistic inputs.
"""

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import hcl2
import pytest

MODULE = Path(__file__).resolve().parents[2] / "modules" / "gcp"
LOCALS = ["nodes", "node_keys", "manager_keys", "labels", "user_data", "firewall", "zone_setting",
          "lb_enabled", "db_enabled", "dns_enabled", "db_tier", "db_allowed_cidrs", "node_secrets_b64"]


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
        "workspace": "na-east",
        "region": "us-east4",
        "network_cidr": "10.10.0.0/16",
        "pools": {
            "origin": {"role": "origin", "count": 1, "instance_type": "e2-standard-2"},
            "edge": {"role": "edge", "count": 3, "instance_type": "e2-standard-4",
                     "image": "projects/acme/global/images/ccds-edge",
                     "user_data": "#cloud-config\nwrite_files:\n- content: @@CCDS_SECRETS_B64@@\n"},
        },
        "firewall_rules": [
            {"role": "edge", "protocol": "tcp", "from_port": 8889, "to_port": 8889,
             "cidrs": ["0.0.0.0/0"], "description": "WHEP"},
            {"role": "edge", "protocol": "udp", "from_port": 8000, "to_port": 8100,
             "cidrs": ["0.0.0.0/0"], "description": "WebRTC media"},
            {"role": "origin", "protocol": "tcp", "from_port": 22, "to_port": 22,
             "cidrs": ["203.0.113.0/24"], "description": "admin ssh"},
            {"role": "origin", "protocol": "tcp", "from_port": 22, "to_port": 22,
             "cidrs": ["10.10.0.0/16", "203.0.113.0/24"], "description": "cluster ssh"},
            {"role": "origin", "protocol": "ICMP", "from_port": 0, "to_port": 0,
             "cidrs": ["10.10.0.0/16"], "description": ""},
            {"role": "relay", "protocol": "tcp", "from_port": 1935, "to_port": 1935,
             "cidrs": [], "description": "nobody"},
        ],
        "tags": {"ccds-deployment": "watchparty", "ccds-workspace": "na-east",
                 "Cost Center": "Live.Ops/EU"},
        "secrets": {"db_password": "pw", "edge/1/node_token": "t0k", "edge/pool_wide": "all"},
    }
    inputs.update(over)
    return inputs


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory) -> dict:
    return evaluate(tmp_path_factory.mktemp("gcp"), base_inputs())


def test_nodes_keyed_by_pool_and_index(evaluated):
    assert evaluated["node_keys"] == ["edge-0", "edge-1", "edge-2", "origin-0"]
    origin = evaluated["nodes"]["origin-0"]
    assert origin["name"] == "watchparty-na-east-origin-0"
    assert origin["tag"] == "ccds-watchparty-origin"
    assert origin["image"] == "ubuntu-os-cloud/ubuntu-2204-lts"
    assert evaluated["nodes"]["edge-1"]["image"] == "projects/acme/global/images/ccds-edge"
    assert evaluated["nodes"]["edge-1"]["disk_gb"] == 30


def test_labels_lowercased_and_sanitised(evaluated):
    assert evaluated["labels"]["cost-center"] == "live-ops-eu"
    labels = evaluated["nodes"]["edge-2"]["labels"]
    assert labels["ccds-role"] == "edge" and labels["ccds-pool"] == "edge"
    assert labels["ccds-workspace"] == "na-east"
    for key, value in labels.items():
        assert re.fullmatch(r"[a-z][a-z0-9_-]{0,62}", key), key
        assert re.fullmatch(r"[a-z0-9_-]{0,63}", value), value


def test_each_node_gets_only_its_own_secrets(evaluated):
    """The pool's bootstrap keeps the placeholder; each instance fills in its own share (never db_password)."""
    assert "@@CCDS_SECRETS_B64@@" in evaluated["user_data"]["edge"]
    assert evaluated["user_data"]["origin"] == ""
    shares = {k: base64.b64decode(v).decode() for k, v in evaluated["node_secrets_b64"].items()}
    assert shares == {"edge-0": "pool_wide=all\n", "edge-1": "node_token=t0k\npool_wide=all\n",
                      "edge-2": "pool_wide=all\n", "origin-0": ""}


def test_firewall_one_rule_per_role_protocol_ports(evaluated):
    fw = evaluated["firewall"]
    assert sorted(fw) == ["edge-tcp-8889-8889", "edge-udp-8000-8100", "origin-icmp-0-0",
                          "origin-tcp-22-22"]
    ssh = fw["origin-tcp-22-22"]
    assert ssh["cidrs"] == ["10.10.0.0/16", "203.0.113.0/24"]
    assert ssh["description"] == "admin ssh; cluster ssh"
    assert ssh["ports"] == ["22"] and ssh["tag"] == "ccds-watchparty-origin"
    assert fw["edge-udp-8000-8100"]["ports"] == ["8000-8100"]
    assert fw["origin-icmp-0-0"]["protocol"] == "icmp"
    assert fw["origin-icmp-0-0"]["ports"] is None
    assert fw["edge-tcp-8889-8889"]["name"] == "watchparty-na-east-fw-edge-tcp-8889-8889"


def test_control_disabled_by_default(evaluated):
    assert evaluated["zone_setting"] == ""
    assert not evaluated["lb_enabled"] and not evaluated["db_enabled"]
    assert not evaluated["dns_enabled"]
    assert evaluated["manager_keys"] == []


def test_long_names_shortened_and_distinct(tmp_path):
    long_pool = "transcoder-with-a-very-long-pool-name"
    inputs = base_inputs(
        deployment="a-rather-long-deployment-name-x",
        workspace="south-america-east",
        pools={long_pool: {"role": "transcoder", "count": 11, "instance_type": "c3-standard-8"}},
        firewall_rules=[{"role": "transcoder", "protocol": "udp", "from_port": 40000,
                         "to_port": 65535, "cidrs": ["0.0.0.0/0"], "description": "x"}],
    )
    out = evaluate(tmp_path, inputs)
    names = [n["name"] for n in out["nodes"].values()]
    assert len(set(names)) == 11
    for name in names + [r["name"] for r in out["firewall"].values()]:
        assert re.fullmatch(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?", name), name


def test_control_settings(tmp_path):
    inputs = base_inputs(
        workspace="control",
        pools={"manager": {"role": "manager", "count": 2, "instance_type": "e2-small"}},
        settings={"zone": "us-east4-c", "db_allowed_cidrs": "198.51.100.0/24, 192.0.2.7/32,"},
        control={"enabled": True, "api_port": 8443, "dns_zone": "example-com",
                 "dns_name": "sm"},
    )
    out = evaluate(tmp_path, inputs)
    assert out["zone_setting"] == "us-east4-c"
    assert out["manager_keys"] == ["manager-0", "manager-1"]
    assert out["lb_enabled"] and out["db_enabled"] and out["dns_enabled"]
    assert out["db_tier"] == "db-custom-1-3840"
    assert out["db_allowed_cidrs"] == ["198.51.100.0/24", "192.0.2.7/32"]


def _resources(name: str) -> dict:
    with open(MODULE / name) as fh:
        doc = hcl2.load(fh)
    found = {}
    for chunk in doc.get("resource", []):
        for rtype, by_name in chunk.items():
            for rname, body in by_name.items():
                found[f"{rtype.strip(chr(34))}.{rname.strip(chr(34))}"] = body
    return found


def test_control_resources_are_optional():
    """Every control resource is counted on a flag, so region workspaces create none."""
    control = _resources("control.tf")
    assert "google_compute_forwarding_rule.api" in control
    assert "google_sql_database_instance.this" in control
    for address, body in control.items():
        assert "local.lb_enabled" in str(body.get("count")) or \
            "local.db_enabled" in str(body.get("count")) or \
            "local.dns_enabled" in str(body.get("count")), address
