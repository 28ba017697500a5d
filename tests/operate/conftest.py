"""Fixtures for the controller tests: stream managers on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sm"))  # sm_pg, smhelp

from sm_pg import PgServer  # noqa: E402
from smhelp import Clock, Manager  # noqa: E402


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    pg = PgServer(tmp_path_factory.mktemp("pg"))
    if not pg.available:
        pytest.skip("initdb/pg_ctl not on PATH")
    pg.start()
    yield pg
    pg.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """One database URL per test; PostgreSQL gets a fresh database on the session's server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/sm.db"
    import psycopg

    pg = request.getfixturevalue("pg_server")
    name = f"op{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg.url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return pg.url.rsplit("/", 1)[0] + f"/{name}"


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
        s = Settings(database_url=db_url, admin_token="admin-secret", node_token="node-secret",
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
