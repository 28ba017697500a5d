"""Async PostgreSQL connections for the subscribe path, so a round trip never blocks the event loop.

Handing each subscribe to a worker thread costs more than the query itself (the GIL hand-off):
with psycopg's async connections the event loop keeps parsing other requests while PostgreSQL
answers. A handful of autocommit connections per event loop, opened on demand; a connection that
broke is dropped and the request answered 503 + Retry-After like any lost database connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, AsyncIterator

import sqlalchemy as sa

from ccds_cli.sm.store import DatabaseUnavailable


class AsyncPgPool:
    def __init__(self, database_url: str, size: int = 8, connect_timeout: int = 5):
        url = sa.engine.make_url(database_url).set(drivername="postgresql")
        self.conninfo = url.render_as_string(hide_password=False)
        self.size = size
        self.connect_timeout = connect_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle: list[Any] = []
        self._open = 0
        self._freed: asyncio.Condition | None = None

    def _bind(self) -> None:
        """Connections belong to the loop that opened them; a new loop (tests) starts afresh."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._idle, self._open, self._freed = loop, [], 0, asyncio.Condition()

    @contextlib.asynccontextmanager
    async def cursor(self) -> AsyncIterator[Any]:
        import psycopg

        self._bind()
        async with self._freed:
            await self._freed.wait_for(lambda: self._idle or self._open < self.size)
            conn = self._idle.pop() if self._idle else None
            if conn is None:
                self._open += 1
        healthy = True
        try:
            if conn is None or conn.closed:
                conn = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True,
                                                             connect_timeout=self.connect_timeout)
            async with conn.cursor() as cur:
                yield cur
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            healthy = False
            raise DatabaseUnavailable("database unavailable, retry") from exc
        finally:
            if not healthy and conn is not None:
                await conn.close()
            async with self._freed:
                if healthy and conn is not None and not conn.closed:
                    self._idle.append(conn)
                else:
                    self._open -= 1
                self._freed.notify()

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()
