"""A moto server for the engine's end-to-end tests, plus a fault-injecting proxy in front of it.

moto ships no Ubuntu 22.04 image, so Canonical-owned jammy AMIs are published in every region
the tests use (again after each reset): the AWS module's default image lookup then works as on AWS.
"""

from __future__ import annotations

import http.client
import subprocess
import sys
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

from tests.modules.tfhelp import find_mirror, free_port, terraform_env

__all__ = ["find_mirror", "free_port", "Moto", "FaultProxy", "ccds", "ccds_env", "publish_jammy", "s3_server"]


CANONICAL = "099720109477"
REGIONS = ("us-east-1", "eu-west-1", "us-west-2", "ap-southeast-1")
REPO = Path(__file__).resolve().parents[2]


def publish_jammy(regions=REGIONS) -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ec2.models import ec2_backends
    from moto.ec2.models.amis import Ami

    for region in regions:
        backend = ec2_backends[DEFAULT_ACCOUNT_ID][region]
        backend.amis["ami-0a1b2c3d4e5f60002"] = Ami(
            backend, ami_id="ami-0a1b2c3d4e5f60002", owner_id=CANONICAL, architecture="x86_64",
            virtualization_type="hvm", root_device_type="ebs", root_device_name="/dev/sda1",
            name="ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-20250301",
            creation_date=datetime(2025, 3, 1, tzinfo=timezone.utc))


@contextmanager
def s3_server(bucket: str):
    """A bare moto server with one S3 bucket: (its URL, a boto3 S3 client). For tests of objects only
    (no AMIs published, no provider)."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    client = boto3.client("s3", region_name="us-east-1", endpoint_url=url, aws_access_key_id="k",
                          aws_secret_access_key="s")
    client.create_bucket(Bucket=bucket)
    try:
        yield url, client
    finally:
        server.stop()


class Moto:
    """ThreadedMotoServer in this process (so AMIs can be published into its backends)."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        publish_jammy()

    def reset(self) -> None:
        urlopen(Request(self.url + "/moto-api/reset", method="POST"), timeout=30).read()
        publish_jammy()

    def stop(self) -> None:
        self.server.stop()

    def ec2(self, region: str):
        import boto3

        return boto3.client("ec2", region_name=region, endpoint_url=self.url,
                            aws_access_key_id="test", aws_secret_access_key="test")


def ccds_env(tmp: Path, endpoint: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a `ccds` subprocess: offline provider mirror, AWS pointed at `endpoint`."""
    env = terraform_env(tmp, {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "test",
                              "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
                              "AWS_EC2_METADATA_DISABLED": "true", "CI": "true", "CCDS_KEEPALIVE_SECONDS": "30",
                              "PYTHONPATH": str(REPO)})
    env.pop("AWS_PROFILE", None)
    env.update(extra or {})
    return env


def ccds(args: list[str], env: dict[str, str], cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ccds_cli", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


class FaultProxy:
    """HTTP proxy to moto that answers every `every`-th mutating AWS call with a throttling error
    (at most `limit` times, so a bounded number of retries can succeed).

    Alternates between an HTTP 400 `Throttling` (EC2 query-API error XML) and an HTTP 503, the
    two shapes AWS uses. Reads (Describe*/List*/Get*) pass, so terraform's refresh works and the
    faults land on creates, which is where the engine's plan+apply retry matters.
    """

    def __init__(self, upstream: str, every: int = 4, limit: int = 3) -> None:
        self.upstream = urlsplit(upstream)
        self.every = every
        self.limit = limit
        self.count = 0
        self.injected = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def _forward(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                action = _action(self.path, body, self.headers)
                fault = proxy._fault(action)
                if fault is not None:
                    status, payload = fault
                    self.send_response(status)
                    self.send_header("Content-Type", "text/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                conn = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=120)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection",)}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

        self.httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def _fault(self, action: str):
        if not action or action.startswith(("Describe", "List", "Get")):
            return None
        with self._lock:
            self.count += 1
            if self.count % self.every or self.injected >= self.limit:
                return None
            self.injected += 1
            n = self.injected
        if n % 2:
            return 400, (b"<?xml version=\"1.0\"?><Response><Errors><Error><Code>Throttling</Code>"
                         b"<Message>Rate exceeded</Message></Error></Errors><RequestID>ccds-test</RequestID>"
                         b"</Response>")
        return 503, (b"<?xml version=\"1.0\"?><Response><Errors><Error><Code>ServiceUnavailable</Code>"
                     b"<Message>Service Unavailable</Message></Error></Errors><RequestID>ccds-test</RequestID>"
                     b"</Response>")

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _action(path: str, body: bytes, headers) -> str:
    from urllib.parse import parse_qs

    target = headers.get("X-Amz-Target", "")
    if target:
        return target.rsplit(".", 1)[-1]
    query = parse_qs(urlsplit(path).query)
    if "Action" in query:
        return query["Action"][0]
    try:
        return parse_qs(body.decode())["Action"][0]
    except (KeyError, UnicodeDecodeError):
        return ""


def aws_e2e_marks() -> list:
    """`pytestmark` of every end-to-end test of the real AWS provider against moto: slow, and skipped
    without terraform or the offline provider mirror."""
    import shutil

    import pytest

    return [pytest.mark.slow,
            pytest.mark.skipif(shutil.which("terraform") is None, reason="needs terraform"),
            pytest.mark.skipif(find_mirror() is None, reason="needs the offline AWS provider mirror")]
