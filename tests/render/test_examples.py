"""Every example validates and renders through the real `ccds` script, and rendering is
deterministic: the same spec gives byte-identical workspaces, wherever they are written."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "spec"))
from renderhelp import EXAMPLES, REPO, tree_bytes  # noqa: E402
from speccli import assert_no_traceback, run_ccds  # noqa: E402

SPECS = sorted(EXAMPLES.glob("*.yaml"))


def test_examples_exist():
    names = {p.stem for p in SPECS}
    assert {"multicloud", "eight-clouds", "local", "single-aws", "two-aws-regions"} <= names


def test_every_example_validates():
    proc = run_ccds(["validate", "--output", "json", *map(str, SPECS)])
    assert proc.returncode == 0, proc.stderr
    assert_no_traceback(proc)
    doc = json.loads(proc.stdout)
    assert [r["ok"] for r in doc["result"]] == [True] * len(SPECS)


def _render(spec: Path, out: Path, state: Path) -> list[dict]:
    proc = run_ccds(["render", str(spec), "--out", str(out), "--state-dir", str(state), "--output", "json"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert_no_traceback(proc)
    return json.loads(proc.stdout)["result"]


@pytest.mark.parametrize("spec", SPECS, ids=[p.stem for p in SPECS])
def test_example_renders_deterministically(spec: Path, tmp_path: Path):
    first = _render(spec, tmp_path / "a" / "ws", tmp_path / "state")
    assert first, "no workspaces rendered"
    names = [w["workspace"] for w in first]
    assert len(set(names)) == len(names)
    assert sorted(p.name for p in (tmp_path / "a" / "ws").iterdir()) == sorted(names)
    for ws in first:
        root = Path(ws["path"])
        doc = json.loads((root / "main.tf.json").read_text())
        assert doc["module"] and doc["terraform"]["backend"]
        cloud = ws["cloud"]
        shipped = sorted(p.name for p in (REPO / "modules" / cloud).iterdir()
                         if p.suffix == ".tf" or p.name == "README.md")
        assert sorted(p.name for p in (root / "modules" / cloud).iterdir()) == shipped
    before = tree_bytes(tmp_path / "a" / "ws")

    # Same place again: byte-identical, nothing left over.
    _render(spec, tmp_path / "a" / "ws", tmp_path / "state")
    assert tree_bytes(tmp_path / "a" / "ws") == before

    # Another place: identical except the local cloud's absolute state path (the only
    # machine-dependent value, and only for `cloud: local`).
    second = _render(spec, tmp_path / "b" / "ws", tmp_path / "state")
    assert [w["workspace"] for w in second] == names
    elsewhere = tree_bytes(tmp_path / "b" / "ws")
    local = {w["workspace"] for w in first if w["cloud"] == "local"}
    for rel, data in before.items():
        if rel.split("/")[0] in local:
            data = data.replace(str(tmp_path / "a").encode(), str(tmp_path / "b").encode())
        assert elsewhere[rel] == data, rel


def test_rendered_workspaces_hold_no_secrets(tmp_path: Path):
    """Secrets reach terraform through the environment: with the deployment's secrets already
    generated, no rendered file contains one, and every module only references `var.secrets`."""
    from ccds_cli.spec import load_spec
    from ccds_cli.state.secrets import load_or_create

    for spec in SPECS:
        state = tmp_path / "state"
        stored = load_or_create(state / load_spec(spec).spec.name / "secrets.json")
        assert stored and all(len(v) >= 20 for v in stored.values())
        out = tmp_path / spec.stem
        _render(spec, out, state)
        for f in out.rglob("*"):
            if f.is_file():
                text = f.read_text()
                assert "PRIVATE KEY" not in text, f
                for value in stored.values():
                    assert value not in text, (f, "a generated secret was written")
        for main in out.rglob("main.tf.json"):
            doc = json.loads(main.read_text())
            assert doc["variable"]["secrets"]["sensitive"] is True
            assert doc["variable"]["secrets"]["default"] == {}
            for key, mod in doc["module"].items():  # each module call only its own share
                assert mod["secrets"] == f'${{lookup(var.secrets, "{key}", {{}})}}'


def test_render_out_keeps_what_scale_and_failover_chose(tmp_path: Path):
    """`render --out` writes the deployment as `up` would apply it: a failed-over region at its new
    placement and `ccds scale` counts included (before, --out re-planned from the bare spec)."""
    spec = EXAMPLES / "two-aws-regions.yaml"
    state = tmp_path / "state"
    name = json.loads(run_ccds(["render", str(spec), "--state-dir", str(state), "-o", "json"]).stdout)
    assert name["ok"], name
    dep_dir = Path(name["result"][0]["path"]).parents[1]
    (dep_dir / "failover.json").write_text(json.dumps({"us": "aws-prod/us-east-2"}))
    (dep_dir / "scale.json").write_text(json.dumps({"us": {"edge": 5}}))
    rows = _render(spec, tmp_path / "out", state)
    names = {r["workspace"] for r in rows}
    assert "aws-prod.us-east-2" in names and "aws-prod.us-east-1" not in names, names
    doc = json.loads((tmp_path / "out" / "aws-prod.us-east-2" / "main.tf.json").read_text())
    assert doc["module"]["us"]["region"] == "us-east-2"
    assert doc["module"]["us"]["pools"]["edge"]["count"] == 5
