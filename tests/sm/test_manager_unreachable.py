"""`ccds probe` and `ccds status` when the stream manager does not answer (or something else does):
exit code 4 (unhealthy) with a message naming the manager, never an httpx traceback."""

from __future__ import annotations

import http.server
import json
import shutil
import socket
import threading
from pathlib import Path

import pytest

from tests.spec.speccli import EXAMPLES, assert_no_traceback, run_ccds


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: connections are refused


@pytest.fixture
def not_a_manager():
    """An HTTP server on loopback that is not a stream manager (a proxy page, another service)."""
    class Page(http.server.BaseHTTPRequestHandler):
        def _page(self):
            body = b"<html><body>It works!</body></html>"
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _page

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="probe needs ffmpeg")


@needs_ffmpeg
@pytest.mark.timeout(120)
def test_probe_with_the_manager_down_exits_4(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}"
    proc = run_ccds(["probe", str(EXAMPLES / "local.yaml"), "--manager", url, "--timeout", "5",
                     "--state-dir", str(tmp_path)], timeout=60)
    assert proc.returncode == 4, (proc.stdout, proc.stderr)
    assert_no_traceback(proc)
    assert f"could not reach the stream manager at {url}" in proc.stdout + proc.stderr


@needs_ffmpeg
@pytest.mark.timeout(120)
def test_probe_json_names_the_problem(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}"
    proc = run_ccds(["probe", str(EXAMPLES / "local.yaml"), "--manager", url, "--timeout", "5",
                     "--state-dir", str(tmp_path), "--output", "json"], timeout=60)
    assert proc.returncode == 4
    doc = json.loads(proc.stdout)
    assert doc["exit_code"] == 4 and "could not reach the stream manager" in doc["result"]["error"]


@needs_ffmpeg
@pytest.mark.timeout(120)
def test_probe_against_something_else_exits_4(tmp_path, not_a_manager):
    proc = run_ccds(["probe", str(EXAMPLES / "local.yaml"), "--manager", not_a_manager, "--timeout", "5",
                     "--state-dir", str(tmp_path)], timeout=60)
    assert proc.returncode == 4, (proc.stdout, proc.stderr)
    assert_no_traceback(proc)
    assert "not a stream manager answer" in proc.stdout + proc.stderr


def _deployed_control(tmp_path: Path, url: str) -> tuple[Path, dict]:
    """examples/local.yaml planned, and its control workspace holding state whose outputs name `url`."""
    spec = tmp_path / "local.yaml"
    shutil.copy(EXAMPLES / "local.yaml", spec)
    rc = tmp_path / "empty.tfrc"
    rc.write_text("")
    env = {"TF_CLI_CONFIG_FILE": str(rc), "CHECKPOINT_DISABLE": "1"}
    proc = run_ccds(["plan", str(spec)], cwd=tmp_path, env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    control = next((tmp_path / ".ccds" / "local-demo" / "workspaces").glob("control.*"))
    (control / "terraform.tfstate").write_text(json.dumps({
        "version": 4, "terraform_version": "1.5.0", "serial": 1, "lineage": "7d5c6f0e-0000-4000-8000-000000000000",
        "outputs": {"endpoints": {"value": {"control": {"api": url}},
                                  "type": ["object", {"control": ["object", {"api": "string"}]}]}},
        "resources": [{"mode": "managed", "type": "terraform_data", "name": "manager",
                       "provider": 'provider["terraform.io/builtin/terraform"]',
                       "instances": [{"schema_version": 0, "attributes": {
                           "id": "x", "input": None, "output": None, "triggers_replace": None}}]}],
        "check_results": None}))
    return spec, env


@pytest.mark.skipif(shutil.which("terraform") is None and shutil.which("tofu") is None, reason="needs terraform")
@pytest.mark.timeout(300)
def test_status_with_the_manager_down_exits_4(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}"
    spec, env = _deployed_control(tmp_path, url)
    proc = run_ccds(["status", str(spec)], cwd=tmp_path, env=env, timeout=120)
    assert proc.returncode == 4, (proc.stdout, proc.stderr)
    assert_no_traceback(proc)
    assert f"stream manager {url} not reachable" in proc.stdout
    proc = run_ccds(["status", str(spec), "--output", "json"], cwd=tmp_path, env=env, timeout=120)
    doc = json.loads(proc.stdout)
    assert proc.returncode == 4 and doc["result"]["manager"]["reachable"] is False
