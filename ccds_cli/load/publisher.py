"""Synthetic publishers: ask the manager for an origin, push a test pattern there with ffmpeg.

The pattern is `testsrc2` + a sine tone, H.264 in constant bitrate (x264 `nal-hrd=cbr` pads to the
target) so that viewers receive a known bitrate, AAC audio, a key frame every second. ffmpeg runs
in its own session (a Ctrl-C in the terminal reaches ccds, which stops it by PID) and with `-t`, so
it ends by itself even if ccds is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import tempfile
import time
from dataclasses import dataclass, field

from ccds_cli.load.manager import AsyncManager, Refused, Unreachable
from ccds_cli.load.rtmp import RtmpError, RtmpPlayer

FPS = 25
AUDIO_KBPS = 64


def ffmpeg_argv(ffmpeg: str, url: str, *, kbps: int, size: str, seconds: float) -> list[str]:
    video = max(kbps - AUDIO_KBPS, 100)
    return [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-re",
            "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={FPS}",
            "-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=44100",
            "-t", f"{seconds:.0f}", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
            "-g", str(FPS), "-pix_fmt", "yuv420p", "-b:v", f"{video}k", "-minrate", f"{video}k",
            "-maxrate", f"{video}k", "-bufsize", f"{video}k", "-x264-params", "nal-hrd=cbr",
            "-c:a", "aac", "-b:a", f"{AUDIO_KBPS}k", "-f", "flv", url]


class PublishError(Exception):
    """A publisher could not start. `refused`: the manager said no or did not answer (the deployment
    is unhealthy); otherwise ffmpeg or the origin failed."""

    def __init__(self, message: str, refused: bool = False):
        super().__init__(message)
        self.message, self.refused = message, refused


@dataclass
class Publisher:
    app: str
    name: str
    kbps: int = 1500
    size: str = "640x360"
    origin: str | None = None
    region: str | None = None
    url: str | None = None
    state: str = "new"  # new | starting | live | ended | failed | stopped
    error: str | None = None
    live_after_ms: int | None = None
    pid: int | None = None
    _proc: asyncio.subprocess.Process | None = field(default=None, repr=False)
    _log: object = field(default=None, repr=False)

    @property
    def stream(self) -> str:
        return f"{self.app}/{self.name}"

    def as_dict(self) -> dict:
        return {"stream": self.stream, "origin": self.origin, "region": self.region, "url": self.url,
                "state": self.state, "kbps": self.kbps, "live_after_ms": self.live_after_ms, "error": self.error}

    async def start(self, manager: AsyncManager, ffmpeg: str, *, seconds: float, live_timeout: float,
                    region: str | None, lat: float | None, lon: float | None, creds: dict | None) -> None:
        """Publish through the manager, start ffmpeg, and return once the origin serves media."""
        started = time.monotonic()
        self.state = "starting"
        try:
            answer = await manager.publish(self.app, self.name, region=region, lat=lat, lon=lon, creds=creds)
        except Refused as exc:
            raise self._fail(f"the stream manager refused to publish {self.stream}: {exc.status} {exc.detail}",
                             refused=True) from None
        except Unreachable as exc:
            raise self._fail(f"the stream manager did not answer the publish of {self.stream}: {exc}",
                             refused=True) from None
        node = answer.get("node") or {}
        self.origin, self.region = node.get("name"), node.get("region")
        self.url = (answer.get("urls") or {}).get("rtmp")
        if not self.url:
            raise self._fail(f"origin {self.origin} offers no rtmp endpoint ({sorted(answer.get('urls') or {})})")
        self._log = tempfile.TemporaryFile()
        self._proc = await asyncio.create_subprocess_exec(
            *ffmpeg_argv(ffmpeg, self.url, kbps=self.kbps, size=self.size, seconds=seconds),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=self._log,
            start_new_session=True)
        self.pid = self._proc.pid
        await self._wait_live(started + live_timeout)
        self.live_after_ms = int((time.monotonic() - started) * 1000)
        self.state = "live"

    async def _wait_live(self, deadline: float) -> None:
        """Play the stream from the origin itself until a frame arrives: the publisher is really on air."""
        last = "no media"
        while time.monotonic() < deadline:
            if self._proc.returncode is not None:
                raise self._fail(f"ffmpeg publishing {self.stream} exited ({self._proc.returncode}): {self.log_tail()}")
            player = RtmpPlayer(self.url)
            try:
                await player.open(timeout=max(0.5, min(3.0, deadline - time.monotonic())))
                await asyncio.wait_for(asyncio.shield(player.first_media), max(0.1, deadline - time.monotonic()))
                return
            except (RtmpError, asyncio.TimeoutError) as exc:
                last = getattr(exc, "message", None) or "no media yet"
            finally:
                player.close("checked")
            await asyncio.sleep(0.3)
        raise self._fail(f"{self.stream} never came on air at {self.url} ({last}); ffmpeg: {self.log_tail() or '-'}")

    def _fail(self, message: str, refused: bool = False) -> PublishError:
        self.state, self.error = "failed", message
        return PublishError(message, refused)

    def check(self) -> None:
        """Notice an ffmpeg that ended on its own (the origin hung up, a crash)."""
        if self.state == "live" and self._proc is not None and self._proc.returncode is not None:
            self.state = "ended"
            self.error = f"ffmpeg exited ({self._proc.returncode}): {self.log_tail() or 'no message'}"

    def log_tail(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read()[-400:].decode(errors="replace").strip()

    async def stop(self) -> None:
        """SIGINT (ffmpeg closes the stream cleanly), then SIGKILL after 5 s; by PID only."""
        self.check()
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except asyncio.TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
            if self.state in ("live", "starting"):
                self.state = "stopped"
        if self._log is not None:
            self._log.close()
            self._log = None
