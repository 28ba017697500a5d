"""Synchronous ways to drive load: one run in a fresh event loop, or viewers held on a thread."""

from __future__ import annotations

import asyncio
import threading

from ccds_cli.load.engine import LoadRun, run_load
from ccds_cli.load.report import LoadProgress, LoadReport


def run_load_sync(manager_url: str, token: str | None = None, *, handle_signals: bool = False,
                  **kwargs) -> LoadReport:
    """`run_load` in a fresh event loop. With `handle_signals` (main thread only), SIGINT and SIGTERM
    stop the run cleanly and the report still comes back (`interrupted: true`); a second one aborts."""
    import signal

    async def main() -> LoadReport:
        stop = asyncio.Event()
        if handle_signals:
            loop = asyncio.get_running_loop()

            def first(sig: int) -> None:
                stop.set()
                loop.remove_signal_handler(sig)

            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, first, sig)
        return await run_load(manager_url, token, stop=stop, **kwargs)

    return asyncio.run(main())


class LoadHandle:
    """A LoadRun on its own event loop thread, for synchronous code (tests of autoscaling):

        with hold_viewers(url, token, viewers=300) as load:   # returns once all 300 play (or failed)
            load.snapshot().playing
            load.add(200); load.remove(100)
        load.report                                             # LoadReport after the block
    """

    def __init__(self, run: LoadRun):
        self.run = run
        self.report: LoadReport | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="ccds-load", daemon=True)
        self._thread.start()

    def _call(self, coro, timeout: float | None = None):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def start(self) -> "LoadHandle":
        try:
            self._call(self.run.start(), self.run.options.live_timeout * 2 + 30)
        except BaseException:
            self.stop()
            raise
        return self

    def add(self, count: int, ramp: float = 50.0, wait: bool = True) -> LoadProgress:
        """Start `count` more viewers; with `wait`, return once every viewer plays or has failed."""
        async def go() -> LoadProgress:
            task = self.run.add_viewers(count, ramp)
            if wait:
                await task
                await self.run.wait_settled(self.run.options.media_timeout + self.run.options.connect_timeout + 10)
            return self.run.snapshot()

        return self._call(go())

    def remove(self, count: int) -> int:
        async def go() -> int:
            return self.run.remove_viewers(count)

        return self._call(go())

    def snapshot(self) -> LoadProgress:
        async def go() -> LoadProgress:
            return self.run.snapshot()

        return self._call(go())

    def stop(self) -> LoadReport:
        if self.report is None:
            try:
                self.report = self._call(self.run.stop(), 60)
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(10)
        return self.report

    def __enter__(self) -> "LoadHandle":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def hold_viewers(manager_url: str, token: str | None = None, *, viewers: int = 0, ramp: float = 50.0,
                 **kwargs) -> LoadHandle:
    """Start publishers (kwargs as LoadRun's) and `viewers` viewers, and keep them until `stop()`."""
    handle = LoadHandle(LoadRun(manager_url, token, **kwargs)).start()
    if viewers:
        try:
            handle.add(viewers, ramp)
        except BaseException:
            handle.stop()
            raise
    return handle
