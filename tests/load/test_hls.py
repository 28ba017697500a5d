"""The HLS viewer `ccds load` and `ccds probe` use for the fallback, against a real nginx-rtmp origin with
the local cloud's HLS config (`hls=True`) and an ffmpeg publisher; and the playlist parser's edges."""

from __future__ import annotations

import asyncio
import subprocess
import time

import httpx
import pytest
from loadhelp import Publisher, require_media_tools, stop_proc, wait

from ccds_cli.load.hls import HlsError, HlsPlayer, parse_playlist
from ccds_cli.load.viewer import NO_MEDIA, REFUSED_BY_EDGE, Viewer
from ccds_cli.localcloud import nginx as local_nginx
from ccds_cli.localcloud.procs import free_port, port_open


def test_parse_media_and_master_playlists():
    media = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n3.ts\n#EXTINF:2.0,\nhttp://cdn.example/4.ts\n"
    assert parse_playlist(media, "http://o:1/hls/live/s/index.m3u8") == (
        None, 2.0, ["http://o:1/hls/live/s/3.ts", "http://cdn.example/4.ts"], False)
    master = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=2500000,RESOLUTION=1280x720\ns_720p/index.m3u8\n"
    assert parse_playlist(master, "http://o:1/hls/live/s.m3u8")[0] == "http://o:1/hls/live/s_720p/index.m3u8"
    assert parse_playlist(media + "#EXT-X-ENDLIST\n", "http://o/")[3] is True
    for bad in ("<html>", "#EXTM3U\n#EXT-X-TARGETDURATION:soon\n"):
        with pytest.raises(HlsError):
            parse_playlist(bad, "http://o/")


@pytest.fixture
def hls_origin(tmp_path):
    """nginx-rtmp with HLS on, fed by an ffmpeg test pattern."""
    require_media_tools()
    rtmp, http = free_port(), free_port()
    d = tmp_path / "origin"
    argv, _ = local_nginx.prepare(d, name="origin", role="origin", rtmp_port=rtmp, http_port=http, pull=None,
                                  hls=True)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pub = None
    try:
        wait(lambda: port_open(rtmp) and port_open(http), 10, "nginx to listen")
        pub = Publisher(f"rtmp://127.0.0.1:{rtmp}/live/s", tmp_path / "pub.log", seconds=60)
        url = f"http://127.0.0.1:{http}" + local_nginx.HLS_URL_PATH.format(app="live", stream="s")
        wait(lambda: httpx.get(url, timeout=2).status_code == 200, 20, "the HLS playlist", every=0.3)
        yield url
    finally:
        if pub:
            pub.stop()
        stop_proc(proc)


def test_hls_player_fetches_segments_and_counts_bytes(hls_origin):
    async def play():
        async with httpx.AsyncClient(timeout=5) as http:
            player = HlsPlayer(hls_origin, http)
            await player.open(timeout=5)
            first = await asyncio.wait_for(player.first_media, 10)
            await asyncio.sleep(local_nginx.HLS_FRAGMENT_S * 2.5)
            player.close("done")
            return first, player.segments, player.stats.media_bytes, await player.done

    first, segments, media, reason = asyncio.run(play())
    assert first and segments >= 2 and media > 10_000 and reason == "done"


def test_fallback_viewer_plays_hls_or_fails_without_segments(hls_origin, tmp_path):
    class Answer:
        def __init__(self, url):
            self.url = url

        async def subscribe(self, *a, **kw):
            return {"node": {"name": "origin-0", "region": "r1"}, "fallback": "hls", "urls": {"hls": self.url}}

    async def watch(url, seconds):
        v = Viewer(0, "live", "s")
        async with httpx.AsyncClient(timeout=5) as http:
            task = asyncio.create_task(v.run(Answer(url), region=None, lat=None, lon=None, creds=None,
                                             connect_timeout=3, recv_buffer=32768, http=http))
            for _ in range(int(seconds / 0.25)):
                await asyncio.sleep(0.25)
                v.check(time.monotonic(), 2.0, 5.0)  # the run's watchdog: media timeout 2 s
            v.end("held")
            await asyncio.wait_for(task, 5)
        return v

    v = asyncio.run(watch(hls_origin, 4))
    assert (v.state, v.fallback, v.hls_node, v.edge) == ("held", "hls", "origin-0", None)
    assert v.received_media and v.media_bytes > 10_000 and v.player.segments >= 1
    # a playlist that lists no segment (served by the same nginx): no_media after the media timeout
    empty = tmp_path / "origin" / "hls" / "live" / "idle"
    empty.mkdir(parents=True)
    (empty / "index.m3u8").write_text("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n")
    v = asyncio.run(watch(hls_origin.replace("/live/s/", "/live/idle/"), 3))
    assert (v.state, v.cause) == ("failed", NO_MEDIA) and v.media_bytes == 0
    # no playlist at all: refused by the node that should serve it
    v = asyncio.run(watch(hls_origin.replace("/live/s/", "/live/nobody/"), 4))  # 404s retried for 3 s
    assert (v.state, v.cause) == ("failed", REFUSED_BY_EDGE) and "404" in v.detail
