"""`ccds probe`: one synthetic stream through the system, measured (core; the command only prints).

The publisher burns the wall clock into every frame: a 24-bit milliseconds counter drawn as 16x16
blocks in the top rows (and its inverse below, so a damaged frame is detected, not misread). The
player decodes those rows from raw frames as they arrive, so latency = arrival time - burned time,
on one machine's clock. Across machines the figure includes their clock offset (NTP keeps it small).
"""

from __future__ import annotations

import secrets
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field

import httpx

from ccds_cli.sm.client import ManagerClient, ManagerError

BITS, BLOCK, WIDTH, HEIGHT, FPS = 24, 16, 384, 216, 25
STRIP = BITS * BLOCK * 2 * BLOCK  # bytes of the 384x32 gray strip we read back
_MOD = 1 << BITS


def pattern_filter() -> str:
    """lavfi graph: a test pattern whose top rows encode the capture time (ms mod 2^24)."""
    bit = f"bitand(floor(T*1000/pow(2,floor(X/{BLOCK}))),1)"
    return (f"testsrc2=size={WIDTH}x{HEIGHT}:rate={FPS},settb=AVTB,setpts=RTCTIME,"
            f"geq=lum='if(lt(Y,{2 * BLOCK}),if(eq({bit},lt(Y,{BLOCK})),235,16),lum(X,Y))'"
            f":cb='if(lt(Y,{BLOCK}),128,cb(X,Y))':cr='if(lt(Y,{BLOCK}),128,cr(X,Y))',"
            f"setpts=N/FRAME_RATE/TB")


def decode_strip(buf: bytes) -> int | None:
    """The burned milliseconds value, or None when the two rows disagree (damaged frame)."""
    value = 0
    for i in range(BITS):
        x = i * BLOCK + BLOCK // 2
        top = buf[(BLOCK // 2) * WIDTH + x] > 128
        bottom = buf[(BLOCK + BLOCK // 2) * WIDTH + x] > 128
        if top == bottom:
            return None
        value |= int(top) << i
    return value


def latency_ms(burned: int, arrived_s: float) -> int:
    """Arrival minus burn time, on the 2^24 ms ring (wraps every 4.6 hours)."""
    d = (int(arrived_s * 1000) - burned) % _MOD
    return d - _MOD if d > _MOD // 2 else d


@dataclass
class ProbeResult:
    ok: bool
    manager: str
    stream: str
    origin: str | None = None
    edge: str | None = None
    publish_url: str | None = None
    play_url: str | None = None
    time_to_first_frame_ms: int | None = None
    latency_ms_p50: int | None = None
    latency_ms_max: int | None = None
    frames: int = 0
    damaged_frames: int = 0
    fallback: str | None = None  # "hls": the manager sent the probe to HLS (every edge full, or --hls)
    hls_segments: int = 0
    hls_bytes: int = 0
    error: str | None = None
    steps: list[str] = field(default_factory=list)


def _pick(urls: dict[str, str]) -> str | None:
    return urls.get("rtmp") or next((u for p, u in sorted(urls.items()) if p in ("rtsp", "srt")), None)


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=3)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=3)


def _play(ffmpeg: str, url: str, deadline: float, want: int, res: ProbeResult) -> list[tuple[float, int | None]]:
    """Read decoded strips until `want` good frames or the deadline; returns (arrival, value) pairs."""
    frames: list[tuple[float, int | None]] = []
    while time.time() < deadline and not frames:
        started = time.time()
        proc = subprocess.Popen([ffmpeg, "-hide_banner", "-loglevel", "error", "-fflags", "nobuffer",
                                 "-flags", "low_delay", "-analyzeduration", "500000", "-probesize", "32768",
                                 "-i", url, "-an", "-vf", f"crop={WIDTH}:{2 * BLOCK}:0:0", "-f", "rawvideo",
                                 "-pix_fmt", "gray", "pipe:1"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        timer = threading.Timer(max(0.1, deadline - time.time()), proc.kill)  # bounds the blocking reads
        timer.start()
        try:
            while len([f for f in frames if f[1] is not None]) < want:
                buf = proc.stdout.read(STRIP)
                if len(buf) < STRIP:
                    break
                now = time.time()
                if not frames:
                    res.time_to_first_frame_ms = int((now - started) * 1000)
                frames.append((now, decode_strip(buf)))
        finally:
            timer.cancel()
            _stop(proc)
        if not frames:
            res.steps.append("player got no frames yet; retrying")
            time.sleep(0.5)
    return frames


def _hls_segments(url: str, deadline: float, res: ProbeResult, want: int = 2) -> None:
    """Fetch the playlist and `want` new segments the way `ccds load` viewers do; count them and their bytes."""
    import asyncio

    from ccds_cli.load.hls import HlsError, HlsPlayer

    async def fetch() -> None:
        async with httpx.AsyncClient(timeout=5) as http:
            player = HlsPlayer(url, http)
            try:
                await player.open(timeout=max(0.5, min(15.0, deadline - time.time())))
                while player.segments < want and time.time() < deadline and not player.done.done():
                    await asyncio.sleep(0.2)
            finally:
                player.close("done")
                res.hls_segments, res.hls_bytes = player.segments, player.stats.media_bytes

    try:
        asyncio.run(fetch())
    except HlsError as exc:
        res.steps.append(f"HLS: {exc.message}")


def run_probe(client: ManagerClient, manager: str, *, region: str | None, timeout: float, app: str = "live",
              stream: str | None = None, frames_wanted: int = 50, ffmpeg: str | None = None,
              hls: bool = False) -> ProbeResult:
    """Publish a test pattern to the origin the manager picks, play it from the edge it picks (or from the
    HLS the manager falls back to; `hls` asks for that HLS directly)."""
    ffmpeg = ffmpeg or shutil.which("ffmpeg")
    stream = stream or f"ccds-probe-{secrets.token_hex(4)}"
    res = ProbeResult(ok=False, manager=manager, stream=f"{app}/{stream}")
    if not ffmpeg:
        res.error = "ffmpeg not found"
        return res
    deadline = time.time() + timeout
    publisher = None
    try:
        pub = client.publish(app, stream, region=region)
        res.origin, res.publish_url = pub["node"]["name"], _pick(pub["urls"])
        if not res.publish_url:
            res.error = f"origin {res.origin} offers no rtmp/rtsp/srt endpoint ({sorted(pub['urls'])})"
            return res
        res.steps.append(f"origin {res.origin}: {res.publish_url}")
        with tempfile.TemporaryFile() as log:
            publisher = subprocess.Popen([ffmpeg, "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi",
                                          "-i", pattern_filter(), "-c:v", "libx264", "-preset", "ultrafast",
                                          "-tune", "zerolatency", "-g", str(FPS), "-pix_fmt", "yuv420p",
                                          "-f", "flv" if res.publish_url.startswith("rtmp") else "mpegts",
                                          res.publish_url],
                                         stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL)
            sub = None
            while time.time() < deadline:
                if publisher.poll() is not None:
                    log.seek(0)
                    res.error = f"publisher exited ({publisher.returncode}): {log.read().decode()[-300:].strip()}"
                    return res
                try:
                    sub = client.subscribe(app, stream, region=region, **({"protocol": "hls"} if hls else {}))
                    break
                except ManagerError as exc:
                    if exc.status not in (404, 503):
                        raise
                    res.steps.append(f"subscribe: {exc.detail}")
                    time.sleep(min(exc.retry_after or 0.5, 1.0))
            if sub is None:
                res.error = res.error or "no edge was assigned before the timeout"
                return res
            res.edge, res.fallback = sub["node"]["name"], sub.get("fallback")
            res.play_url = (sub["urls"].get("hls") if res.fallback == "hls" else None) or _pick(sub["urls"])
            if not res.play_url:
                res.error = f"{res.edge} offers no {'hls' if res.fallback else 'rtmp/rtsp/srt'} endpoint"
                return res
            if res.fallback == "hls":
                res.steps.append(f"fallback hls from {res.edge} ({sub.get('fallback_reason')}): {res.play_url}")
                _hls_segments(res.play_url, deadline, res)
                if not res.hls_segments:
                    res.error = f"the HLS fallback from {res.edge} served no segment"
                    return res
            else:
                res.steps.append(f"edge {res.edge}: {res.play_url}")
            frames = _play(ffmpeg, res.play_url, deadline, frames_wanted, res)
    except ManagerError as exc:
        res.error = f"stream manager answered {exc.status}: {exc.detail}"
        return res
    except httpx.HTTPError as exc:  # refused, timed out, reset, not HTTP: unhealthy, not a traceback
        res.error = f"could not reach the stream manager at {manager}: {exc or type(exc).__name__}"
        return res
    except OSError as exc:
        res.error = f"could not reach the stream manager or run ffmpeg: {exc}"
        return res
    finally:
        _stop(publisher)
    good = [latency_ms(v, t) for t, v in frames if v is not None]
    res.frames, res.damaged_frames = len(frames), len(frames) - len(good)
    if good:
        steady = good[len(good) // 5:] or good  # the first frames include the player's start-up burst
        res.latency_ms_p50 = int(statistics.median(steady))
        res.latency_ms_max = max(steady)
    res.ok = len(good) >= min(5, frames_wanted)
    if not res.ok:
        res.error = res.error or f"only {len(good)} decodable frames came through the edge"
    return res
