"""Async PostgreSQL connections for the subscribe path, so a round trip never blocks the event loop.

Handing each subscribe to a worker thread costs more than the query itself (the GIL hand-off):
with psycopg's async connections the event loop keeps parsing other requests while PostgreSQL
answers. A handful of autocommit connections per event loop, opened on demand; a connection that
broke is dropped and the request answered 503 + Retry-After like any lost database connection.
Everything runs on one event loop, so the idle list needs no lock; only an exhausted pool waits.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any, AsyncIterator

import sqlalchemy as sa

from ccds_cli.sm.store import DatabaseUnavailable

# Reservations live seconds: a crash losing the last few hundred milliseconds of them costs nothing,
# while waiting for the WAL flush on every subscribe would cost a disk sync each (commits stay atomic).
_SESSION_SETUP = "SET synchronous_commit TO off"


class AsyncPgPool:
    def __init__(self, database_url: str, size: int = 8, connect_timeout: int = 5):
        url = sa.engine.make_url(database_url).set(drivername="postgresql")
        self.conninfo = url.render_as_string(hide_password=False)
        self.size = size
        self.connect_timeout = connect_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle: list[Any] = []
        self._open = 0
        self._waiters: deque[asyncio.Future] = deque()

    async def _acquire(self) -> Any | None:
        """An idle connection, or None with a slot reserved for opening one."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # connections belong to the loop that opened them (tests run several)
            self._loop, self._idle, self._open, self._waiters = loop, [], 0, deque()
        while True:
            if self._idle:
                return self._idle.pop()
            if self._open < self.size:
                self._open += 1
                return None
            waiter = loop.create_future()
            self._waiters.append(waiter)
            await waiter

    def _release(self, conn: Any | None) -> None:
        if conn is not None and not conn.closed:
            self._idle.append(conn)
        else:
            self._open -= 1
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                break

    @contextlib.asynccontextmanager
    async def cursor(self) -> AsyncIterator[Any]:
        import psycopg

        conn = await self._acquire()
        try:
            if conn is None:
                conn = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True,
                                                             connect_timeout=self.connect_timeout)
                await conn.execute(_SESSION_SETUP)
            async with conn.cursor() as cur:
                yield cur
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            if conn is not None:
                await conn.close()
            raise DatabaseUnavailable("database unavailable, retry") from exc
        finally:
            self._release(conn)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()
