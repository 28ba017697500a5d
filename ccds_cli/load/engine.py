"""The load run: publishers, a ramp of viewers, a watchdog, a bounded hold, a report.

See the package docstring (`ccds_cli.load`) for the API; `sync.py` wraps it for synchronous callers.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import secrets
import shutil
import time
from dataclasses import dataclass

from ccds_cli.errors import BadInput, CcdsError, MissingTool, Unhealthy
from ccds_cli.load import report as reports
from ccds_cli.load.manager import AsyncManager, Refused, Unreachable
from ccds_cli.load.publisher import Publisher, PublishError
from ccds_cli.load.report import LoadProgress, LoadReport
from ccds_cli.load.viewer import ACTIVE, DROPPED, REFUSED_BY_EDGE, Viewer

MAX_VIEWERS = 20_000      # one process, one core: measured 1,170-1,440 viewers per core at 1.5 Mbit/s
MAX_PUBLISHERS = 50       # each is an ffmpeg encoding a test pattern
MAX_RAMP = 2_000.0        # viewers started per second
MAX_DURATION = 86_400.0   # seconds
HOLD_LIMIT = 3_600.0      # a LoadRun/hold_viewers ends by itself after this long unless told otherwise
STREAM_NAME_MAX = 100
WATCH_INTERVAL = 0.5
HLS_CONNECTIONS = 64      # HTTP connections all HLS fallback viewers of a run share


@dataclass
class LoadOptions:
    """Timeouts and media settings (seconds, kbit/s). Defaults suit loopback and clouds alike."""

    connect_timeout: float = 5.0   # TCP + RTMP handshake + connect + play start
    media_timeout: float = 10.0    # subscribe answer -> first frame, else `no_media`
    drop_after: float = 5.0        # no media for this long after the first frame -> `dropped`
    live_timeout: float = 20.0     # a publisher must be on air at its origin within this
    http_timeout: float = 5.0      # each stream manager request
    bitrate_kbps: int = 1500       # publishers' test pattern (DOMAIN: ~1,500 kbps for wide audiences)
    size: str = "640x360"
    recv_buffer: int = 32768       # per viewer


def validate(*, viewers: int, publishers: int, ramp: float, duration: float, stream: str | None) -> None:
    """Raise BadInput (exit 2) for counts and times outside what one run may do."""
    if viewers < 1:
        raise BadInput(f"--viewers must be at least 1 (got {viewers})")
    if viewers > MAX_VIEWERS:
        raise BadInput(f"--viewers {viewers} is more than one load process holds (at most {MAX_VIEWERS:,})",
                       hint="run several `ccds load` processes, on several machines for real capacity tests")
    if not 0 <= publishers <= MAX_PUBLISHERS:
        raise BadInput(f"--publishers must be between 0 and {MAX_PUBLISHERS} (got {publishers})")
    if not 0 < ramp <= MAX_RAMP:
        raise BadInput(f"--ramp must be above 0 and at most {MAX_RAMP:g} viewers per second (got {ramp:g})")
    if not 0 < duration <= MAX_DURATION:
        raise BadInput(f"--duration must be above 0 and at most {MAX_DURATION:g} s (got {duration:g})")
    if publishers == 0 and not stream:
        raise BadInput("nothing to watch: --publishers 0 needs --stream NAME of a live stream")
    if stream is not None:
        split_stream(stream)


def split_stream(stream: str, app: str = "live") -> tuple[str, str]:
    """`name` or `app/name`, each a stream manager name ([A-Za-z0-9][A-Za-z0-9._-]*)."""
    from ccds_cli.sm.routing import NAME_RE

    if "/" in stream:
        app, stream = stream.split("/", 1)
    for part in (app, stream):
        if not NAME_RE.match(part) or len(part) > STREAM_NAME_MAX:
            raise BadInput(f"--stream: {part!r} is not a valid name",
                           hint="letters, digits, '.', '_' and '-', starting with a letter or digit")
    return app, stream


def _open_files(viewers: int) -> None:
    """Each viewer holds a socket: raise the soft limit toward the hard one, or say why not."""
    need = viewers + 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return
    if hard != resource.RLIM_INFINITY and hard < need:
        raise BadInput(f"{viewers} viewers need about {need} open files; this process may open {hard}",
                       hint="raise it (ulimit -n) or run fewer viewers per process")
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


class LoadRun:
    """Publishers and viewers against one stream manager, held until `stop()`.

    Use as `async with LoadRun(...) as run:` or call `start()` / `stop()`. It ends by itself after
    `max_seconds` (the watchdog stops it; `expired` becomes true)."""

    def __init__(self, manager_url: str, token: str | None = None, *, stream: str | None = None,
                 publishers: int = 1, region: str | None = None, lat: float | None = None,
                 lon: float | None = None, creds: dict | None = None, options: LoadOptions | None = None,
                 ffmpeg: str | None = None, max_seconds: float = HOLD_LIMIT):
        self.manager_url = manager_url.rstrip("/")
        self.token = token
        self.region, self.lat, self.lon, self.creds = region, lat, lon, creds or None
        self.options = options or LoadOptions()
        self.max_seconds = max_seconds
        if publishers == 0 and not stream:
            raise BadInput("nothing to watch: give the stream of a live stream or at least one publisher")
        app, base = split_stream(stream) if stream else ("live", f"ccds-load-{secrets.token_hex(4)}")
        names = [base] if publishers <= 1 else [f"{base}-{i + 1}" for i in range(publishers)]
        self.app, self.names = app, names
        self.publishers = [Publisher(app, n, kbps=self.options.bitrate_kbps, size=self.options.size)
                           for n in (names if publishers else [])]
        self.ffmpeg = ffmpeg
        self.viewers: list[Viewer] = []
        self.requested = 0  # viewers asked for so far (add_viewers)
        self.target = 0     # viewers the caller plans in all (progress shows started/target)
        self.manager: AsyncManager | None = None
        self.hls_http = None  # httpx.AsyncClient the viewers sent to HLS share (made with the first viewer)
        self.expired = False
        self.phase = "new"
        self._tasks: set[asyncio.Task] = set()
        self._ramps: set[asyncio.Task] = set()
        self._watchdog: asyncio.Task | None = None
        self._started = time.monotonic()
        self._deadline = self._started + max_seconds
        self._stopping = False
        self._report: LoadReport | None = None
        self._last = (self._started, 0)

    @property
    def streams(self) -> list[str]:
        return [f"{self.app}/{n}" for n in self.names]

    async def __aenter__(self) -> "LoadRun":
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, exc_type, exc, tb) -> None:  # noqa: ANN001
        await self.stop(interrupted=exc_type is not None)

    async def start(self) -> None:
        """Check the manager answers, start the publishers and wait until each is on air."""
        self.phase = "publishing" if self.publishers else "starting"
        self.manager = AsyncManager(self.manager_url, self.token, timeout=self.options.http_timeout)
        try:
            await self.manager.health()
        except (Unreachable, Refused) as exc:
            raise Unhealthy(f"the stream manager at {self.manager_url} does not answer: {exc}",
                            hint="is the deployment up? `ccds status FILE` shows it") from None
        self._watchdog = asyncio.create_task(self._watch())
        if self.publishers:
            ffmpeg = self.ffmpeg or shutil.which("ffmpeg")
            if not ffmpeg:
                raise MissingTool("ffmpeg is needed for synthetic publishers", hint="apt-get install ffmpeg")
            seconds = max(1.0, self._deadline - time.monotonic()) + 5
            results = await asyncio.gather(*(
                p.start(self.manager, ffmpeg, seconds=seconds, live_timeout=self.options.live_timeout,
                        region=self.region, lat=self.lat, lon=self.lon, creds=self.creds)
                for p in self.publishers), return_exceptions=True)
            errors = [r for r in results if isinstance(r, BaseException)]
            if errors:
                first = errors[0]
                if isinstance(first, PublishError):
                    cls = Unhealthy if first.refused else CcdsError
                    raise cls(first.message + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""))
                raise first
        self.phase = "ready"

    def add_viewers(self, count: int, ramp: float = 50.0) -> asyncio.Task:
        """Start `count` viewers at `ramp` per second; the task ends when the last one has started."""
        if self.manager is None or self._stopping:
            raise CcdsError("the load run is not started (or already stopped)")
        if len(self.viewers) + count > MAX_VIEWERS:
            raise BadInput(f"at most {MAX_VIEWERS:,} viewers per load run")
        if not 0 < ramp <= MAX_RAMP:
            raise BadInput(f"ramp must be above 0 and at most {MAX_RAMP:g} per second")
        _open_files(len(self.viewers) + count)
        self.requested += count
        task = asyncio.create_task(self._ramp(count, ramp))
        self._ramps.add(task)
        task.add_done_callback(self._ramps.discard)
        return task

    async def _ramp(self, count: int, rate: float) -> None:
        t0 = time.monotonic()
        self.phase = "ramping"
        for i in range(count):
            if self._stopping:
                return
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            elif i % 50 == 0:
                await asyncio.sleep(0)
            self._spawn()
        if not self._ramps - {asyncio.current_task()}:
            self.phase = "holding"

    def _spawn(self) -> None:
        v = Viewer(len(self.viewers), self.app, self.names[len(self.viewers) % len(self.names)])
        self.viewers.append(v)
        task = asyncio.create_task(self._viewer(v))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _hls(self):
        """The pooled HTTP client HLS viewers share (playlists and segments)."""
        if self.hls_http is None:
            import httpx

            self.hls_http = httpx.AsyncClient(timeout=httpx.Timeout(self.options.http_timeout, pool=60.0),
                                              limits=httpx.Limits(max_connections=HLS_CONNECTIONS,
                                                                  max_keepalive_connections=HLS_CONNECTIONS))
        return self.hls_http

    async def _viewer(self, v: Viewer) -> None:
        o = self.options
        try:
            await v.run(self.manager, region=self.region, lat=self.lat, lon=self.lon, creds=self.creds,
                        connect_timeout=o.connect_timeout, recv_buffer=o.recv_buffer, http=self._hls())
        except asyncio.CancelledError:
            v.end("cancelled")
            raise
        except Exception as exc:  # a bug in the client must count against the run, not kill it
            v.fail(DROPPED if v.received_media else REFUSED_BY_EDGE, f"load client error: {exc!r}")

    async def _watch(self) -> None:
        o = self.options
        while not self._stopping:
            await asyncio.sleep(WATCH_INTERVAL)
            now = time.monotonic()
            for v in self.viewers:
                if v.state in ("joining", "playing"):
                    v.check(now, o.media_timeout, o.drop_after)
            for p in self.publishers:
                p.check()
            if now >= self._deadline:
                self.expired = True
                for task in self._ramps:
                    task.cancel()

    def settled(self) -> bool:
        """No ramp running and no viewer still subscribing, connecting or waiting for its first frame."""
        return not self._ramps and not any(v.state in ACTIVE[:3] for v in self.viewers)

    async def wait_settled(self, timeout: float | None = None) -> bool:
        """Wait until `settled()` (True) or the timeout / the run's end (False)."""
        end = time.monotonic() + (timeout if timeout is not None else self.max_seconds)
        while not self.settled():
            if time.monotonic() >= end or self.expired or self._stopping:
                return False
            await asyncio.sleep(0.1)
        return True

    def remove_viewers(self, count: int) -> int:
        """Stop the `count` most recently started playing viewers (state `released`); how many were."""
        removed = 0
        for v in reversed(self.viewers):
            if removed >= count:
                break
            if v.state == "playing":
                v.end("released")
                removed += 1
        return removed

    def snapshot(self) -> LoadProgress:
        now = time.monotonic()
        total = sum(v.wire_bytes for v in self.viewers)
        then, before = self._last
        self._last = (now, total)
        mbps = (total - before) * 8 / 1e6 / (now - then) if now > then else 0.0
        return reports.progress(self.viewers, elapsed=now - self._started, phase=self.phase,
                                requested=max(self.requested, self.target), mbps=mbps, bytes_received=total)

    async def stop(self, *, interrupted: bool = False, requested: dict | None = None,
                   note: str | None = None) -> LoadReport:
        """Viewers leave, publishers stop (by PID), the report is built. Idempotent."""
        if self._report is not None:
            return self._report
        self._stopping = True
        self.phase = "stopping"
        for task in list(self._ramps):
            task.cancel()
        nodes = None
        if self.manager is not None and any(v.edge for v in self.viewers):
            nodes = await self.manager.nodes()  # the manager's own counts, before the viewers leave
        for v in self.viewers:
            v.end("held")
        if self._tasks:
            _, pending = await asyncio.wait(list(self._tasks), timeout=3)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=2)
        await asyncio.gather(*(p.stop() for p in self.publishers), return_exceptions=True)
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
        if self.manager is not None:
            await self.manager.close()
        if self.hls_http is not None:
            await self.hls_http.aclose()
        if self.expired and note is None:
            note = f"stopped at its time limit ({self.max_seconds:g} s)"
        self._report = reports.build(
            self.viewers, manager=self.manager_url, streams=self.streams, interrupted=interrupted,
            elapsed=time.monotonic() - self._started,
            requested=requested or {"viewers": self.requested, "publishers": len(self.publishers),
                                    "region": self.region, "lat": self.lat, "lon": self.lon},
            publishers=[p.as_dict() for p in self.publishers], manager_nodes=nodes, note=note)
        return self._report


async def run_load(manager_url: str, token: str | None = None, *, viewers: int, publishers: int = 1,
                   ramp: float = 50.0, duration: float = 30.0, stream: str | None = None,
                   region: str | None = None, lat: float | None = None, lon: float | None = None,
                   creds: dict | None = None, on_progress=None, stop: asyncio.Event | None = None,
                   options: LoadOptions | None = None, progress_interval: float = 1.0) -> LoadReport:
    """Publish, ramp `viewers` up at `ramp`/s, hold them `duration` s after the ramp, report.

    Bounded: it ends by itself after about live_timeout + viewers/ramp + duration + media_timeout
    seconds; setting `stop` ends it early (the report then says `interrupted`)."""
    validate(viewers=viewers, publishers=publishers, ramp=ramp, duration=duration, stream=stream)
    o = options or LoadOptions()
    stop = stop or asyncio.Event()
    bound = o.live_timeout + viewers / ramp + duration + o.media_timeout + 30
    run = LoadRun(manager_url, token, stream=stream, publishers=publishers, region=region, lat=lat, lon=lon,
                  creds=creds, options=o, max_seconds=bound)
    requested = {"viewers": viewers, "publishers": publishers, "ramp": ramp, "duration": duration,
                 "region": region, "lat": lat, "lon": lon}
    run.phase, run.target = ("publishing" if publishers else "starting"), viewers
    if on_progress:
        on_progress(run.snapshot())
    try:
        interrupted = await _until(run.start(), stop)
    except BaseException:
        await run.stop(requested=requested)
        raise
    hold_until = None
    try:
        if not interrupted:
            ramping = run.add_viewers(viewers, ramp)
            while True:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), progress_interval)
                if stop.is_set():
                    interrupted = True
                    break
                if on_progress:
                    on_progress(run.snapshot())
                if run.expired:
                    break
                if ramping.done():
                    now = time.monotonic()
                    hold_until = hold_until or now + duration
                    if now >= hold_until and (run.settled() or now >= hold_until + o.media_timeout):
                        break
    finally:
        report = await run.stop(interrupted=bool(interrupted), requested=requested)
    return report


async def _until(start, stop: asyncio.Event) -> bool:
    """Run `start` unless `stop` is set first; True when interrupted. Errors propagate after cleanup."""
    start_task = asyncio.ensure_future(start)
    stop_task = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait({start_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop_task.cancel()
    if start_task in done:
        start_task.result()  # raises what start raised
        return False
    start_task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await start_task
    return True
