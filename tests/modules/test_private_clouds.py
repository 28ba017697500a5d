"""Behaviour of the vSphere and OpenStack modules, evaluated by the real `terraform` binary.

Their providers cannot be installed offline, so `terraform validate/plan` of the whole module is
impossible here. Each module therefore keeps its pure computations in `locals.tf` (inputs only:
no resources or data sources); these tests copy `variables.tf` + `locals.tf` into a provider-less
root module, apply it, and read the locals back as outputs. That exercises the exact expressions
the resources consume: node expansion, instance-type parsing, settings validation, firewall rule
shaping, tags, cloud-init metadata and secrets substitution. A last test checks that every
`<type>.<name>.<attr>` the modules read exists in the provider's real schema.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from tfschema import _lookup_type

MODULES = Path(__file__).resolve().parents[2] / "modules"
TERRAFORM = shutil.which("terraform")

HARNESS = {
    "vsphere": [
        "nodes", "templates", "node_tag_names", "tag_names", "annotations", "firewall_by_role",
        "guest_metadata", "first_manager", "first_database", "public_addresses",
    ],
    "openstack": [
        "nodes", "images", "node_tag_list", "tag_list", "ingress_rules", "egress_rules",
        "dns_nameservers", "availability_zone", "boot_from_volume", "manager_keys",
        "first_database", "lb_enabled", "dns_enabled", "lb_allowed_cidrs", "dns_fqdn",
    ],
}

TAGS = {"ccds-deployment": "wp", "ccds-workspace": "control"}


def _write_harness(cloud: str, root: Path) -> None:
    for name in ("variables.tf", "locals.tf"):
        shutil.copy(MODULES / cloud / name, root / name)
    lines = ["output \"locals\" {", "  value = {"]
    lines += [f"    {key} = local.{key}" for key in HARNESS[cloud]]
    lines += ["  }", "}", "", "output \"secrets_b64\" {", "  value     = local.node_secrets_b64",
              "  sensitive = true", "}", ""]
    (root / "harness.tf").write_text("\n".join(lines))


class Harness:
    """A provider-less root module holding one cloud module's variables and locals."""

    def __init__(self, cloud: str, root: Path):
        self.root = root
        _write_harness(cloud, root)
        cli_config = root / "terraformrc"
        cli_config.write_text("")
        self.env = {**os.environ, "TF_CLI_CONFIG_FILE": str(cli_config), "TF_IN_AUTOMATION": "1",
                    "CHECKPOINT_DISABLE": "1"}
        self._run("init", "-input=false", "-no-color")

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([TERRAFORM, *args], cwd=self.root, env=self.env, capture_output=True,
                              text=True, timeout=120)
        if check:
            assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    def _var_file(self, variables: dict) -> str:
        path = self.root / "test.tfvars.json"
        path.write_text(json.dumps(variables))
        return f"-var-file={path}"

    def apply(self, variables: dict) -> tuple[dict, dict[str, str]]:
        """Apply with these inputs; return (locals, each node's decoded secrets)."""
        self._run("apply", "-auto-approve", "-input=false", "-no-color", self._var_file(variables))
        out = json.loads(self._run("output", "-json").stdout)
        return out["locals"]["value"], {k: base64.b64decode(v).decode() for k, v in out["secrets_b64"]["value"].items()}

    def plan_error(self, variables: dict) -> str:
        """Plan inputs that must be rejected; return Terraform's error text on one line."""
        proc = self._run("plan", "-input=false", "-no-color", self._var_file(variables), check=False)
        assert proc.returncode != 0, proc.stdout
        return " ".join(proc.stderr.split())


@pytest.fixture(scope="module")
def vsphere(tmp_path_factory) -> Harness:
    assert TERRAFORM, "terraform must be on PATH"
    return Harness("vsphere", tmp_path_factory.mktemp("vsphere"))


@pytest.fixture(scope="module")
def openstack(tmp_path_factory) -> Harness:
    assert TERRAFORM, "terraform must be on PATH"
    return Harness("openstack", tmp_path_factory.mktemp("openstack"))


def _vsphere_vars(**over) -> dict:
    base = {
        "deployment": "wp", "workspace": "control", "region": "dc1", "network_cidr": "10.0.0.0/16",
        "pools": {
            "manager": {"role": "manager", "count": 2, "instance_type": "2x4",
                        "user_data": "#cloud-config\nsecrets: @@CCDS_SECRETS_B64@@\n"},
            "db": {"role": "database", "count": 1, "instance_type": "4x16", "image": "pg-tpl",
                   "disk_gb": 100},
        },
        "firewall_rules": [
            {"role": "manager", "protocol": "tcp", "from_port": 8080, "to_port": 8080,
             "cidrs": ["0.0.0.0/0"], "description": "api"},
            {"role": "edge", "protocol": "udp", "from_port": 8189, "to_port": 8189,
             "cidrs": ["0.0.0.0/0"], "description": "webrtc"},
        ],
        "ssh_public_key": "ssh-ed25519 AAAAC3Nz me@laptop\n",
        "tags": TAGS,
        "secrets": {"db_password": "pw", "manager/admin_token": "adm", "manager/1/node_name": "m1",
                    "db/db_password": "pw"},
        "settings": {"datacenter": "dc", "cluster": "c1", "datastore": "ds1",
                     "network": "VM Network", "template": "ubuntu-22.04"},
        "control": {"enabled": True},
    }
    base.update(over)
    return base


def test_vsphere_nodes_from_instance_type(vsphere):
    loc, _ = vsphere.apply(_vsphere_vars())
    assert sorted(loc["nodes"]) == ["db-0", "manager-0", "manager-1"]
    db = loc["nodes"]["db-0"]
    assert (db["num_cpus"], db["memory_mb"], db["disk_gb"]) == (4, 16384, 100)
    assert db["name"] == "wp-control-db-0" and db["template"] == "pg-tpl"
    assert loc["nodes"]["manager-1"]["template"] == "ubuntu-22.04"
    assert sorted(loc["templates"]) == ["pg-tpl", "ubuntu-22.04"]
    assert (loc["first_manager"], loc["first_database"]) == ("manager-0", "db-0")


def test_vsphere_tags_annotation_and_firewall(vsphere):
    loc, _ = vsphere.apply(_vsphere_vars())
    assert loc["node_tag_names"]["db-0"] == [
        "ccds-deployment:wp", "ccds-pool:db", "ccds-role:database", "ccds-workspace:control"]
    assert set(loc["tag_names"]) == {"ccds-deployment:wp", "ccds-workspace:control",
                                     "ccds-pool:db", "ccds-pool:manager",
                                     "ccds-role:database", "ccds-role:manager"}
    assert "ccds-role=manager" in loc["annotations"]["manager-0"].splitlines()
    # Only the roles that have pools here; each gets exactly its own rules.
    assert set(loc["firewall_by_role"]) == {"manager", "database"}
    assert loc["firewall_by_role"]["database"] == []
    assert loc["firewall_by_role"]["manager"] == [
        {"protocol": "tcp", "from_port": 8080, "to_port": 8080, "cidrs": ["0.0.0.0/0"],
         "description": "api"}]


def test_vsphere_guest_metadata_and_secrets(vsphere):
    loc, secrets = vsphere.apply(_vsphere_vars())
    meta = json.loads(base64.b64decode(loc["guest_metadata"]["manager-1"]))
    assert meta == {"instance-id": "wp-control-manager-1", "local-hostname": "wp-control-manager-1",
                    "public-keys": ["ssh-ed25519 AAAAC3Nz me@laptop"]}
    # each node its own share: pool-wide keys for every node of the pool, <pool>/<index>/ for one
    assert secrets == {"manager-0": "admin_token=adm\n", "manager-1": "node_name=m1\nadmin_token=adm\n",
                       "db-0": "db_password=pw\n"}

    loc, _ = vsphere.apply(_vsphere_vars(ssh_public_key="", deployment="a" * 31,
                                         workspace="eu-frankfurt-long"))
    meta = json.loads(base64.b64decode(loc["guest_metadata"]["manager-0"]))
    assert "public-keys" not in meta
    assert len(meta["local-hostname"]) <= 63 and not meta["local-hostname"].endswith("-")


def test_vsphere_public_addresses_setting(vsphere):
    settings = {**_vsphere_vars()["settings"], "public_addresses": "false"}
    loc, _ = vsphere.apply(_vsphere_vars(settings=settings))
    assert loc["public_addresses"] is False


def test_vsphere_rejects_missing_settings(vsphere):
    err = vsphere.plan_error(_vsphere_vars(settings={"datacenter": "dc", "cluster": "c1"}))
    assert "vSphere settings are missing: datastore, network, template" in err


def test_vsphere_rejects_bad_instance_type(vsphere):
    pools = {"edge": {"role": "edge", "count": 1, "instance_type": "m5.large"}}
    err = vsphere.plan_error(_vsphere_vars(pools=pools))
    assert "<cpus>x<memory_gb>" in err and "edge=m5.large" in err


def _openstack_vars(**over) -> dict:
    base = {
        "deployment": "wp", "workspace": "control", "region": "RegionOne",
        "network_cidr": "10.20.0.0/16",
        "pools": {
            "manager": {"role": "manager", "count": 2, "instance_type": "m1.small"},
            "db": {"role": "database", "count": 1, "instance_type": "m1.large", "image": "pg"},
        },
        "firewall_rules": [
            {"role": "manager", "protocol": "tcp", "from_port": 8080, "to_port": 8080,
             "cidrs": ["203.0.113.0/24", "2001:db8::/32"], "description": "api"},
            {"role": "manager", "protocol": "tcp", "from_port": 8080, "to_port": 8080,
             "cidrs": ["203.0.113.0/24"], "description": "admin"},
            {"role": "manager", "protocol": "icmp", "from_port": 8, "to_port": 0,
             "cidrs": ["0.0.0.0/0", "::/0"], "description": "ping"},
            {"role": "manager", "protocol": "icmp", "from_port": -1, "to_port": -1,
             "cidrs": ["0.0.0.0/0"], "description": "icmp"},
            {"role": "database", "protocol": "tcp", "from_port": 0, "to_port": 65535,
             "cidrs": ["10.20.0.0/16"], "description": "cluster"},
            {"role": "edge", "protocol": "udp", "from_port": 8189, "to_port": 8189,
             "cidrs": ["0.0.0.0/0"], "description": "webrtc"},
        ],
        "tags": TAGS,
        "secrets": {"db_password": "pw", "db/db_password": "pw"},
        "settings": {"external_network": "public", "dns_nameservers": " 1.1.1.1, 9.9.9.9 ,"},
        "control": {"enabled": True, "api_port": 8080, "dns_zone": "example.com",
                    "dns_name": "api"},
    }
    base.update(over)
    return base


def test_openstack_nodes_images_and_settings(openstack):
    loc, secrets = openstack.apply(_openstack_vars())
    assert sorted(loc["nodes"]) == ["db-0", "manager-0", "manager-1"]
    assert loc["nodes"]["manager-0"]["flavor"] == "m1.small"
    assert loc["nodes"]["manager-0"]["image"] == "ubuntu-22.04"
    assert sorted(loc["images"]) == ["pg", "ubuntu-22.04"]
    assert loc["dns_nameservers"] == ["1.1.1.1", "9.9.9.9"]
    assert loc["availability_zone"] is None and loc["boot_from_volume"] is True
    assert loc["tag_list"] == ["ccds-deployment:wp", "ccds-workspace:control"]
    assert "ccds-role:manager" in loc["node_tag_list"]["manager-1"]
    assert secrets == {"db-0": "db_password=pw\n", "manager-0": "", "manager-1": ""}

    settings = {"external_network": "public", "image": "debian-12", "availability_zone": "az2",
                "boot_from_volume": "false"}
    loc, _ = openstack.apply(_openstack_vars(settings=settings))
    assert loc["nodes"]["manager-0"]["image"] == "debian-12"
    assert loc["availability_zone"] == "az2" and loc["boot_from_volume"] is False
    assert loc["dns_nameservers"] == []


def test_openstack_security_group_rules(openstack):
    loc, _ = openstack.apply(_openstack_vars())
    rules = loc["ingress_rules"]
    # Same rule twice -> one Neutron rule (Neutron answers 409 to duplicates); descriptions merge.
    api4 = rules["manager/tcp/8080-8080/203.0.113.0/24"]
    assert api4["description"] == "api; admin"
    assert (api4["port_range_min"], api4["port_range_max"], api4["ethertype"]) == (8080, 8080, "IPv4")
    assert rules["manager/tcp/8080-8080/2001:db8::/32"]["ethertype"] == "IPv6"
    # ICMP ignores ports, so the two IPv4 ICMP rules are one; IPv6 uses ipv6-icmp.
    icmp4 = rules["manager/icmp/all/0.0.0.0/0"]
    assert icmp4["port_range_min"] is None and icmp4["description"] == "ping; icmp"
    assert rules["manager/ipv6-icmp/all/::/0"]["ethertype"] == "IPv6"
    assert rules["database/tcp/all/10.20.0.0/16"]["port_range_min"] is None
    # No edge pool in this workspace -> no edge rules; the LB needs the subnet on the API port.
    assert not [k for k in rules if k.startswith("edge/")]
    assert rules["manager/tcp/8080-8080/10.20.0.0/16"]["description"].startswith("ccds: load balancer")
    assert len(rules) == 6
    assert sorted(loc["egress_rules"]) == ["database/IPv4", "database/IPv6",
                                           "manager/IPv4", "manager/IPv6"]
    assert loc["lb_allowed_cidrs"] == ["203.0.113.0/24"]


def test_openstack_lb_rule_merges_with_an_identical_user_rule(openstack):
    variables = _openstack_vars()
    variables["firewall_rules"].append(
        {"role": "manager", "protocol": "tcp", "from_port": 8080, "to_port": 8080,
         "cidrs": ["10.20.0.0/16"], "description": "intra"})
    loc, _ = openstack.apply(variables)
    assert loc["ingress_rules"]["manager/tcp/8080-8080/10.20.0.0/16"]["description"] == (
        "intra; ccds: load balancer to stream manager API")


def test_openstack_control_switches(openstack):
    loc, _ = openstack.apply(_openstack_vars(control={"enabled": False, "dns_zone": "example.com"}))
    assert loc["lb_enabled"] is False and loc["dns_enabled"] is False
    assert "manager/tcp/8080-8080/10.20.0.0/16" not in loc["ingress_rules"]

    loc, _ = openstack.apply(_openstack_vars(control={"enabled": True}))
    assert loc["lb_enabled"] is True and loc["dns_enabled"] is False
    assert loc["manager_keys"] == ["manager-0", "manager-1"]
    assert loc["first_database"] == "db-0"

    pools = {"edge": {"role": "edge", "count": 2, "instance_type": "m1.small"}}
    loc, _ = openstack.apply(_openstack_vars(pools=pools, workspace="na-east"))
    assert loc["lb_enabled"] is False and loc["first_database"] == ""


@pytest.mark.parametrize("zone,name,fqdn", [
    ("example.com", "api", "api.example.com."),
    ("example.com.", "api.example.com", "api.example.com."),
    ("example.com", "live.api", "live.api.example.com."),
    ("example.com", "", "wp.example.com."),
])
def test_openstack_dns_names(openstack, zone, name, fqdn):
    loc, _ = openstack.apply(_openstack_vars(control={"enabled": True, "dns_zone": zone,
                                                      "dns_name": name}))
    assert loc["dns_enabled"] is True and loc["dns_fqdn"] == fqdn


def test_openstack_rejects_missing_external_network(openstack):
    err = openstack.plan_error(_openstack_vars(settings={"image": "ubuntu-22.04"}))
    assert "settings.external_network" in err and "is required" in err


REF = re.compile(r"\b(data\.)?((?:vsphere|openstack)_[a-z0-9_]+)\.([a-z_]+)(?:\[[^\]]*\])?\.([a-z_]+)")


@pytest.mark.parametrize("cloud", ["vsphere", "openstack"])
def test_attribute_references_exist_in_schema(cloud):
    """tfschema checks the arguments we set; this checks the attributes we read."""
    text = "\n".join(p.read_text() for p in sorted((MODULES / cloud).glob("*.tf")))
    refs = REF.findall(text)
    assert len(refs) > 20
    missing = []
    for data, type_name, _name, attr in refs:
        block = _lookup_type(cloud, "data" if data else "resource", type_name)["block"]
        if attr not in block.get("attributes", {}) and attr not in block.get("block_types", {}):
            missing.append(f"{data}{type_name}.{attr}")
    assert missing == []
