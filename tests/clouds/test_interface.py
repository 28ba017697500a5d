"""Properties every cloud adapter shares: lazy SDKs with install hints, offline regions, states."""

from __future__ import annotations

import sys

import pytest

from ccds_cli import clouds
from ccds_cli.clouds._lazy import require
from ccds_cli.errors import MissingTool

SDK = {"aws": "boto3", "gcp": "google.cloud.compute_v1", "azure": "azure.mgmt.compute", "oci": "oci",
       "digitalocean": "pydo", "linode": "linode_api4", "vsphere": "pyVim.connect", "openstack": "openstack"}
MINIMAL = {"aws": {}, "gcp": {"project": "p"}, "azure": {"subscription_id": "s"}, "oci": {"compartment_id": "c"},
           "digitalocean": {}, "linode": {},
           "vsphere": {"server": "v", "datacenter": "d", "cluster": "c", "datastore": "s", "network": "n",
                       "template": "t"},
           "openstack": {"auth_url": "http://127.0.0.1:9/v3", "external_network": "public"}}


def test_require_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pydo", None)  # makes `import pydo` fail
    with pytest.raises(MissingTool) as err:
        require("pydo", "digitalocean")
    assert err.value.hint == 'pip install "ccds[digitalocean]"'


@pytest.mark.parametrize("name", sorted(SDK))
def test_missing_sdk_is_a_check_failure_with_install_hint(name, monkeypatch, clean_env):
    monkeypatch.setitem(sys.modules, SDK[name], None)
    cloud = clouds.get(name)
    cfg = cloud.provider_model(cloud=name, **MINIMAL[name])
    result = cloud.check(cfg)
    assert not result.ok
    assert result.fix == f'pip install "ccds[{cloud.extra}]"'
    with pytest.raises(MissingTool):
        cloud.inventory(cfg, "watch", ["r1"])


def test_importing_a_cloud_does_not_import_its_sdk():
    import subprocess

    code = ("import sys; from ccds_cli import clouds; [clouds.get(n).regions() for n in clouds.names()]; "
            f"print([m for m in {sorted(SDK.values())!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("name", [n for n in clouds.names() if n != "local"])
def test_state_maps_use_only_ccds_states(name):
    cloud = clouds.get(name)
    assert cloud.state_map
    assert set(cloud.state_map.values()) <= {"pending", "running", "stopped", "terminated", "unknown"}
    assert all(k == k.lower() for k in cloud.state_map)


def test_regions_are_offline_and_have_coordinates():
    aws = clouds.get("aws").regions()
    assert aws["us-east-1"].lat == pytest.approx(38.9)
    assert clouds.get("vsphere").region_info("dc1").name == "dc1"  # private clouds accept any region
