"""Safety net for local-cloud tests: whatever a test did or where it failed, every node recorded
under its tmp_path is stopped (by PID) at teardown, before pytest later deletes the directory."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _stop_local_nodes(tmp_path):
    yield
    from ccds_cli.localcloud.node import list_nodes, stop

    for nodes_dir in tmp_path.rglob("nodes"):
        state_dir = nodes_dir.parent
        for record in list_nodes(state_dir):
            stop(state_dir, record["name"], grace=3)
