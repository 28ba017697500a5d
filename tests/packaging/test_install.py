"""What `pip install` gives a user: the wheel carries the modules, the console script runs anywhere."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_console_script_works_outside_the_checkout(tmp_path):
    """An editable install must not leave a shadowing `ccds_cli` in site-packages (pypa/hatch#1627)."""
    ccds = shutil.which("ccds")
    if ccds is None:
        pytest.skip("ccds is not installed as a console script")
    spec = REPO / "examples" / "local.yaml"
    out = subprocess.run([ccds, "render", str(spec), "--out", str(tmp_path / "out")], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert list((tmp_path / "out").rglob("main.tf.json"))


def test_wheel_ships_modules_and_data(tmp_path):
    args = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)]
    if importlib.util.find_spec("hatchling") is not None:
        args.insert(4, "--no-build-isolation")
    subprocess.run(args, check=True, capture_output=True, timeout=300)
    wheel = next(tmp_path.glob("ccds-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for cloud in ("aws", "gcp", "azure", "oci", "digitalocean", "linode", "vsphere", "openstack", "local"):
        assert f"ccds_cli/modules/{cloud}/variables.tf" in names, cloud
    assert "ccds_cli/cli.py" in names
    assert "ccds_cli/data/regions.yaml" in names
