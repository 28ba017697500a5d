"""Fixtures for the end-to-end tests: a fresh local deployment per test, always torn down."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2ehelp import LocalDeployment, fresh_base_port, require_tools  # noqa: E402

_used_bases: set[int] = set()


@pytest.fixture
def deployment(tmp_path):
    """A copy of examples/local.yaml with its own port block and state dir; `ccds down --yes` and a
    by-PID stop of anything left always run afterwards, whatever the test did."""
    require_tools()
    dep = LocalDeployment(tmp_path, fresh_base_port(_used_bases))
    try:
        yield dep
    finally:
        dep.cleanup()
