"""Async PostgreSQL connections for the subscribe path, so a round trip never blocks the event loop.

Handing each subscribe to a worker thread costs more than the query itself (the GIL hand-off);
on an async connection the event loop keeps parsing other requests while PostgreSQL answers.
asyncpg rather than psycopg's async mode here: measured, psycopg's async machinery cost about 0.3 ms
of CPU per statement on top of the query, asyncpg's far less. A handful of autocommit connections per
event loop, opened on demand; a connection that broke is dropped and the request answered
503 + Retry-After like any lost database connection. Everything runs on one event loop, so the idle
list needs no lock; only an exhausted pool waits.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from typing import Any

import sqlalchemy as sa

from ccds_cli.sm.routing import NAMED_PARAM
from ccds_cli.sm.store import DatabaseUnavailable

# Reservations live seconds: a crash losing the last few hundred milliseconds of them costs nothing,
# while waiting for the WAL flush on every subscribe would cost a disk sync each (commits stay atomic).
_SERVER_SETTINGS = {"synchronous_commit": "off"}


def _positional(sql: str) -> tuple[str, tuple[str, ...]]:
    """`:name` parameters -> asyncpg's `$n`, and the names in order."""
    names: list[str] = []

    def number(m: re.Match) -> str:
        if m.group(1) not in names:
            names.append(m.group(1))
        return f"${names.index(m.group(1)) + 1}"

    return NAMED_PARAM.sub(number, sql), tuple(names)


class AsyncPgPool:
    def __init__(self, database_url: str, size: int = 8, connect_timeout: float = 5):
        url = sa.engine.make_url(database_url).set(drivername="postgresql")
        self.dsn = url.render_as_string(hide_password=False)
        self.size = size
        self.connect_timeout = connect_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle: list[Any] = []
        self._open = 0
        self._waiters: deque[asyncio.Future] = deque()
        self._sql: dict[str, tuple[str, tuple[str, ...]]] = {}

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
        if conn is not None and not conn.is_closed():
            self._idle.append(conn)
        else:
            self._open -= 1
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                break

    async def fetch_one(self, sql: str, params: dict) -> Any:
        """The first row of `sql` (written with :name parameters) as a tuple, or None."""
        import asyncpg

        if sql not in self._sql:
            self._sql[sql] = _positional(sql)
        text, names = self._sql[sql]
        conn = await self._acquire()
        try:
            if conn is None:
                conn = await asyncpg.connect(self.dsn, timeout=self.connect_timeout,
                                             server_settings=_SERVER_SETTINGS)
            row = await conn.fetchrow(text, *(params[n] for n in names))
        except (OSError, asyncio.TimeoutError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
                asyncpg.CannotConnectNowError, asyncpg.AdminShutdownError) as exc:
            if conn is not None:
                conn.terminate()
            raise DatabaseUnavailable("database unavailable, retry") from exc
        finally:
            self._release(conn)
        return None if row is None else tuple(row)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()
