"""`ccds cost` end to end: spec -> plan -> estimate, JSON schema, budget exit codes, --compare, --events."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "cost.schema.json").read_text())

SPEC = """\
version: 1
name: watch
providers:
  aws-main: {cloud: aws}
  oci-main: {cloud: oci, compartment_id: ocid1.compartment.oc1..x}
  onprem: {cloud: vsphere, server: v, datacenter: dc1, cluster: c, datastore: d, network: n, template: t,
           pricing: {vcpu_hour: 0.01, gb_month: 2}}
regions:
  na-east:
    placement: aws-main/us-east-1
    network: {cidr: 10.10.0.0/16}
    pools:
      origin: {instance_type: c5.large, min: 1, max: 4, capacity: 20}
      edge: {instance_type: c5.xlarge, min: 2, max: 200, capacity: 400}
      relay: {instance_type: c5.large, min: 0, max: 40, capacity: 50}
%(more)s
traffic:
  bitrate_kbps: 4500
  peak_viewers: {%(viewers)s}
  hours_per_month: 120
events:
  - {name: final, start: 2027-12-04T01:00:00Z, duration: 4h, expected_viewers: {na-east: 60000}, prestage: 30m}
"""
MORE = """\
  eu:
    placement: oci-main/eu-frankfurt-1
    network: {cidr: 10.20.0.0/16}
    pools:
      origin: {instance_type: VM.Standard.E4.Flex, min: 1, max: 2, capacity: 20}
      edge: {instance_type: VM.Standard.E4.Flex, min: 1, max: 10, capacity: 300}
  dc:
    placement: onprem/dc1
    network: {cidr: 10.30.0.0/16}
    pools:
      origin: {instance_type: 2x4, min: 1, max: 1, capacity: 20}
      edge: {instance_type: 4x8, min: 1, max: 1, capacity: 100}
"""


def _write(tmp_path, viewers="na-east: 30000", more="") -> Path:
    path = tmp_path / "ccds.yaml"
    path.write_text(SPEC % {"viewers": viewers, "more": more})
    return path


def _cost(spec: Path, *args: str) -> tuple[int, dict]:
    proc = subprocess.run([sys.executable, "-m", "ccds_cli", "cost", str(spec), "--output", "json", *args],
                          capture_output=True, text=True, timeout=60)
    return proc.returncode, json.loads(proc.stdout)


def test_one_region_matches_hand_computed_figures(tmp_path):
    from ccds_cli.cost import estimate_spec
    from ccds_cli.spec import load_spec

    r = estimate_spec(load_spec(_write(tmp_path)).spec)
    # 30,000 viewers / (400 x 0.6) = 125 edges: 2 all month, 123 for the 120 streaming hours.
    assert r["by_role"]["edge"] == pytest.approx(2 * 730 * 0.17 + 123 * 120 * 0.17 + 368_391.2, abs=0.05)
    # 125 edges > 8 per origin: ceil(125 / 8) = 16 relays for the streaming hours (min 0).
    assert r["by_role"]["relay"] == pytest.approx(16 * 120 * 0.085, abs=0.01)
    assert r["by_role"]["origin"] == pytest.approx(730 * 0.085, abs=0.01)
    # 7,290,000 GB: 11,571.20 for the first 150 TB, then 0.05/GB.
    assert r["by_category"]["egress"] == pytest.approx(11_571.2 + (7_290_000 - 153_600) * 0.05, abs=0.05)
    assert r["usd_per_viewer_hour"] == pytest.approx(r["total_usd"] / (30_000 * 120), rel=1e-4)


def test_zero_traffic_spec(tmp_path):
    code, env = _cost(_write(tmp_path, viewers=""))
    assert code == 0
    r = env["result"]
    assert r["by_category"]["egress"] == 0 and r["usd_per_viewer_hour"] is None
    # Only the minimums run: 1 origin + 2 edges, all month.
    assert r["total_usd"] == pytest.approx(730 * 0.085 + 2 * 730 * 0.17, abs=0.01)


def test_json_output_matches_schema_with_every_option(tmp_path):
    code, env = _cost(_write(tmp_path, viewers="na-east: 30000, eu: 5000, dc: 50", more=MORE),
                      "--compare", "--events", "--budget", "1e9")
    assert code == 0 and env["ok"]
    jsonschema.validate(env, SCHEMA)
    r = env["result"]
    assert set(r["by_cloud"]) == {"aws", "oci", "vsphere"}
    # vSphere priced from the spec (0.01/vCPU-hour, 2/GB-month), both nodes all month:
    # edge 4x8 = 29.20 + 16.00, origin 2x4 = 14.60 + 8.00.
    assert r["by_cloud"]["vsphere"] == pytest.approx(45.2 + 22.6, abs=0.01)
    # OCI: 5,000 viewers x 4.5 Mbps x 120 h = 1,215,000 GB; the first 10 TB free.
    oci = next(a for a in r["egress_accounts"] if a["cloud"] == "oci")
    assert oci["usd"] == pytest.approx((1_215_000 - 10_240) * 0.0085, abs=0.05)
    final = r["events"][0]
    assert final["name"] == "final" and final["hours"] == 4.5 and final["extra_nodes"] > 0 and final["usd"] > 0
    cmp = {c["region"]: c for c in r["compare"]}
    assert cmp["na-east"]["cheapest"]["usd"] <= cmp["na-east"]["current"]["usd"]
    assert {o["cloud"] for o in cmp["na-east"]["options"]} >= {"aws", "gcp", "azure", "oci"}
    assert cmp["dc"]["options"] == []  # a private region without coordinates has no neighbours


def test_budget_exit_codes(tmp_path):
    spec = _write(tmp_path)
    code, env = _cost(spec, "--budget", "100")
    assert code == 1 and env["ok"] is False and env["result"]["budget"]["over"] is True
    jsonschema.validate(env, SCHEMA)
    code, env = _cost(spec, "--budget", "1000000")
    assert code == 0 and env["result"]["budget"] == {"limit_usd": 1000000.0, "over": False,
                                                     "difference_usd": pytest.approx(env["result"]["total_usd"] - 1e6)}


def test_text_output_has_bars_and_assumptions(tmp_path):
    """At a terminal, tables with bars; piped (a CI log), one key=value record per line instead."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ui"))
    from ptyrun import run_pty

    argv = [sys.executable, "-m", "ccds_cli", "cost", str(_write(tmp_path))]
    env = {"PATH": "/usr/bin", "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    code, screen = run_pty(argv, env, tmp_path, cols=140, timeout=60)
    assert code == 0, screen
    assert "by category" in screen and "█" in screen and "assumptions:" in screen
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=dict(env, COLUMNS="140"))
    assert proc.returncode == 0, proc.stderr
    assert "by category:" in proc.stdout and "category=egress USD/month=" in proc.stdout
    assert "█" not in proc.stdout and "assumptions:" in proc.stdout


def test_refresh_without_credentials_keeps_catalog(tmp_path, monkeypatch):
    from ccds_cli.cost.refresh import refresh_aws

    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    msg = refresh_aws()
    assert msg.startswith("prices not refreshed")
    assert not (tmp_path / "cache" / "ccds").exists()
