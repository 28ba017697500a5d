"""`.ccds/<name>/` is the user's alone: 0700 directories, 0600 files (Terraform state, plans, logs, the
ledger, secrets, the lock), also for what Terraform writes itself and under a permissive umask."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from ccds_cli.tf.runner import Terraform
from tests.engine.handmade import workspace
from tests.spec.speccli import EXAMPLES, assert_no_traceback, run_ccds

pytestmark = pytest.mark.skipif(shutil.which("terraform") is None and shutil.which("tofu") is None,
                                reason="needs terraform or tofu")


def _tf_env(tmp_path: Path) -> dict[str, str]:
    rc = tmp_path / "empty.tfrc"  # the local module needs no provider: keep user settings out
    rc.write_text("")
    return {"TF_CLI_CONFIG_FILE": str(rc), "CHECKPOINT_DISABLE": "1"}


def _open_to_others(top: Path) -> list[str]:
    found = []
    for dirpath, dirnames, filenames in os.walk(top):
        for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
            mode = stat.S_IMODE(os.lstat(name).st_mode)
            if not stat.S_ISLNK(os.lstat(name).st_mode) and mode & 0o077:
                found.append(f"{oct(mode)} {os.path.relpath(name, top)}")
    return found


def _plan_local(tmp_path: Path) -> Path:
    spec = tmp_path / "local.yaml"
    shutil.copy(EXAMPLES / "local.yaml", spec)
    # as a user with the common umask 022 would run it
    proc = run_ccds(["plan", str(spec)], cwd=tmp_path, env=_tf_env(tmp_path), timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_no_traceback(proc)
    return tmp_path / ".ccds" / "local-demo"


def test_plan_leaves_only_private_files(tmp_path):
    root = _plan_local(tmp_path)
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    for name in ("ledger.db", "secrets.json"):
        assert stat.S_IMODE((root / name).stat().st_mode) == 0o600, name
    plans = list(root.glob("workspaces/*/ccds.tfplan"))  # saved plans carry the secrets variable
    logs = list(root.glob("logs/*/*.log"))
    assert plans and logs
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in plans + logs)
    assert _open_to_others(root) == []


def test_an_older_world_readable_state_directory_is_closed(tmp_path):
    old = tmp_path / ".ccds" / "local-demo"
    (old / "logs" / "x").mkdir(parents=True)
    (old / "logs" / "x" / "old-apply.log").write_text("{}\n")
    (old / "ledger.db").touch()
    for path in (old, old / "logs", old / "logs" / "x"):
        path.chmod(0o755)
    (old / "logs" / "x" / "old-apply.log").chmod(0o644)
    root = _plan_local(tmp_path)
    assert _open_to_others(root) == []
    assert stat.S_IMODE((root / "logs" / "x" / "old-apply.log").stat().st_mode) == 0o600


def test_a_given_state_dir_is_not_changed_but_the_deployment_is_private(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    spec = tmp_path / "local.yaml"
    shutil.copy(EXAMPLES / "local.yaml", spec)
    proc = run_ccds(["plan", str(spec), "--state-dir", str(shared)], cwd=tmp_path, env=_tf_env(tmp_path),
                    timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755
    assert _open_to_others(shared / "local-demo") == []


def test_terraform_writes_its_state_privately_whatever_the_umask(tmp_path):
    ws = workspace(tmp_path, "a.r1", count=1)
    previous = os.umask(0o022)
    try:
        tf = Terraform(ws.path, tmp_path / "logs")
        assert tf.init().returncode == 0
        assert tf.plan().returncode == 0
        assert tf.apply().returncode == 0
    finally:
        os.umask(previous)
    state = ws.path / "terraform.tfstate"
    assert state.is_file() and stat.S_IMODE(state.stat().st_mode) == 0o600
    written_here = {"0o755 .", "0o644 main.tf.json"}  # by the test itself, under its umask 022
    assert [e for e in _open_to_others(ws.path) if e not in written_here] == []  # the plan file too
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in (tmp_path / "logs").iterdir())
