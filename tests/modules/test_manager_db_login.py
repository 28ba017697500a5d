"""The managers' database login for real: the exact `ccds-sm` script ccds renders, run against a
real PostgreSQL that demands TLS and a password (scram-sha-256), like the clouds' databases.

The control workspace is rendered by the real CLI; the managers' user_data is filled the way the
cloud module fills it (the login a cloud generated: a password full of characters a shell or URL
would mangle), cloud-init's part is done by hand (the b64 files decoded into place), and the
`ccds-sm` heredoc runs under `sh` with only its paths moved into a temp dir. It must start
`ccds sm serve` on that database through PGPASSWORD and a URL without a password.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest
import yaml
from test_rendered_database_host import EXAMPLE, _render

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sm"))
from sm_pg import PgServer, free_port  # noqa: E402

pytestmark = pytest.mark.slow

USER = "doadmin"
DATABASE = "ccds"
PASSWORD = "p@ss:w/rd 'x' \"y\" $(id) `z` ?&#%\\"  # what a cloud may generate


def _secure(pg: PgServer, base: Path) -> None:
    """Give the trust-auth test server a login with a password, TLS, and password-only access."""
    with psycopg.connect(host="127.0.0.1", port=pg.port, user="ccds", dbname="postgres", autocommit=True) as conn:
        conn.execute("SET password_encryption = 'scram-sha-256'")
        conn.execute(psycopg.sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
            psycopg.sql.Identifier(USER), psycopg.sql.Literal(PASSWORD)))
        conn.execute(psycopg.sql.SQL("CREATE DATABASE {} OWNER {}").format(
            psycopg.sql.Identifier(DATABASE), psycopg.sql.Identifier(USER)))
    openssl = shutil.which("openssl")
    assert openssl, "openssl is needed for the server certificate"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-keyout", str(pg.data / "server.key"), "-out", str(pg.data / "server.crt")],
                   check=True, capture_output=True, timeout=60)
    (pg.data / "pg_hba.conf").write_text("local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\n")
    with open(pg.data / "postgresql.conf", "a") as conf:
        conf.write("ssl = on\n")
    os.chmod(pg.data / "server.key", 0o600)
    if pg._user is not None:
        for name in ("server.key", "server.crt", "pg_hba.conf"):
            os.chown(pg.data / name, pg._user.pw_uid, pg._user.pw_gid)
    pg._run(pg.pg_ctl, "-D", str(pg.data), "reload")
    time.sleep(1)  # the postmaster re-reads its files asynchronously


def _manager_script(tmp_path: Path, host: str, port: int) -> tuple[str, dict[str, bytes]]:
    """The rendered `ccds-sm` script and the files cloud-init would write, with the primary's
    placeholders filled as its cloud module fills them."""
    spec = yaml.safe_load(EXAMPLE.read_text())
    spec["control"]["placement"] = ["do-main/fra1", "gcp-main/us-central1"]
    spec["control"].pop("instance_type", None)
    rendered = {w["workspace"]: w for w in _render(spec, tmp_path)}
    doc = json.loads((Path(rendered["control.do-main.fra1"]["path"]) / "main.tf.json").read_text())
    user_data = doc["module"]["control"]["pools"]["manager"]["user_data"]
    secrets = "admin_token=adm\nnode_key=nk\n"  # a manager's share (ccds_cli/state/secrets.py)
    for placeholder, value in {
        "@@CCDS_SECRETS_B64@@": base64.b64encode(secrets.encode()).decode(),
        "@@CCDS_DATABASE_HOST@@": host, "@@CCDS_DATABASE_PORT@@": str(port),
        "@@CCDS_DATABASE_USER@@": USER, "@@CCDS_DATABASE_NAME@@": DATABASE,
        "@@CCDS_DATABASE_PASSWORD_B64@@": base64.b64encode(PASSWORD.encode()).decode(),
    }.items():
        user_data = user_data.replace(placeholder, value)
    user_data = user_data.replace("$${", "${").replace("%%{", "%{")  # Terraform's template unescaping
    assert "@@CCDS_" not in user_data and "${" not in user_data
    cloud = yaml.safe_load(user_data)
    files = {f["path"]: (base64.b64decode(f["content"]) if f.get("encoding") == "b64" else f["content"].encode())
             for f in cloud["write_files"]}
    bootstrap = files["/usr/local/sbin/ccds-bootstrap"].decode()
    script = re.search(r"^cat > /usr/local/sbin/ccds-sm <<'SM'\n(.*?)^SM$", bootstrap, re.M | re.S).group(1)
    return script, files


def _wait_health(base: str, proc: subprocess.Popen, timeout: float = 60) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"ccds sm serve exited with {proc.returncode}")
        try:
            return httpx.get(f"{base}/api/v1/health", timeout=2).json()
        except httpx.HTTPError:
            time.sleep(0.3)
    raise AssertionError(f"{base} never became healthy")


def test_rendered_manager_script_logs_in_with_pgpassword(tmp_path):
    pg = PgServer(tmp_path / "pg")
    if not pg.available:
        pytest.skip("initdb/pg_ctl not on PATH")
    pg.start()
    proc = None
    try:
        _secure(pg, tmp_path)
        (tmp_path / "render").mkdir()
        script, files = _manager_script(tmp_path / "render", "127.0.0.1", pg.port)
        url = re.search(r'--database-url "([^"]+)"', script).group(1)
        assert url == f"postgresql+psycopg://{USER}@127.0.0.1:{pg.port}/{DATABASE}?sslmode=require"
        assert PASSWORD not in script  # the password is only in the 0600 file
        etc = tmp_path / "etc"
        etc.mkdir()
        for path in ("/etc/ccds/node.env", "/etc/ccds/db-password"):
            (etc / Path(path).name).write_bytes(files[path])
        assert files["/etc/ccds/db-password"].decode() == PASSWORD

        # The URL alone, through the stream manager's own engine: libpq takes PGPASSWORD, TLS is on.
        from ccds_cli.sm.store import make_engine

        os.environ["PGPASSWORD"] = PASSWORD
        try:
            engine = make_engine(url)
            assert engine.url.password is None  # SQLAlchemy passes no (empty) password over PGPASSWORD
            with engine.connect() as conn:
                who = conn.exec_driver_sql("SELECT current_user, current_database()").one()
                ssl = conn.exec_driver_sql("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").scalar()
            engine.dispose()
            assert tuple(who) == (USER, DATABASE) and ssl is True
            os.environ["PGPASSWORD"] = "wrong"
            with pytest.raises(Exception, match="password authentication failed"):
                with make_engine(url).connect():
                    pass
        finally:
            os.environ.pop("PGPASSWORD", None)

        # The whole script, as systemd would run it.
        ccds = tmp_path / "ccds"
        ccds.write_text(f'#!/bin/sh\nexec {sys.executable} -m ccds_cli "$@"\n')
        ccds.chmod(0o755)
        api = free_port()
        script = (script.replace("/etc/ccds/", f"{etc}/").replace("/opt/ccds/bin/ccds", str(ccds))
                  .replace("--host 0.0.0.0 --port 8080", f"--host 127.0.0.1 --port {api}"))
        assert f"--port {api}" in script
        (tmp_path / "ccds-sm").write_text(script)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
        with open(tmp_path / "sm.log", "w") as log:
            proc = subprocess.Popen(["sh", str(tmp_path / "ccds-sm")], env=env, stdout=log, stderr=subprocess.STDOUT)
        health = _wait_health(f"http://127.0.0.1:{api}", proc)
        assert health, health
        # It migrated its schema into the database, as the login the cloud generated.
        with psycopg.connect(host="127.0.0.1", port=pg.port, user=USER, dbname=DATABASE, password=PASSWORD,
                             sslmode="require") as conn:
            owners = {r[0] for r in conn.execute("SELECT tableowner FROM pg_tables WHERE schemaname = 'public'")}
        assert owners == {USER}
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        pg.stop()
