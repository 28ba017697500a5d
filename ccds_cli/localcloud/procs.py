"""Process bookkeeping for local nodes: detached spawns, PID identity, bounded stops, port checks.

A PID alone is not an identity: after a crash or reboot the number can belong to another program.
Every process we start is recorded with its kernel start time (Linux `/proc/<pid>/stat`), and we
only ever signal a PID whose start time still matches.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class Proc:
    """One supervised process of a node (`kind` is `nginx`, `agent` or `manager`)."""

    kind: str
    pid: int
    starttime: str  # "" where /proc is unavailable
    log: str

    def as_dict(self) -> dict:
        return asdict(self)


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (which may contain spaces)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rfind(")") + 2:].split()


def starttime(pid: int) -> str:
    fields = _stat_fields(pid)
    return fields[19] if fields and len(fields) > 19 else ""


def alive(proc: Proc) -> bool:
    """True while the recorded process runs (a zombie counts as gone: it holds no port)."""
    fields = _stat_fields(proc.pid)
    if fields is not None:
        return fields[0] != "Z" and (not proc.starttime or fields[19] == proc.starttime)
    if Path("/proc/self/stat").exists():
        return False  # Linux, and the PID is gone
    try:
        os.kill(proc.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def spawn(kind: str, argv: list[str], log: Path, cwd: Path, env: dict | None = None) -> Proc:
    """Start `argv` detached (own session, stdio on files) so it outlives us and Terraform.

    Terraform's local-exec waits for EOF on the command's output pipes; a child that inherited
    them would hang the apply, hence stdin from /dev/null and output to the node's log file.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out, open(os.devnull, "rb") as devnull:
        child = subprocess.Popen(argv, stdin=devnull, stdout=out, stderr=subprocess.STDOUT,
                                 cwd=str(cwd), env=env, start_new_session=True, close_fds=True)
    return Proc(kind=kind, pid=child.pid, starttime=starttime(child.pid), log=str(log))


def working_in(directory: Path) -> list[Proc]:
    """Processes whose working directory is `directory` (Linux /proc; elsewhere none).

    Every node process is spawned in its node's directory, so this finds one whose `start` was
    killed (Terraform SIGKILLs a local-exec on interrupt) between spawning it and recording it.
    Only group leaders (what `spawn` starts): their children, nginx workers say, go with them.
    """
    target = str(Path(directory).resolve())
    found = []
    for entry in Path("/proc").glob("[0-9]*") if Path("/proc/self/cwd").exists() else []:
        try:
            pid = int(entry.name)
            fields = _stat_fields(pid)
            if os.readlink(entry / "cwd") == target and pid != os.getpid() and fields and fields[2] == str(pid):
                found.append(Proc(kind="unrecorded", pid=pid, starttime=fields[19], log=""))
        except (OSError, ValueError):
            continue  # gone meanwhile, or not ours to read
    return found


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _wait_gone(check, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not check():
            return True
        time.sleep(0.05)
    return not check()


def terminate(proc: Proc, grace: float = 10.0) -> None:
    """SIGTERM, wait up to `grace` s, then SIGKILL; also reap its process group (nginx workers).

    Each spawned process leads its own session, so its PID is also its process-group id, and
    the kernel does not hand out that number again while any member of the group lives.
    """
    if alive(proc):
        try:
            os.kill(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        if not _wait_gone(lambda: alive(proc), grace):
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _wait_gone(lambda: alive(proc), 5.0)
    if _group_alive(proc.pid) and not _is_own_group(proc.pid):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _wait_gone(lambda: _group_has_live_members(proc.pid), 5.0)


def _is_own_group(pgid: int) -> bool:
    """Guard: never kill the group we ourselves belong to."""
    return os.getpgid(0) == pgid


def _group_has_live_members(pgid: int) -> bool:
    """Members of `pgid` that are not zombies (zombies wait for a parent that may never reap)."""
    proc_dir = Path("/proc")
    if not proc_dir.is_dir():
        return _group_alive(pgid)
    for entry in proc_dir.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields and len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether we could listen on host:port (nobody else holds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A loopback port nobody listens on now (the kernel's pick; taken again by our own child)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_ports(procs: list[Proc], ports: list[int], timeout: float) -> str | None:
    """Wait until every port accepts connections; None on success, else why not (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dead = [p for p in procs if not alive(p)]
        if dead:
            return f"{dead[0].kind} (pid {dead[0].pid}) exited during start-up"
        if all(port_open(p) for p in ports):
            return None
        time.sleep(0.1)
    closed = [p for p in ports if not port_open(p)]
    return f"port(s) {', '.join(map(str, closed))} not open after {timeout:g}s" if closed else None


def log_tail(path: str | Path, lines: int = 15) -> str:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
