"""Fixtures of the vSphere end-to-end tests (see vsenv.py)."""

from __future__ import annotations

import os

import pytest

from tests.vsphere.vcsim import PASSWORD, USER, Vcsim, cli_config, vm_folder
from tests.vsphere.vsenv import REPO


@pytest.fixture(scope="module")
def vcenter(tmp_path_factory):
    """One simulator per test file, with the VM folder the specs name (as an admin would have made it)."""
    server = Vcsim(tmp_path_factory.mktemp("vcsim"))
    si = server.connect()
    vm_folder(si, "DC0", "ccds")  # the VM folder the spec names exists, as in a real vCenter
    yield server
    server.stop()


@pytest.fixture
def project(tmp_path, vcenter):
    """(directory, environment) for `ccds` runs against `vcenter`: the test bed's CLI config, its login."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "VSPHERE_", "CCDS_"))}
    env.update(TF_CLI_CONFIG_FILE=str(cli_config(tmp_path / "tf")), TF_IN_AUTOMATION="1", TF_INPUT="0",
               CHECKPOINT_DISABLE="1", VSPHERE_USER=USER, VSPHERE_PASSWORD=PASSWORD, CI="true",
               PYTHONPATH=str(REPO))
    return tmp_path, env
