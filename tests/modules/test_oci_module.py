"""OCI module logic (modules/oci/locals.tf) evaluated by terraform, plus its control wiring."""

import base64

from tflocals import control_blocks, evaluate, run_locals, unguarded

NAMES = ["nodes", "default_image_shapes", "roles", "nsg_rules", "user_data", "lb_ipv4_cidrs",
         "managed_database", "dns_fqdn", "dns_enabled", "public_subnet_cidr", "private_subnet_cidr",
         "node_tags", "node_secrets_b64"]
MARKER = "@@CCDS_SECRETS_B64@@"


def inputs(**over) -> dict:
    base = {
        "deployment": "watchparty",
        "workspace": "control",
        "region": "eu-frankfurt-1",
        "network_cidr": "10.20.0.0/16",
        "settings": {"compartment_id": "ocid1.compartment.oc1..example"},
        "tags": {"ccds-deployment": "watchparty", "ccds-workspace": "control"},
        "secrets": {"db_password": "pw", "manager/admin_token": "adm", "manager/1/x": "one"},
        "pools": {
            "manager": {"role": "manager", "count": 2, "instance_type": "VM.Standard.E4.Flex",
                        "user_data": f"#cloud-config\nwrite_files:\n- content: {MARKER}\n"},
            "edge": {"role": "edge", "count": 1, "instance_type": "VM.Standard2.1",
                     "image": "ocid1.image.oc1..custom", "disk_gb": 80},
        },
        "firewall_rules": [
            {"role": "manager", "protocol": "tcp", "from_port": 8080, "to_port": 8080,
             "cidrs": ["203.0.113.0/24", "2001:db8::/32"], "description": "API"},
            {"role": "manager", "protocol": "tcp", "from_port": 8080, "to_port": 8080,
             "cidrs": ["203.0.113.0/24"], "description": "API again"},
            {"role": "edge", "protocol": "udp", "from_port": 8000, "to_port": 8100,
             "cidrs": ["0.0.0.0/0"], "description": "media"},
            {"role": "database", "protocol": "tcp", "from_port": 5432, "to_port": 5432,
             "cidrs": ["10.20.0.0/16"], "description": "postgres"},
        ],
        "control": {"enabled": True, "api_port": 8080, "dns_zone": "example.com.", "dns_name": "api"},
    }
    base.update(over)
    return base


def test_nodes_shapes_and_images(tmp_path):
    out = evaluate("oci", tmp_path, inputs(), NAMES)
    assert sorted(out["nodes"]) == ["edge-0", "manager-0", "manager-1"]
    mgr = out["nodes"]["manager-1"]
    assert mgr["name"] == "watchparty-control-manager-1" and mgr["flex"] is True
    assert mgr["disk_gb"] == 50  # raised to OCI's minimum boot volume
    edge = out["nodes"]["edge-0"]
    assert edge["flex"] is False and edge["disk_gb"] == 80 and edge["image"] == "ocid1.image.oc1..custom"
    assert out["default_image_shapes"] == ["VM.Standard.E4.Flex"]  # only pools without an image
    assert out["node_tags"]["edge-0"]["ccds-role"] == "edge"
    assert out["node_tags"]["edge-0"]["ccds-deployment"] == "watchparty"


def test_nsg_rules_per_rule_and_ipv4_cidr(tmp_path):
    out = evaluate("oci", tmp_path, inputs(), NAMES)
    assert out["roles"] == ["database", "edge", "manager"]  # rule-only roles get an NSG too
    assert sorted(out["nsg_rules"]) == [
        "database/tcp/5432-5432/10.20.0.0/16",
        "edge/udp/8000-8100/0.0.0.0/0",
        "manager/tcp/8080-8080/203.0.113.0/24",  # the duplicate collapsed, IPv6 skipped
    ]
    assert out["nsg_rules"]["manager/tcp/8080-8080/203.0.113.0/24"]["description"] == "API"
    assert out["lb_ipv4_cidrs"] == ["203.0.113.0/24"]
    assert out["public_subnet_cidr"] == "10.20.0.0/17"
    assert out["private_subnet_cidr"] == "10.20.240.0/20"


def test_each_node_gets_only_its_own_secrets(tmp_path):
    out = evaluate("oci", tmp_path, inputs(), NAMES)
    assert MARKER in out["user_data"]["manager"]  # filled per instance (main.tf), not per pool
    assert out["user_data"]["edge"] == ""
    shares = {k: base64.b64decode(v).decode() for k, v in out["node_secrets_b64"].items()}
    assert shares == {"manager-0": "admin_token=adm\n", "manager-1": "x=one\nadmin_token=adm\n", "edge-0": ""}


def test_control_database_and_dns(tmp_path):
    out = evaluate("oci", tmp_path, inputs(), NAMES)
    assert out["managed_database"] is True and out["dns_enabled"] is True
    assert out["dns_fqdn"] == "api.example.com"
    pools = dict(inputs()["pools"], db={"role": "database", "count": 1, "instance_type": "VM.Standard2.1"})
    (tmp_path / "vm").mkdir()
    out = evaluate("oci", tmp_path / "vm", inputs(pools=pools, control={"enabled": True}), NAMES)
    assert out["managed_database"] is False  # a database pool on VMs replaces the managed service
    assert out["dns_enabled"] is False and out["dns_fqdn"] == ""


def test_compartment_id_is_required(tmp_path):
    proc = run_locals("oci", tmp_path, inputs(settings={}), NAMES)
    assert proc.returncode != 0
    assert "compartment_id" in proc.stderr


def test_control_resources_are_conditional():
    """Every control resource is counted on the control switch, so region workspaces create none."""
    blocks = control_blocks("oci")
    assert unguarded(blocks) == []
    types = {k.split(".")[0] for k in blocks}
    assert {"oci_load_balancer_load_balancer", "oci_psql_db_system", "oci_dns_rrset"} <= types
