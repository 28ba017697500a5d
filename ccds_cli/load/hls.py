"""A minimal HLS viewer for `ccds load` and `ccds probe`'s fallback: poll the playlist, fetch each new
segment, count its bytes (never keep them). Many viewers share one pooled `httpx.AsyncClient`.

Enough of RFC 8216 for live playback: a master playlist (`#EXT-X-STREAM-INF`) is followed to its first
variant, a media playlist gives `#EXT-X-TARGETDURATION` and segment URIs (relative ones resolved against
the playlist), `#EXT-X-ENDLIST` ends the play. The first look fetches only the newest segment, as a
player joining live does; then every segment that appears. The same surface as `rtmp.RtmpPlayer`
(`open`, `first_media`, `done`, `close`, `stats`), so a viewer plays either.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urljoin, urlsplit

import httpx

from ccds_cli.load.rtmp import PlayStats

MAX_PLAYLIST = 1 << 20      # bytes: a larger playlist is a broken (or hostile) server
MAX_SEGMENT = 64 << 20      # bytes read from one segment at most
MAX_VARIANT_HOPS = 2        # master -> media playlist (a master naming a master is broken)


class HlsError(Exception):
    """Why a play did not start: url, connect, rejected (HTTP status), protocol (not a playlist), timeout."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind, self.message = kind, message


def parse_playlist(text: str, base: str) -> tuple[str | None, float | None, list[str], bool]:
    """-> (variant URL when a master playlist, target duration, segment URLs, ended)."""
    if not text.startswith("#EXTM3U"):
        raise HlsError("protocol", "not an HLS playlist (no #EXTM3U)")
    lines = [line.strip() for line in text.splitlines()]
    target, segments, ended, variant_next = None, [], False, False
    for line in lines:
        if not line:
            continue
        if line.startswith("#EXT-X-STREAM-INF"):
            variant_next = True
        elif line.startswith("#EXT-X-TARGETDURATION:"):
            try:
                target = float(line.split(":", 1)[1])
            except ValueError:
                raise HlsError("protocol", f"bad {line[:60]!r}") from None
        elif line.startswith("#EXT-X-ENDLIST"):
            ended = True
        elif not line.startswith("#"):
            if variant_next:
                return urljoin(base, line), None, [], False
            segments.append(urljoin(base, line))
    return None, target, segments, ended


class HlsPlayer:
    """One HLS viewer. `http` is shared (its pool bounds the connections of all viewers)."""

    def __init__(self, url: str, http: httpx.AsyncClient):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise HlsError("url", f"not an http(s):// playlist URL: {url}")
        self.url = url
        self.http = http
        self.stats = PlayStats()
        self.segments = 0
        self.target = 2.0
        loop = asyncio.get_running_loop()
        self.first_media: asyncio.Future = loop.create_future()
        self.done: asyncio.Future = loop.create_future()
        self._task: asyncio.Task | None = None
        self._seen: set[str] = set()

    @property
    def min_drop_after(self) -> float:
        """Segments arrive a target duration apart: no new one in three of them is a stall."""
        return 3 * self.target

    async def _get_playlist(self, url: str) -> tuple[str, float | None, list[str], bool]:
        try:
            resp = await self.http.get(url)
        except httpx.HTTPError as exc:
            raise HlsError("connect", f"cannot fetch {url}: {type(exc).__name__} {exc}".rstrip()) from None
        self.stats.wire_bytes += len(resp.content)
        if resp.status_code != 200:
            raise HlsError("rejected", f"{url} answered {resp.status_code}")
        if len(resp.content) > MAX_PLAYLIST:
            raise HlsError("protocol", f"playlist of {len(resp.content)} bytes (at most {MAX_PLAYLIST})")
        for _ in range(MAX_VARIANT_HOPS):
            variant, target, segments, ended = parse_playlist(resp.text, url)
            if variant is None:
                return url, target, segments, ended
            url = variant
            try:
                resp = await self.http.get(url)
            except httpx.HTTPError as exc:
                raise HlsError("connect", f"cannot fetch {url}: {type(exc).__name__}") from None
            self.stats.wire_bytes += len(resp.content)
            if resp.status_code != 200 or len(resp.content) > MAX_PLAYLIST:
                raise HlsError("rejected", f"variant playlist {url} answered {resp.status_code}")
        raise HlsError("protocol", "master playlists nested too deep")

    async def _first_playlist(self) -> tuple[str, float | None, list[str], bool]:
        """A stream that just went live has no playlist until its first segment is cut: 404s are retried
        (the caller bounds the wait)."""
        while True:
            try:
                return await self._get_playlist(self.url)
            except HlsError as exc:
                self._last_error = exc
                if exc.kind != "rejected" or " answered 404" not in exc.message:
                    raise
            await asyncio.sleep(0.25)

    async def open(self, timeout: float) -> None:
        """Fetch the playlist (it must be one), then keep playing in the background."""
        self._last_error: HlsError | None = None
        try:
            url, target, segments, ended = await asyncio.wait_for(self._first_playlist(), timeout)
        except asyncio.TimeoutError:
            if self._last_error is not None:
                raise HlsError(self._last_error.kind, f"{self._last_error.message} for {timeout:g} s") from None
            raise HlsError("timeout", f"no playlist from {self.url} within {timeout:g} s") from None
        self.url = url
        self._task = asyncio.create_task(self._play(target, segments, ended))

    async def _fetch(self, url: str) -> None:
        n = 0
        try:
            async with self.http.stream("GET", url) as resp:
                if resp.status_code != 200:
                    return  # expired from the window meanwhile: the next one counts
                async for chunk in resp.aiter_raw():
                    n += len(chunk)
                    if n > MAX_SEGMENT:
                        break
        except httpx.HTTPError:
            return
        self.stats.wire_bytes += n
        if n == 0:
            return
        now = time.monotonic()
        self.stats.media_bytes += n
        self.segments += 1
        self.stats.last_media = now
        if self.stats.first_media is None:
            self.stats.first_media = now
            if not self.first_media.done():
                self.first_media.set_result(now)

    async def _play(self, target: float | None, segments: list[str], ended: bool) -> None:
        first = True
        try:
            while True:
                if target:
                    self.target = max(0.5, min(target, 30.0))
                fresh = [u for u in segments if u not in self._seen]
                if first:
                    fresh, first = fresh[-1:], False  # join at the live edge
                for u in fresh:
                    await self._fetch(u)
                self._seen = set(segments)  # the window slides: remember only what it still lists
                if ended:
                    return self._finish("the HLS stream ended (#EXT-X-ENDLIST)")
                await asyncio.sleep(self.target / 2)
                try:
                    _, target, segments, ended = await self._get_playlist(self.url)
                except HlsError:
                    segments, ended = [], False  # transient: a stall shows in the watchdog, not here
        except asyncio.CancelledError:
            pass

    def _finish(self, reason: str) -> None:
        if not self.first_media.done():
            self.first_media.set_exception(HlsError("closed", reason))
            self.first_media.exception()  # retrieved: nobody may be waiting
        if not self.done.done():
            self.done.set_result(reason)

    def close(self, reason: str = "closed") -> None:
        if self._task is not None and not self._task.done() and self._task is not asyncio.current_task():
            self._task.cancel()
        self._finish(reason)
