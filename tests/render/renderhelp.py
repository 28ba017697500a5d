"""Render examples in-process for golden and schema tests (the CLI path is tested separately).

A uniquely named module rather than conftest, so test directories don't collide.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
GOLDEN = Path(__file__).resolve().parent / "golden"


def render_example(name: str, out: Path) -> dict[str, Path]:
    """Render examples/<name>.yaml into `out`; returns {workspace name: directory}."""
    from ccds_cli.plan import build_plan
    from ccds_cli.render import render
    from ccds_cli.spec import load_spec

    loaded = load_spec(EXAMPLES / f"{name}.yaml")
    rendered = render(loaded, build_plan(loaded.spec), out)
    return {r.name: r.path for r in rendered}


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under `root` by relative path, for byte-for-byte comparisons."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
