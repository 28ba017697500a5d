"""The pg state backend's connection string reaches terraform only through the environment:
`connect_state_backend` copies the variable `state.conn_str_env` names into PG_CONN_STR, or refuses
(exit 2) naming the field and the variable; `ccds down` from a spec that no longer validates still
finds it. Applied for real in tests/e2e/test_local_pg_state.py."""

from __future__ import annotations

import os

import pytest
import yaml

from ccds_cli.deployment import AppliedDeployment, connect_state_backend
from ccds_cli.errors import BadInput, ExitCode
from ccds_cli.spec import load_spec
from tests.spec.speccli import EXAMPLES


@pytest.fixture(autouse=True)
def no_pg_conn_str(monkeypatch):
    """PG_CONN_STR absent in each test and restored afterwards, whatever the code under test set."""
    monkeypatch.setenv("PG_CONN_STR", "placeholder")
    monkeypatch.delenv("PG_CONN_STR")


def _write(tmp_path, state, **extra):
    data = yaml.safe_load((EXAMPLES / "local.yaml").read_text())
    data["state"] = state
    data.update(extra)
    path = tmp_path / "ccds.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_the_named_variable_becomes_pg_conn_str(tmp_path, monkeypatch):
    monkeypatch.setenv("TEAM_PG", "postgres://ccds:pw@db:5432/state")
    monkeypatch.setenv("PG_CONN_STR", "postgres://someone-else@elsewhere/x")
    connect_state_backend(load_spec(_write(tmp_path, {"backend": "pg", "conn_str_env": "TEAM_PG"})))
    assert os.environ["PG_CONN_STR"] == "postgres://ccds:pw@db:5432/state"


def test_a_missing_variable_is_bad_input_naming_field_and_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("TEAM_PG", raising=False)
    path = _write(tmp_path, {"backend": "pg", "conn_str_env": "TEAM_PG"})
    with pytest.raises(BadInput) as err:
        connect_state_backend(load_spec(path))
    assert err.value.exit_code == ExitCode.BAD_INPUT
    assert err.value.message.startswith(f"{path}:") and "state.conn_str_env" in err.value.message
    assert "TEAM_PG is not set" in err.value.message and "export TEAM_PG=" in err.value.hint


def test_other_backends_need_nothing(tmp_path, monkeypatch):
    connect_state_backend(load_spec(_write(tmp_path, {"backend": "local"})))
    connect_state_backend(load_spec(_write(tmp_path, {"backend": "s3", "bucket": "b", "region": "us-east-1"})))
    assert "PG_CONN_STR" not in os.environ


def test_down_from_a_broken_spec_still_hands_over_the_connection_string(tmp_path, monkeypatch):
    monkeypatch.setenv("TEAM_PG", "postgres://ccds:pw@db:5432/state")
    path = _write(tmp_path, {"backend": "pg", "conn_str_env": "TEAM_PG"}, colour="blue")  # no longer validates
    (tmp_path / ".ccds" / "local-demo" / "workspaces").mkdir(parents=True)  # it was applied once
    assert AppliedDeployment.find(path, None) is not None
    assert os.environ["PG_CONN_STR"] == "postgres://ccds:pw@db:5432/state"
