"""MediaMTX (default on clouds): WHIP/WHEP, SRT, RTMP, RTSP, LL-HLS from one Go binary."""

from __future__ import annotations

from ccds_cli.engines.base import Engine, Port
from ccds_cli.engines.cloudinit import node_user_data
from ccds_cli.vocab import ROLES

INGEST = ("origin", "transcoder")  # publishers reach origins, or a transcoder when the region has one


class MediaMtx(Engine):
    kind = "mediamtx"
    default_version = "1.15.0"
    ports = (
        Port("rtmp-ingest", "tcp", 1935, 1935, "publishers", INGEST),
        Port("srt-ingest", "udp", 8890, 8890, "publishers", INGEST),
        Port("whip", "tcp", 8889, 8889, "publishers", INGEST),
        Port("webrtc-media-in", "udp", 8189, 8189, "publishers", INGEST),
        Port("whep", "tcp", 8889, 8889, "viewers", ("edge",)),
        Port("webrtc-media", "udp", 8189, 8189, "viewers", ("edge",)),
        Port("hls", "tcp", 8888, 8888, "viewers", ("edge", "origin")),  # origins: the HLS fallback
        Port("srt-play", "udp", 8890, 8890, "viewers", ("edge",)),
        Port("rtmp-play", "tcp", 1935, 1935, "viewers", ("edge",)),
        Port("srt-cluster", "udp", 8890, 8890, "cluster", ROLES),
        Port("rtsp-cluster", "tcp", 8554, 8554, "cluster", ROLES),
        Port("rtmp-cluster", "tcp", 1935, 1935, "cluster", ROLES),
        Port("api", "tcp", 9997, 9998, "cluster", ROLES),
        Port("api-admin", "tcp", 9997, 9998, "admins", ROLES),
        Port("ssh", "tcp", 22, 22, "admins", ROLES),
    )
    playback = {
        "webrtc": "http://{host}:8889/{app}/{stream}/whep",
        "srt": "srt://{host}:8890?streamid=read:{app}/{stream}",
        "rtmp": "rtmp://{host}:1935/{app}/{stream}",
        "hls": "http://{host}:8888/{app}/{stream}/index.m3u8",
    }

    def bootstrap(self, role, ctx):
        version = ctx.engine_version or self.default_version
        # Edges and relays start with no path: their agent adds one per live stream through the API.
        config = MTX_CONFIG if role in ("edge", "relay") else MTX_CONFIG + MTX_PUBLISH
        install = MTX_INSTALL.replace("@VERSION@", version)
        # A transcoder's ffmpeg reads each published path back over RTMP on loopback (MediaMTX serves every
        # path in every protocol) and pushes it and its renditions to the stream's origin.
        endpoints = {"webrtc": "http://{public}:8889", "srt": "srt://{public}:8890", "rtmp": "rtmp://{public}:1935",
                     "hls": "http://{public}:8888"}
        if role == "origin":
            # An origin's LL-HLS (every stream it receives) is the region's fallback when edges are full:
            # registered as the playlist URL; with `fallback: none` the origin makes no HLS at all.
            if ctx.fallback == "hls":
                endpoints["hls"] = "http://{public}:8888/{stream}/index.m3u8"
            else:
                del endpoints["hls"]
                config = config.replace("hls: yes\n", "hls: no\n")
        return node_user_data(self.kind, role, ctx, files={"/etc/mediamtx/mediamtx.yml": config},
                              install=install, stats_url="http://127.0.0.1:9997/v3/paths/list",
                              transcode_input="rtmp://127.0.0.1:1935/{app}/{stream}", endpoints=endpoints)


MTX_INSTALL = """\
set -eu
arch=$(uname -m); case "$arch" in x86_64) a=amd64;; aarch64) a=arm64v8;; *) a=$arch;; esac
curl -fsSL -o /tmp/mediamtx.tgz \\
  "https://github.com/bluenviron/mediamtx/releases/download/v@VERSION@/mediamtx_v@VERSION@_linux_$a.tar.gz"
tar -xzf /tmp/mediamtx.tgz -C /usr/local/bin mediamtx
cat > /etc/systemd/system/mediamtx.service <<'UNIT'
[Unit]
Description=MediaMTX media server (ccds)
After=network-online.target
[Service]
EnvironmentFile=-/etc/ccds/engine.env
ExecStart=/usr/local/bin/mediamtx /etc/mediamtx/mediamtx.yml
Restart=always
[Install]
WantedBy=multi-user.target
UNIT
"""

MTX_CONFIG = """\
logLevel: info
api: yes
apiAddress: :9997
metrics: yes
metricsAddress: :9998
rtmp: yes
srt: yes
webrtc: yes
hls: yes
hlsVariant: lowLatency
rtsp: yes
paths:
"""

# Origins and transcoders accept publishers on any path name. Edges and relays have no catch-all:
# with several origins a regex path can only name one of them (a stream on another origin would
# never play), and it would let anyone publish to an edge. Their agent keeps one path per live
# stream instead (`ccds_cli/agent/pullers.py::MediaMTXPaths`).
MTX_PUBLISH = """\
  all_others:
"""


ENGINE = MediaMtx()
