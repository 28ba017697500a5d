"""The controller's persistent state: `.ccds/<name>/operate.db` (SQLite).

* `blocklist`: placements an automatic failover left (placement, region, reason, since, until, by).
  Entries expire at `until`; `unblock` clears one early. `ccds up` and `ccds failover` read
  `blocked_placements(root)`.
* `memory`: the policy's memory (cooldowns, drains, replacement history, paused pools, unhealthy
  clocks) as one JSON document, so a restarted controller decides as the old one would have.
* `controllers`: every controller process that ran here, with its role (active / standby /
  stopped), last round, pending action and lease; `controller_status(root)` summarises it for
  `ccds status`.

Each call opens its own short connection (like the ledger), so a killed controller never leaves
the file in a bad state and `ccds status` can read it while a controller writes.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

FILENAME = "operate.db"
SCHEMA = """
CREATE TABLE IF NOT EXISTS blocklist (
    placement TEXT PRIMARY KEY, region TEXT NOT NULL, reason TEXT NOT NULL,
    since REAL NOT NULL, until REAL NOT NULL, by TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS memory (
    name TEXT PRIMARY KEY, value TEXT NOT NULL, updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS controllers (
    holder TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL, role TEXT NOT NULL,
    started REAL NOT NULL, last_round REAL, interval REAL NOT NULL, pending TEXT,
    lease_until REAL, last_error TEXT, last_actions TEXT
);
"""


def iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="seconds")


def _connect(root: Path) -> sqlite3.Connection:
    path = Path(root) / FILENAME
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=30)
    db.row_factory = sqlite3.Row
    db.executescript(SCHEMA)
    return db


def _exists(root: Path) -> bool:
    return (Path(root) / FILENAME).is_file()


# --- block list -------------------------------------------------------------------------------

def block(root: Path, placement: str, region: str, reason: str, until: float, *, by: str = "",
          now: float | None = None) -> dict[str, Any]:
    """Put `placement` on the block list until `until` (a later entry replaces an earlier one)."""
    now = time.time() if now is None else now
    with closing(_connect(root)) as db, db:
        db.execute("INSERT OR REPLACE INTO blocklist (placement, region, reason, since, until, by) "
                   "VALUES (?,?,?,?,?,?)", (placement, region, reason[:500], now, until, by))
    return {"placement": placement, "region": region, "reason": reason, "since": now, "until": until, "by": by}


def unblock(root: Path, placement: str) -> bool:
    """Clear a block-list entry; False when there was none (expired entries count as none)."""
    if not _exists(root):
        return False
    with closing(_connect(root)) as db, db:
        live = db.execute("SELECT 1 FROM blocklist WHERE placement = ? AND until > ?",
                          (placement, time.time())).fetchone()
        db.execute("DELETE FROM blocklist WHERE placement = ?", (placement,))
    return live is not None


def blocked_placements(root: Path, now: float | None = None) -> dict[str, dict[str, Any]]:
    """{placement: {region, reason, since, until, by}} of the entries still in force at `now`."""
    if not _exists(root):
        return {}
    now = time.time() if now is None else now
    with closing(_connect(root)) as db:
        rows = db.execute("SELECT * FROM blocklist WHERE until > ? ORDER BY since", (now,)).fetchall()
    return {r["placement"]: {"region": r["region"], "reason": r["reason"], "since": r["since"],
                             "until": r["until"], "by": r["by"]} for r in rows}


def block_list(root: Path, now: float | None = None) -> list[dict[str, Any]]:
    """The entries in force, for display: with ISO times."""
    return [{"placement": p, **e, "since_iso": iso(e["since"]), "until_iso": iso(e["until"])}
            for p, e in blocked_placements(root, now).items()]


# --- memory -----------------------------------------------------------------------------------

def load_memory(root: Path, name: str = "policy") -> dict[str, Any]:
    if not _exists(root):
        return {}
    with closing(_connect(root)) as db:
        row = db.execute("SELECT value FROM memory WHERE name = ?", (name,)).fetchone()
    return json.loads(row["value"]) if row else {}


def save_memory(root: Path, value: dict[str, Any], name: str = "policy") -> None:
    with closing(_connect(root)) as db, db:
        db.execute("INSERT OR REPLACE INTO memory (name, value, updated) VALUES (?,?,?)",
                   (name, json.dumps(value, sort_keys=True), time.time()))


# --- shared with other runners (ccds_cli/state/shared.py: operate.json) ----------------------

# A controller shares its state with other runners when its block list or memory changed, and at
# least this often (its last round, for `ccds status` elsewhere).
SHARE_EVERY = 30.0

_CONTROLLER_COLUMNS = ("host", "pid", "role", "started", "last_round", "interval", "pending", "lease_until",
                       "last_error", "last_actions")


def export_shared(root: Path) -> dict[str, Any]:
    """The block list, the memory and the controllers as one JSON document."""
    if not _exists(root):
        return {}
    with closing(_connect(root)) as db:
        blocks = {r["placement"]: {"region": r["region"], "reason": r["reason"], "since": r["since"],
                                   "until": r["until"], "by": r["by"]}
                  for r in db.execute("SELECT * FROM blocklist")}
        memory = {r["name"]: json.loads(r["value"]) for r in db.execute("SELECT name, value FROM memory")}
        controllers = {r["holder"]: {c: r[c] for c in _CONTROLLER_COLUMNS}
                       for r in db.execute("SELECT * FROM controllers")}
    data = {"blocklist": blocks, "memory": memory, "controllers": controllers}
    return {k: v for k, v in data.items() if v}


def import_shared(root: Path, data: dict[str, Any]) -> None:
    """Make the local tables what `data` (a merged operate.json) says."""
    def table(key: str) -> dict[str, Any]:
        value = data.get(key) or {}
        return value if isinstance(value, dict) else {}

    now = time.time()
    with closing(_connect(root)) as db, db:
        db.execute("DELETE FROM blocklist")
        for placement, e in table("blocklist").items():
            db.execute("INSERT INTO blocklist (placement, region, reason, since, until, by) VALUES (?,?,?,?,?,?)",
                       (str(placement), str(e.get("region", "")), str(e.get("reason", ""))[:500],
                        float(e.get("since") or 0), float(e.get("until") or 0), str(e.get("by") or "")))
        db.execute("DELETE FROM memory")
        for name, value in table("memory").items():
            db.execute("INSERT INTO memory (name, value, updated) VALUES (?,?,?)",
                       (str(name), json.dumps(value, sort_keys=True), now))
        db.execute("DELETE FROM controllers")
        for holder, r in table("controllers").items():
            db.execute(f"INSERT INTO controllers (holder, {', '.join(_CONTROLLER_COLUMNS)}) "
                       f"VALUES (?{', ?' * len(_CONTROLLER_COLUMNS)})",
                       (str(holder), *(r.get(c) for c in _CONTROLLER_COLUMNS)))


# --- controllers ------------------------------------------------------------------------------

def note_controller(root: Path, holder: str, *, role: str, interval: float, started: float,
                    last_round: float | None = None, pending: str | None = None,
                    lease_until: float | None = None, last_error: str | None = None,
                    last_actions: list[str] | None = None) -> None:
    with closing(_connect(root)) as db, db:
        db.execute(
            "INSERT OR REPLACE INTO controllers (holder, host, pid, role, started, last_round, interval, pending, "
            "lease_until, last_error, last_actions) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (holder, socket.gethostname(), os.getpid(), role, started, last_round, interval, pending,
             lease_until, last_error, json.dumps(last_actions or [])))
        # keep the table small: forget controllers stopped more than a day ago
        db.execute("DELETE FROM controllers WHERE role = 'stopped' AND coalesce(last_round, started) < ?",
                   (time.time() - 86400,))


def set_pending(root: Path, holder: str, pending: str | None) -> None:
    with closing(_connect(root)) as db, db:
        db.execute("UPDATE controllers SET pending = ? WHERE holder = ?", (pending, holder))


def _pid_alive(host: str, pid: int) -> bool | None:
    if host != socket.gethostname():
        return None  # cannot tell from here
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def controller_status(root: Path, now: float | None = None) -> dict[str, Any]:
    """For `ccds status`: is a controller acting (alive, last round, pending action), who stands by,
    which pools are paused and what is blocked."""
    from ccds_cli.operate.model import Memory
    from ccds_cli.operate.policy import paused_pools

    now = time.time() if now is None else now
    rows: list[dict[str, Any]] = []
    if _exists(root):
        with closing(_connect(root)) as db:
            rows = [dict(r) for r in db.execute("SELECT * FROM controllers ORDER BY started")]

    def view(r: dict[str, Any]) -> dict[str, Any]:
        seen = r["last_round"] or r["started"]
        # a controller on another machine is known from what it shares, at least every SHARE_EVERY
        late = SHARE_EVERY if r["host"] != socket.gethostname() else 0.0
        fresh = now - seen <= max(3 * r["interval"], 15) + late
        pid_ok = _pid_alive(r["host"], r["pid"])
        alive = r["role"] != "stopped" and fresh and pid_ok is not False
        return {"holder": r["holder"], "host": r["host"], "pid": r["pid"], "role": r["role"], "alive": alive,
                "started": iso(r["started"]), "last_round": iso(r["last_round"]),
                "seconds_since_round": None if r["last_round"] is None else round(now - r["last_round"], 1),
                "interval": r["interval"], "pending_action": r["pending"], "lease_until": iso(r["lease_until"]),
                "last_error": r["last_error"], "last_actions": json.loads(r["last_actions"] or "[]")}

    views = [view(r) for r in rows]
    active = [v for v in views if v["role"] == "active" and v["alive"]]
    memory = Memory.from_dict(load_memory(root))
    return {
        "alive": bool(active),
        "active": active[-1] if active else None,
        "standby": [v for v in views if v["role"] == "standby" and v["alive"]],
        "last_round": (active[-1]["last_round"] if active else
                       max((v["last_round"] for v in views if v["last_round"]), default=None)),
        "pending_action": active[-1]["pending_action"] if active else None,
        "paused_pools": paused_pools(memory),
        "block_list": block_list(root, now),
        "controllers": views,
    }
