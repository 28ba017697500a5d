"""`ccds operate FILE --from s3://BUCKET/KEY_PREFIX/NAME` refuses what it cannot run from, before it
does anything: a URL of another form, a bucket with no shared spec, a spec of another deployment, no
secrets in the environment. Against moto's S3 server (nothing deployed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("moto")

REPO = Path(__file__).resolve().parents[2]
BUCKET = "from-state"
SPEC = """\
version: 1
name: live
state: {backend: s3, bucket: %(bucket)s, region: us-east-1, key_prefix: team}
providers:
  aws-main: {cloud: aws}
regions:
  na:
    placement: aws-main/us-east-1
    network: {cidr: 10.10.0.0/16}
    pools:
      origin: {instance_type: t3.small, min: 1, max: 1, capacity: 20}
      edge: {instance_type: t3.small, min: 1, max: 2, capacity: 200}
"""


@pytest.fixture(scope="module")
def s3():
    from tests.engine.motoenv import s3_server

    with s3_server(BUCKET) as got:
        yield got


def _operate(tmp_path: Path, url: str, source: str, **extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CCDS_", "AWS_"))}
    env.update({"PYTHONPATH": str(REPO), "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s",
                "AWS_ENDPOINT_URL_S3": url, "AWS_REGION": "us-east-1", **extra})
    return subprocess.run([sys.executable, "-m", "ccds_cli", "operate", str(tmp_path / "vm" / "ccds.yaml"), "--from",
                           source, "--once", "--manager", "http://127.0.0.1:9", "--state-dir", str(tmp_path / "st")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("source", ["s3://from-state", "https://from-state/team/live", "s3://Bad_Bucket/team/live",
                                    "s3://from-state/team/../live", "s3://from-state/team/live/",
                                    "s3://from-state/team/$(id)"])
def test_a_url_of_another_form(tmp_path, s3, source):
    proc = _operate(tmp_path, s3[0], source)
    assert proc.returncode == 2 and "expected s3://BUCKET/KEY_PREFIX/NAME" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "vm").exists()


def test_nothing_shared_there_or_another_deployment_or_no_secrets(tmp_path, s3):
    url, client = s3
    proc = _operate(tmp_path, url, f"s3://{BUCKET}/team/live")
    assert proc.returncode == 2 and "no shared spec at s3://from-state/team/live/ccds/spec.yaml" in proc.stderr
    assert "`ccds up` shares it" in proc.stderr and "Traceback" not in proc.stderr

    client.put_object(Bucket=BUCKET, Key="team/other/ccds/spec.yaml", Body=(SPEC % {"bucket": BUCKET}).encode())
    proc = _operate(tmp_path, url, f"s3://{BUCKET}/team/other")
    assert proc.returncode == 2 and "the shared spec is deployment 'live'" in proc.stderr, proc.stderr

    client.put_object(Bucket=BUCKET, Key="team/live/ccds/spec.yaml", Body=(SPEC % {"bucket": BUCKET}).encode())
    proc = _operate(tmp_path, url, f"s3://{BUCKET}/team/live", CCDS_ADMIN_TOKEN="t")
    assert proc.returncode == 2 and "--from needs CCDS_NODE_KEY" in proc.stderr, proc.stderr
    assert (tmp_path / "vm" / "ccds.yaml").read_text() == SPEC % {"bucket": BUCKET}
    assert oct((tmp_path / "vm" / "ccds.yaml").stat().st_mode & 0o777) == "0o600"
    assert not (tmp_path / "st" / "live" / "secrets.json").exists()
