"""Linode module logic (modules/linode/locals.tf) evaluated by terraform."""

from tflocals import control_blocks, evaluate, run_locals, unguarded

NAMES = ["short", "nodes", "base_tags", "node_tags", "roles", "inbound_rules", "lb_cidrs",
         "database_cidrs", "managed_database", "dns_fqdn", "dns_record", "dns_enabled"]


def inputs(**over) -> dict:
    base = {
        "deployment": "watchparty",
        "workspace": "eu-west",
        "region": "eu-west",
        "network_cidr": "10.40.0.0/16",
        "tags": {"ccds-deployment": "watchparty", "ccds-workspace": "eu-west"},
        "pools": {
            "edge": {"role": "edge", "count": 2, "instance_type": "g6-dedicated-4"},
            "origin": {"role": "origin", "count": 1, "instance_type": "g6-standard-2",
                       "image": "private/42"},
        },
        "firewall_rules": [
            {"role": "edge", "protocol": "udp", "from_port": 8189, "to_port": 8189,
             "cidrs": ["0.0.0.0/0", "::/0"], "description": "WebRTC"},
            {"role": "edge", "protocol": "tcp", "from_port": 8000, "to_port": 8100,
             "cidrs": ["10.40.0.0/16"], "description": "cluster"},
            {"role": "origin", "protocol": "icmp", "from_port": -1, "to_port": -1,
             "cidrs": ["10.40.0.0/16"], "description": "ping"},
        ],
    }
    base.update(over)
    return base


def test_nodes_labels_and_tags(tmp_path):
    out = evaluate("linode", tmp_path, inputs(), NAMES)
    assert sorted(out["nodes"]) == ["edge-0", "edge-1", "origin-0"]
    assert out["nodes"]["edge-1"]["label"] == "watchparty-eu-west-edge-1"
    assert out["nodes"]["edge-1"]["image"] == "linode/ubuntu22.04"
    assert out["nodes"]["origin-0"]["image"] == "private/42"
    assert out["short"] == "watchparty-eu-west"
    assert out["node_tags"]["origin-0"] == [
        "ccds-deployment:watchparty", "ccds-pool:origin", "ccds-role:origin", "ccds-workspace:eu-west"]


def test_long_names_fit_linode_limits(tmp_path):
    # Both cuts (13 characters of the prefix, 50 of prefix-pool) land right after a '-'.
    pool = "abcdef-transcoders-for-the-big-sports-weekend"
    out = evaluate("linode", tmp_path, inputs(
        deployment="abcdefghijkl-mnopqr", workspace="asia-pacific-southeast",
        pools={pool: {"role": "transcoder", "count": 1, "instance_type": "g6-standard-2"}}), NAMES)
    assert len(out["short"]) <= 20 and "--" not in out["short"]
    assert len(f'{out["short"]}-transcoder') <= 32  # firewall labels
    label = out["nodes"][f"{pool}-0"]["label"]
    assert 3 <= len(label) <= 64 and label.endswith("-0") and "--" not in label


def test_firewall_rules_split_ipv4_ipv6(tmp_path):
    out = evaluate("linode", tmp_path, inputs(), NAMES)
    assert out["roles"] == ["edge", "origin"]
    assert out["inbound_rules"]["edge"] == [
        {"label": "ccds-0-udp", "protocol": "UDP", "ports": "8189", "ipv4": ["0.0.0.0/0"], "ipv6": ["::/0"]},
        {"label": "ccds-1-tcp", "protocol": "TCP", "ports": "8000-8100", "ipv4": ["10.40.0.0/16"], "ipv6": []},
    ]
    assert out["inbound_rules"]["origin"][0]["ports"] is None  # no ports for ICMP


def test_control(tmp_path):
    pools = {"manager": {"role": "manager", "count": 1, "instance_type": "g6-standard-2"},
             "db": {"role": "database", "count": 1, "instance_type": "g6-standard-2"}}
    rules = [{"role": "manager", "protocol": "tcp", "from_port": 8080, "to_port": 8080,
              "cidrs": ["203.0.113.0/24"], "description": "API"}]
    out = evaluate("linode", tmp_path, inputs(
        workspace="control", pools=pools, firewall_rules=rules,
        control={"enabled": True, "dns_zone": "example.com", "dns_name": "live.example.com."}), NAMES)
    assert out["managed_database"] is False  # the spec put the database on a Linode
    assert out["lb_cidrs"] == ["203.0.113.0/24"]
    assert out["dns_fqdn"] == "live.example.com" and out["dns_record"] == "live"


def test_bad_protocol_rejected(tmp_path):
    rules = [{"role": "edge", "protocol": "sctp", "from_port": 1, "to_port": 1, "cidrs": ["0.0.0.0/0"],
              "description": "x"}]
    proc = run_locals("linode", tmp_path, inputs(firewall_rules=rules), NAMES)
    assert proc.returncode != 0 and "protocol" in proc.stderr


def test_control_resources_are_conditional():
    blocks = control_blocks("linode")
    assert unguarded(blocks) == []
    types = {k.split(".")[0] for k in blocks}
    assert {"linode_nodebalancer", "linode_nodebalancer_node", "linode_database_postgresql_v2",
            "linode_domain_record", "linode_domain"} <= types
