"""Fixtures for the stream manager tests: an app on a temp SQLite file with a clock tests can move."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from ccds_cli.sm.app import create_app
from ccds_cli.sm.settings import Settings
from ccds_cli.sm.store import Store
from sm_pg import PgServer
from smhelp import Clock, Manager


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    """One PostgreSQL for the session; each manager gets a database of its own."""
    pg = PgServer(tmp_path_factory.mktemp("pg"))
    if not pg.available:
        pytest.skip("initdb/pg_ctl not on PATH")
    pg.start()
    yield pg
    pg.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """Every API test runs on both databases the manager supports: a new, empty one per manager."""
    if request.param == "sqlite":
        return lambda n: f"sqlite:///{tmp_path}/sm-{n}.db"
    import psycopg

    pg = request.getfixturevalue("pg_server")

    def make(n: int) -> str:
        name = f"t{uuid.uuid4().hex[:12]}"
        with psycopg.connect(pg.url.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return pg.url.rsplit("/", 1)[0] + f"/{name}"

    return make


@pytest.fixture
def make_manager(database_url):
    made = []

    def make(**settings) -> Manager:
        clock = Clock()
        s = Settings(database_url=database_url(len(made)), admin_token="admin-secret",
                     node_token="node-secret", run_background=False, **settings)
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
