"""`check()` of the vSphere adapter against the vCenter simulator (pyvmomi over TLS), each failure
with the fix-it text `ccds doctor` shows."""

from __future__ import annotations

import pytest

from ccds_cli.clouds.vsphere import Vsphere, VsphereProvider
from tests.vsphere.vcsim import PASSWORD, USER, Vcsim, ready

pytestmark = pytest.mark.skipif(bool(ready()), reason=ready() or "ready")


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    server = Vcsim(tmp_path_factory.mktemp("vcsim"))
    yield server
    server.stop()


def _cfg(sim, **over) -> VsphereProvider:
    fields = {"cloud": "vsphere", "server": sim.server, "datacenter": "DC0", "cluster": "DC0_C0",
              "datastore": "LocalDS_0", "network": "VM Network", "template": "DC0_H0_VM0",
              "allow_unverified_ssl": True} | over
    return VsphereProvider(**fields)


@pytest.fixture
def login(monkeypatch):
    monkeypatch.setenv("VSPHERE_USER", USER)
    monkeypatch.setenv("VSPHERE_PASSWORD", PASSWORD)
    monkeypatch.delenv("CCDS_VSPHERE_ENDPOINT", raising=False)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    return monkeypatch


def test_good_credentials(sim, login):
    result = Vsphere().check(_cfg(sim))
    assert result.ok, result
    assert result.reason == "VMware vCenter Server 6.5.0 build-5973321: datacenter DC0 visible"


def test_wrong_password(sim, login):
    login.setenv("VSPHERE_PASSWORD", "not-" + PASSWORD)
    result = Vsphere().check(_cfg(sim))
    assert not result.ok
    assert result.reason == "vCenter refused the login: Login failure"
    assert "VSPHERE_USER and VSPHERE_PASSWORD" in result.fix


def test_unknown_datacenter(sim, login):
    result = Vsphere().check(_cfg(sim, datacenter="DC9"))
    assert not result.ok
    assert result.reason == "datacenter 'DC9' not found or not visible"
    assert result.fix == "fix `datacenter` in the spec or grant read access to it"


def test_untrusted_certificate(sim, login):
    result = Vsphere().check(_cfg(sim, allow_unverified_ssl=False))
    assert not result.ok
    assert result.reason.startswith(f"TLS to {sim.server} failed:") and "CERTIFICATE_VERIFY_FAILED" in result.reason
    assert result.fix == "install the vCenter CA certificate, or set allow_unverified_ssl: true"


def test_trusted_certificate_needs_no_allow_unverified_ssl(sim, login):
    """What the fix-it text says works: with the simulator's certificate trusted (SSL_CERT_FILE,
    which Python's default context reads), the same alias passes without allow_unverified_ssl."""
    login.setenv("SSL_CERT_FILE", str(sim.cert))
    result = Vsphere().check(_cfg(sim, allow_unverified_ssl=False))
    assert result.ok, result
