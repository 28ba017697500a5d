"""Offline `terraform init` (issue 15): a provider registry or mirror that cannot be reached is not
a transient error. `ccds plan` and `ccds up` on a rendered AWS deployment, with a Terraform CLI config
whose only provider source is a refused loopback network mirror, try each workspace once (no backoff:
it was 3 retries per workspace) and say which mirror is unreachable and how to configure one."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "spec"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "nodepkg"))
from loopindex import LoopIndex  # noqa: E402
from speccli import EXAMPLES, assert_no_traceback, run_ccds  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("terraform") is None, reason="needs terraform")


def _refused_mirror(tmp_path: Path) -> dict[str, str]:
    """A CLI config naming a loopback port nothing listens on (bound, then closed: refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rc = tmp_path / "terraformrc"
    rc.write_text(f'provider_installation {{\n  network_mirror {{\n    url = "https://127.0.0.1:{port}/"\n  }}\n}}\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "AWS_"))}
    env.update(TF_CLI_CONFIG_FILE=str(rc), CHECKPOINT_DISABLE="1", AWS_ACCESS_KEY_ID="test",
               AWS_SECRET_ACCESS_KEY="test", AWS_EC2_METADATA_DISABLED="true")
    return env | {"MIRROR": f"https://127.0.0.1:{port}/"}


def _spec(tmp_path: Path) -> Path:
    spec = tmp_path / "single-aws.yaml"
    shutil.copy(EXAMPLES / "single-aws.yaml", spec)
    return spec


@pytest.fixture
def index():
    """What the managers install, on a loopback index (the pre-apply check asks it, never PyPI)."""
    idx = LoopIndex()
    idx.add_ccds()
    idx.add_dependencies()
    yield idx
    idx.close()


def test_up_tries_once_and_names_the_mirror(tmp_path, index):
    env = _refused_mirror(tmp_path)
    mirror = env.pop("MIRROR")
    spec = _spec(tmp_path)
    spec.write_text(spec.read_text() + f"install: {{requirement: 'ccds[postgres]==0.1.0', index_url: '{index.simple}'}}\n")
    proc = subprocess.run([sys.executable, "-m", "ccds_cli", "up", str(spec), "--yes", "--output", "json",
                           "--state-dir", str(tmp_path / "state")], capture_output=True, text=True, timeout=300,
                          env=env)
    assert_no_traceback(proc)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    control, region = json.loads(proc.stdout)["result"]["workspaces"]
    assert control["result"] == "failed" and region["result"] == "skipped"
    assert (control["attempts"], control["retries"]) == (1, []), control["retries"]
    assert control["error"].startswith(f"terraform init: the provider mirror {mirror} is unreachable "
                                       "(connection refused)"), control["error"]
    assert "TF_CLI_CONFIG_FILE" in control["error"] and "filesystem_mirror" in control["error"]


def test_plan_fails_fast_in_every_workspace(tmp_path):
    """Two workspaces, one after the other (control first): with 3 retries and backoff each took
    at least 10 s; now each is one init."""
    env = _refused_mirror(tmp_path)
    mirror = env.pop("MIRROR")
    started = time.monotonic()
    proc = run_ccds(["plan", str(_spec(tmp_path)), "--output", "json", "--state-dir", str(tmp_path / "state")],
                    env=env, timeout=300)
    elapsed = time.monotonic() - started
    assert_no_traceback(proc)
    rows = json.loads(proc.stdout)["result"]["terraform"]
    assert [r["result"] for r in rows] == ["unavailable", "unavailable"], rows
    for row in rows:
        assert f"the provider mirror {mirror} is unreachable" in row["note"], row["note"]
        assert "TF_CLI_CONFIG_FILE" in row["note"]
    assert "retry" not in proc.stderr, proc.stderr
    assert elapsed < 20, elapsed
