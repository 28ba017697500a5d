"""A throwaway PostgreSQL server for tests: initdb + pg_ctl in a temp dir on a free loopback port.

PostgreSQL refuses to run as root, so under root the server runs as the `postgres` account.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    def __init__(self, base: Path):
        self.base = base
        self.data = base / "data"
        self.port = free_port()
        self.initdb = shutil.which("initdb")
        self.pg_ctl = shutil.which("pg_ctl")
        self._user = None
        if os.geteuid() == 0:
            self._user = pwd.getpwnam("postgres")

    @property
    def available(self) -> bool:
        return bool(self.initdb and self.pg_ctl)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://ccds@127.0.0.1:{self.port}/postgres"

    def _open_parents(self) -> None:
        """Let the postgres account traverse to its data dir (pytest keeps resetting its base to 0700)."""
        for parent in self.base.parents:
            if parent == Path("/"):
                break
            os.chmod(parent, os.stat(parent).st_mode | 0o011)

    def _run(self, *args: str, timeout: float = 60) -> None:
        if self._user is not None:
            self._open_parents()
        def demote():
            if self._user is not None:
                os.setgid(self._user.pw_gid)
                os.setuid(self._user.pw_uid)

        proc = subprocess.run(args, timeout=timeout, preexec_fn=demote, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, cwd="/", text=True)
        if proc.returncode:
            raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")

    def start(self) -> "PgServer":
        """Create the cluster on first start; a later start (after `stop`) reuses its data and port."""
        self.base.mkdir(parents=True, exist_ok=True)
        if self._user is not None:
            os.chown(self.base, self._user.pw_uid, self._user.pw_gid)
        if not (self.data / "PG_VERSION").exists():
            self._run(self.initdb, "-D", str(self.data), "-U", "ccds", "--auth=trust", "-E", "UTF8", "--no-sync")
        opts = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100"
        self._run(self.pg_ctl, "-D", str(self.data), "-o", opts, "-l", str(self.base / "pg.log"), "-w", "-t", "30",
                  "start")
        return self

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "-t", "30", "stop")

    def new_database(self, prefix: str = "t") -> str:
        """A fresh, empty database on this server; its SQLAlchemy URL."""
        import uuid

        import psycopg

        name = f"{prefix}{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url.rsplit("/", 1)[0] + f"/{name}"


def pg_server_fixture():
    """A session fixture: one PostgreSQL server per test session (skipped where initdb is missing)."""
    import pytest

    @pytest.fixture(scope="session")
    def pg_server(tmp_path_factory):
        pg = PgServer(tmp_path_factory.mktemp("pg"))
        if not pg.available:
            pytest.skip("initdb/pg_ctl not on PATH")
        pg.start()
        yield pg
        pg.stop()

    return pg_server
