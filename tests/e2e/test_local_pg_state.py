"""`state: {backend: pg}` for real: examples/local.yaml with its Terraform state in a real PostgreSQL.

One deployment for every assertion: `up` and `plan` refuse early (exit 2, the spec field and the
variable named) while the variable `state.conn_str_env` names is unset; with it set, `up` keeps
every workspace's state in its own PG schema (read back with SQL) and no state file on disk, the
connection string appears in no file, log or output, `status` reads the remote state, the next
`up` replaces a node that died (found in the pulled state), and `down` leaves the schemas with no
resource and no node running.
"""

from __future__ import annotations

import json
import os
import signal

import pytest
import yaml
from e2ehelp import explain, process_alive, wait_for

from tests.sm.sm_pg import pg_server_fixture

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

pg_server = pg_server_fixture()

ENV_NAME = "CCDS_TEST_STATE_PG"  # not PG_CONN_STR: ccds must hand it to terraform under that name
PASSWORD = "pg-state-s3cr3t-7f3a"  # trust auth ignores it; it marks the connection string in any leak


def _states(conninfo: str) -> dict[str, dict]:
    """{schema: the state document} of every schema Terraform's pg backend wrote (`<schema>.states`)."""
    import psycopg

    with psycopg.connect(conninfo, autocommit=True) as conn:
        schemas = [r[0] for r in conn.execute(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = 'states'")]
        found = {}
        for schema in schemas:
            rows = conn.execute(f'SELECT name, data FROM "{schema}".states').fetchall()
            assert [r[0] for r in rows] == ["default"], (schema, [r[0] for r in rows])
            found[schema] = json.loads(rows[0][1])
    return found


def _ok(dep, outputs: list[str], *args: str, timeout: float = 120) -> dict:
    """`ccds ARGS -o json` that must succeed; its stdout and stderr are kept for the leak check."""
    proc = dep.run(*args, "--output", "json", timeout=timeout)
    outputs += [proc.stdout, proc.stderr]
    assert proc.returncode == 0, explain(proc, "expected exit 0")
    return json.loads(proc.stdout)


def _leaks(dep, secret: str, outputs: list[str]) -> list[str]:
    found = [f"output #{i}" for i, text in enumerate(outputs) if secret in text]
    for path in dep.workdir.rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                if secret.encode() in path.read_bytes():
                    found.append(str(path))
            except OSError:
                continue
    return found


def test_pg_state_backend_up_status_down(deployment, pg_server):
    dep = deployment
    data = yaml.safe_load(dep.spec.read_text())
    data["state"] = {"backend": "pg", "conn_str_env": ENV_NAME, "schema_prefix": "e2e"}
    dep.spec.write_text(yaml.safe_dump(data, sort_keys=False))
    dep.env.pop(ENV_NAME, None)
    dep.env.pop("PG_CONN_STR", None)  # a stray default must not stand in for the named variable
    outputs = []

    # 1. the variable is missing: refused before anything is rendered or run
    for args in (("up", "{spec}", "--yes"), ("plan", "{spec}")):
        proc = dep.run(*args, "--output", "json")
        assert proc.returncode == 2, (args, proc.stdout[-2000:], proc.stderr[-2000:])
        error = json.loads(proc.stdout)["error"]["message"]
        assert "state.conn_str_env" in error and ENV_NAME in error and "not set" in error, error
        assert "Traceback" not in proc.stderr and "terraform" not in error.lower(), proc.stderr[-2000:]
    assert not (dep.root / "workspaces").exists(), "workspaces were rendered before the check"

    # 2. with it: the state lives in PostgreSQL, none on disk
    conninfo = pg_server.url.replace("postgresql+psycopg://ccds@", f"postgres://ccds:{PASSWORD}@")
    database = pg_server.new_database("state").rsplit("/", 1)[1]
    conn_str = conninfo.rsplit("/", 1)[0] + f"/{database}?sslmode=disable"
    dep.env[ENV_NAME] = conn_str
    up = _ok(dep, outputs, "up", "{spec}", "--yes", timeout=240)
    assert {w["name"]: w["result"] for w in up["result"]["workspaces"]} == {
        "control.laptop.local": "ok", "laptop.local": "ok"}, up["result"]["workspaces"]
    states = _states(conn_str)
    assert sorted(states) == ["e2e_local_demo_control_laptop_local", "e2e_local_demo_laptop_local"], sorted(states)
    for schema, state in states.items():
        assert state["resources"], f"{schema} holds no resources"
    region_nodes = {i["attributes"]["input"]["value"]["name"]
                    for r in states["e2e_local_demo_laptop_local"]["resources"] if r["type"] == "terraform_data"
                    for i in r["instances"]}
    assert region_nodes == {n["name"] for n in up["result"]["nodes"] if n["role"] in ("origin", "edge")}, region_nodes
    workspaces = sorted((dep.root / "workspaces").iterdir())
    assert len(workspaces) == 2 and not [str(p) for p in dep.root.rglob("terraform.tfstate")
                                         if ".terraform" not in p.parts], "a local state file was written"
    pids = dep.record_pids()
    assert len(pids) >= 3 and all(process_alive(p) for p in pids)

    # 3. status reads the remote state
    status = _ok(dep, outputs, "status", "{spec}")
    assert status["result"]["healthy"] is True, json.dumps(status["result"])[-3000:]
    rows = {(r["region"], r["role"]): (r["desired"], r["actual"]) for w in status["result"]["workspaces"]
            for r in w["roles"]}
    assert rows[("local", "origin")] == (1, 1) and rows[("local", "edge")][0] == rows[("local", "edge")][1] >= 1

    # 4. a node that died is replaced by the next up: the local cloud finds it in the pulled state
    edge = next(r for r in dep.records().values() if r["role"] == "edge")
    dead = next(p["pid"] for p in edge["processes"] if p["kind"] == "nginx")
    os.kill(dead, signal.SIGTERM)
    wait_for(lambda: not process_alive(dead), 10, interval=0.05, what=f"nginx {dead} to exit")
    again = _ok(dep, outputs, "up", "{spec}", "--yes", timeout=240)
    region = next(w for w in again["result"]["workspaces"] if w["name"] == "laptop.local")
    assert region["changes"]["add"] == 1 and region["changes"]["destroy"] == 1, region
    revived = dep.records()[edge["name"]]
    assert revived["running"] and all(process_alive(p["pid"]) for p in revived["processes"]), revived
    pids = dep.record_pids()

    # 5. down: nothing left in the state, nothing running
    down = _ok(dep, outputs, "down", "{spec}", "--yes", timeout=240)
    assert all(w["result"] == "ok" for w in down["result"]["workspaces"]), down["result"]["workspaces"]
    assert {s: st["resources"] for s, st in _states(conn_str).items()} == {
        "e2e_local_demo_control_laptop_local": [], "e2e_local_demo_laptop_local": []}
    assert not [p for p in pids if process_alive(p)], "processes survived `ccds down`"
    assert dep.busy_ports() == set() and dep.records() == {}

    # the connection string went to terraform through the environment only
    for secret in (conn_str, PASSWORD):
        assert _leaks(dep, secret, outputs) == []
