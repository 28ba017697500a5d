"""The stream manager serves the wheel it runs from, with its sha256; the nodes' real install lines
fetch it from a real `ccds sm serve` on 127.0.0.1, check it and pip-install it into a fresh venv,
where ccds rebuilds the very same bytes (the fixpoint that makes "the wheel it runs from" exact)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
import zipfile
from io import BytesIO
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from ccds_cli.nodepkg import source, wheel

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
    s = Settings(database_url=f"sqlite:///{tmp_path}/sm.db", admin_token="a", node_key="n", run_background=False)
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
    s = Settings(database_url=f"sqlite:///{tmp_path}/sm.db", admin_token="a", node_key="n", run_background=False)
    with TestClient(create_app(s)) as client:
        resp = client.get("/api/v1/dist/SHA256SUMS")
        assert resp.status_code == 503 and "no ccds dist-info" in resp.json()["detail"]
        client.app.state.store.close()


@pytest.fixture
def manager(tmp_path):
    from tests.modules.tfhelp import free_port

    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "CCDS_ADMIN_TOKEN": "a", "CCDS_NODE_KEY": "n"}
    log = open(tmp_path / "sm.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "ccds_cli", "sm", "serve", "--port", str(port),
                             "--database-url", f"sqlite:///{tmp_path}/sm.db"], env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        end = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/api/v1/health", timeout=2).raise_for_status()
                break
            except httpx.HTTPError:
                assert proc.poll() is None and time.monotonic() < end, (tmp_path / "sm.log").read_text()
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _sh(script: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """Run install lines as cloud-init would (sh -eu), offline: no dependency is fetched (--no-deps)."""
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    clean.update(PIP_NO_DEPS="1", PIP_NO_INDEX="1", **env)
    return subprocess.run(["sh", "-euc", script], cwd=tmp_path, env=clean, capture_output=True, text=True, timeout=180)


def _built_in(venv: Path) -> str:
    """The sha256 of the wheel ccds builds from inside that venv (its own install, not this checkout)."""
    proc = subprocess.run([str(venv / "bin" / "python"), "-c",
                           "from ccds_cli.nodepkg import wheel; import ccds_cli; "
                           "print(wheel.current().sha256, ccds_cli.__file__)"],
                          capture_output=True, text=True, timeout=60, cwd=venv,  # not this checkout's cwd
                          env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert proc.returncode == 0, proc.stderr
    sha, where = proc.stdout.split()
    assert where.startswith(str(venv)), where
    return sha


@pytest.mark.slow
def test_node_install_lines_against_a_real_manager(manager, tmp_path):
    built = wheel.current()
    venv, dist = tmp_path / "node-venv", tmp_path / "dist"
    proc = _sh(source.node_install_script(None, venv=str(venv), dist_dir=str(dist), attempts=3), tmp_path,
               CCDS_MANAGER_URL=manager)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (dist / built.filename).read_bytes() == built.data
    assert _built_in(venv) == built.sha256  # the node now runs, and would serve, this very build


@pytest.mark.slow
def test_node_refuses_a_wheel_that_does_not_match_its_hash(tmp_path):
    """A manager (or anything between) that serves other bytes than the hash it publishes."""
    from loopindex import LoopIndex

    built = wheel.current()
    fake = LoopIndex()
    try:
        fake.files["SHA256SUMS"] = f"{built.sha256}  {built.filename}\n".encode()
        fake.files[built.filename] = built.data[:-1] + b"x"
        script = source.node_install_script(None, venv=str(tmp_path / "v"), dist_dir=str(tmp_path / "d"), attempts=2)
        proc = _sh(script.replace(source.DIST_PATH, "/files"), tmp_path, CCDS_MANAGER_URL=fake.url)
        assert proc.returncode != 0 and "FAILED" in proc.stdout + proc.stderr
        assert not (tmp_path / "v").exists()  # nothing installed

        fake.files["SHA256SUMS"] = f"{built.sha256}  $(touch x).whl\n".encode()  # a hostile name
        proc = _sh(script.replace(source.DIST_PATH, "/files"), tmp_path, CCDS_MANAGER_URL=fake.url)
        assert proc.returncode != 0 and "bad wheel name" in proc.stderr and not (tmp_path / "x").exists()
    finally:
        fake.close()


@pytest.mark.slow
def test_manager_install_lines_from_a_wheel_url(manager, tmp_path):
    """A stream manager's own install (install.wheel_url + sha256), here from another manager's URL."""
    built = wheel.current()
    src = source.ManagerSource("install.wheel_url", wheel_url=f"{manager}/api/v1/dist/{built.filename}",
                               sha256=built.sha256)
    venv = tmp_path / "sm-venv"
    proc = _sh(source.manager_install_script(src, venv=str(venv), dist_dir=str(tmp_path / "dist")), tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _built_in(venv) == built.sha256

    bad = source.ManagerSource("install.wheel_url", wheel_url=src.wheel_url, sha256="0" * 64)
    proc = _sh(source.manager_install_script(bad, venv=str(tmp_path / "v2"), dist_dir=str(tmp_path / "d2")), tmp_path)
    assert proc.returncode != 0 and "FAILED" in proc.stdout + proc.stderr
    assert not list((tmp_path / "v2").rglob("ccds_cli"))  # the venv exists, ccds was never installed


@pytest.mark.slow
def test_rebuild_of_the_real_wheel_is_this_build(tmp_path):
    """The wheel hatchling builds from this checkout (what would be published) and the wheel ccds
    rebuilds from the running files hold the same package files: so a published release passes the
    managers' "is it this build" check for anyone running it. Only METADATA may differ, when the
    editable install's metadata is older than pyproject.toml."""
    import importlib.metadata
    import importlib.util
    import json

    args = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)]
    if importlib.util.find_spec("hatchling") is not None:
        args.insert(4, "--no-build-isolation")
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        pytest.skip(f"cannot build the wheel here (hatchling unavailable?): {proc.stderr[-300:]}")
    real = next(tmp_path.glob("ccds-*.whl")).read_bytes()
    diff = wheel.differences(wheel.current(), wheel.rebuild(real), limit=50)
    direct = json.loads(importlib.metadata.distribution("ccds").read_text("direct_url.json") or "{}")
    stale_ok = {"ccds-0.1.0.dist-info/METADATA"} if direct.get("dir_info", {}).get("editable") else set()
    assert set(diff) <= stale_ok, diff
