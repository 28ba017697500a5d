"""Deployment.control_env(): what secondary control placements get from the primary's state.

The primary control workspace holds real Terraform state (a provider-less stand-in applied with
the real binary) whose outputs are shaped like the rendered root's: `endpoints.control` and the
sensitive `database_password`. control_env must hand all of it over as TF_VAR_* environment only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import yaml

from ccds_cli.deployment import Deployment

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "gen'erated \"pw\" $x @:/?"
ENDPOINTS = {"api": "http://lb.example:8080", "database_host": "db.example", "database_port": "25060",
             "database_user": "doadmin", "database_name": "ccds", "dns_name": ""}


def test_control_env_hands_over_the_primary_login(tmp_path, monkeypatch):
    spec = yaml.safe_load((REPO / "examples" / "eight-clouds.yaml").read_text())
    spec["control"]["placement"] = ["do-main/fra1", "gcp-main/us-central1"]
    spec["control"].pop("instance_type", None)
    path = tmp_path / "ccds.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    dep = Deployment.open(path, tmp_path / "state")
    primary = [ws for ws in dep.planned() if ws.control is not None and ws.control.primary]
    assert [ws.name for ws in primary] == ["control.do-main.fra1"]
    assert dep.control_env() == {}  # nothing applied yet

    ws = dep.workspaces_dir / "control.do-main.fra1"
    ws.mkdir(parents=True)
    (ws / "main.tf.json").write_text(json.dumps({
        "variable": {"database_password": {"type": "string", "sensitive": True}},
        "resource": {"terraform_data": {"db": {"input": "x"}}},
        "output": {"endpoints": {"value": {"control": ENDPOINTS}},
                   "database_password": {"value": "${var.database_password}", "sensitive": True}},
    }))
    (tmp_path / "cli.tfrc").write_text("")
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(tmp_path / "cli.tfrc"))
    env = {**os.environ, "TF_VAR_database_password": PASSWORD}
    for args in (["init", "-input=false"], ["apply", "-auto-approve", "-input=false"]):
        proc = subprocess.run([shutil.which("terraform"), *args, "-no-color"], cwd=ws, env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr

    got = dep.control_env()
    assert got == {"TF_VAR_manager_url": "http://lb.example:8080", "TF_VAR_database_host": "db.example",
                   "TF_VAR_database_port": "25060", "TF_VAR_database_user": "doadmin",
                   "TF_VAR_database_name": "ccds", "TF_VAR_database_password": PASSWORD}
    # Reading it left no trace on disk: no log or file under the deployment's state names it.
    for f in dep.root.rglob("*"):
        if f.is_file() and f.name != "terraform.tfstate":  # terraform's own state holds outputs
            assert PASSWORD.encode() not in f.read_bytes(), f
    # Outputs that end up in ccds's results and reports leave sensitive values out.
    from ccds_cli.tf.runner import Terraform

    tf = Terraform(ws, dep.logs_dir / ws.name)
    assert "database_password" not in tf.output()
    assert tf.output()["endpoints"]["control"]["database_user"] == "doadmin"
    assert tf.output(sensitive=True)["database_password"] == PASSWORD
