"""Golden files: the `main.tf.json` of every workspace of the multi-cloud examples.

A change to rendering shows up here as a readable diff. After an intended change, regenerate:
    CCDS_UPDATE_GOLDEN=1 python -m pytest tests/render/test_golden.py
and review `git diff tests/render/golden/` before committing.
"""

from __future__ import annotations

import difflib
import os
import shutil
from pathlib import Path

import pytest
from renderhelp import GOLDEN, render_example

EXAMPLES_WITH_GOLDEN = ("multicloud", "eight-clouds")
UPDATE = os.environ.get("CCDS_UPDATE_GOLDEN") == "1"


def _normalise(text: str, out: Path) -> str:
    """Machine paths must not reach golden files (only the local cloud writes any)."""
    return text.replace(str(out.resolve()), "<OUT>").replace(str(out.resolve().parent), "<OUT_PARENT>")


@pytest.mark.parametrize("example", EXAMPLES_WITH_GOLDEN)
def test_golden_workspaces(example: str, tmp_path: Path):
    out = tmp_path / "ws"
    workspaces = render_example(example, out)
    rendered = {name: _normalise((path / "main.tf.json").read_text(), out) for name, path in workspaces.items()}
    for text in rendered.values():
        assert str(tmp_path) not in text and os.path.expanduser("~") + "/" not in text
    golden_dir = GOLDEN / example
    if UPDATE:
        shutil.rmtree(golden_dir, ignore_errors=True)
        for name, text in rendered.items():
            (golden_dir / name).mkdir(parents=True)
            (golden_dir / name / "main.tf.json").write_text(text)
    expected = {p.parent.name: p.read_text() for p in sorted(golden_dir.glob("*/main.tf.json"))}
    assert sorted(rendered) == sorted(expected), "workspaces differ from the golden set"
    for name, text in rendered.items():
        if text != expected[name]:
            diff = "".join(difflib.unified_diff(expected[name].splitlines(True), text.splitlines(True),
                                                f"golden/{example}/{name}/main.tf.json", "rendered", n=2))
            pytest.fail(f"{name} differs from its golden file (CCDS_UPDATE_GOLDEN=1 to accept):\n{diff[:6000]}")


def test_golden_files_exist():
    """Guard against an update run that silently wrote nothing."""
    for example in EXAMPLES_WITH_GOLDEN:
        files = list((GOLDEN / example).glob("*/main.tf.json"))
        assert len(files) >= 3, example
    assert len(list((GOLDEN / "eight-clouds").glob("*/main.tf.json"))) == 10


def test_user_data_bytes_do_not_depend_on_libyaml(monkeypatch, tmp_path):
    """Rendering uses libyaml when present; the pure-Python emitter must write the same bytes,
    or golden files (and byte-identical renders) would differ between machines."""
    import yaml

    from ccds_cli.engines import cloudinit

    if not getattr(yaml, "__with_libyaml__", False):
        pytest.skip("libyaml is not installed: only the pure-Python emitter can run here")
    fast = {n: (p / "main.tf.json").read_bytes() for n, p in render_example("eight-clouds", tmp_path / "c").items()}
    monkeypatch.setattr(cloudinit, "_DUMPER", yaml.SafeDumper)
    slow = {n: (p / "main.tf.json").read_bytes() for n, p in render_example("eight-clouds", tmp_path / "py").items()}
    assert fast == slow
