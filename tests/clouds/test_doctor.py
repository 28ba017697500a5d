"""`ccds doctor` run as a user runs it: real terraform on PATH, real checks, JSON results."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def _doctor(*args: str, env: dict | None = None) -> tuple[int, dict]:
    proc = subprocess.run([sys.executable, "-m", "ccds_cli", "doctor", *args, "--output", "json"],
                          capture_output=True, text=True, timeout=120, env=env)
    return proc.returncode, json.loads(proc.stdout)


def _env(tmp_path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "OS_", "VSPHERE_", "CCDS_", "PG_"))}
    env.update(HOME=str(tmp_path), AWS_CONFIG_FILE=str(tmp_path / "c"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "c"),
               AWS_EC2_METADATA_DISABLED="true", **extra)
    return env


def _checks(result: dict) -> dict:
    return {c["name"]: c for c in result["result"]["checks"]}


def test_no_spec_checks_tools_only(tmp_path):
    code, out = _doctor(env=_env(tmp_path))
    checks = _checks(out)
    assert checks["terraform"]["status"] == "pass"
    assert "terraform 1." in checks["terraform"]["detail"] or "tofu" in checks["terraform"]["detail"]
    assert set(checks) == {"terraform", "nginx rtmp", "ffmpeg"}
    assert not checks["nginx rtmp"]["needed"]  # without a spec the local cloud is optional
    assert code == 0


def test_missing_terraform_fails_with_a_fix(tmp_path):
    code, out = _doctor(env=_env(tmp_path, CCDS_TERRAFORM=str(tmp_path / "no-such-terraform")))
    assert code == 1 and out["ok"] is False and out["result"]["ready"] is False
    tf = _checks(out)["terraform"]
    assert tf["status"] == "fail" and "OpenTofu" in tf["fix"]


SPEC = """\
version: 1
name: doc
state: %(state)s
providers:
  cloud-a: {cloud: aws}
regions:
  na:
    placement: cloud-a/us-east-1
    network: {cidr: 10.10.0.0/16}
    pools:
      origin: {instance_type: c5.large, min: 1, max: 1, capacity: 20}
      edge: {instance_type: c5.large, min: 1, max: 2, capacity: 100}
"""


@pytest.mark.slow
def test_spec_credentials_against_moto(tmp_path):
    from fakeapi import free_port
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        spec = tmp_path / "ccds.yaml"
        spec.write_text(SPEC % {"state": "{backend: local}"})
        good = _env(tmp_path, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                    AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}", AWS_DEFAULT_REGION="us-east-1")
        code, out = _doctor(str(spec), env=good)
        checks = _checks(out)
        assert checks["provider cloud-a (AWS)"]["status"] == "pass"
        assert checks["state backend"]["status"] == "pass"
        assert code == (0 if all(c["status"] != "fail" or not c["needed"] for c in checks.values()) else 1)

        code, out = _doctor(str(spec), env=_env(tmp_path, AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}"))
        aws = _checks(out)["provider cloud-a (AWS)"]
        assert code == 1 and aws["status"] == "fail" and "aws configure" in aws["fix"]
    finally:
        server.stop()


@pytest.mark.slow
def test_s3_compatible_state_store_is_asked_at_its_endpoint(tmp_path):
    """state.endpoint is where doctor looks for the bucket (no AWS_ENDPOINT_URL set)."""
    import boto3
    from fakeapi import free_port
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        store = f"http://127.0.0.1:{port}"
        boto3.client("s3", region_name="us-east-1", endpoint_url=store, aws_access_key_id="k",
                     aws_secret_access_key="s").create_bucket(Bucket="team-state")
        env = _env(tmp_path, AWS_ACCESS_KEY_ID="k", AWS_SECRET_ACCESS_KEY="s")
        spec = tmp_path / "ccds.yaml"
        for bucket, status in (("team-state", "pass"), ("no-such-bucket", "fail")):
            spec.write_text(SPEC % {"state": f"{{backend: s3, bucket: {bucket}, region: us-east-1, "
                                             f"endpoint: '{store}', use_path_style: true}}"})
            state = _checks(_doctor(str(spec), env=env)[1])["state backend"]
            assert state["status"] == status and bucket in state["detail"], state
    finally:
        server.stop()


def test_pg_backend_without_connection_string(tmp_path):
    spec = tmp_path / "ccds.yaml"
    spec.write_text(SPEC % {"state": "{backend: pg}"})
    code, out = _doctor(str(spec), env=_env(tmp_path))
    state = _checks(out)["state backend"]
    assert code == 1 and state["status"] == "fail" and "PG_CONN_STR" in state["detail"]


AZURE_SPEC = """\
version: 1
name: doc
providers:
  az: {cloud: azure, subscription_id: 00000000-0000-0000-0000-000000000000}
regions:
  eu:
    placement: az/westeurope
    network: {cidr: 10.10.0.0/16}
    pools:
      origin: {capacity: 20}
      edge: {capacity: 100}
security:
  admin_cidrs: [203.0.113.0/24]
"""


def test_azure_check_keeps_the_sdk_log_lines_off_stderr(tmp_path):
    """azure-identity logs every credential it tried as WARNINGs; doctor's table already says it
    failed and how to fix it. No outside address is tried: managed identity points at a refused
    loopback port, and there is no az CLI, token cache or service principal."""
    pytest.importorskip("azure.identity")
    spec = tmp_path / "ccds.yaml"
    spec.write_text(AZURE_SPEC)
    env = {k: v for k, v in _env(tmp_path).items()
           if not k.startswith(("ARM_", "AZURE_", "IDENTITY_", "MSI_", "IMDS_"))}
    env.update(IDENTITY_ENDPOINT="http://127.0.0.1:1/token", IDENTITY_HEADER="x", PATH="/usr/bin:/bin:"
               + os.path.dirname(sys.executable) + ":" + os.path.dirname(_terraform()))
    proc = subprocess.run([sys.executable, "-m", "ccds_cli", "doctor", str(spec)], capture_output=True,
                          text=True, timeout=120, env=dict(env, COLUMNS="200", NO_COLOR="1"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "no usable Azure credentials" in proc.stdout and "az login" in proc.stdout
    assert proc.stderr == "", proc.stderr


def test_cloud_spec_does_not_check_local_tools(tmp_path):
    """nginx and ffmpeg run the local cloud's nodes: not checked for a spec without a local provider."""
    spec = tmp_path / "ccds.yaml"
    spec.write_text(SPEC % {"state": "{backend: local}"})
    _, out = _doctor(str(spec), env=_env(tmp_path, AWS_ENDPOINT_URL="http://127.0.0.1:1"))
    checks = {c for c in _checks(out) if not c.startswith("install: ")}  # what the VMs install: tests/nodepkg
    assert checks == {"terraform", "provider cloud-a (AWS)", "state backend"}


def test_local_spec_needs_local_tools(tmp_path):
    from pathlib import Path

    local = Path(__file__).resolve().parents[2] / "examples" / "local.yaml"
    _, out = _doctor(str(local), "--state-dir", str(tmp_path / "state"), env=_env(tmp_path))
    checks = _checks(out)
    assert checks["nginx rtmp"]["needed"] and checks["ffmpeg"]["needed"]


def _terraform() -> str:
    import shutil

    return shutil.which("terraform") or "/usr/local/bin/terraform"
