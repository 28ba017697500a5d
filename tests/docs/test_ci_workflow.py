"""The GitHub Actions workflow in docs/ci.md is valid as written: actionlint finds nothing."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml

DOC = Path(__file__).resolve().parents[2] / "docs" / "ci.md"
MARK = re.compile(r"<!-- ccds-workflow: (?P<path>\S+) -->\n```yaml\n(?P<body>.*?)\n```", re.S)


def _workflow() -> tuple[str, str]:
    m = MARK.search(DOC.read_text())
    assert m, "docs/ci.md must hold the workflow after a `<!-- ccds-workflow: PATH -->` line"
    return m["path"], m["body"] + "\n"


def test_the_documented_workflow_passes_actionlint(tmp_path):
    binary = shutil.which("actionlint")
    assert binary, "actionlint is a dev dependency: pip install -e '.[dev]'"
    path, body = _workflow()
    target = tmp_path / path
    target.parent.mkdir(parents=True)
    target.write_text(body)
    proc = subprocess.run([binary, "-no-color", str(target)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_would_see_a_mistake(tmp_path):
    """The check is real: a broken copy of the workflow fails it."""
    path, body = _workflow()
    target = tmp_path / path
    target.parent.mkdir(parents=True)
    target.write_text(body.replace("runs-on: ubuntu-latest", "runs-on: [ubuntu-latest", 1)
                      .replace("${{ github.event.pull_request.head.sha }}", "${{ github.event.pull_request.hed }}"))
    proc = subprocess.run([shutil.which("actionlint"), "-no-color", str(target)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode != 0


def test_the_workflow_plans_on_pull_requests_and_applies_that_plan_on_merge():
    _, body = _workflow()
    wf = yaml.safe_load(body)
    triggers = wf[True] if True in wf else wf["on"]  # YAML 1.1 reads the key `on` as true
    assert set(triggers) == {"pull_request", "push"}
    plan_steps = " ".join(str(s.get("run", "")) + str(s.get("uses", "")) for s in wf["jobs"]["plan"]["steps"])
    apply_steps = " ".join(str(s.get("run", "")) for s in wf["jobs"]["apply"]["steps"])
    assert "ccds plan ccds.yaml --out plan --output json" in plan_steps
    assert "actions/upload-artifact" in plan_steps
    assert "ccds up ccds.yaml --plan plan --yes --output json" in apply_steps
    assert "gh run download" in apply_steps
