"""The runner and orchestrator against the real terraform binary on terraform_data workspaces."""

from __future__ import annotations

import io
import json
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from rich.console import Console

from ccds_cli.errors import MissingTool
from ccds_cli.tf.orchestrate import Orchestrator
from ccds_cli.tf.retry import RetryPolicy
from ccds_cli.tf.runner import Terraform, find_binary
from ccds_cli.ui.progress import Progress
from tests.engine.handmade import workspace

pytestmark = pytest.mark.skipif(shutil.which("terraform") is None and shutil.which("tofu") is None,
                                reason="needs terraform or tofu")

FAST = RetryPolicy(retries=2, base=0.1, jitter=0.0)


def _progress() -> tuple[Progress, io.StringIO]:
    buf = io.StringIO()
    return Progress(Console(file=buf, width=200), live=False, keepalive=30), buf


def test_missing_binary_names_install(monkeypatch):
    monkeypatch.setenv("CCDS_TERRAFORM", "/nonexistent/terraform")
    with pytest.raises(MissingTool) as exc:
        find_binary()
    assert "install" in exc.value.hint.lower() and exc.value.exit_code == 5


def test_stages_apply_outputs_logs_and_idempotence(tmp_path):
    wss = [workspace(tmp_path, "control.a.r1", count=1, stage=0),
           workspace(tmp_path, "a.r1", count=2), workspace(tmp_path, "a.r2", count=3)]
    progress, buf = _progress()
    with progress:
        orch = Orchestrator(wss, log_root=tmp_path / "logs", secrets={"node_token": "t" * 12}, progress=progress,
                            retry=FAST)
        planned = orch.plan()
        assert [r.planned["add"] for r in planned] == [1, 2, 3]
        results = orch.apply()
    assert [r.result for r in results] == ["ok", "ok", "ok"]
    assert [r.changes["add"] for r in results] == [1, 2, 3]
    assert len(results[2].outputs["nodes"]) == 3 and results[0].outputs["token_length"] == 12
    # secrets reach terraform only through the environment
    assert "t" * 12 not in (tmp_path / "a.r1" / "main.tf.json").read_text()
    logs = sorted(p.name for p in (tmp_path / "logs" / "a.r1").iterdir())
    assert any(n.endswith("-apply.log") for n in logs) and any(n.endswith("-plan.log") for n in logs)
    assert "apply_complete" in next((tmp_path / "logs" / "a.r1").glob("*-apply.log")).read_text()
    assert "a.r2: ok" in buf.getvalue()
    # converged: a second run changes nothing
    again = Orchestrator(wss, log_root=tmp_path / "logs", secrets={"node_token": "t" * 12}, retry=FAST)
    assert [sum(r.planned.values()) for r in again.plan()] == [0, 0, 0]
    assert [r.result for r in again.apply()] == ["ok", "ok", "ok"]


def test_failure_isolated_with_structured_error(tmp_path):
    wss = [workspace(tmp_path, "a.bad", command="echo nope >&2; exit 7"), workspace(tmp_path, "a.good")]
    results = Orchestrator(wss, log_root=tmp_path / "logs", retry=FAST).apply()
    bad, good = results
    assert (bad.result, good.result) == ("failed", "ok")
    assert bad.attempts == 1  # not transient: no retries
    errors = [d for d in bad.diagnostics if d["severity"] == "error"]
    assert errors and errors[0]["address"] == "terraform_data.step" and "exit status 7" in errors[0]["detail"]


def test_fail_fast_cancels_pending(tmp_path):
    wss = [workspace(tmp_path, "a.bad", command="exit 1"), workspace(tmp_path, "a.later")]
    results = Orchestrator(wss, log_root=tmp_path / "logs", parallelism=1, fail_fast=True, retry=FAST).apply()
    assert [r.result for r in results] == ["failed", "skipped"]


def test_failed_control_skips_regions_and_destroy_reverses(tmp_path):
    bad = [workspace(tmp_path / "x", "control.a", command="exit 1", stage=0), workspace(tmp_path / "x", "a.r1")]
    assert [r.result for r in Orchestrator(bad, log_root=tmp_path / "l1", retry=FAST).apply()] == ["failed", "skipped"]

    order = tmp_path / "order.txt"
    wss = [workspace(tmp_path, "control.a", stage=0, destroy_command=f"sleep 0.3; echo control >> {order}"),
           workspace(tmp_path, "a.r1", destroy_command=f"echo r1 >> {order}"),
           workspace(tmp_path, "a.r2", destroy_command=f"echo r2 >> {order}")]
    assert {r.result for r in Orchestrator(wss, log_root=tmp_path / "logs").apply()} == {"ok"}
    down = Orchestrator(wss, log_root=tmp_path / "logs")
    assert [r.planned["destroy"] for r in down.plan(destroy=True)] == [3, 3, 3]
    results = down.apply(destroy=True)
    assert [r.result for r in results] == ["ok", "ok", "ok"]
    lines = order.read_text().split()
    assert lines[-1] == "control" and sorted(lines[:2]) == ["r1", "r2"]
    assert not Terraform(wss[1].path, tmp_path / "logs").has_state()


def test_transient_error_retried_and_logged(tmp_path):
    counter = tmp_path / "attempts"
    command = (f"n=$(cat {counter} 2>/dev/null || echo 0); echo $((n+1)) > {counter}; "
               f"if [ $n -lt 2 ]; then echo 'api error Throttling: Rate exceeded' >&2; exit 1; fi")
    wss = [workspace(tmp_path, "a.flaky", command=command)]
    progress, buf = _progress()
    with progress:
        [res] = Orchestrator(wss, log_root=tmp_path / "logs", retry=FAST, progress=progress).apply()
    assert res.result == "ok" and res.attempts == 3 and len(res.retries) == 2
    assert "throttling" in res.retries[0]
    assert "retry 1/2" in buf.getvalue()
    logged = "".join(p.read_text() for p in (tmp_path / "logs" / "a.flaky").glob("*-apply.log"))
    assert "retry 1/2 after transient error (throttling)" in logged


def test_retries_are_bounded(tmp_path):
    wss = [workspace(tmp_path, "a.throttled", command="echo 'RequestLimitExceeded' >&2; exit 1")]
    [res] = Orchestrator(wss, log_root=tmp_path / "logs", retry=FAST).apply()
    assert res.result == "failed" and res.attempts == 3 and len(res.retries) == 2


def test_keepalive_lines_when_quiet(tmp_path):
    buf = io.StringIO()
    progress = Progress(Console(file=buf, width=200), live=False, keepalive=0.2)
    with progress:
        progress.phase("a.r1", "apply", planned=4)
        time.sleep(0.9)
    assert buf.getvalue().count("still working: a.r1 (apply 0/4") >= 2


@pytest.mark.slow
def test_sigint_forwarded_state_saved_then_converges(tmp_path):
    """SIGINT to the orchestrating process stops terraform cleanly; a re-run converges without duplicates."""
    wss = [workspace(tmp_path, "a.slow", count=3, command="sleep 30")]
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
        from pathlib import Path
        from ccds_cli.tf.orchestrate import Orchestrator, forward_signals
        from ccds_cli.tf.runner import ProcessRegistry
        from tests.engine.handmade import Ws
        reg = ProcessRegistry()
        orch = Orchestrator([Ws("a.slow", Path({str(wss[0].path)!r}))], log_root=Path({str(tmp_path / "logs")!r}),
                            registry=reg)
        with forward_signals(reg):
            res = orch.apply()
        print(res[0].result, flush=True)
        sys.exit(130 if orch.interrupted else 0)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    log_dir = tmp_path / "logs" / "a.slow"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until terraform is inside the sleep
        logs = list(log_dir.glob("*-apply.log")) if log_dir.exists() else []
        if logs and "provision_progress" in logs[0].read_text():
            break
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("apply never started")
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130 and out.strip() == "interrupted"
    assert time.monotonic() - started < 25  # terraform stopped the sleep instead of waiting it out
    state = json.loads((wss[0].path / "terraform.tfstate").read_text())
    assert sum(len(r["instances"]) for r in state["resources"] if r["name"] == "node") == 3
    rerun = Orchestrator(wss, log_root=tmp_path / "logs")
    [res] = rerun.apply()
    assert res.result == "ok" and res.changes["add"] == 1  # only the interrupted step; nodes kept


def test_live_table_shows_current_resource_and_counts():
    from ccds_cli.tf.events import parse_line

    buf = io.StringIO()
    progress = Progress(Console(file=buf, force_terminal=True, width=140), live=True, title="up")
    with progress:
        progress.phase("aws.us-east-1", "apply", planned=3)
        progress.event("aws.us-east-1", parse_line(json.dumps(
            {"type": "apply_start", "hook": {"resource": {"addr": "aws_instance.node[0]"}, "action": "create"}})))
        time.sleep(0.6)
    out = buf.getvalue()
    assert "create aws_instance.node[0]" in out and "0/3" in out
