"""One synthetic viewer: subscribe through the manager, play from the edge it names, count media.

A viewer's life: `subscribing` -> `connecting` (RTMP to the edge) -> `joining` (waiting for the
first frame) -> `playing`, and it ends as one of
  `held`      still playing when the run stopped (success),
  `released`  stopped early on purpose (`LoadRun.remove_viewers`),
  `fallback`  the manager answered with a fallback it cannot play (none but HLS is known),
  `failed`    with a cause: refused_by_manager, refused_by_edge, no_media, dropped,
  `cancelled` the run stopped before this viewer had its answer or its first frame.
A `"fallback": "hls"` answer is played too (`ccds_cli.load.hls`): the viewer goes the same way with its
`fallback` set and `hls_node` naming the node that serves it (`edge` stays empty); no segment within
the media timeout is `no_media`, as for RTMP.
"""

from __future__ import annotations

import time

from ccds_cli.load.hls import HlsError, HlsPlayer
from ccds_cli.load.manager import AsyncManager, Refused, Unreachable
from ccds_cli.load.rtmp import RtmpError, RtmpPlayer

REFUSED_BY_MANAGER, REFUSED_BY_EDGE, NO_MEDIA, DROPPED = "refused_by_manager", "refused_by_edge", "no_media", "dropped"
CAUSES = (REFUSED_BY_MANAGER, REFUSED_BY_EDGE, NO_MEDIA, DROPPED)
ACTIVE = ("subscribing", "connecting", "joining", "playing")


class Viewer:
    __slots__ = ("id", "app", "stream", "state", "cause", "detail", "edge", "region", "url", "fallback", "hls_node",
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
        self.hls_node: str | None = None
        self.asked_at = time.monotonic()
        self.answered_at: float | None = None
        self.first_media_at: float | None = None
        self.ended_at: float | None = None
        self.player: RtmpPlayer | HlsPlayer | None = None

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
        elif self.state == "playing" and p.stats.last_media is not None:
            limit = max(drop_after, getattr(p, "min_drop_after", 0.0))  # HLS: segments come seconds apart
            if now - p.stats.last_media > limit:
                stopped = p.stats.stream_stopped
                self.fail(DROPPED, f"no media for {limit:g} s" + (f" ({stopped})" if stopped else ""))

    async def run(self, manager: AsyncManager, *, region: str | None, lat: float | None, lon: float | None,
                  creds: dict | None, connect_timeout: float, recv_buffer: int, http=None) -> None:
        """Subscribe, connect, wait for media, then play until closed (by the run or by the edge).
        `http` (an httpx.AsyncClient) plays an HLS fallback; without it the viewer ends as `fallback`."""
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
        urls = answer.get("urls") or {}
        if answer.get("fallback"):
            self.fallback, self.hls_node, self.edge = str(answer["fallback"]), self.edge, None
            if self.fallback != "hls" or http is None:
                self.state, self.ended_at = "fallback", time.monotonic()
                return
            self.url = urls.get("hls")
            if not self.url:
                return self.fail(REFUSED_BY_EDGE, f"HLS fallback without an hls URL ({', '.join(sorted(urls)) or 'none'})")
        else:
            self.url = urls.get("rtmp")
            if not self.url:
                return self.fail(REFUSED_BY_EDGE, f"edge offers no rtmp URL ({', '.join(sorted(urls)) or 'none'})")
        self.state = "connecting"
        try:
            self.player = HlsPlayer(self.url, http) if self.fallback else RtmpPlayer(self.url, recv_buffer=recv_buffer)
            await self.player.open(timeout=connect_timeout)
        except (RtmpError, HlsError) as exc:
            return self.fail(REFUSED_BY_EDGE, exc.message)
        if self.state != "connecting":
            return
        self.state = "joining"
        try:
            self.first_media_at = await self.player.first_media
        except (RtmpError, HlsError) as exc:  # closed before any media: by the edge, or by the watchdog (no_media)
            return self.fail(REFUSED_BY_EDGE, f"the edge closed the connection before any media ({exc.message})")
        if self.state == "joining":
            self.state = "playing"
        reason = await self.player.done
        self.fail(DROPPED, f"the edge ended the play: {reason}")  # no-op when we closed it ourselves
