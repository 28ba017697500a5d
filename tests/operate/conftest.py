"""Fixtures for the controller tests: stream managers on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sm"))  # sm_pg, smhelp

from sm_pg import pg_server_fixture  # noqa: E402
from smhelp import Clock, Manager  # noqa: E402

pg_server = pg_server_fixture()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """One database URL per test; PostgreSQL gets a fresh database on the session's server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/sm.db"
    return request.getfixturevalue("pg_server").new_database("op")


@pytest.fixture
def managers(db_url):
    """make() -> a Manager (TestClient + store + movable clock); several share one database."""
    from fastapi.testclient import TestClient

    from ccds_cli.sm.app import create_app
    from ccds_cli.sm.settings import Settings
    from ccds_cli.sm.store import Store

    made = []
    clock = Clock()

    def make(**settings) -> Manager:
        s = Settings(database_url=db_url, admin_token="admin-secret", node_key="node-secret",
                     run_background=False, **settings)
        store = Store(s, clock=clock)
        client = TestClient(create_app(s, store))
        client.__enter__()
        made.append(client)
        return Manager(client, store, clock)

    yield make
    for c in made:
        c.__exit__(None, None, None)
        c.app.state.store.close()
