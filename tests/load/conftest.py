"""Fixtures for `ccds load` tests: a bare nginx-rtmp node and a small cluster (manager + agents)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadhelp import Cluster, Nginx, require_media_tools  # noqa: E402


@pytest.fixture
def origin(tmp_path):
    """One nginx-rtmp node (the local cloud's config), stopped by PID afterwards."""
    require_media_tools()
    node = Nginx(tmp_path, "origin-0")
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def make_cluster(tmp_path):
    """make_cluster(edge_capacity): a stream manager with an origin and two edges pulling from it,
    all INSERVICE; stopped by PID afterwards."""
    require_media_tools()
    made = []

    def make(edge_capacity: int = 80) -> Cluster:
        c = Cluster(tmp_path / f"c{len(made)}")
        made.append(c)
        origin = c.add("origin-0", "origin", capacity=20)
        c.add("edge-0", "edge", capacity=edge_capacity, pull=origin.rtmp)
        c.add("edge-1", "edge", capacity=edge_capacity, pull=origin.rtmp)
        c.wait_inservice("origin-0", "edge-0", "edge-1")
        return c

    try:
        yield make
    finally:
        for c in made:
            c.close()


@pytest.fixture
def cluster(make_cluster):
    """Two edges of 80 slots: room for what the tests load."""
    return make_cluster(80)
