"""Azure adapter: azure-mgmt-compute/network and azure-identity over a recorded transport."""

from __future__ import annotations

import pytest
from azure_transport import RecordedTransport

from ccds_cli.clouds.azure import Azure, AzureProvider

SUB = "00000000-1111-2222-3333-444444444444"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CFG = AzureProvider(cloud="azure", subscription_id=SUB)
POWER = ["starting", "running", "stopping", "stopped", "deallocating", "deallocated"]
RG = f"/subscriptions/{SUB}/resourceGroups/watch-na-east"


def _vm(i: int, power: str, deployment: str = "watch", location: str = "eastus", prov: str = "Succeeded"):
    # Shape of GET .../providers/Microsoft.Compute/virtualMachines?statusOnly=true items.
    name = f"{deployment}-na-east-edge-{i}"
    return {
        "name": name, "id": f"{RG}/providers/Microsoft.Compute/virtualMachines/{name}",
        "type": "Microsoft.Compute/virtualMachines", "location": location,
        "tags": {"ccds-deployment": deployment, "ccds-workspace": "na-east", "ccds-role": "edge"},
        "properties": {
            "vmId": f"6f4c7a39-0000-0000-0000-{i:012d}", "provisioningState": prov,
            "timeCreated": "2026-11-20T19:10:11.1234567+00:00",
            "hardwareProfile": {"vmSize": "Standard_F4s_v2"},
            "networkProfile": {"networkInterfaces": [
                {"id": f"{RG}/providers/Microsoft.Network/networkInterfaces/{name}-nic"}]},
            "instanceView": {"statuses": [
                {"code": f"ProvisioningState/{prov.lower()}", "level": "Info"},
                {"code": f"PowerState/{power}", "level": "Info", "displayStatus": f"VM {power}"}]},
        },
    }


def _nic(i: int):
    name = f"watch-na-east-edge-{i}"
    return {"name": f"{name}-nic", "id": f"{RG}/providers/Microsoft.Network/networkInterfaces/{name}-NIC",
            "location": "eastus", "properties": {"ipConfigurations": [{
                "name": "primary", "properties": {
                    "privateIPAddress": f"10.10.0.{i}", "privateIPAllocationMethod": "Dynamic",
                    "publicIPAddress": {"id": f"{RG}/providers/Microsoft.Network/publicIPAddresses/{name}-pip"}}}]}}


def _pip(i: int):
    name = f"watch-na-east-edge-{i}"
    return {"name": f"{name}-pip", "id": f"{RG}/providers/Microsoft.Network/publicIPAddresses/{name}-pip",
            "location": "eastus", "properties": {"ipAddress": f"20.55.0.{i}",
                                                 "publicIPAllocationMethod": "Static"}}


def _pages(items: list, size: int, base: str):
    """A handler serving `items` in pages linked by nextLink (`$skiptoken` = offset)."""
    def handler(req):
        from urllib.parse import parse_qs, urlsplit

        start = int(parse_qs(urlsplit(req.url).query).get("$skiptoken", ["0"])[0])
        body = {"value": items[start:start + size]}
        if start + size < len(items):
            body["nextLink"] = f"{base}&$skiptoken={start + size}"
        return 200, {}, body
    return handler


class StaticToken:
    """A TokenCredential with a fixed token (what the pipeline's bearer policy asks for)."""

    def __init__(self, token: str = "good") -> None:
        self.token = token

    def get_token(self, *scopes, **kwargs):
        from azure.core.credentials import AccessToken

        return AccessToken(self.token, 4102444800)


@pytest.fixture
def transport(clean_env):
    t = RecordedTransport()
    vms = [_vm(i, POWER[i % len(POWER)]) for i in range(14)]
    vms += [_vm(40, "running", deployment="other"), _vm(41, "running", location="westeurope"),
            _vm(42, "running", prov="Deleting")]
    listing = f"https://management.azure.com/subscriptions/{SUB}/providers/Microsoft.Compute/virtualMachines?api-version=2025-04-01&statusOnly=true"

    def authorized(handler):
        def wrapped(req):
            if req.headers.get("Authorization") != "Bearer good":
                return 401, {"WWW-Authenticate": 'Bearer authorization_uri="https://login.microsoftonline.com/x"'}, {
                    "error": {"code": "InvalidAuthenticationToken", "message": "The access token is invalid."}}
            return handler(req)
        return wrapped

    t.route("GET", r"/providers/Microsoft\.Compute/virtualMachines\?", authorized(_pages(vms, 5, listing)))
    t.route("GET", r"/providers/Microsoft\.Network/networkInterfaces\?",
            authorized(lambda req: (200, {}, {"value": [_nic(i) for i in range(50)]})))
    t.route("GET", r"/providers/Microsoft\.Network/publicIPAddresses\?",
            authorized(lambda req: (200, {}, {"value": [_pip(i) for i in range(50)]})))
    # Entra ID (AAD) endpoints a service principal login touches.
    t.route("GET", r"login\.microsoftonline\.com/.*/v2\.0/\.well-known/openid-configuration", lambda req: (200, {}, {
        "token_endpoint": f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token",
        "authorization_endpoint": f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/authorize",
        "issuer": f"https://login.microsoftonline.com/{TENANT}/v2.0"}))
    t.route("GET", r"login\.microsoftonline\.com/common/discovery/instance", lambda req: (200, {}, {
        "tenant_discovery_endpoint": f"https://login.microsoftonline.com/{TENANT}/v2.0/.well-known/openid-configuration",
        "metadata": [{"preferred_network": "login.microsoftonline.com", "preferred_cache": "login.windows.net",
                      "aliases": ["login.microsoftonline.com", "login.windows.net"]}]}))
    t.route("POST", r"login\.microsoftonline\.com/.*/oauth2/v2\.0/token", lambda req: (401, {}, {
        "error": "invalid_client", "error_codes": [7000215],
        "error_description": "AADSTS7000215: Invalid client secret provided."}))
    return t


def test_check_ok(transport):
    result = Azure(credential=StaticToken(), transport=transport).check(CFG)
    assert result.ok, result
    assert SUB in result.reason


def test_check_rejected_token(transport):
    result = Azure(credential=StaticToken("stale"), transport=transport).check(CFG)
    assert not result.ok and "credentials rejected" in result.reason and "az login" in result.fix


def test_check_bad_service_principal(transport, monkeypatch):
    # The real azure-identity ClientSecretCredential built from Terraform's ARM_* variables.
    monkeypatch.setenv("ARM_TENANT_ID", TENANT)
    monkeypatch.setenv("ARM_CLIENT_ID", "11111111-2222-3333-4444-555555555555")
    monkeypatch.setenv("ARM_CLIENT_SECRET", "wrong")
    result = Azure(transport=transport).check(CFG)
    assert not result.ok and "no usable Azure credentials" in result.reason
    assert any("oauth2/v2.0/token" in r.url for r in transport.requests)


def test_check_without_subscription(transport):
    result = Azure(credential=StaticToken(), transport=transport).check(AzureProvider(cloud="azure"))
    assert not result.ok and "ARM_SUBSCRIPTION_ID" in result.fix


def test_inventory_pages_filters_and_maps_states(transport):
    found = Azure(credential=StaticToken(), transport=transport).inventory(CFG, "watch", ["eastus"])
    pages = [r.url for r in transport.requests if "virtualMachines" in r.url]
    assert len(pages) == 4 and "statusOnly=true" in pages[0] and "skiptoken=15" in pages[-1]
    names = {i.name for i in found}
    assert "other-na-east-edge-40" not in names and "watch-na-east-edge-41" not in names
    assert len(found) == 15
    states = {i.cloud_state: i.state for i in found}
    assert states == {"starting": "pending", "running": "running", "stopping": "stopped",
                      "stopped": "stopped", "deallocating": "stopped", "deallocated": "stopped",
                      "deleting": "terminated"}
    one = next(i for i in found if i.name == "watch-na-east-edge-3")
    # NIC ids differ in case between the VM reference and the NIC listing: matched anyway.
    assert (one.private_ip, one.public_ip, one.role, one.region) == ("10.10.0.3", "20.55.0.3", "edge", "eastus")
    assert one.launched_at.startswith("2026-11-20T19:10:11")
