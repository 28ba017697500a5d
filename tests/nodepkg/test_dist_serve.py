"""The stream manager serves the wheel it runs from, with its sha256."""

from __future__ import annotations

import hashlib
import zipfile
from io import BytesIO
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ccds_cli.nodepkg import wheel

REPO = Path(__file__).resolve().parents[2]


def test_the_wheel_is_deterministic_and_a_fixpoint():
    built = wheel.current()
    again = wheel.build(*wheel.installed_content())
    assert again.data == built.data and again.sha256 == hashlib.sha256(built.data).hexdigest()
    assert wheel.rebuild(built.data).data == built.data
    names = zipfile.ZipFile(BytesIO(built.data)).namelist()
    assert names == sorted(n for n in names if ".dist-info/" not in n) + [n for n in names if ".dist-info/" in n]
    for needed in ("ccds_cli/cli.py", "ccds_cli/data/regions.yaml", "ccds_cli/modules/aws/variables.tf",
                   "ccds-0.1.0.dist-info/METADATA", "ccds-0.1.0.dist-info/entry_points.txt",
                   "ccds-0.1.0.dist-info/RECORD"):
        assert needed in names, needed
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or "/." in n]
    assert built.filename == "ccds-0.1.0-py3-none-any.whl" and wheel.WHEEL_NAME_RE.match(built.filename)


def test_manager_serves_its_wheel_and_hash(tmp_path):
    from ccds_cli.sm.app import create_app
    from ccds_cli.sm.settings import Settings

    built = wheel.current()
    s = Settings(database_url=f"sqlite:///{tmp_path}/sm.db", admin_token="a", node_token="n", run_background=False)
    with TestClient(create_app(s)) as client:
        info = client.get("/api/v1/dist").json()  # no credentials needed: public code, checked by hash
        assert info == {"filename": built.filename, "version": "0.1.0", "sha256": built.sha256, "size": built.size,
                        "url": f"/api/v1/dist/{built.filename}"}
        assert client.get("/api/v1/dist/SHA256SUMS").text == f"{built.sha256}  {built.filename}\n"
        got = client.get(info["url"])
        assert got.status_code == 200 and hashlib.sha256(got.content).hexdigest() == built.sha256
        assert got.headers["x-checksum-sha256"] == built.sha256
        assert client.get("/api/v1/dist/ccds-9.9-py3-none-any.whl").status_code == 404
        client.app.state.store.close()


def test_manager_that_cannot_build_answers_503(tmp_path, monkeypatch):
    from ccds_cli.sm.app import create_app
    from ccds_cli.sm.settings import Settings

    def broken():
        raise wheel.WheelError("no ccds dist-info")

    monkeypatch.setattr(wheel, "current", broken)
    s = Settings(database_url=f"sqlite:///{tmp_path}/sm.db", admin_token="a", node_token="n", run_background=False)
    with TestClient(create_app(s)) as client:
        resp = client.get("/api/v1/dist/SHA256SUMS")
        assert resp.status_code == 503 and "no ccds dist-info" in resp.json()["detail"]
        client.app.state.store.close()
