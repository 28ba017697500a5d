"""Run a command as a person would at an 80-column terminal: in a pseudo-terminal of that size."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import termios
import time

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[()][0-9A-Za-z]|\x1b[=>]")


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text).replace("\r\n", "\n").replace("\r", "")


def run_pty(argv: list[str], env: dict[str, str], cwd, cols: int = 80, rows: int = 50,
            timeout: float = 120, on_output=None) -> tuple[int, str]:
    """(exit code, everything written to the terminal, ANSI stripped). stdin, stdout and stderr are
    the pty, as in an interactive shell. `on_output(text_so_far, proc)` is called as output arrives."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    env = {k: v for k, v in env.items() if k not in ("CI",)}
    env.update(COLUMNS=str(cols), LINES=str(rows), TERM="xterm-256color")
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
                            start_new_session=True)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            if time.monotonic() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                raise TimeoutError(f"{argv} still running after {timeout}s")
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the other side is closed
                    data = b""
                if not data:
                    break
                chunks.append(data)
                if on_output is not None:
                    on_output(strip_ansi(b"".join(chunks).decode(errors="replace")), proc)
            elif proc.poll() is not None:
                # drain what is left
                continue
    finally:
        os.close(master)
    code = proc.wait(timeout=30)
    return code, strip_ansi(b"".join(chunks).decode(errors="replace"))
