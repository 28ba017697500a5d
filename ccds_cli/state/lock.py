"""One mutating command per deployment: an O_EXCL lock file that names its holder.

The file holds JSON {user, host, pid, command, started}. A second command fails with exit 3
naming the holder. A lock whose pid is dead on this host is reported as stale and broken only
when the user asks (`--break-lock`), because the dead command may have left terraform children
that still finish their work.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from ccds_cli.errors import Locked


@dataclass
class LockInfo:
    user: str
    host: str
    pid: int
    command: str
    started: str

    def describe(self) -> str:
        return f"{self.command} by {self.user}@{self.host} (pid {self.pid}) since {self.started}"

    def is_stale(self) -> bool:
        """True only when we can tell: same host and that pid is gone."""
        if self.host != socket.gethostname():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False


def current_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers)
        return str(os.getuid())


class DeploymentLock:
    """Context manager around `.ccds/<name>/lock`."""

    def __init__(self, path: Path, command: str, *, break_lock: bool = False):
        self.path = Path(path)
        self.command = command
        self.break_lock = break_lock
        self.info: LockInfo | None = None
        self.broken: LockInfo | None = None  # the stale lock we broke, if any

    def read(self) -> LockInfo | None:
        try:
            data = json.loads(self.path.read_text())
            return LockInfo(**{k: data[k] for k in LockInfo.__dataclass_fields__})
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            return LockInfo(user="?", host="?", pid=-1, command="? (unreadable lock file)", started="?")

    def acquire(self) -> LockInfo:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        info = LockInfo(user=current_user(), host=socket.gethostname(), pid=os.getpid(), command=self.command,
                        started=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        for _ in range(2):  # at most: fail once on a stale lock we are allowed to break, then retry
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            except FileExistsError:
                holder = self.read()
                if holder is None:
                    continue  # released between our open and read
                stale = holder.is_stale() or holder.pid == -1
                if stale and self.break_lock:
                    self.broken = holder
                    self.path.unlink(missing_ok=True)
                    continue
                if stale:
                    raise Locked(f"deployment lock is stale: held by {holder.describe()}, which is no longer "
                                 f"running ({self.path})",
                                 hint="check that no terraform from that run is still working, then re-run "
                                      "with --break-lock")
                raise Locked(f"deployment is locked by {holder.describe()} ({self.path})",
                             hint="wait for that command to finish; if it crashed on another host, remove the "
                                  "lock file by hand")
            with os.fdopen(fd, "w") as fh:
                json.dump(asdict(info), fh)
            self.info = info
            return info
        raise Locked(f"could not take the deployment lock {self.path}")

    def release(self) -> None:
        if self.info is None:
            return
        holder = self.read()
        if holder is not None and holder.pid == self.info.pid and holder.host == self.info.host:
            self.path.unlink(missing_ok=True)
        self.info = None

    def __enter__(self) -> "DeploymentLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
