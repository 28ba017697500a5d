"""Fixtures shared by the cloud adapter tests: a free loopback port and a clean credential env."""

from __future__ import annotations

import pytest


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No real cloud credentials leak into a test, and no test reaches a real cloud."""
    import os

    for key in list(os.environ):
        if key.startswith(("AWS_", "GOOGLE_", "CLOUDSDK_", "ARM_", "AZURE_", "OCI_", "DIGITALOCEAN_",
                           "LINODE_", "OS_", "VSPHERE_", "CCDS_")):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return tmp_path
