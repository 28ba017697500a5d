"""`operate.on_managers`: the controller beside the stream managers (AWS).

What the spec checks refuse (each with file, line and field, exit 2 from the real CLI), what the
plan carries, what the control workspace renders, and the managers' bootstrap: it passes `sh -n`,
installs Terraform only after checking HashiCorp's key by fingerprint (run for real here with a
fake `gpg`/`curl` on PATH: a wrong key stops the script before apt trusts it) and runs the quoted
`ccds operate --from` command line. The instance profile on moto: test_aws_on_managers.py.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from ccds_cli.engines.control import HASHICORP_KEY_FINGERPRINT, HASHICORP_KEYRING, operator_script
from ccds_cli.errors import SpecError
from ccds_cli.plan import build_plan
from ccds_cli.spec import load_spec
from tests.operate.speccli_path import run_ccds

SPEC = """\
version: 1
name: opmgr
state: %(state)s
providers:
  aws-main: {cloud: aws}
  gcp-main: {cloud: gcp, project: demo-project}
control:
  placement: %(control)s
  stream_managers: 2
  api_port: 8088
regions:
  na-east:
    placement: aws-main/us-east-1
    failover: [aws-main/us-west-2]
    network: {cidr: 10.10.0.0/16}
    pools:
      origin: {instance_type: t3.small, min: 1, max: 1, capacity: 20}
      edge:   {instance_type: t3.small, min: 1, max: 2, capacity: 200}
  eu-west:
    placement: aws-main/eu-west-1
    network: {cidr: 10.20.0.0/16}
    pools:
      origin: {instance_type: t3.small, min: 1, max: 1, capacity: 20}
      edge:   {instance_type: t3.small, min: 1, max: 2, capacity: 200}
security:
  admin_cidrs: [203.0.113.0/24]
operate:
  enabled: %(enabled)s
  on_managers: true
"""
S3 = "{backend: s3, bucket: ccds-team-state, region: us-east-1, key_prefix: ci/ccds}"


def write(tmp_path: Path, state: str = S3, control: str = "[aws-main/us-east-1]", enabled: str = "true",
          drop_control: bool = False) -> Path:
    text = SPEC % {"state": state, "control": control, "enabled": enabled}
    if drop_control:
        text = re.sub(r"control:\n(  .*\n)+", "", text)
    path = tmp_path / "ccds.yaml"
    path.write_text(text)
    return path


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def diagnostics(path: Path) -> list:
    with pytest.raises(SpecError) as info:
        load_spec(path)
    return info.value.diagnostics


@pytest.mark.parametrize("case, needle, field, words", [
    ("disabled", "enabled: false", "operate.enabled", "operate.enabled: true"),
    ("local-state", "state: {backend: local}", "state.backend", "needs state.backend: s3"),
    ("pg-state", "state: {backend: pg}", "state.backend", "needs state.backend: s3"),
    ("gcp-control", "placement: [aws-main/us-east-1, gcp-main/us-central1]", "control.placement[1]",
     "cannot run the controller"),
    ("no-control", "on_managers: true", "operate.on_managers", "needs a control: section"),
    ("bad-bucket", "state: {backend: s3, bucket: 'Team_State;rm'", "state.bucket", "not an S3 bucket name"),
    ("ip-bucket", "state: {backend: s3, bucket: 10.0.0.1", "state.bucket", "IP address"),
    ("bad-prefix", "key_prefix: 'ci/$(id)'", "state.key_prefix", "no '*', '?' or '$'"),
    ("star-prefix", "key_prefix: 'ci/*'", "state.key_prefix", "IAM policy"),
    ("dotdot-prefix", "key_prefix: 'ci/../x'", "state.key_prefix", "IAM policy"),
    ("newline-region", 'region: "us-east-1\\nOPERATE"', "state.region", "managers' environment"),
])
def test_each_missing_requirement_is_refused(tmp_path, case, needle, field, words):
    kwargs = {
        "disabled": {"enabled": "false"},
        "local-state": {"state": "{backend: local}"},
        "pg-state": {"state": "{backend: pg}"},
        "gcp-control": {"control": "[aws-main/us-east-1, gcp-main/us-central1]"},
        "no-control": {"drop_control": True},
        "bad-bucket": {"state": "{backend: s3, bucket: 'Team_State;rm', region: us-east-1}"},
        "ip-bucket": {"state": "{backend: s3, bucket: 10.0.0.1, region: us-east-1}"},
        "bad-prefix": {"state": "{backend: s3, bucket: b-1, region: us-east-1, key_prefix: 'ci/$(id)'}"},
        "star-prefix": {"state": "{backend: s3, bucket: b-1, region: us-east-1, key_prefix: 'ci/*'}"},
        "dotdot-prefix": {"state": "{backend: s3, bucket: b-1, region: us-east-1, key_prefix: 'ci/../x'}"},
        "newline-region": {"state": '{backend: s3, bucket: b-1, region: "us-east-1\\nOPERATE"}'},
    }[case]
    path = write(tmp_path, **kwargs)
    found = [d for d in diagnostics(path) if d.field == field]
    assert found, [(d.field, d.message) for d in diagnostics(path)]
    assert words in found[0].message, found[0].message
    assert found[0].line == line_of(path, needle)


def test_cli_exit_2_with_file_line_and_field(tmp_path):
    path = write(tmp_path, state="{backend: local}")
    proc = run_ccds(["validate", str(path)])
    assert proc.returncode == 2, proc.stdout + proc.stderr
    out = proc.stdout + proc.stderr
    assert f"{path}:{line_of(path, 'state: {backend: local}')}:" in out
    assert "state.backend" in out and "operate.on_managers needs state.backend: s3" in out
    assert "Traceback" not in out


def test_regions_off_the_managers_cloud_are_a_warning(tmp_path):
    path = write(tmp_path)
    text = path.read_text().replace("failover: [aws-main/us-west-2]", "failover: [gcp-main/us-central1]")
    path.write_text(text)
    loaded = load_spec(path)
    (warning,) = [w for w in loaded.warnings if w.field == "regions.na-east.failover[0]"]
    assert "cannot change this placement" in warning.message


def test_plan_carries_the_operator(tmp_path):
    loaded = load_spec(write(tmp_path))
    plan = build_plan(loaded.spec)
    (ws,) = [w for w in plan.workspaces if w.kind == "control"]
    op = ws.control.operator
    assert (op.bucket, op.key_prefix, op.state_region, op.api_port) == ("ccds-team-state", "ci/ccds", "us-east-1", 8088)
    assert op.object_prefix == "ci/ccds/opmgr/" and op.source == "s3://ccds-team-state/ci/ccds/opmgr"
    # every placement and failover placement on the managers' cloud (a failover makes a new workspace)
    assert op.regions == ("eu-west-1", "us-east-1", "us-west-2")
    assert op.endpoint == "" and op.lock_table == ""
    # without on_managers: no operator, so nothing changes for existing specs
    path = tmp_path / "ccds.yaml"
    path.write_text(path.read_text().replace("  on_managers: true\n", ""))
    plan = build_plan(load_spec(path).spec)
    assert all(w.control is None or w.control.operator is None for w in plan.workspaces)


def _rendered(tmp_path: Path, spec_path: Path) -> dict:
    from tests.tfschema import check_workspace

    out = tmp_path / "out"
    proc = run_ccds(["render", str(spec_path), "--out", str(out)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ws = out / "control.aws-main.us-east-1"
    assert check_workspace(ws) == []  # the module call and its resources against the provider's schema
    return json.loads((ws / "main.tf.json").read_text())


def _bootstrap(user_data: str) -> str:
    """The manager's shell bootstrap out of its cloud-config (as cloud-init writes it)."""
    doc = yaml.safe_load(user_data.replace("$${", "${").replace("%%{", "%{"))
    (script,) = [f["content"] for f in doc["write_files"] if f["path"] == "/usr/local/sbin/ccds-bootstrap"]
    return script


def test_render_control_workspace(tmp_path):
    state = ("{backend: s3, bucket: ccds-team-state, region: us-east-1, key_prefix: ci/ccds, "
             "endpoint: 'http://127.0.0.1:9000', use_path_style: true, dynamodb_table: tf-locks}")
    root = _rendered(tmp_path, write(tmp_path, state=state))
    control = root["module"]["control"]["control"]
    assert control["operator"] == {"enabled": True, "bucket": "ccds-team-state", "object_prefix": "ci/ccds/opmgr/",
                                   "state_region": "us-east-1", "lock_table": "tf-locks",
                                   "regions": ["eu-west-1", "us-east-1", "us-west-2"]}
    script = _bootstrap(root["module"]["control"]["pools"]["manager"]["user_data"])
    assert subprocess.run(["sh", "-n"], input=script, text=True, capture_output=True).returncode == 0
    assert "'ccds[aws,postgres]==" in script  # boto3 for the controller's inventory
    operate = script.split("<<'OPERATE'\n", 1)[1].split("\nOPERATE\n", 1)[0]
    assert subprocess.run(["sh", "-n"], input=operate, text=True, capture_output=True).returncode == 0
    assert operate.splitlines() == [
        "#!/bin/sh",
        ". /etc/ccds/node.env",
        'export CCDS_ADMIN_TOKEN="$admin_token" CCDS_NODE_KEY="$node_key"',
        "export AWS_REGION=us-east-1 AWS_ENDPOINT_URL_S3=http://127.0.0.1:9000",
        "exec /opt/ccds/bin/ccds operate /var/lib/ccds/ccds.yaml --from s3://ccds-team-state/ci/ccds/opmgr "
        "--manager http://127.0.0.1:8088 --state-dir /var/lib/ccds/state"]
    unit = script.split("/etc/systemd/system/ccds-operate.service <<'UNIT'\n", 1)[1].split("\nUNIT\n", 1)[0]
    assert "After=network-online.target ccds-sm.service" in unit
    assert "Restart=always" in unit and "RestartSec=10" in unit
    assert "systemctl enable --now ccds-operate.service" in script
    # Terraform: HashiCorp's key, checked by fingerprint before apt is told to trust it
    check = script.index(HASHICORP_KEY_FINGERPRINT)
    assert check < script.index(f"--dearmor -o {HASHICORP_KEYRING}") < script.index("apt-get install -y -q terraform")
    assert f"signed-by={HASHICORP_KEYRING}" in script
    # no AWS keys, no secret: the instance profile and node.env are the credentials
    assert "AWS_ACCESS_KEY_ID" not in script and "AWS_SECRET" not in script


def test_existing_specs_render_no_operator(tmp_path):
    path = write(tmp_path)
    path.write_text(path.read_text().replace("  on_managers: true\n", ""))
    root = _rendered(tmp_path, path)
    assert "operator" not in root["module"]["control"]["control"]
    script = _bootstrap(root["module"]["control"]["pools"]["manager"]["user_data"])
    assert "ccds operate" not in script and "terraform" not in script
    assert "'ccds[postgres]==" in script


def _fake_tools(tmp_path: Path, fingerprint: str) -> dict[str, str]:
    """curl writes a key file, gpg lists `fingerprint` (a primary key and a subkey) or dearmors, apt-get,
    systemctl and the rest only record that they ran: the script's own logic runs for real."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    record = f'echo "$(basename "$0") $*" >> {shlex.quote(str(log))}\n'
    tools = {
        "curl": record + 'while [ $# -gt 0 ]; do [ "$1" = -o ] && { echo KEY > "$2"; shift; }; shift; done\n',
        "gpg": record + 'case "$*" in *--show-keys*) printf "pub:-:4096:1:AA16FCBCA621E701:::::::scESC:\\n'
                        f'fpr:::::::::{fingerprint}:\\nsub:-:4096:1:706E668369C085E9::::::::s:\\n'
                        'fpr:::::::::B36CBA91A2C0730C435FC280706E668369C085E9:\\n" ;; esac\n',
    }
    for name in ("apt-get",):
        tools[name] = record
    for name, body in tools.items():
        (bin_dir / name).write_text("#!/bin/sh\n" + body)
        (bin_dir / name).chmod(0o755)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}", "LOG": str(log)}


@pytest.mark.parametrize("fingerprint, ok", [(HASHICORP_KEY_FINGERPRINT, True),
                                             ("0000000000000000000000000000000000000000", False)])
def test_key_fingerprint_gates_terraform(tmp_path, fingerprint, ok):
    """The Terraform part of the bootstrap, run with fake tools up to apt: a key with another
    fingerprint stops it before it is dearmored into the keyring apt trusts."""
    if shutil.which("awk") is None:
        pytest.skip("needs awk")
    from ccds_cli.plan import OperatorPlan

    op = OperatorPlan(deployment="opmgr", bucket="b-1", key_prefix="ccds", state_region="us-east-1", api_port=8080,
                      regions=("us-east-1",))
    script = operator_script(op).split("mkdir -p -m 0700", 1)[0]
    script = script.replace(HASHICORP_KEYRING, str(tmp_path / "keyring.gpg")).replace(
        "/etc/apt/sources.list.d/hashicorp.list", str(tmp_path / "hashicorp.list")).replace(
        ". /etc/os-release", "VERSION_CODENAME=jammy")
    env = _fake_tools(tmp_path, fingerprint)
    proc = subprocess.run(["sh", "-eu"], input=script, text=True, capture_output=True,
                          env={**os.environ, "PATH": env["PATH"]}, timeout=30)
    calls = Path(env["LOG"]).read_text()
    if ok:
        assert proc.returncode == 0, proc.stderr
        assert "--dearmor" in calls and "apt-get install -y -q terraform" in calls
        assert (tmp_path / "hashicorp.list").read_text().startswith(
            f"deb [signed-by={tmp_path / 'keyring.gpg'}] https://apt.releases.hashicorp.com jammy main")
    else:
        assert proc.returncode == 1
        assert "is not HashiCorp's signing key" in proc.stderr and fingerprint in proc.stderr
        assert "--dearmor" not in calls and "terraform" not in calls

