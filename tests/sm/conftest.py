"""Fixtures for the stream manager tests: an app on a temp SQLite file with a clock tests can move."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sm_pg import pg_server_fixture
from smhelp import Clock, Manager

from ccds_cli.sm.app import create_app
from ccds_cli.sm.settings import Settings
from ccds_cli.sm.store import Store

pg_server = pg_server_fixture()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """Every API test runs on both databases the manager supports: a new, empty one per manager."""
    if request.param == "sqlite":
        return lambda n: f"sqlite:///{tmp_path}/sm-{n}.db"
    pg = request.getfixturevalue("pg_server")
    return lambda n: pg.new_database()


@pytest.fixture
def make_manager(database_url):
    made = []

    def make(**settings) -> Manager:
        clock = Clock()
        s = Settings(database_url=database_url(len(made)), admin_token="admin-secret",
                     node_key="node-secret", run_background=False, **settings)
        store = Store(s, clock=clock)
        client = TestClient(create_app(s, store))
        client.__enter__()
        made.append(client)
        return Manager(client, store, clock)

    yield make
    for c in made:
        c.__exit__(None, None, None)
        c.app.state.store.close()


@pytest.fixture
def mgr(make_manager) -> Manager:
    return make_manager()
