"""Linode adapter: the real linode-api4 client against a local fake of the v4 API."""

from __future__ import annotations

import json

import pytest
from fakeapi import FakeApi, paged

from ccds_cli.clouds.linode import Linode, LinodeProvider

TOKEN = "linode-test-token"
CFG = LinodeProvider(cloud="linode")
STATES = ["provisioning", "running", "offline", "shutting_down", "deleting", "booting"]


def _linode(i: int, status: str, deployment: str = "watch", region: str = "us-east"):
    # Shape of GET /v4/linode/instances items.
    return {
        "id": 5000 + i, "label": f"{deployment}-na-east-edge-{i}", "region": region, "type": "g6-dedicated-4",
        "status": status, "created": "2026-11-20T19:10:11", "updated": "2026-11-20T19:12:00",
        "ipv4": [f"198.51.100.{i}", f"192.168.140.{i}"], "ipv6": "2600:3c03::f03c:91ff:fe24:3a2f/128",
        "image": "linode/ubuntu22.04", "group": "", "hypervisor": "kvm",
        "tags": [f"ccds-deployment:{deployment}", "ccds-workspace:na-east", "ccds-role:edge", "ccds-pool:edge"],
        "specs": {"disk": 81920, "memory": 8192, "vcpus": 4, "gpus": 0, "transfer": 5000},
        "alerts": {}, "backups": {"enabled": False}, "watchdog_enabled": True,
    }


@pytest.fixture
def api(clean_env):
    items = [_linode(i, STATES[i % len(STATES)]) for i in range(60)]
    items += [_linode(70, "running", deployment="watch2"), _linode(71, "running", region="eu-central")]
    fake = FakeApi()

    def authed(req):
        return req.headers.get("authorization") == f"Bearer {TOKEN}"

    def denied():
        return 401, {}, {"errors": [{"reason": "Invalid Token"}]}

    def profile(req):
        if not authed(req):
            return denied()
        return 200, {}, {"username": "ops", "email": "ops@example.com", "restricted": False, "uid": 1}

    def instances(req):
        if not authed(req):
            return denied()
        flt = json.loads(req.headers.get("x-filter") or "{}")
        rows = [d for d in items if "tags" not in flt or flt["tags"] in d["tags"]]
        page, size = int(req.q("page", "1")), int(req.q("page_size", "100"))
        chunk, _ = paged(rows, page, size)
        return 200, {}, {"data": chunk, "page": page, "pages": max(1, -(-len(rows) // size)),
                         "results": len(rows)}

    fake.route("GET", "/v4/profile", profile)
    fake.route("GET", "/v4/linode/instances", instances)
    fake.start()
    yield fake
    fake.stop()


def test_check_ok(api, monkeypatch):
    monkeypatch.setenv("LINODE_TOKEN", TOKEN)
    result = Linode(endpoint=api.url + "/v4").check(CFG)
    assert result.ok, result
    assert result.reason == "user ops"


def test_check_missing_and_rejected_token(api, monkeypatch):
    assert "LINODE_TOKEN" in Linode(endpoint=api.url + "/v4").check(CFG).reason
    monkeypatch.setenv("LINODE_TOKEN", "bad")
    result = Linode(endpoint=api.url + "/v4").check(CFG)
    assert not result.ok and "Invalid Token" in result.reason and "LINODE_TOKEN" in result.fix


def test_inventory_pages_filters_and_maps_states(api, monkeypatch):
    monkeypatch.setenv("LINODE_TOKEN", TOKEN)
    cloud = Linode(endpoint=api.url + "/v4")
    cloud.page_size = 25
    found = cloud.inventory(CFG, "watch", ["us-east"])
    assert len(found) == 60  # not watch2 (another deployment), not eu-central (not asked)
    pages = [r.q("page") for r in api.requests if r.path == "/v4/linode/instances"]
    assert pages[-3:] == [None, "2", "3"]  # first page implicit, then pages 2 and 3
    assert json.loads(api.requests[-1].headers["x-filter"]) == {"tags": "ccds-deployment:watch"}
    states = {i.cloud_state: i.state for i in found}
    assert states == {"provisioning": "pending", "running": "running", "offline": "stopped",
                      "shutting_down": "stopped", "deleting": "terminated", "booting": "pending"}
    one = next(i for i in found if i.id == "5003")
    assert (one.public_ip, one.private_ip, one.role, one.workspace) == ("198.51.100.3", "192.168.140.3",
                                                                         "edge", "na-east")
    assert one.launched_at.startswith("2026-11-20T19:10:11")
