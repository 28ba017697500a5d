"""Before any apply, `ccds doctor FILE` and `ccds up` check that the cloud VMs can fetch what they
install, against a package index on 127.0.0.1 (PEP 691 JSON and PEP 503 HTML), with and without ccds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from loopindex import LoopIndex, other_build

from ccds_cli.errors import BadInput, ExitCode, MissingTool
from ccds_cli.nodepkg import check, wheel
from ccds_cli.spec import load_spec

REPO = Path(__file__).resolve().parents[2]

SPEC = """\
version: 1
name: pkgtest
providers:
  aws-main: {cloud: aws}
control:
  placement: [aws-main/us-east-1]
  stream_managers: 1
regions:
  na-east:
    placement: aws-main/us-east-1
    network: {cidr: 10.10.0.0/16}
    pools:
      origin: {instance_type: c5.large, min: 1, max: 1, capacity: 20}
      edge: {instance_type: c5.large, min: 1, max: 2, capacity: 100}
security:
  admin_cidrs: [203.0.113.0/24]
"""


@pytest.fixture(params=["json", "html"])
def index(request):
    idx = LoopIndex(style=request.param)
    idx.add_dependencies()
    yield idx
    idx.close()


def _spec(tmp_path: Path, install: str | None, control: bool = True) -> Path:
    text = SPEC if control else SPEC.replace("control:\n  placement: [aws-main/us-east-1]\n  stream_managers: 1\n", "")
    if install:
        text += f"install: {install}\n"
    path = tmp_path / "ccds.yaml"
    path.write_text(text)
    return path


def _findings(path: Path) -> dict[str, check.Finding]:
    return {f.name: f for f in check.preflight(load_spec(path))}


def test_default_source_present_and_this_build_passes(tmp_path, index):
    index.add_ccds()
    got = _findings(_spec(tmp_path, f"{{index_url: {index.simple}}}"))
    assert {n: f.status for n, f in got.items()} == {
        "install: this build": "pass", "install: stream managers": "pass", "install: dependencies": "pass"}
    assert "this very build" in got["install: stream managers"].detail
    assert any(r.startswith("/files/ccds-") for r in index.requests)  # it was downloaded and compared


def test_default_source_missing_is_an_error_naming_the_field(tmp_path, index):
    path = _spec(tmp_path, f"{{index_url: {index.simple}}}")
    f = _findings(path)["install: stream managers"]
    assert f.status == "fail" and f.exit_code == ExitCode.BAD_INPUT
    assert f.detail.startswith("install.requirement: not set, so the stream managers on aws-main/us-east-1 install "
                               f"ccds[postgres]==0.1.0 from {index.simple}: {index.simple} has no project 'ccds'")
    assert "install.wheel_url" in f.fix
    with pytest.raises(BadInput) as err:
        check.require(load_spec(path))
    assert err.value.exit_code == 2 and "nothing was applied" in err.value.message


def test_requirement_with_no_matching_release(tmp_path, index):
    index.add_ccds()
    f = _findings(_spec(tmp_path, f"{{requirement: 'ccds==9.9', index_url: {index.simple}}}"))["install: stream managers"]
    assert f.status == "fail"
    assert "install.requirement:" in f.detail and "no release of ccds matches ==9.9 (it has: 0.1.0)" in f.detail


def test_same_name_other_build(tmp_path, index):
    """A package called ccds that is not this build: an error by default (dependency confusion, or a
    stale release), a warning when the spec names that source explicitly."""
    index.add_ccds(other_build())
    by_default = _findings(_spec(tmp_path, f"{{index_url: {index.simple}}}"))["install: stream managers"]
    assert by_default.status == "fail" and "not this build" in by_default.detail
    assert "ccds_cli/__init__.py" in by_default.detail
    explicit = _findings(_spec(tmp_path, f"{{requirement: 'ccds==0.1.0', index_url: {index.simple}}}"))
    assert explicit["install: stream managers"].status == "warn"


def test_wheel_url_answers_and_matches(tmp_path, index):
    built = index.add_ccds()
    url = f"{index.url}/files/{built.filename}"
    ok = _findings(_spec(tmp_path, f"{{wheel_url: '{url}', sha256: {built.sha256}}}"))["install: stream managers"]
    assert ok.status == "pass", ok.detail
    bad = _findings(_spec(tmp_path, f"{{wheel_url: '{url}', sha256: '{'0' * 64}'}}"))["install: stream managers"]
    assert bad.status == "fail" and f"the file has {built.sha256}" in bad.detail and "install.sha256" in bad.detail
    gone = f"{index.url}/files/ccds-0.0.9-py3-none-any.whl"
    missing = _findings(_spec(tmp_path, f"{{wheel_url: '{gone}', sha256: {built.sha256}}}"))["install: stream managers"]
    assert missing.status == "fail" and "install.wheel_url:" in missing.detail and "HTTP 404" in missing.detail


def test_unreachable_index(tmp_path):
    from loopindex import LoopIndex as _L

    dead = _L()
    url = dead.simple
    dead.close()  # a refused loopback port
    f = _findings(_spec(tmp_path, f"{{index_url: {url}}}"))["install: stream managers"]
    assert f.status == "fail" and "cannot reach 127.0.0.1" in f.detail


def test_private_index_without_a_dependency(tmp_path):
    idx = LoopIndex()
    try:
        idx.add_dependencies(skip=("fastapi",))
        idx.add_ccds()
        f = _findings(_spec(tmp_path, f"{{index_url: {idx.simple}}}"))["install: dependencies"]
        assert f.status == "fail" and "does not have fastapi" in f.detail and f.detail.startswith("install.index_url")
    finally:
        idx.close()


def test_no_control_plane_warns_and_local_is_skipped(tmp_path):
    got = _findings(_spec(tmp_path, None, control=False))
    assert got["install: nodes"].status == "warn" and "control: not set" in got["install: nodes"].detail
    assert [f.status for f in check.preflight(load_spec(REPO / "examples" / "local.yaml"))] == ["skip"]


def test_unbuildable_install_is_exit_5(tmp_path, monkeypatch):
    def broken():
        raise wheel.WheelError("no ccds dist-info")

    monkeypatch.setattr(wheel, "current", broken)
    with pytest.raises(MissingTool) as err:
        check.require(load_spec(_spec(tmp_path, None, control=False)))
    assert err.value.exit_code == 5 and "no ccds dist-info" in err.value.message


# --- through the CLI, as a user runs it -------------------------------------------------------

def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CCDS_"))}
    env.update(PYTHONPATH=str(REPO), HOME=str(cwd), AWS_EC2_METADATA_DISABLED="true", NO_PROXY="127.0.0.1")
    return subprocess.run([sys.executable, "-m", "ccds_cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_up_refuses_before_any_apply(tmp_path, index):
    path = _spec(tmp_path, f"{{index_url: {index.simple}}}")
    proc = _run(["up", str(path), "--yes"], tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "install.requirement: not set" in proc.stderr and "has no project 'ccds'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert list((tmp_path / ".ccds").rglob("*")) == [tmp_path / ".ccds" / "pkgtest"]  # empty: nothing rendered,
    # locked, recorded (ledger) or applied


def test_doctor_reports_the_install_checks(tmp_path, index):
    path = _spec(tmp_path, f"{{index_url: {index.simple}}}")
    proc = _run(["doctor", str(path), "--output", "json"], tmp_path)
    checks = {c["name"]: c for c in json.loads(proc.stdout)["result"]["checks"]}
    assert checks["install: stream managers"]["status"] == "fail" and proc.returncode == 1
    index.add_ccds()
    proc = _run(["doctor", str(path), "--output", "json"], tmp_path)
    checks = {c["name"]: c for c in json.loads(proc.stdout)["result"]["checks"]}
    assert checks["install: stream managers"]["status"] == "pass", checks["install: stream managers"]
    assert checks["install: this build"]["status"] == "pass"
