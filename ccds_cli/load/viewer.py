"""One synthetic viewer: subscribe through the manager, play from the edge it names, count media.

A viewer's life: `subscribing` -> `connecting` (RTMP to the edge) -> `joining` (waiting for the
first frame) -> `playing`, and it ends as one of
  `held`      still playing when the run stopped (success),
  `released`  stopped early on purpose (`LoadRun.remove_viewers`),
  `fallback`  the manager answered with a fallback (e.g. HLS) instead of a real-time edge,
  `failed`    with a cause: refused_by_manager, refused_by_edge, no_media, dropped,
  `cancelled` the run stopped before this viewer had its answer or its first frame.
"""

from __future__ import annotations

import time

from ccds_cli.load.manager import AsyncManager, Refused, Unreachable
from ccds_cli.load.rtmp import RtmpError, RtmpPlayer

REFUSED_BY_MANAGER, REFUSED_BY_EDGE, NO_MEDIA, DROPPED = "refused_by_manager", "refused_by_edge", "no_media", "dropped"
CAUSES = (REFUSED_BY_MANAGER, REFUSED_BY_EDGE, NO_MEDIA, DROPPED)
ACTIVE = ("subscribing", "connecting", "joining", "playing")


class Viewer:
    __slots__ = ("id", "app", "stream", "state", "cause", "detail", "edge", "region", "url", "fallback",
                 "asked_at", "answered_at", "first_media_at", "ended_at", "player")

    def __init__(self, vid: int, app: str, stream: str):
        self.id, self.app, self.stream = vid, app, stream
        self.state = "subscribing"
        self.cause: str | None = None
        self.detail: str | None = None
        self.edge: str | None = None
        self.region: str | None = None
        self.url: str | None = None
        self.fallback: str | None = None
        self.asked_at = time.monotonic()
        self.answered_at: float | None = None
        self.first_media_at: float | None = None
        self.ended_at: float | None = None
        self.player: RtmpPlayer | None = None

    @property
    def join_ms(self) -> float | None:
        """Subscribe answer -> first audio/video frame."""
        if self.first_media_at is None or self.answered_at is None:
            return None
        return (self.first_media_at - self.answered_at) * 1000

    @property
    def received_media(self) -> bool:
        return self.first_media_at is not None

    @property
    def media_bytes(self) -> int:
        return self.player.stats.media_bytes if self.player else 0

    @property
    def wire_bytes(self) -> int:
        return self.player.stats.wire_bytes if self.player else 0

    def fail(self, cause: str, detail: str) -> None:
        if self.state in ACTIVE:
            self.state, self.cause, self.detail = "failed", cause, detail
            self.ended_at = time.monotonic()
        if self.player is not None:
            self.player.close(cause)

    def end(self, state: str) -> None:
        """Stop on purpose: `held` (run over), `released` or `cancelled`."""
        if self.state in ACTIVE:
            self.state = state if self.state == "playing" or state == "released" else "cancelled"
            self.ended_at = time.monotonic()
        if self.player is not None:
            self.player.close(state)

    def check(self, now: float, media_timeout: float, drop_after: float) -> None:
        """The watchdog's view: no first frame in time -> no_media; media stopped -> dropped."""
        p = self.player
        if p is None:
            return
        if self.state == "joining" and self.answered_at is not None and now - self.answered_at > media_timeout:
            self.fail(NO_MEDIA, f"no audio/video within {media_timeout:g} s of the subscribe answer")
        elif self.state == "playing" and p.stats.last_media is not None and now - p.stats.last_media > drop_after:
            stopped = p.stats.stream_stopped
            self.fail(DROPPED, f"no media for {drop_after:g} s" + (f" ({stopped})" if stopped else ""))

    async def run(self, manager: AsyncManager, *, region: str | None, lat: float | None, lon: float | None,
                  creds: dict | None, connect_timeout: float, recv_buffer: int) -> None:
        """Subscribe, connect, wait for media, then play until closed (by the run or by the edge)."""
        try:
            answer = await manager.subscribe(self.app, self.stream, region=region, lat=lat, lon=lon, creds=creds)
        except Refused as exc:
            return self.fail(REFUSED_BY_MANAGER, f"{exc.status} {exc.detail}")
        except Unreachable as exc:
            return self.fail(REFUSED_BY_MANAGER, f"no answer: {exc}")
        if self.state != "subscribing":  # the run stopped meanwhile
            return
        self.answered_at = time.monotonic()
        node = answer.get("node") or {}
        self.edge, self.region = node.get("name"), node.get("region")
        if answer.get("fallback"):
            self.fallback, self.state, self.ended_at = str(answer["fallback"]), "fallback", time.monotonic()
            return
        urls = answer.get("urls") or {}
        self.url = urls.get("rtmp")
        if not self.url:
            return self.fail(REFUSED_BY_EDGE, f"edge offers no rtmp URL ({', '.join(sorted(urls)) or 'none'})")
        self.state = "connecting"
        try:
            self.player = RtmpPlayer(self.url, recv_buffer=recv_buffer)
            await self.player.open(timeout=connect_timeout)
        except RtmpError as exc:
            return self.fail(REFUSED_BY_EDGE, exc.message)
        if self.state != "connecting":
            return
        self.state = "joining"
        try:
            self.first_media_at = await self.player.first_media
        except RtmpError as exc:  # closed before any media: by the edge, or by the watchdog (no_media)
            return self.fail(REFUSED_BY_EDGE, f"the edge closed the connection before any media ({exc.message})")
        if self.state == "joining":
            self.state = "playing"
        reason = await self.player.done
        self.fail(DROPPED, f"the edge ended the play: {reason}")  # no-op when we closed it ourselves
