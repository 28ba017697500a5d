"""`ccds load` as a user runs it: bad input and unhealthy deployments give a message and an exit code."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from loadhelp import Cluster, stop_proc, wait

from ccds_cli.localcloud.procs import free_port

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


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_or_ctrl_c_stops_cleanly_with_a_report(spec, make_cluster, sig):
    cluster = make_cluster(80)
    stream = f"sig-{sig.value}"
    env = {k: v for k, v in os.environ.items() if k not in ("CCDS_ADMIN_TOKEN", "CCDS_STATE_DIR")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen([sys.executable, "-m", "ccds_cli", "load", str(spec), "--manager", cluster.url,
                             "--viewers", "20", "--ramp", "100", "--duration", "300", "--stream", stream,
                             "--bitrate", "400", "-o", "json"], cwd=spec.parent, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait(lambda: sum(n.stats().subscribers for name, n in cluster.nodes.items() if name.startswith("edge")) == 20,
             30, "20 viewers on the edges")
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        stop_proc(proc)
    envelope = json.loads(out)
    assert proc.returncode == 130 and envelope["exit_code"] == 130, err
    r = envelope["result"]
    # On the edges is not yet playing: on a loaded machine a viewer may still wait for its first frame at
    # the signal, and then it is `cancelled`, not `held`. Every one of the 20 is accounted for, none failed.
    v = r["viewers"]
    assert r["interrupted"] and v["started"] == 20 and v["failed"] == 0, v
    assert v["held"] + v["cancelled"] == 20 and v["held"] >= 1 and v["received_media"] == v["held"], v
    assert r["publishers"][0]["state"] == "stopped"
    assert "Traceback" not in err
    assert not [pid for pid, cmd in _processes().items() if stream in cmd]  # the ffmpeg publisher is gone
    wait(lambda: sum(n.stats().subscribers for name, n in cluster.nodes.items() if name.startswith("edge")) == 0,
         10, "the viewers to leave the edges")


def _processes() -> dict[int, str]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                pass
    return found
