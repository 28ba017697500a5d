"""Fixtures for the stream manager tests: an app on a temp SQLite file with a clock tests can move."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from ccds_cli.sm.app import create_app
from ccds_cli.sm.settings import Settings
from ccds_cli.sm.store import Store
from smhelp import Clock, Manager


@pytest.fixture
def make_manager(tmp_path):
    made = []

    def make(**settings) -> Manager:
        clock = Clock()
        s = Settings(database_url=f"sqlite:///{tmp_path}/sm-{len(made)}.db", admin_token="admin-secret",
                     node_token="node-secret", run_background=False, **settings)
        store = Store(s, clock=clock)
        client = TestClient(create_app(s, store))
        client.__enter__()
        made.append(client)
        return Manager(client, store, clock)

    yield make
    for c in made:
        c.__exit__(None, None, None)


@pytest.fixture
def mgr(make_manager) -> Manager:
    return make_manager()
