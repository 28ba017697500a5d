"""GCP adapter: google-cloud-compute's REST transport against a local fake of compute/v1."""

from __future__ import annotations

import pytest
from fakeapi import FakeApi
from google.oauth2.credentials import Credentials

from ccds_cli.clouds.gcp import Gcp, GcpProvider

CFG = GcpProvider(cloud="gcp", project="my-project")
STATES = ["PROVISIONING", "STAGING", "RUNNING", "STOPPING", "TERMINATED", "SUSPENDED"]


def _instance(i: int, status: str, zone: str, deployment: str = "watch"):
    # Shape of an item of GET .../aggregated/instances (JSON names as the API sends them).
    return {
        "kind": "compute#instance", "id": str(7410000000000000000 + i), "name": f"{deployment}-na-east-edge-{i}",
        "status": status, "creationTimestamp": "2026-11-20T11:10:11.123-08:00",
        "zone": f"https://www.googleapis.com/compute/v1/projects/my-project/zones/{zone}",
        "machineType": f"https://www.googleapis.com/compute/v1/projects/my-project/zones/{zone}/machineTypes/e2-highcpu-4",
        "labels": {"ccds-deployment": deployment, "ccds-workspace": "na-east", "ccds-role": "edge"},
        "networkInterfaces": [{"name": "nic0", "networkIP": f"10.10.0.{i}",
                               "accessConfigs": [{"type": "ONE_TO_ONE_NAT", "name": "External NAT",
                                                  "natIP": f"198.51.100.{i}"}]}],
    }


@pytest.fixture
def api(clean_env, monkeypatch):
    # Keep google-auth off the real metadata server if a test ever falls back to it.
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")
    rows = [(f"us-east4-{'abc'[i % 3]}", _instance(i, STATES[i % len(STATES)], f"us-east4-{'abc'[i % 3]}"))
            for i in range(12)]
    rows.append(("europe-west3-a", _instance(50, "RUNNING", "europe-west3-a")))
    fake = FakeApi()

    def aggregated(req):
        if req.headers.get("authorization") != "Bearer good-token":
            return 401, {}, {"error": {"code": 401, "status": "UNAUTHENTICATED",
                                       "message": "Request had invalid authentication credentials."}}
        if req.match["project"] != "my-project":
            return 404, {}, {"error": {"code": 404, "status": "NOT_FOUND",
                                       "message": f"The resource 'projects/{req.match['project']}' was not found"}}
        flt = req.q("filter") or ""
        selected = [(z, r) for z, r in rows if f'"{r["labels"]["ccds-deployment"]}"' in flt or not flt]
        start = int(req.q("pageToken") or 0)
        size = int(req.q("maxResults") or 500)
        chunk = selected[start:start + size]
        items: dict = {}
        for zone, row in chunk:
            items.setdefault(f"zones/{zone}", {"instances": []})["instances"].append(row)
        items["zones/asia-east1-a"] = {"warning": {"code": "NO_RESULTS_ON_PAGE",
                                                   "message": "There are no results for scope"}}
        body = {"kind": "compute#instanceAggregatedList", "id": "projects/my-project/aggregated/instances",
                "items": items}
        if start + size < len(selected):
            body["nextPageToken"] = str(start + size)
        return 200, {}, body

    fake.route("POST", "/token", lambda req: (400, {}, {"error": "invalid_grant",
                                                       "error_description": "Token has been expired or revoked."}))
    fake.route("GET", r"/compute/v1/projects/(?P<project>[^/]+)/aggregated/instances", aggregated)
    fake.start()
    yield fake
    fake.stop()


def test_check_ok(api):
    result = Gcp(endpoint=api.url, credential=Credentials(token="good-token")).check(CFG)
    assert result.ok, result


def test_check_rejected_and_unknown_project(api):
    # A user credential whose access token is refused (401) and whose refresh token is revoked.
    stale = Credentials(token="expired", refresh_token="1//revoked", client_id="cid", client_secret="cs",
                        token_uri=api.url + "/token")
    bad = Gcp(endpoint=api.url, credential=stale).check(CFG)
    assert not bad.ok and "could not be refreshed" in bad.reason and "invalid_grant" in bad.reason
    assert "gcloud auth" in bad.fix
    assert [r.path for r in api.requests][-1] == "/token"
    missing = Gcp(endpoint=api.url, credential=Credentials(token="good-token")).check(
        GcpProvider(cloud="gcp", project="nope"))
    assert not missing.ok and "not found" in missing.reason


def test_check_without_credentials(api, tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    result = Gcp(endpoint=api.url).check(CFG)
    assert not result.ok and "GOOGLE_APPLICATION_CREDENTIALS" in result.fix


def test_inventory_pages_filters_and_maps_states(api):
    cloud = Gcp(endpoint=api.url, credential=Credentials(token="good-token"))
    cloud.page_size = 5
    found = cloud.inventory(CFG, "watch", ["us-east4"])
    assert len(found) == 12  # europe-west3 not asked
    calls = [r for r in api.requests if r.path.endswith("/aggregated/instances")]
    assert [r.q("pageToken") for r in calls] == [None, "5", "10"]
    assert calls[0].q("filter") == 'labels.ccds-deployment = "watch"'
    states = {i.cloud_state: i.state for i in found}
    assert states == {"PROVISIONING": "pending", "STAGING": "pending", "RUNNING": "running",
                      "STOPPING": "stopped", "TERMINATED": "stopped", "SUSPENDED": "stopped"}
    one = next(i for i in found if i.name == "watch-na-east-edge-2")
    assert (one.region, one.public_ip, one.private_ip, one.role) == ("us-east4", "198.51.100.2",
                                                                      "10.10.0.2", "edge")
    assert one.id == "7410000000000000002" and one.launched_at.startswith("2026-11-20")
