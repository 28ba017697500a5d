"""checkov on the rendered workspaces of every example: each finding is fixed in modules/<cloud>/ or
listed in checkov_allowlist.yaml with its reason (and explained in docs/security.md); an entry that
no longer occurs must leave the list.

checkov pins old versions of boto3 and packaging, so it lives in its own virtualenv
(`scripts/setup.sh` makes `.venv-checkov/`); CCDS_CHECKOV names another binary. About 15 s.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from tests.spec.speccli import EXAMPLES, REPO, run_ccds

ALLOWLIST = Path(__file__).resolve().parent / "checkov_allowlist.yaml"
SECURITY_DOC = REPO / "docs" / "security.md"

pytestmark = pytest.mark.slow


def checkov_binary() -> str | None:
    for candidate in (os.environ.get("CCDS_CHECKOV"), str(REPO / ".venv-checkov" / "bin" / "checkov"),
                      shutil.which("checkov")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def allowlist() -> dict[str, dict]:
    return yaml.safe_load(ALLOWLIST.read_text(encoding="utf-8"))


def test_allowlist_entries_have_reasons_and_are_explained():
    doc = SECURITY_DOC.read_text(encoding="utf-8")
    for check_id, entry in allowlist().items():
        assert entry.get("reason") and entry.get("modules"), check_id
        assert f"`{check_id}`" in doc, f"{check_id} is allowed but not explained in docs/security.md"


@pytest.fixture(scope="module")
def findings(tmp_path_factory) -> dict[tuple[str, str], list[str]]:
    binary = checkov_binary()
    if binary is None:
        pytest.skip("checkov not installed (scripts/setup.sh makes .venv-checkov/, or set CCDS_CHECKOV)")
    out = tmp_path_factory.mktemp("checkov")
    for example in sorted(EXAMPLES.glob("*.yaml")):
        proc = run_ccds(["render", str(example), "--out", str(out / example.stem)], timeout=120)
        assert proc.returncode == 0, (example.name, proc.stderr[-2000:])
    proc = subprocess.run([binary, "-d", str(out), "--framework", "terraform", "-o", "json", "--quiet", "--compact",
                           "--skip-download"], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "LOG_LEVEL": "ERROR"})
    assert proc.returncode in (0, 1), proc.stderr[-3000:]  # 1: there are failed checks
    report = json.loads(proc.stdout)
    reports = report if isinstance(report, list) else [report]
    assert all(r["summary"]["parsing_errors"] == 0 for r in reports), [r["summary"] for r in reports]
    assert sum(r["summary"]["resource_count"] for r in reports) > 300  # every example was scanned
    found: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in reports:
        for f in r["results"]["failed_checks"]:
            path = f["file_path"]
            module = path.split("/modules/", 1)[1].split("/", 1)[0] if "/modules/" in path else "root"
            found[(f["check_id"], module)].append(f"{path}:{f['file_line_range'][0]} {f['resource']}")
    return dict(found)


def test_every_finding_is_fixed_or_allowed(findings):
    allowed = allowlist()
    unexplained = {f"{cid} in {module}: {places[0]}" for (cid, module), places in findings.items()
                   if module not in allowed.get(cid, {}).get("modules", [])}
    assert not unexplained, ("checkov findings neither fixed nor in tests/security/checkov_allowlist.yaml "
                             "(fix the module, or add the check with its reason and explain it in "
                             "docs/security.md):\n" + "\n".join(sorted(unexplained)))


def test_no_stale_allowlist_entries(findings):
    seen = {(cid, module) for cid, module in findings}
    stale = [f"{cid} in {module}" for cid, entry in allowlist().items() for module in entry["modules"]
             if (cid, module) not in seen]
    assert not stale, f"fixed (or no longer reported): remove from the allow-list and docs/security.md: {stale}"


def test_fixed_findings_stay_fixed(findings):
    """What the modules fixed (docs/security.md, "Fixed"): checkov passes them now."""
    for cid, module in [("CKV2_AWS_12", "aws"), ("CKV_AWS_131", "aws"), ("CKV_AWS_226", "aws"),
                        ("CKV2_AWS_60", "aws"), ("CKV_GCP_74", "gcp"), ("CKV_GCP_51", "gcp"),
                        ("CKV_GCP_52", "gcp"), ("CKV_GCP_53", "gcp"), ("CKV_GCP_54", "gcp"),
                        ("CKV_GCP_108", "gcp"), ("CKV_GCP_109", "gcp"), ("CKV_GCP_111", "gcp"),
                        ("CKV_OCI_5", "oci")]:
        assert (cid, module) not in findings, (cid, findings.get((cid, module)))


def test_tls_listeners_pass(tmp_path):
    """With security.tls and control.dns_zone (examples/eight-clouds.yaml, AWS primary) the API's
    listeners pass what the plain one fails: HTTPS with a TLS 1.2+ policy, HTTP only redirecting. (The
    plain `aws_lb_listener.this` is still in the module for specs without TLS, and checkov, which does
    not evaluate its count, keeps reporting it: the allow-list entries of the plain-HTTP branch.)"""
    binary = checkov_binary()
    if binary is None:
        pytest.skip("checkov not installed (scripts/setup.sh makes .venv-checkov/, or set CCDS_CHECKOV)")
    proc = run_ccds(["render", str(EXAMPLES / "eight-clouds.yaml"), "--out", str(tmp_path)], timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    main = json.loads((tmp_path / "control.aws-main.us-east-1" / "main.tf.json").read_text())
    assert main["module"]["control"]["control"]["dns_zone"] == "live.example.com"
    proc = subprocess.run([binary, "-d", str(tmp_path / "control.aws-main.us-east-1"), "--framework", "terraform",
                           "-o", "json", "--compact", "--skip-download", "--check", "CKV_AWS_2,CKV_AWS_103"],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "LOG_LEVEL": "ERROR"})
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    results = json.loads(proc.stdout)["results"]
    passed = {(f["check_id"], f["resource"]) for f in results["passed_checks"]}
    failed = {(f["check_id"], f["resource"]) for f in results["failed_checks"]}
    for check_id in ("CKV_AWS_2", "CKV_AWS_103"):
        assert {(check_id, "aws_lb_listener.https"), (check_id, "aws_lb_listener.redirect")} <= passed, passed
        assert {r for c, r in failed if c == check_id} == {"aws_lb_listener.this"}, failed


def test_operator_instance_profile_passes(tmp_path):
    """`operate.on_managers` (no example has it): the managers' role and its policy document pass
    checkov's IAM policies (no `*` action, no unconstrained write, no IAM, no escalation), and the
    managers carry the instance profile (docs/security.md, "The controller on the stream managers")."""
    binary = checkov_binary()
    if binary is None:
        pytest.skip("checkov not installed (scripts/setup.sh makes .venv-checkov/, or set CCDS_CHECKOV)")
    spec = (EXAMPLES / "single-aws.yaml").read_text()
    assert "state:" not in spec and "\noperate:" not in spec
    spec += ("\nstate: {backend: s3, bucket: ccds-team-state, region: us-east-1, key_prefix: ccds}\n"
             "operate: {on_managers: true}\n")
    (tmp_path / "ccds.yaml").write_text(spec)
    proc = run_ccds(["render", str(tmp_path / "ccds.yaml"), "--out", str(tmp_path / "out")], timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (control,) = (tmp_path / "out").glob("control.*")
    main = json.loads((control / "main.tf.json").read_text())
    assert main["module"]["control"]["control"]["operator"]["enabled"] is True
    proc = subprocess.run([binary, "-d", str(control), "--framework", "terraform", "-o", "json", "--compact",
                           "--skip-download"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "LOG_LEVEL": "ERROR"})
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    results = json.loads(proc.stdout)["results"]
    iam = ("aws_iam_policy_document.operator", "aws_iam_policy_document.operator_assume", "aws_iam_role.operator",
           "aws_iam_role_policy.operator")
    failed = [(f["check_id"], f["resource"]) for f in results["failed_checks"] if f["resource"] in iam]
    assert failed == []
    passed = {(f["check_id"], f["resource"]) for f in results["passed_checks"]}
    for check_id in ("CKV_AWS_1", "CKV_AWS_49", "CKV_AWS_107", "CKV_AWS_108", "CKV_AWS_109", "CKV_AWS_110",
                     "CKV_AWS_111", "CKV_AWS_356", "CKV2_AWS_40"):
        assert (check_id, "aws_iam_policy_document.operator") in passed, check_id
    assert ("CKV_AWS_60", "aws_iam_role.operator") in passed  # only a named service may assume it
    assert ("CKV2_AWS_41", "aws_instance.node") in passed
