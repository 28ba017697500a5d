"""OpenStack adapter: openstacksdk + keystoneauth against a local fake Keystone v3 and Nova v2.1."""

from __future__ import annotations

import pytest
from fakeapi import FakeApi

from ccds_cli.clouds.openstack import Openstack, OpenstackProvider

STATES = ["BUILD", "ACTIVE", "SHUTOFF", "SUSPENDED", "SOFT_DELETED", "ERROR", "REBOOT"]
PROJECT = "8c5f2f1c1f7a4b0e9b9c3f6a2d1e0f11"


def _server(i: int, status: str, deployment: str = "watch"):
    # Shape of GET /servers/detail items (microversion 2.1 fields ccds reads).
    return {
        "id": f"9a7c5b1e-0000-4000-8000-{i:012d}", "name": f"{deployment}-na-east-edge-{i}", "status": status,
        "tenant_id": PROJECT, "user_id": "u1", "created": "2026-11-20T19:10:11Z", "updated": "2026-11-20T19:12:00Z",
        "OS-SRV-USG:launched_at": "2026-11-20T19:11:02.000000", "flavor": {"id": "m1.medium"},
        "image": {"id": "img"}, "hostId": "h", "key_name": None, "OS-EXT-STS:vm_state": status.lower(),
        "metadata": {"ccds-deployment": deployment, "ccds-workspace": "lab", "ccds-role": "edge"},
        "addresses": {"watch-lab": [
            {"version": 4, "addr": f"10.20.0.{i}", "OS-EXT-IPS:type": "fixed", "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:00:00:01"},
            {"version": 4, "addr": f"172.24.4.{i}", "OS-EXT-IPS:type": "floating", "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:00:00:01"}]},
        "links": [],
    }


@pytest.fixture
def api(clean_env, monkeypatch):
    servers = [_server(i, STATES[i % len(STATES)]) for i in range(17)] + [_server(50, "ACTIVE", "other")]
    fake = FakeApi()
    fake.start()
    base = fake.url

    def v3_root(req):
        return 200, {}, {"version": {"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
                                     "links": [{"rel": "self", "href": f"{base}/identity/v3/"}],
                                     "media-types": [{"base": "application/json",
                                                      "type": "application/vnd.openstack.identity-v3+json"}]}}

    def tokens(req):
        ident = req.json()["auth"]["identity"]
        user = ident.get("password", {}).get("user", {})
        if user.get("password") != "secret":
            return 401, {}, {"error": {"code": 401, "title": "Unauthorized",
                                       "message": "The request you have made requires authentication."}}
        catalog = [{"type": "compute", "name": "nova", "id": "c1", "endpoints": [
            {"id": "e1", "interface": "public", "region": "RegionOne", "region_id": "RegionOne",
             "url": f"{base}/compute/v2.1"}]},
                   {"type": "identity", "name": "keystone", "id": "k1", "endpoints": [
            {"id": "e2", "interface": "public", "region": "RegionOne", "region_id": "RegionOne",
             "url": f"{base}/identity"}]}]
        return 201, {"X-Subject-Token": "gAAAAAtoken"}, {"token": {
            "methods": ["password"], "expires_at": "2099-01-01T00:00:00.000000Z",
            "issued_at": "2026-11-20T19:00:00.000000Z", "audit_ids": ["a"],
            "user": {"id": "u1", "name": "ops", "domain": {"id": "default", "name": "Default"}},
            "project": {"id": PROJECT, "name": "video", "domain": {"id": "default", "name": "Default"}},
            "roles": [{"id": "r1", "name": "member"}], "catalog": catalog}}

    def compute_versions(req):
        return 200, {}, {"versions": [{"id": "v2.1", "status": "CURRENT", "version": "2.96",
                                       "min_version": "2.1", "updated": "2013-07-23T11:33:21Z",
                                       "links": [{"rel": "self", "href": f"{base}/compute/v2.1/"}]}]}

    def compute_version(req):
        return 200, {}, {"version": {"id": "v2.1", "status": "CURRENT", "version": "2.96", "min_version": "2.1",
                                     "updated": "2013-07-23T11:33:21Z",
                                     "links": [{"rel": "self", "href": f"{base}/compute/v2.1/"}]}}

    def server_list(req):
        if req.headers.get("x-auth-token") != "gAAAAAtoken":
            return 401, {}, {"error": {"code": 401, "message": "Unauthorized"}}
        limit = int(req.q("limit") or 1000)
        marker = req.q("marker")
        start = 0 if marker is None else next(i for i, s in enumerate(servers) if s["id"] == marker) + 1
        chunk = servers[start:start + limit]
        body = {"servers": chunk}
        if start + limit < len(servers):
            body["servers_links"] = [{"rel": "next",
                                      "href": f"{base}/compute/v2.1/servers/detail?limit={limit}&marker={chunk[-1]['id']}"}]
        return 200, {}, body

    fake.route("GET", "/identity/v3/?", v3_root)
    fake.route("POST", "/identity/v3/auth/tokens", tokens)
    fake.route("GET", "/compute/?", compute_versions)
    fake.route("GET", "/compute/v2.1/?", compute_version)
    fake.route("GET", "/compute/v2.1/servers(/detail)?", server_list)
    for key, value in {"OS_USERNAME": "ops", "OS_PASSWORD": "secret", "OS_PROJECT_NAME": "video",
                       "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default",
                       "OS_CLIENT_CONFIG_FILE": str(clean_env / "clouds.yaml")}.items():
        monkeypatch.setenv(key, value)
    yield fake
    fake.stop()


def _cfg(api):
    return OpenstackProvider(cloud="openstack", auth_url=f"{api.url}/identity/v3", external_network="public")


def test_check_ok(api):
    result = Openstack().check(_cfg(api))
    assert result.ok, result
    assert PROJECT in result.reason


def test_check_wrong_password(api, monkeypatch):
    monkeypatch.setenv("OS_PASSWORD", "wrong")
    result = Openstack().check(_cfg(api))
    assert not result.ok and "Keystone refused" in result.reason and "OS_CLOUD" in result.fix


def test_inventory_pages_filters_and_maps_states(api):
    cloud = Openstack()
    cloud.page_size = 5
    found = cloud.inventory(_cfg(api), "watch", ["RegionOne"])
    assert len(found) == 17
    listing = [r for r in api.requests if r.path.startswith("/compute/v2.1/servers")]
    markers = [r.q("marker") for r in listing]
    # Nova pages by marker (the last id of the previous page); the SDK stops on an empty page.
    assert markers[:4] == [None] + [f"9a7c5b1e-0000-4000-8000-{n:012d}" for n in (4, 9, 14)]
    assert all(r.q("limit") == "5" for r in listing)
    states = {i.cloud_state: i.state for i in found}
    assert states == {"BUILD": "pending", "ACTIVE": "running", "SHUTOFF": "stopped", "SUSPENDED": "stopped",
                      "SOFT_DELETED": "terminated", "ERROR": "unknown", "REBOOT": "pending"}
    one = next(i for i in found if i.name == "watch-na-east-edge-1")
    assert (one.public_ip, one.private_ip, one.role, one.workspace) == ("172.24.4.1", "10.20.0.1", "edge", "lab")
    assert one.launched_at.startswith("2026-11-20T19:11:02")
