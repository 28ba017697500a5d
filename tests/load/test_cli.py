"""`ccds load` as a user runs it: bad input and unhealthy deployments give a message and an exit code."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ccds_cli.localcloud.procs import free_port
from loadhelp import Cluster

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def spec(tmp_path) -> Path:
    path = tmp_path / "local.yaml"
    shutil.copy(REPO / "examples" / "local.yaml", path)
    return path


def ccds(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("CCDS_ADMIN_TOKEN", "CCDS_STATE_DIR")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "ccds_cli", "load", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("args, message", [
    (["--viewers", "0"], "--viewers must be at least 1"),
    (["--viewers", "-5"], "--viewers must be at least 1"),
    (["--viewers", "1000000"], "at most 20,000"),
    (["--ramp", "0"], "--ramp must be above 0"),
    (["--duration", "-1"], "--duration must be above 0"),
    (["--publishers", "51"], "--publishers must be between 0 and 50"),
    (["--publishers", "0"], "--publishers 0 needs --stream"),
    (["--stream", "no spaces"], "is not a valid name"),
    (["--lat", "10"], "--lat and --lon go together"),
    (["--lat", "100", "--lon", "0"], "is not a position"),
    (["--bitrate", "5"], "--bitrate must be between"),
])
def test_bad_input_exits_2_with_a_message(spec, args, message):
    proc = ccds(str(spec), *args, cwd=spec.parent)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_bad_input_as_json_is_one_envelope(spec):
    proc = ccds(str(spec), "--viewers", "0", "--output", "json", cwd=spec.parent)
    envelope = json.loads(proc.stdout)
    assert proc.returncode == 2 and envelope["exit_code"] == 2 and envelope["command"] == "load"
    assert envelope["ok"] is False and "at least 1" in envelope["error"]["message"]


def test_no_such_spec_and_no_deployment_up_exit_2(spec):
    proc = ccds(str(spec.parent / "missing.yaml"), cwd=spec.parent)
    assert proc.returncode == 2 and "no such file" in proc.stderr
    proc = ccds(str(spec), "--viewers", "5", cwd=spec.parent)
    assert proc.returncode == 2 and "deployment local-demo is not up" in proc.stderr
    assert "ccds up" in proc.stderr and "Traceback" not in proc.stderr


def test_a_manager_that_does_not_answer_exits_4(spec):
    proc = ccds(str(spec), "--manager", f"http://127.0.0.1:{free_port()}", "--viewers", "5", "-o", "json",
                cwd=spec.parent)
    envelope = json.loads(proc.stdout)
    assert proc.returncode == 4 and envelope["exit_code"] == 4
    assert "does not answer" in envelope["error"]["message"] and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_a_manager_that_refuses_to_publish_exits_4(spec, tmp_path):
    cluster = Cluster(tmp_path / "sm")  # a manager with no origin: publish answers 503
    try:
        proc = ccds(str(spec), "--manager", cluster.url, "--viewers", "5", cwd=spec.parent)
    finally:
        cluster.close()
    assert proc.returncode == 4, proc.stderr
    assert "refused to publish" in proc.stderr and "503" in proc.stderr and "Traceback" not in proc.stderr
