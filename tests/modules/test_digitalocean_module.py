"""DigitalOcean module logic (modules/digitalocean/locals.tf) evaluated by terraform."""

import base64

from tflocals import control_blocks, evaluate, unguarded

NAMES = ["nodes", "base_tags", "node_tags", "roles", "inbound_rules", "user_data", "create_ssh_key",
         "existing_ssh_keys", "lb_cidrs", "database_cidrs", "managed_database", "dns_fqdn",
         "dns_record", "dns_enabled", "node_secrets_b64"]


def inputs(**over) -> dict:
    base = {
        "deployment": "watchparty",
        "workspace": "na-east",
        "region": "nyc3",
        "network_cidr": "10.30.0.0/16",
        "ssh_public_key": "ssh-ed25519 AAAAC3Nza user@host\n",
        "tags": {"ccds-deployment": "watchparty", "ccds-workspace": "na-east", "team": "live video/ops"},
        "secrets": {"origin/0/node_token": "abc", "edge/1/node_token": "e1"},
        "pools": {
            "origin": {"role": "origin", "count": 1, "instance_type": "s-2vcpu-4gb",
                       "user_data": "B64=@@CCDS_SECRETS_B64@@"},
            "edge": {"role": "edge", "count": 2, "instance_type": "c-4", "image": "123456"},
        },
        "firewall_rules": [
            {"role": "origin", "protocol": "tcp", "from_port": 1935, "to_port": 1935,
             "cidrs": ["0.0.0.0/0", "::/0"], "description": "RTMP"},
            {"role": "edge", "protocol": "udp", "from_port": 8000, "to_port": 8100,
             "cidrs": ["0.0.0.0/0"], "description": "media"},
            {"role": "edge", "protocol": "icmp", "from_port": -1, "to_port": -1,
             "cidrs": ["10.30.0.0/16"], "description": "ping"},
            {"role": "relay", "protocol": "tcp", "from_port": 1, "to_port": 2,
             "cidrs": ["10.0.0.0/8"], "description": "no relay pool here"},
        ],
    }
    base.update(over)
    return base


def test_nodes_and_tags(tmp_path):
    out = evaluate("digitalocean", tmp_path, inputs(), NAMES)
    assert sorted(out["nodes"]) == ["edge-0", "edge-1", "origin-0"]
    assert out["nodes"]["origin-0"]["image"] == "ubuntu-22-04-x64"
    assert out["nodes"]["edge-1"]["image"] == "123456"
    assert out["nodes"]["edge-1"]["name"] == "watchparty-na-east-edge-1"
    # "key:value", with characters DigitalOcean rejects turned into '_'.
    assert out["base_tags"] == ["ccds-deployment:watchparty", "ccds-workspace:na-east", "team:live_video_ops"]
    assert "ccds-role:edge" in out["node_tags"]["edge-0"] and "ccds-pool:edge" in out["node_tags"]["edge-0"]


def test_firewall_rules_per_role(tmp_path):
    out = evaluate("digitalocean", tmp_path, inputs(), NAMES)
    assert out["roles"] == ["edge", "origin"]  # firewalls only where droplets are
    edge = out["inbound_rules"]["edge"]
    assert {"protocol": "udp", "port_range": "8000-8100", "source_addresses": ["0.0.0.0/0"]} in edge
    assert {"protocol": "icmp", "port_range": None, "source_addresses": ["10.30.0.0/16"]} in edge
    assert out["inbound_rules"]["origin"] == [
        {"protocol": "tcp", "port_range": "1935", "source_addresses": ["0.0.0.0/0", "::/0"]}]


def test_ssh_key_created_or_reused(tmp_path):
    out = evaluate("digitalocean", tmp_path, inputs(), NAMES)
    assert out["create_ssh_key"] is True and out["existing_ssh_keys"] == []
    (tmp_path / "reuse").mkdir()
    out = evaluate("digitalocean", tmp_path / "reuse", inputs(settings={"ssh_key_ids": "123, ab:cd"}), NAMES)
    assert out["create_ssh_key"] is False and out["existing_ssh_keys"] == ["123", "ab:cd"]


def test_secrets_and_control(tmp_path):
    rules = inputs()["firewall_rules"] + [
        {"role": "manager", "protocol": "tcp", "from_port": 8000, "to_port": 9000,
         "cidrs": ["198.51.100.0/24"], "description": "API range"},
        {"role": "database", "protocol": "tcp", "from_port": 25060, "to_port": 25060,
         "cidrs": ["192.0.2.10/32"], "description": "remote manager"},
    ]
    pools = {"manager": {"role": "manager", "count": 2, "instance_type": "s-2vcpu-4gb"}}
    out = evaluate("digitalocean", tmp_path, inputs(
        pools=pools, firewall_rules=rules, workspace="control",
        control={"enabled": True, "dns_zone": "example.com", "dns_name": "example.com"}), NAMES)
    assert out["lb_cidrs"] == ["198.51.100.0/24"]
    assert out["database_cidrs"] == ["10.30.0.0/16", "192.0.2.10/32"]
    assert out["managed_database"] is True
    assert out["dns_fqdn"] == "example.com" and out["dns_record"] == "@"
    (tmp_path / "ud").mkdir()
    out = evaluate("digitalocean", tmp_path / "ud", inputs(), NAMES)
    assert out["user_data"]["origin"] == "B64=@@CCDS_SECRETS_B64@@"  # filled per droplet (main.tf)
    shares = {k: base64.b64decode(v).decode() for k, v in out["node_secrets_b64"].items()}
    assert shares == {"origin-0": "node_token=abc\n", "edge-0": "", "edge-1": "node_token=e1\n"}
    assert out["dns_enabled"] is False and out["managed_database"] is False


def test_control_resources_are_conditional():
    blocks = control_blocks("digitalocean")
    assert unguarded(blocks) == []
    types = {k.split(".")[0] for k in blocks}
    assert {"digitalocean_loadbalancer", "digitalocean_database_cluster", "digitalocean_database_firewall",
            "digitalocean_record"} <= types
