"""Progress a person can follow: a rich live table per workspace, or plain lines in CI.

The live view (stderr is a TTY and CI is not set) shows per workspace the phase, resources
done / planned, the resource being worked on and elapsed time. Otherwise we print timestamped
lines and, when nothing was printed for `keepalive` seconds, a keep-alive line naming what is
still running, so CI systems that kill silent jobs leave us alone.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ccds_cli.tf.events import Event


@dataclass
class WorkspaceView:
    name: str
    phase: str = "waiting"
    planned: int = 0
    done: int = 0
    current: str = ""
    started: float | None = None
    finished: float | None = None
    in_flight: list[str] = field(default_factory=list)

    def elapsed(self, now: float) -> float:
        if self.started is None:
            return 0.0
        return (self.finished or now) - self.started


class Progress:
    """Thread-safe progress sink; the orchestrator calls it from worker threads."""

    def __init__(self, console: Any, *, live: bool = False, keepalive: float = 30.0, title: str = ""):
        self.console = console
        self.live_mode = live
        self.keepalive = keepalive
        self.title = title
        self._views: dict[str, WorkspaceView] = {}
        self._lock = threading.RLock()
        self._last_print = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._live = None

    # -- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> "Progress":
        if self.live_mode:
            from rich.live import Live

            self._live = Live(self._renderable(), console=self.console, refresh_per_second=4, transient=False,
                              get_renderable=self._renderable)
            self._live.start()
        else:
            self._thread = threading.Thread(target=self._keepalive_loop, name="ccds-keepalive", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._live is not None:
            self._live.stop()

    # -- what the orchestrator reports ----------------------------------------------------------
    def add(self, name: str) -> None:
        with self._lock:
            self._views.setdefault(name, WorkspaceView(name))

    def phase(self, name: str, phase: str, *, planned: int | None = None) -> None:
        with self._lock:
            view = self._views.setdefault(name, WorkspaceView(name))
            if view.started is None and phase not in ("waiting", "skipped"):
                view.started = time.monotonic()
            view.phase = phase
            if planned is not None:
                view.planned, view.done = planned, 0
            if phase in ("ok", "failed", "skipped", "interrupted", "no changes"):
                view.finished = time.monotonic()
                view.current = ""
        self.line(f"{name}: {phase}" + (f" ({planned} resource changes planned)" if planned else ""))

    def event(self, name: str, event: Event) -> None:
        """Feed one terraform event for workspace `name`."""
        with self._lock:
            view = self._views.setdefault(name, WorkspaceView(name))
            if event.kind == "apply_start":
                view.in_flight.append(event.address)
                view.current = f"{event.action} {event.address}"
            elif event.kind in ("apply_complete", "apply_errored"):
                if event.address in view.in_flight:
                    view.in_flight.remove(event.address)
                view.current = view.in_flight[-1] if view.in_flight else ""
                if event.kind == "apply_complete":
                    view.done += 1
            elif event.kind == "planned_change" and view.phase.startswith("plan"):
                view.current = event.address
        if event.kind in ("apply_complete", "apply_errored"):
            self.line(f"{name}: {event.message}")
        elif event.diagnostic is not None and event.diagnostic.severity == "error":
            self.line(f"{name}: error: {event.diagnostic}")

    def line(self, message: str) -> None:
        """One timestamped line (printed above the table in live mode)."""
        stamp = datetime.now().strftime("%H:%M:%S")
        with self._lock:
            self._last_print = time.monotonic()
            self.console.print(f"{stamp} {message}", markup=False, highlight=False, soft_wrap=True)

    def snapshot(self) -> list[WorkspaceView]:
        with self._lock:
            return [WorkspaceView(**vars(v)) for v in self._views.values()]

    # -- rendering ------------------------------------------------------------------------------
    def _running_summary(self) -> str:
        now = time.monotonic()
        parts = []
        for v in self.snapshot():
            if v.started is not None and v.finished is None:
                what = f" {v.current}" if v.current else ""
                parts.append(f"{v.name} ({v.phase} {v.done}/{v.planned}{what}, {v.elapsed(now):.0f}s)")
        return ", ".join(parts)

    def _keepalive_loop(self) -> None:
        tick = max(0.05, min(1.0, self.keepalive / 4))
        while not self._stop.wait(tick):
            if time.monotonic() - self._last_print >= self.keepalive:
                running = self._running_summary()
                self.line("still working: " + (running or "waiting"))

    def _table(self):
        from ccds_cli.ui.table import Column, Table

        now = time.monotonic()
        table = Table(self.title, [Column("workspace"), Column("phase"), Column("resources"),
                                   Column("current", drop=1), Column("elapsed")])
        for v in self.snapshot():
            resources = f"{v.done}/{v.planned}" if v.planned else "-"
            table.add_row(v.name, v.phase, resources, v.current, f"{v.elapsed(now):.0f}s")
        return table

    def _renderable(self):
        return self._table().renderable(self.console)
