"""Red5 Pro's license key reaches its media nodes, and only them: from the variable the spec names
(`engine.license_env`) into each media pool's share of TF_VAR_secrets (the node's /etc/ccds/node.env,
where the bootstrap writes /opt/red5pro/LICENSE.KEY), never the managers', never a rendered file. Without
it, or with a value a license key does not look like, no command plans or applies (exit 2, naming
the field)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ccds_cli.deployment import Deployment

REPO = Path(__file__).resolve().parents[2]
KEY = "R5PR-0A1B-2C3D-4E5F"

SPEC = """\
version: 1
name: r5
engine: {kind: red5pro, license_env: R5_LICENSE, archive_url: "https://downloads.example/red5pro.zip"}
providers:
  aws-main: {cloud: aws}
control:
  placement: [aws-main/us-east-1]
  network: {cidr: 10.250.0.0/16}
regions:
  na:
    placement: aws-main/us-east-1
    network: {cidr: 10.10.0.0/16}
    pools:
      origin: {instance_type: c5.large, min: 1, max: 2, capacity: 20}
      edge: {instance_type: c5.large, min: 2, max: 4, capacity: 200}
security:
  admin_cidrs: [203.0.113.0/24]
"""


@pytest.fixture
def dep(tmp_path, monkeypatch):
    (tmp_path / "ccds.yaml").write_text(SPEC)
    monkeypatch.setenv("R5_LICENSE", KEY)
    d = Deployment.open(tmp_path / "ccds.yaml", tmp_path / "state")
    d.build()
    return d


def test_the_license_goes_to_media_nodes_only(dep):
    by_name = {ws.name: ws for ws in dep.rendered}
    region = dep.workspace_secrets(by_name["aws-main.us-east-1"])["na"]
    assert region["origin/red5pro_license"] == KEY and region["edge/red5pro_license"] == KEY
    control = dep.workspace_secrets(by_name["control.aws-main.us-east-1"])["control"]
    assert not any("license" in k for k in control) and KEY not in json.dumps(control)
    for ws in dep.rendered:  # never in a file
        assert not [p for p in Path(ws.path).rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()]
    origin_boot = json.loads((Path(by_name["aws-main.us-east-1"].path) / "main.tf.json").read_text())
    assert "$red5pro_license" in json.dumps(origin_boot)  # the bootstrap reads it from node.env


@pytest.mark.parametrize("value, message", [
    (None, "the environment variable R5_LICENSE is not set"),
    ("abc$(id)", "has characters a Red5 Pro key does not have"),
])
def test_without_a_usable_license_nothing_is_applied(tmp_path, value, message):
    (tmp_path / "ccds.yaml").write_text(SPEC)
    env = {k: v for k, v in os.environ.items() if k not in ("R5_LICENSE", "CCDS_STATE_DIR")}
    env["PYTHONPATH"] = str(REPO)
    if value is not None:
        env["R5_LICENSE"] = value
    proc = subprocess.run([sys.executable, "-m", "ccds_cli", "plan", "ccds.yaml"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "ccds.yaml:3:" in proc.stderr and "engine.license_env" in proc.stderr and message in proc.stderr
    assert "Traceback" not in proc.stderr and "$(id)" not in proc.stdout
    assert not list((tmp_path / ".ccds").rglob("*.tfstate"))
