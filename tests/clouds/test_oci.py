"""OCI adapter: the real oci SDK (request signing included) against a local fake of the Core API."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fakeapi import FakeApi

from ccds_cli.clouds.oci import Oci, OciProvider

TENANCY = "ocid1.tenancy.oc1..aaaatenancy"
USER = "ocid1.user.oc1..aaaauser"
FPR = "20:3b:97:13:55:1c:5b:0d:d3:37:d8:50:4e:c5:3a:34"
COMP = "ocid1.compartment.oc1..aaaacomp"
CFG = OciProvider(cloud="oci", compartment_id=COMP)
STATES = ["PROVISIONING", "RUNNING", "STARTING", "STOPPING", "STOPPED", "TERMINATING", "TERMINATED"]


def _instance(i: int, state: str, deployment: str = "watch"):
    # Shape of GET /20160918/instances items (camelCase as the API sends them).
    return {
        "id": f"ocid1.instance.oc1.iad.inst{i:04d}", "compartmentId": COMP, "displayName": f"{deployment}-na-east-edge-{i}",
        "availabilityDomain": "Uocm:US-ASHBURN-AD-1", "faultDomain": "FAULT-DOMAIN-1", "region": "iad",
        "shape": "VM.Standard.E4.Flex", "shapeConfig": {"ocpus": 2.0, "memoryInGBs": 16.0},
        "lifecycleState": state, "timeCreated": "2026-11-20T19:10:11.123Z",
        "freeformTags": {"ccds-deployment": deployment, "ccds-workspace": "na-east", "ccds-role": "edge"},
        "definedTags": {}, "metadata": {},
    }


@pytest.fixture
def oci_env(clean_env, monkeypatch):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = clean_env / "oci_api_key.pem"
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    config = clean_env / "oci-config"
    config.write_text(f"[DEFAULT]\nuser={USER}\nfingerprint={FPR}\ntenancy={TENANCY}\nregion=us-ashburn-1\n"
                      f"key_file={key_file}\n\n[OTHER]\nuser={USER}\nfingerprint=aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99\ntenancy={TENANCY}\n"
                      f"region=us-ashburn-1\nkey_file={key_file}\n")
    monkeypatch.setenv("OCI_CLI_CONFIG_FILE", str(config))

    instances = [_instance(i, STATES[i % len(STATES)]) for i in range(16)] + [_instance(90, "RUNNING", "other")]
    fake = FakeApi()

    def signed(req):
        auth = req.headers.get("authorization", "")
        return f'keyId="{TENANCY}/{USER}/{FPR}"' in auth and 'signature="' in auth

    def denied():
        return 401, {"opc-request-id": "req1"}, {"code": "NotAuthenticated",
                                                 "message": "The required information to complete authentication was not provided or was incorrect."}

    def listing(rows):
        def handler(req):
            if not signed(req):
                return denied()
            if req.q("compartmentId") != COMP:
                return 404, {}, {"code": "NotAuthorizedOrNotFound", "message": "Authorization failed or requested resource not found."}
            start, size = int(req.q("page") or 0), int(req.q("limit") or 100)
            headers = {"opc-next-page": str(start + size)} if start + size < len(rows) else {}
            return 200, headers, rows[start:start + size]
        return handler

    attachments = [{"id": f"ocid1.vnicattachment.oc1..a{i}", "instanceId": r["id"], "vnicId": f"ocid1.vnic.oc1..v{i}",
                    "lifecycleState": "ATTACHED", "compartmentId": COMP, "availabilityDomain": "AD-1",
                    "subnetId": "ocid1.subnet.oc1..s", "timeCreated": "2026-11-20T19:10:11Z"}
                   for i, r in enumerate(instances)]

    def vnic(req):
        if not signed(req):
            return denied()
        i = int(req.match["n"])
        return 200, {}, {"id": f"ocid1.vnic.oc1..v{i}", "privateIp": f"10.10.0.{i}", "publicIp": f"129.80.0.{i}",
                         "isPrimary": True, "lifecycleState": "AVAILABLE", "compartmentId": COMP,
                         "availabilityDomain": "AD-1", "subnetId": "ocid1.subnet.oc1..s",
                         "timeCreated": "2026-11-20T19:10:11Z"}

    fake.route("GET", "/20160918/instances/", listing(instances))
    fake.route("GET", "/20160918/instances", listing(instances))
    fake.route("GET", "/20160918/vnicAttachments/", listing(attachments))
    fake.route("GET", "/20160918/vnicAttachments", listing(attachments))
    fake.route("GET", r"/20160918/vnics/ocid1\.vnic\.oc1\.\.v(?P<n>\d+)", vnic)
    fake.start()
    yield fake
    fake.stop()


def test_check_ok(oci_env):
    result = Oci(endpoint=oci_env.url).check(CFG)
    assert result.ok, result
    assert TENANCY in result.reason


def test_check_wrong_key_and_compartment(oci_env):
    bad = Oci(endpoint=oci_env.url).check(CFG.model_copy(update={"config_profile": "OTHER"}))
    assert not bad.ok and "NotAuthenticated" in bad.reason and "fingerprint" in bad.fix
    nope = Oci(endpoint=oci_env.url).check(CFG.model_copy(update={"compartment_id": "ocid1.compartment.oc1..x"}))
    assert not nope.ok and "compartment" in nope.reason


def test_check_without_config(clean_env, monkeypatch):
    monkeypatch.setenv("OCI_CLI_CONFIG_FILE", str(clean_env / "missing"))
    result = Oci(endpoint="http://127.0.0.1:9").check(CFG)
    assert not result.ok and "oci setup config" in result.fix


def test_inventory_pages_filters_and_maps_states(oci_env):
    cloud = Oci(endpoint=oci_env.url)
    cloud.page_size = 5
    found = cloud.inventory(CFG, "watch", ["us-ashburn-1"])
    assert len(found) == 16
    pages = [r.q("page") for r in oci_env.requests if r.path.rstrip("/") == "/20160918/instances"]
    assert pages == [None, "5", "10", "15"]
    states = {i.cloud_state: i.state for i in found}
    assert states == {"PROVISIONING": "pending", "RUNNING": "running", "STARTING": "pending",
                      "STOPPING": "stopped", "STOPPED": "stopped", "TERMINATING": "terminated",
                      "TERMINATED": "terminated"}
    one = next(i for i in found if i.name == "watch-na-east-edge-1")
    assert (one.public_ip, one.private_ip, one.role, one.region) == ("129.80.0.1", "10.10.0.1", "edge",
                                                                      "us-ashburn-1")
    gone = next(i for i in found if i.name == "watch-na-east-edge-6")
    assert gone.state == "terminated" and gone.public_ip == ""
