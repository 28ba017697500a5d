"""Leader election and the background work only one manager may do (fault detection, purges).

PostgreSQL: the leader holds a session advisory lock on a dedicated connection. If its process
dies, the server drops the connection and the lock with it, and a follower's next poll (every
`leader_poll` seconds) takes over. The leader checks its connection every tick and steps down when
it is gone, so two leaders never run side by side for longer than one poll. SQLite: one process,
always the leader. The leader also advertises itself in the `leases` table for `/health`.
"""

from __future__ import annotations

import collections.abc
import logging
import threading
import time

import sqlalchemy as sa

from ccds_cli.sm.pace import RECOUNT_S
from ccds_cli.sm.store import Store

log = logging.getLogger("ccds.sm.leader")
LEADER_LOCK_KEY = 0x43434C44  # "CCLD"


class Leader:
    def __init__(self, store: Store):
        self.store = store
        self.settings = store.settings
        self._is_leader = not store.postgres
        self._watchers: list[collections.abc.Callable[[bool], None]] = []
        self._conn: sa.Connection | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.faults_detected = 0
        self._counted_at = float("-inf")  # monotonic time of the last fleet count (beat pace)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ccds-leader", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._release()

    def _run(self) -> None:
        while not self._stop.wait(self.settings.leader_poll):
            try:
                self.tick()
            except Exception:  # the loop must survive database outages; the next tick retries
                log.exception("leader tick failed")

    def _release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass
            self._conn = None
        if self.store.postgres:
            self.is_leader = False

    def _try_lead(self) -> bool:
        """Take or confirm the advisory lock on our own connection."""
        if self._conn is None:
            self._conn = self.store.engine.connect()
            self._conn.execution_options(isolation_level="AUTOCOMMIT")
        if self.is_leader:
            self._conn.execute(sa.text("SELECT 1")).scalar_one()  # raises when the session is gone
            return True
        got = self._conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": LEADER_LOCK_KEY}).scalar_one()
        if got:
            log.warning("%s is now the leader", self.settings.instance_id)
        self.is_leader = bool(got)
        return self.is_leader

    def tick(self) -> None:
        """One round: (re)check leadership, then do the leader's work."""
        if self.store.postgres:
            try:
                if not self._try_lead():
                    self.store.load_pace()  # the leader's pace, so this process answers and judges the same
                    return
            except sa.exc.DBAPIError:
                log.warning("leader connection lost; stepping down")
                self._release()
                return
        self.store.renew_lease("leader", self.settings.instance_id, ttl=max(2.0, 4 * self.settings.leader_poll))
        if time.monotonic() - self._counted_at >= RECOUNT_S:
            self._counted_at = time.monotonic()
            before, pace = self.store.pace.interval, self.store.adjust_pace()
            if pace.interval != before:
                log.warning("%d nodes beating: asking agents for a beat every %s (max %g beats/s); fault timeout %g s",
                            pace.nodes, f"{pace.interval:g} s" if pace.interval else "their own interval",
                            self.settings.max_beat_rate, self.store.fault_timeout())
        self.faults_detected += len(self.store.detect_faults())
        self.store.purge_reservations()
        self.store.checkpoint()

    @property
    def is_leader(self) -> bool:
        return self._is_leader

    @is_leader.setter
    def is_leader(self, value: bool) -> None:
        changed, self._is_leader = value != self._is_leader, value
        if changed:
            for watcher in self._watchers:
                watcher(value)

    def watch(self, watcher: collections.abc.Callable[[bool], None]) -> None:
        """Call `watcher(is_leader)` now and whenever leadership changes (the workers' leader gauge)."""
        self._watchers.append(watcher)
        watcher(self._is_leader)
