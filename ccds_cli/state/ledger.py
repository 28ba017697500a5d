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
import uuid
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


# Shared with other runners (ccds_cli/state/shared.py, `ledger.json`): the newest operations, each with
# its newest events, so `ccds events` on a laptop shows what a controller on a VM decided.
SHARED_OPERATIONS = 50
SHARED_EVENTS = 50
_OP_COLUMNS = ("command", "user", "host", "started", "finished", "spec_sha256", "args", "result", "error")
_WS_COLUMNS = ("workspace", "kind", "stage", "cloud", "result", "duration", "added", "changed", "destroyed",
               "attempts", "error", "log")


class Ledger:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db, db:
            db.executescript(SCHEMA)
            if "origin" not in {r["name"] for r in db.execute("PRAGMA table_info(operations)")}:
                # an operation another runner recorded: its uid there (`<that ledger's id>:<operation id>`)
                db.execute("ALTER TABLE operations ADD COLUMN origin TEXT")
            db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('ledger_id', ?)", (uuid.uuid4().hex,))
            self.ledger_id = db.execute("SELECT value FROM meta WHERE key = 'ledger_id'").fetchone()[0]

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

    def export_shared(self) -> dict[str, Any]:
        """{uid: operation} of the newest operations (ours and those other runners shared)."""
        out: dict[str, Any] = {}
        with closing(self._connect()) as db:
            rows = db.execute("SELECT * FROM operations ORDER BY started DESC, id DESC LIMIT ?",
                              (SHARED_OPERATIONS,)).fetchall()
            for r in rows:
                uid = r["origin"] or f"{self.ledger_id}:{r['id']}"
                op = {c: r[c] for c in _OP_COLUMNS}
                op["workspaces"] = [dict(w) for w in db.execute(
                    f"SELECT {', '.join(_WS_COLUMNS)} FROM workspace_results WHERE operation_id = ? "
                    "ORDER BY stage, workspace", (r["id"],))]
                events = db.execute("SELECT at, workspace, kind, message FROM events WHERE operation_id = ? "
                                    "ORDER BY id DESC LIMIT ?", (r["id"], SHARED_EVENTS)).fetchall()
                op["events"] = [dict(e) for e in reversed(events)]
                out[uid] = op
        return out

    def import_shared(self, data: dict[str, Any]) -> None:
        """Record the operations other runners shared (ours are left as they are)."""
        with closing(self._connect()) as db, db:
            mine = {f"{self.ledger_id}:{r['id']}" for r in db.execute("SELECT id FROM operations WHERE origin IS NULL")}
            known = {r["origin"]: r["id"] for r in db.execute(
                "SELECT id, origin FROM operations WHERE origin IS NOT NULL")}
            for uid, op in data.items():
                if uid in mine or not isinstance(op, dict):
                    continue
                values = tuple(None if op.get(c) is None else str(op.get(c)) for c in _OP_COLUMNS)
                if values[0] is None or values[3] is None:
                    raise ValueError(f"operation {uid!r} without command or start")
                if uid in known:
                    op_id = known[uid]
                    db.execute(f"UPDATE operations SET {', '.join(f'{c} = ?' for c in _OP_COLUMNS)} WHERE id = ?",
                               (*values, op_id))
                    db.execute("DELETE FROM events WHERE operation_id = ?", (op_id,))
                    db.execute("DELETE FROM workspace_results WHERE operation_id = ?", (op_id,))
                else:
                    op_id = db.execute(f"INSERT INTO operations ({', '.join(_OP_COLUMNS)}, origin) "
                                       f"VALUES ({', '.join('?' * len(_OP_COLUMNS))}, ?)", (*values, uid)).lastrowid
                for w in op.get("workspaces") or []:
                    db.execute(f"INSERT OR REPLACE INTO workspace_results (operation_id, {', '.join(_WS_COLUMNS)}) "
                               f"VALUES (?{', ?' * len(_WS_COLUMNS)})", (op_id, *(w.get(c) for c in _WS_COLUMNS)))
                for e in op.get("events") or []:
                    db.execute("INSERT INTO events (operation_id, at, workspace, kind, message) VALUES (?,?,?,?,?)",
                               (op_id, str(e["at"]), e.get("workspace"), str(e["kind"]), str(e["message"])))

    def operations(self, limit: int = 20) -> list[dict[str, Any]]:
        """Newest first, each with its workspaces and events (other runners' too, once shared)."""
        with closing(self._connect()) as db:
            ops = [dict(row) for row in db.execute("SELECT * FROM operations ORDER BY started DESC, id DESC LIMIT ?",
                                                   (limit,))]
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
