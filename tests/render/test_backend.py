"""The `terraform.backend` block each state backend renders (`ccds_cli/render.py backend_block`).

Applied for real in tests/engine/test_s3_state_e2e.py (s3 against moto) and
tests/e2e/test_local_pg_state.py (pg); here: what is written for every field, that nothing is
written for the fields left out (so earlier renders stay byte-identical), and hostile values.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from ccds_cli.render import backend_block
from ccds_cli.spec import load_spec
from tests.spec.speccli import EXAMPLES, assert_no_traceback, run_ccds


def _write(tmp_path: Path, state: dict) -> Path:
    data = yaml.safe_load((EXAMPLES / "two-aws-regions.yaml").read_text())
    data["state"] = state
    path = tmp_path / "ccds.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _spec(tmp_path: Path, state: dict):
    path = _write(tmp_path, state)
    return path, load_spec(path).spec


def test_s3_without_the_new_fields_renders_as_before(tmp_path):
    _, spec = _spec(tmp_path, {"backend": "s3", "bucket": "tfstate", "region": "us-east-1"})
    assert backend_block(spec, "aws-main.us-east-1") == {"s3": {
        "bucket": "tfstate", "key": f"ccds/{spec.name}/aws-main.us-east-1.tfstate", "region": "us-east-1",
        "encrypt": True, "use_lockfile": True}}


def test_s3_compatible_store(tmp_path):
    _, spec = _spec(tmp_path, {"backend": "s3", "bucket": "tfstate", "region": "rgw-default", "key_prefix": "team",
                               "endpoint": "https://rgw.internal:7480", "use_path_style": True,
                               "skip_s3_checksum": True, "use_lockfile": False})
    assert backend_block(spec, "control.aws-main.us-east-1")["s3"] == {
        "bucket": "tfstate", "key": f"team/{spec.name}/control.aws-main.us-east-1.tfstate", "region": "rgw-default",
        "encrypt": True, "use_lockfile": False, "endpoints": {"s3": "https://rgw.internal:7480"},
        "skip_credentials_validation": True, "skip_requesting_account_id": True, "skip_region_validation": True,
        "use_path_style": True, "skip_s3_checksum": True}


def test_backend_strings_are_escaped_for_terraform(tmp_path):
    """Terraform reads JSON strings as templates: `${…}` in a spec value stays literal text."""
    _, spec = _spec(tmp_path, {"backend": "s3", "bucket": "b${path.cwd}", "region": "us-east-1",
                               "key_prefix": "%{if true}x%{endif}"})
    block = backend_block(spec, "w")["s3"]
    assert block["bucket"] == "b$${path.cwd}" and block["key"].startswith("%%{if true}x%%{endif}/")
    _, spec = _spec(tmp_path, {"backend": "pg", "schema_prefix": "s${x}"})
    assert backend_block(spec, "w") == {"pg": {"schema_name": f"s$${{x}}_{spec.name.replace('-', '_')}_w"}}


def test_pg_renders_no_connection_string(tmp_path, monkeypatch):
    monkeypatch.setenv("CCDS_PG", "postgres://u:hunter2@db/ccds")
    path, _ = _spec(tmp_path, {"backend": "pg", "conn_str_env": "CCDS_PG"})
    proc = run_ccds(["render", str(path), "--out", str(tmp_path / "out"), "-o", "json"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    files = [p for p in (tmp_path / "out").rglob("main.tf.json")]
    assert files
    for f in files:
        backend = json.loads(f.read_text())["terraform"]["backend"]
        assert list(backend) == ["pg"] and list(backend["pg"]) == ["schema_name"]
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and b"hunter2" in p.read_bytes()]


def test_an_endpoint_with_credentials_is_refused_without_echoing_them(tmp_path):
    path = _write(tmp_path, {"backend": "s3", "bucket": "tfstate", "region": "us-east-1",
                             "endpoint": "https://admin:minio123@minio:9000"})
    proc = run_ccds(["validate", str(path)])
    assert proc.returncode == 2
    assert_no_traceback(proc)
    assert "state.endpoint" in proc.stderr and "may not carry credentials" in proc.stderr, proc.stderr
    assert "minio123" not in proc.stdout + proc.stderr
