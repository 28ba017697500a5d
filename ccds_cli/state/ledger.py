"""The ledger: a SQLite record of every operation on a deployment (`.ccds/<name>/ledger.db`).

Who ran what, when, against which spec (sha256), how it ended, and per workspace the result,
duration, resource counts and errors; plus notable events (retries, broken locks,
interruptions). `ccds events` reads it. Each call opens its own connection, so worker threads
and a crashed earlier run never leave it in a bad state.
"""

from __future__ import annotations

import json
import socket
import sqlite3
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from ccds_cli.state.lock import current_user

SCHEMA = """
CREATE TABLE IF NOT EXISTS operations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    command TEXT NOT NULL, user TEXT NOT NULL, host TEXT NOT NULL,
    started TEXT NOT NULL, finished TEXT, spec_sha256 TEXT, args TEXT,
    result TEXT NOT NULL DEFAULT 'running', error TEXT
);
CREATE TABLE IF NOT EXISTS workspace_results (
    operation_id INTEGER NOT NULL REFERENCES operations(id), workspace TEXT NOT NULL,
    kind TEXT, stage INTEGER, cloud TEXT, result TEXT NOT NULL, duration REAL,
    added INTEGER, changed INTEGER, destroyed INTEGER, attempts INTEGER, error TEXT, log TEXT,
    PRIMARY KEY (operation_id, workspace)
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, operation_id INTEGER REFERENCES operations(id),
    at TEXT NOT NULL, workspace TEXT, kind TEXT NOT NULL, message TEXT NOT NULL
);
"""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Ledger:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db, db:
            db.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30)
        db.row_factory = sqlite3.Row
        return db

    def begin(self, command: str, spec_sha256: str | None, args: dict[str, Any] | None = None) -> int:
        with closing(self._connect()) as db, db:
            cur = db.execute(
                "INSERT INTO operations (command, user, host, started, spec_sha256, args) VALUES (?,?,?,?,?,?)",
                (command, current_user(), socket.gethostname(), _now(), spec_sha256,
                 json.dumps(args or {}, default=str, sort_keys=True)))
            return int(cur.lastrowid)

    def event(self, operation_id: int | None, kind: str, message: str, workspace: str | None = None) -> None:
        with closing(self._connect()) as db, db:
            db.execute("INSERT INTO events (operation_id, at, workspace, kind, message) VALUES (?,?,?,?,?)",
                       (operation_id, _now(), workspace, kind, message))

    def record_workspaces(self, operation_id: int, results: Iterable[Any]) -> None:
        """Store WorkspaceResult-like objects (or dicts) and their retries as events."""
        with closing(self._connect()) as db, db:
            for r in results:
                r = r.as_dict() if hasattr(r, "as_dict") else dict(r)
                changes = r.get("changes") or {}
                db.execute(
                    "INSERT OR REPLACE INTO workspace_results VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (operation_id, r["name"], r.get("kind"), r.get("stage"), r.get("cloud"), r.get("result", "?"),
                     r.get("duration"), changes.get("add", 0), changes.get("change", 0),
                     changes.get("destroy", 0), r.get("attempts"), r.get("error"), r.get("log")))
                for message in r.get("retries") or []:
                    db.execute("INSERT INTO events (operation_id, at, workspace, kind, message) VALUES (?,?,?,?,?)",
                               (operation_id, _now(), r["name"], "retry", message))

    def finish(self, operation_id: int, result: str, error: str | None = None) -> None:
        with closing(self._connect()) as db, db:
            db.execute("UPDATE operations SET finished = ?, result = ?, error = ? WHERE id = ?",
                       (_now(), result, error, operation_id))

    def operations(self, limit: int = 20) -> list[dict[str, Any]]:
        """Newest first, each with its workspaces and events."""
        with closing(self._connect()) as db:
            ops = [dict(row) for row in db.execute("SELECT * FROM operations ORDER BY id DESC LIMIT ?", (limit,))]
            for op in ops:
                op["args"] = json.loads(op["args"] or "{}")
                op["workspaces"] = [dict(r) for r in db.execute(
                    "SELECT workspace, kind, stage, cloud, result, duration, added, changed, destroyed, attempts, "
                    "error, log FROM workspace_results WHERE operation_id = ? ORDER BY stage, workspace",
                    (op["id"],))]
                op["events"] = [dict(r) for r in db.execute(
                    "SELECT at, workspace, kind, message FROM events WHERE operation_id = ? ORDER BY id",
                    (op["id"],))]
        return ops
