"""`ccds sm serve --forwarded-allow-ips`: behind a load balancer that ends TLS (AWS with security.tls)
the manager believes X-Forwarded-Proto from the load balancer's network only, so the absolute URLs it
hands out (redirects, the HLS master playlist of a subscribe answer) say https; from anyone else the
header changes nothing. A real `ccds sm serve` (uvicorn's proxy-header handling) on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.sm.sm_pg import free_port

REPO = Path(__file__).resolve().parents[2]


def _serve(tmp_path: Path, trusted: str):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "CCDS_ADMIN_TOKEN": "a", "CCDS_NODE_KEY": "n"}
    log = open(tmp_path / f"sm-{port}.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "ccds_cli", "sm", "serve", "--port", str(port),
                             "--database-url", f"sqlite:///{tmp_path}/sm-{port}.db", "--forwarded-allow-ips", trusted],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    end = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{base}/api/v1/health", timeout=2).raise_for_status()
            return proc, log, base
        except httpx.HTTPError:
            if proc.poll() is not None or time.monotonic() > end:
                proc.kill()
                proc.wait(timeout=10)
                log.close()
                pytest.fail((tmp_path / f"sm-{port}.log").read_text())
            time.sleep(0.2)


@pytest.mark.slow
def test_forwarded_proto_is_believed_from_the_load_balancer_network_only(tmp_path):
    headers = {"X-Forwarded-Proto": "https", "Host": "api.example.net"}
    for trusted, scheme in (("10.250.0.0/16,127.0.0.0/8", "https"), ("10.250.0.0/16", "http")):
        proc, log, base = _serve(tmp_path, trusted)
        try:
            # Starlette's slash redirect is an absolute URL built from the request's scheme and Host
            resp = httpx.get(f"{base}/api/v1/health/", headers=headers, timeout=5)
            assert resp.status_code == 307 and resp.headers["location"] == f"{scheme}://api.example.net/api/v1/health"
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            log.close()


def test_a_bad_forwarded_address_is_refused(tmp_path):
    env = {**os.environ, "CCDS_ADMIN_TOKEN": "a", "CCDS_NODE_KEY": "n"}
    proc = subprocess.run([sys.executable, "-m", "ccds_cli", "sm", "serve", "--port", "1", "--database-url",
                           f"sqlite:///{tmp_path}/x.db", "--forwarded-allow-ips", "10.0.0.0/8,*"],
                          env=env, capture_output=True, text=True, timeout=60)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2 and "--forwarded-allow-ips: '*' is not an IP address or CIDR" in out, out
    assert "Traceback" not in out
