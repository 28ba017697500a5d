"""`check()` of the vSphere adapter against the vCenter simulator (pyvmomi over TLS), each failure
with the fix-it text `ccds doctor` shows."""

from __future__ import annotations

from pathlib import Path

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


def test_doctor_shows_the_fix(sim, login, tmp_path):
    """What a user sees: `ccds doctor` on a spec whose vSphere alias logs in with a wrong password."""
    import os
    import subprocess
    import sys

    import yaml

    spec = {"version": 1, "name": "doc", "engine": {"kind": "mediamtx"},
            "providers": {"lab": _cfg(sim).model_dump(exclude_defaults=True) | {"cloud": "vsphere"}},
            "regions": {"dc": {"placement": "lab/dc0", "network": {"cidr": "10.30.0.0/16"},
                               "pools": {
                "origin": {"instance_type": "1x1", "min": 1, "max": 1, "capacity": 10},
                "edge": {"instance_type": "1x1", "min": 1, "max": 1, "capacity": 10}}}}}
    (tmp_path / "ccds.yaml").write_text(yaml.safe_dump(spec))
    env = dict(os.environ, VSPHERE_PASSWORD="wrong", PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    proc = subprocess.run([sys.executable, "-m", "ccds_cli", "doctor", "ccds.yaml"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    line = next(x for x in proc.stdout.splitlines() if "provider lab (vSphere)" in x)
    assert 'status=fail detail="vCenter refused the login: Login failure"' in line
    assert "export VSPHERE_USER and VSPHERE_PASSWORD" in line
