"""Unit tests of the engine's pure parts: event parsing, retry classification, lock, ledger, secrets."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import textwrap

import pytest

from ccds_cli.errors import ExitCode, Locked
from ccds_cli.state import overrides, secrets
from ccds_cli.state.ledger import Ledger
from ccds_cli.state.lock import DeploymentLock
from ccds_cli.tf.events import Diagnostic, parse_line, raw_diagnostic
from ccds_cli.tf.retry import RetryPolicy, transient_reason


def test_parse_apply_start_and_complete():
    line = json.dumps({"@level": "info", "@message": "aws_instance.this[0]: Creating...", "type": "apply_start",
                       "hook": {"resource": {"addr": "aws_instance.this[0]"}, "action": "create"}})
    event = parse_line(line)
    assert (event.kind, event.address, event.action) == ("apply_start", "aws_instance.this[0]", "create")


def test_parse_change_summary_and_diagnostic():
    summary = parse_line(json.dumps({"type": "change_summary", "changes": {"add": 3, "change": 1, "remove": 2,
                                                                          "import": 0, "operation": "plan"}}))
    assert summary.changes.as_dict() == {"add": 3, "change": 1, "destroy": 2, "import": 0}
    assert summary.changes.total == 6
    diag = parse_line(json.dumps({"@level": "error", "type": "diagnostic", "diagnostic": {
        "severity": "error", "summary": "creating EC2 Instance", "detail": "RequestLimitExceeded: slow down",
        "address": "module.nodes.aws_instance.this[1]", "range": {"filename": "main.tf", "start": {"line": 7}}}}))
    d = diag.diagnostic
    assert (d.severity, d.address, d.filename, d.line) == ("error", "module.nodes.aws_instance.this[1]", "main.tf", 7)
    assert "RequestLimitExceeded" in str(d)


def test_parse_non_json_line_and_blank():
    assert parse_line("   \n") is None
    event = parse_line("panic: runtime error")
    assert (event.kind, event.level, event.message) == ("log", "raw", "panic: runtime error")


def test_raw_diagnostic_picks_error_line():
    text = "╷\n│ Error: Failed to load plugin schemas\n│ \n│ more detail\n╵"
    assert raw_diagnostic(text).summary == "Failed to load plugin schemas"


@pytest.mark.parametrize("detail, reason", [
    ("operation error EC2: RunInstances, https response error StatusCode: 400, api error Throttling: Rate exceeded",
     "throttling"),
    ("api error RequestLimitExceeded: Request limit exceeded.", "throttling"),
    ("https response error StatusCode: 503, api error ServiceUnavailable", "server error"),
    ("read tcp 10.0.0.1:5000: read: connection reset by peer", "connection"),
    ("InvalidInstanceID.NotFound: The instance ID 'i-1' does not exist", "eventual consistency"),
    ("Error 429: Quota exceeded", "throttling"),
    ("context deadline exceeded", "timeout"),
])
def test_transient_errors_are_retried(detail, reason):
    assert transient_reason([Diagnostic("error", "creating resource", detail)]) == reason


@pytest.mark.parametrize("detail", [
    "api error InvalidParameterValue: Value (x1.fake) for parameter instanceType is invalid",
    "api error AuthFailure: AWS was not able to validate the provided access credentials",
    "An argument named \"foo\" is not expected here.",
    "api error UnauthorizedOperation: throttled by policy",  # permanent wins over transient words
])
def test_permanent_errors_are_not_retried(detail):
    assert transient_reason([Diagnostic("error", "creating resource", detail)]) is None


def test_mixed_errors_not_retried_and_warnings_ignored():
    diags = [Diagnostic("error", "x", "Throttling: Rate exceeded"), Diagnostic("error", "y", "Invalid count")]
    assert transient_reason(diags) is None
    assert transient_reason([Diagnostic("warning", "Throttling")]) is None
    assert transient_reason([]) is None


def test_backoff_is_exponential_and_capped():
    policy = RetryPolicy(retries=5, base=1.0, cap=5.0, jitter=0.0)
    assert [policy.delay(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_lock_second_holder_refused_names_holder(tmp_path):
    path = tmp_path / "lock"
    with DeploymentLock(path, "up"):
        info = json.loads(path.read_text())
        assert info["pid"] == os.getpid() and info["command"] == "up" and info["host"] == socket.gethostname()
        with pytest.raises(Locked) as exc:
            DeploymentLock(path, "down").acquire()
        assert exc.value.exit_code == ExitCode.LOCKED
        assert f"pid {os.getpid()}" in exc.value.message and "up by" in exc.value.message
    assert not path.exists()


def test_lock_held_by_other_process_exits_3(tmp_path):
    """A real second process trying to take the lock we hold gets exit code 3 and our pid."""
    path = tmp_path / "lock"
    code = textwrap.dedent(f"""
        import sys
        from ccds_cli.errors import Locked
        from ccds_cli.state.lock import DeploymentLock
        try:
            DeploymentLock({str(path)!r}, "scale").acquire()
        except Locked as exc:
            print(exc.message); sys.exit(int(exc.exit_code))
    """)
    with DeploymentLock(path, "up"):
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3
    assert f"pid {os.getpid()}" in proc.stdout


def test_stale_lock_reported_and_broken_only_on_request(tmp_path):
    path = tmp_path / "lock"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path.write_text(json.dumps({"user": "someone", "host": socket.gethostname(), "pid": dead.pid,
                                "command": "up", "started": "2026-01-01T00:00:00+00:00"}))
    with pytest.raises(Locked) as exc:
        DeploymentLock(path, "up").acquire()
    assert "stale" in exc.value.message and "--break-lock" in exc.value.hint
    lock = DeploymentLock(path, "up", break_lock=True)
    with lock:
        assert lock.broken.pid == dead.pid
        assert json.loads(path.read_text())["pid"] == os.getpid()


def test_ledger_records_operation_workspaces_and_retries(tmp_path):
    ledger = Ledger(tmp_path / "ledger.db")
    op = ledger.begin("up", "abc123", {"parallelism": 4})
    ledger.event(op, "lock", "broke stale lock")
    ledger.record_workspaces(op, [{"name": "aws-main.us-east-1", "kind": "region", "stage": 1, "cloud": "aws",
                                   "result": "ok", "duration": 1.5, "changes": {"add": 3, "change": 0, "destroy": 0},
                                   "attempts": 2, "retries": ["retry 1/3 after transient error (throttling)"]}])
    ledger.finish(op, "ok")
    second = ledger.begin("down", "abc123")
    ops = ledger.operations(limit=10)
    assert [o["id"] for o in ops] == [second, op]
    first = ops[1]
    assert (first["command"], first["result"], first["spec_sha256"]) == ("up", "ok", "abc123")
    assert first["finished"] and first["args"] == {"parallelism": 4}
    assert first["workspaces"][0]["added"] == 3 and first["workspaces"][0]["attempts"] == 2
    assert [e["kind"] for e in first["events"]] == ["lock", "retry"]
    assert ops[0]["result"] == "running"
    assert len(ledger.operations(limit=1)) == 1


def test_secrets_created_once_0600_and_reused(tmp_path):
    path = tmp_path / "secrets.json"
    first = secrets.load_or_create(path)
    assert set(first) == {"node_key", "admin_token", "db_password"} and len(first["node_key"]) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert secrets.load_or_create(path) == first
    # the shared node token of older versions is dropped: any holder of it could act as any node
    path.write_text('{"node_token": "old", "admin_token": "kept"}')
    again = secrets.load_or_create(path)
    assert "node_token" not in again and again["admin_token"] == "kept" and again["node_key"]


def test_workspace_secrets_give_each_node_only_its_own(tmp_path):
    """Least privilege: the control workspace gets the database password and its managers the admin
    token and node key; a region workspace gets only each node's own name and credential."""
    from ccds_cli.sm.auth import verify_node_credential

    master = {"node_key": "nk", "admin_token": "adm", "db_password": "pw"}
    root = {"module": {
        "control": {"deployment": "wp", "workspace": "control", "control": {"enabled": True},
                    "pools": {"manager": {"role": "manager", "count": 2}, "database": {"role": "database", "count": 1}}},
        "na-east": {"deployment": "wp", "workspace": "na-east", "control": {},
                    "pools": {"edge": {"role": "edge", "count": 2}, "origin": {"role": "origin", "count": 1}}},
    }}
    shares = secrets.workspace_secrets(master, root)
    assert shares["control"] == {"db_password": "pw", "manager/admin_token": "adm", "manager/node_key": "nk",
                                 "database/db_password": "pw"}
    region = shares["na-east"]
    assert set(region) == {f"{p}/{i}/{k}" for p, i in (("edge", 0), ("edge", 1), ("origin", 0))
                           for k in ("node_name", "node_token")}
    assert not {"adm", "nk", "pw"} & set(region.values())
    who = verify_node_credential("nk", region["edge/1/node_token"])
    assert (who.deployment, who.region, who.role, who.name) == ("wp", "na-east", "edge", "wp-na-east-edge-1")
    assert region["edge/1/node_name"] == who.name
    assert verify_node_credential("other-key", region["edge/1/node_token"]) is None
    secondary = {"module": {"control": {**root["module"]["control"],
                                        "control": {"enabled": True, "database": {"engine": "none"}}}}}
    assert "db_password" not in secrets.workspace_secrets(master, secondary)["control"]


def test_each_node_credential_carries_its_pools_capacity(tmp_path):
    """What a node may register with is bound into its credential: its pool's capacity from the spec."""
    import shutil
    from pathlib import Path

    from ccds_cli.deployment import Deployment
    from ccds_cli.sm.auth import verify_node_credential

    spec = tmp_path / "local.yaml"
    shutil.copy(Path(__file__).parents[2] / "examples" / "local.yaml", spec)
    dep = Deployment.open(spec, tmp_path / "state")
    region_ws = [ws for ws in dep.build() if ws.kind == "region"]
    assert region_ws
    key = dep.secrets()["node_key"]
    seen = set()
    for ws in region_ws:
        for region, share in dep.workspace_secrets(ws).items():
            for name, value in share.items():
                if name.endswith("/node_token"):
                    who = verify_node_credential(key, value)
                    assert who.capacity == dep.loaded.spec.regions[region].pools[who.role].capacity
                    seen.add(who.role)
    assert {"origin", "edge"} <= seen


def test_scale_overrides_roundtrip(tmp_path):
    path = tmp_path / "scale.json"
    assert overrides.load(path) == {}
    overrides.save(path, {("na-east", "edge"): 3, ("eu", "origin"): 1})
    assert overrides.load(path) == {("na-east", "edge"): 3, ("eu", "origin"): 1}


def test_unreachable_registry_is_not_retried():
    """Offline: the registry's name does not resolve. Terraform already retried; so do not we."""
    from ccds_cli.tf.retry import registry_unreachable

    detail = ("Could not retrieve the list of available versions for provider hashicorp/aws: could not connect "
              "to registry.terraform.io: failed to request discovery document: Get \"https://registry.terraform.io/"
              ".well-known/terraform.json\": dial tcp: lookup registry.terraform.io on 127.0.0.53:53: no such host")
    diags = [Diagnostic("error", "Failed to query available provider packages", detail)]
    assert transient_reason(diags) is None
    why = registry_unreachable(diags)
    assert why.startswith("the provider registry registry.terraform.io is unreachable from here (no such host)")
    assert "TF_CLI_CONFIG_FILE" in why and "network_mirror" in why
    # A cloud API name that does not resolve is still a (transient) connection error.
    assert transient_reason([Diagnostic("error", "creating EC2 Instance", "dial tcp: lookup ec2.us-east-1."
                                        "amazonaws.com: no such host")], "aws") == "connection"


def test_cloud_error_codes_come_from_the_workspace_cloud():
    """AWS's codes apply to AWS workspaces (and when the cloud is not known), not to other clouds'."""
    aws_only = [Diagnostic("error", "creating resource", "InvalidInstanceID.NotFound: The instance ID 'i-1'")]
    assert transient_reason(aws_only, "aws") == "eventual consistency"
    assert transient_reason(aws_only, "gcp") is None
    assert transient_reason([Diagnostic("error", "x", "googleapi: Error 403: rateLimitExceeded")], "gcp") == "throttling"
    assert transient_reason([Diagnostic("error", "x", "api error UnauthorizedOperation: throttled")], "aws") is None
