"""Property-based run of the stream manager's own OpenAPI (schemathesis): for every route, generated
valid and invalid requests never get a 5xx, and every status code answered is one the OpenAPI
documents. Bounded: EXAMPLES per route (about 20 s in all on SQLite)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

schemathesis = pytest.importorskip("schemathesis")

from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import status_code_conformance  # noqa: E402
from smhelp import ADMIN  # noqa: E402

EXAMPLES = 30


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """A manager with docs on (the OpenAPI is public), a node in service and a published stream."""
    from fastapi.testclient import TestClient
    from smhelp import Clock, Manager

    from ccds_cli.sm.app import create_app
    from ccds_cli.sm.settings import Settings
    from ccds_cli.sm.store import Store

    db = tmp_path_factory.mktemp("schemathesis") / "sm.db"
    s = Settings(database_url=f"sqlite:///{db}", admin_token="admin-secret", node_key="node-secret",
                 run_background=False, docs=True)
    clock = Clock()
    store = Store(s, clock=clock)
    app = create_app(s, store)
    with TestClient(app) as client:
        mgr = Manager(client, store, clock)
        # capacity enough for every generated publish and subscribe: a 503 here would be a real failure
        mgr.up("o1", "origin", capacity=1_000_000)
        mgr.up("e1", "edge", capacity=1_000_000)
        assert mgr.publish("s1").status_code == 200
        yield app
    store.close()


@pytest.fixture(scope="module")
def api_schema(api):
    return schemathesis.openapi.from_asgi("/openapi.json", api)


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.mark.timeout(120)
@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_server_error_and_only_documented_status_codes(case):
    """The admin token is sent so authenticated routes are explored past 401/403 (the node routes
    accept it too)."""
    case.call_and_validate(headers=dict(ADMIN), checks=[not_a_server_error, status_code_conformance],
                           excluded_checks=[])
