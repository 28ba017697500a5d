"""DigitalOcean adapter: the real pydo client against a local fake of the v2 API."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakeapi import FakeApi, paged

from ccds_cli.clouds.digitalocean import DigitalOcean, DigitalOceanProvider

REPO_EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TOKEN = "dop_v1_test"
CFG = DigitalOceanProvider(cloud="digitalocean")


def _droplet(i: int, status: str, deployment: str = "watch", region: str = "nyc3", role: str = "edge"):
    # Shape of GET /v2/droplets items (fields ccds reads plus a few neighbours).
    return {
        "id": 3164444 + i, "name": f"{deployment}-na-east-{role}-{i}", "memory": 8192, "vcpus": 4,
        "disk": 50, "locked": False, "status": status, "created_at": "2026-11-20T19:10:11Z",
        "size_slug": "c-4", "image": {"id": 1, "slug": "ubuntu-22-04-x64"},
        "networks": {"v4": [{"ip_address": f"10.10.0.{i}", "netmask": "255.255.0.0", "gateway": "",
                             "type": "private"},
                            {"ip_address": f"203.0.113.{i}", "netmask": "255.255.240.0",
                             "gateway": "203.0.113.1", "type": "public"}], "v6": []},
        "region": {"name": "New York 3", "slug": region, "available": True},
        "tags": [f"ccds-deployment:{deployment}", "ccds-workspace:na-east", f"ccds-role:{role}",
                 "ccds-pool:edge"],
        "vpc_uuid": "5a4981aa-9653-4bd1-bef5-d6bff52042e4",
    }


@pytest.fixture
def api(clean_env, monkeypatch):
    droplets = ([_droplet(i, s) for i, s in enumerate(["new", "active", "active", "off", "archive"] * 5)]
                + [_droplet(99, "active", region="fra1")])
    fake = FakeApi()

    def authed(req):
        return req.headers.get("authorization") == f"Bearer {TOKEN}"

    def unauthorized():
        return 401, {}, {"id": "Unauthorized", "message": "Unable to authenticate you"}

    def account(req):
        if not authed(req):
            return unauthorized()
        return 200, {}, {"account": {"droplet_limit": 25, "email": "ops@example.com", "uuid": "b6fr89",
                                     "email_verified": True, "status": "active", "status_message": ""}}

    def listing(req):
        if not authed(req):
            return unauthorized()
        tag = req.q("tag_name")
        items = [d for d in droplets if tag is None or tag in d["tags"]]
        page, per_page = int(req.q("page", "1")), int(req.q("per_page", "20"))
        chunk, more = paged(items, page, per_page)
        pages = {"next": f"{fake.url}/v2/droplets?page={page + 1}&per_page={per_page}"} if more else {}
        return 200, {}, {"droplets": chunk, "links": {"pages": pages}, "meta": {"total": len(items)}}

    fake.route("GET", "/v2/account", account)
    fake.route("GET", "/v2/droplets", listing)
    fake.start()
    yield fake
    fake.stop()


def test_check_ok(api, monkeypatch):
    monkeypatch.setenv("DIGITALOCEAN_TOKEN", TOKEN)
    result = DigitalOcean(endpoint=api.url).check(CFG)
    assert result.ok, result
    assert "ops@example.com" in result.reason


def test_check_missing_token(api):
    result = DigitalOcean(endpoint=api.url).check(CFG)
    assert not result.ok and "DIGITALOCEAN_TOKEN" in result.reason
    assert not api.requests  # nothing sent without a token


def test_check_rejected_token(api, monkeypatch):
    monkeypatch.setenv("DIGITALOCEAN_TOKEN", "wrong")
    result = DigitalOcean(endpoint=api.url).check(CFG)
    assert not result.ok
    assert "Unable to authenticate you" in result.reason and "DIGITALOCEAN_TOKEN" in result.fix


def test_inventory_pages_filters_and_maps_states(api, monkeypatch):
    monkeypatch.setenv("DIGITALOCEAN_TOKEN", TOKEN)
    cloud = DigitalOcean(endpoint=api.url)
    cloud.page_size = 7
    found = cloud.inventory(CFG, "watch", ["nyc3"])
    assert len(found) == 25  # the fra1 droplet is outside the asked regions
    pages = [r.q("page") for r in api.requests if r.path == "/v2/droplets"]
    assert pages == ["1", "2", "3", "4"]
    assert {r.q("tag_name") for r in api.requests} == {"ccds-deployment:watch"}
    states = {i.cloud_state: i.state for i in found}
    assert states == {"new": "pending", "active": "running", "off": "stopped", "archive": "terminated"}
    first = next(i for i in found if i.id == "3164445")
    assert (first.public_ip, first.private_ip) == ("203.0.113.1", "10.10.0.1")
    assert (first.role, first.workspace, first.region) == ("edge", "na-east", "nyc3")


def test_inventory_auth_failure_is_a_ccds_error(api, monkeypatch):
    from ccds_cli.errors import CcdsError

    monkeypatch.setenv("DIGITALOCEAN_TOKEN", "wrong")
    with pytest.raises(CcdsError, match="DigitalOcean inventory failed"):
        DigitalOcean(endpoint=api.url).inventory(CFG, "watch", ["nyc3"])


def _do_spec(tmp_path, keys: str) -> Path:
    src = (REPO_EXAMPLES / "eight-clouds.yaml").read_text()
    spec = tmp_path / "eight.yaml"
    spec.write_text(src.replace("do-main:     {cloud: digitalocean}", f"do-main:     {{cloud: digitalocean, ssh_key_ids: {keys}}}"))
    assert spec.read_text() != src
    return spec


def test_ssh_key_ids_reach_the_module_settings(tmp_path):
    import json

    from ccds_cli.plan import build_plan
    from ccds_cli.render import render
    from ccds_cli.spec import load_spec

    loaded = load_spec(_do_spec(tmp_path, '["123456", "3b:16:bf:e4:8b:00:8b:b8:1a:2b:3c:4d:5e:6f:70:81"]'))
    rendered = {r.name: r.path for r in render(loaded, build_plan(loaded.spec), tmp_path / "out")}
    do = [p for name, p in rendered.items() if name.startswith("do-main")]
    assert do
    for path in do:
        module = next(iter(json.loads((path / "main.tf.json").read_text())["module"].values()))
        assert module["settings"]["ssh_key_ids"] == "123456,3b:16:bf:e4:8b:00:8b:b8:1a:2b:3c:4d:5e:6f:70:81"


def test_malformed_ssh_key_id_is_a_spec_error(tmp_path):
    import subprocess
    import sys

    spec = _do_spec(tmp_path, '["my key"]')
    out = subprocess.run([sys.executable, "-m", "ccds_cli", "validate", str(spec)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2
    assert "ssh_key_ids" in out.stderr and "fingerprint" in out.stderr and "Traceback" not in out.stderr
    assert ":16:" in out.stderr  # the line of the do-main alias
