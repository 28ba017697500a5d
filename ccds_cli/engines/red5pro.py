"""Red5 Pro (licensed): ports from its node defaults; the server archive comes from the user."""

from __future__ import annotations

import shlex

from ccds_cli.engines.base import Engine, Port
from ccds_cli.engines.cloudinit import node_user_data
from ccds_cli.vocab import ROLES

INGEST = ("origin", "transcoder")  # publishers reach origins, or a transcoder when the region has one


class Red5Pro(Engine):
    kind = "red5pro"
    ports = (
        Port("http", "tcp", 5080, 5080, "publishers", INGEST),
        Port("rtmp", "tcp", 1935, 1936, "publishers", INGEST),
        Port("rtsp", "tcp", 8554, 8554, "publishers", INGEST),
        Port("srt", "tcp", 8000, 8100, "publishers", INGEST),
        Port("srt-udp", "udp", 8000, 8100, "publishers", INGEST),
        Port("webrtc-media-in", "udp", 40000, 65535, "publishers", INGEST),
        Port("http-play", "tcp", 5080, 5080, "viewers", ("edge",)),
        Port("hls", "tcp", 5080, 5080, "viewers", ("origin",)),  # the origin's HLS: the fallback
        Port("rtmp-play", "tcp", 1935, 1936, "viewers", ("edge",)),
        Port("rtsp-play", "tcp", 8554, 8554, "viewers", ("edge",)),
        Port("webrtc-media", "udp", 40000, 65535, "viewers", ("edge",)),
        Port("cluster-http", "tcp", 5080, 5080, "cluster", ROLES),
        Port("cluster-rtmp", "tcp", 1935, 1936, "cluster", ROLES),
        Port("ssh", "tcp", 22, 22, "admins", ROLES),
    )
    playback = {"webrtc": "https://{host}:5080/live/{stream}", "rtmp": "rtmp://{host}:1935/{app}/{stream}"}

    def bootstrap(self, role, ctx):
        archive = shlex.quote(ctx.archive_url) if ctx.archive_url else '"$RED5PRO_ARCHIVE_URL"'
        install = (
            "apt-get install -y -q openjdk-17-jre-headless unzip\n"
            f"curl -fsSL -o /tmp/red5pro.zip {archive}\n"
            "unzip -q -o /tmp/red5pro.zip -d /opt && ln -sfn /opt/red5pro* /opt/red5pro\n"
            ". /etc/ccds/node.env\n"
            "printf '%s' \"$red5pro_license\" > /opt/red5pro/LICENSE.KEY\n"
            "cat > /etc/systemd/system/red5pro.service <<'UNIT'\n[Unit]\nDescription=Red5 Pro (ccds)\n"
            "[Service]\nWorkingDirectory=/opt/red5pro\nExecStart=/opt/red5pro/red5.sh\nRestart=always\n"
            "[Install]\nWantedBy=multi-user.target\nUNIT\n")
        # Transcoders: the agent's ffmpeg reads each stream from Red5 Pro's RTMP on loopback and pushes it
        # and its renditions to the origin (Red5 Pro's own transcoder needs its stream manager; ours is ccds's).
        endpoints = {"rtmp": "rtmp://{public}:1935/live"}
        if role == "origin" and ctx.fallback == "hls":
            # Red5 Pro segments live streams into HLS itself (its HLS plugin, on by default), served
            # by its HTTP server: the fallback when every edge is full.
            endpoints["hls"] = "http://{public}:5080/{app}/{stream}.m3u8"
        return node_user_data(self.kind, role, ctx, files={}, install=install,
                              stats_url="http://127.0.0.1:5080/api/v1/server/stats", endpoints=endpoints)


    def node_secrets(self, engine_spec) -> dict[str, str]:
        """The license key, from the variable `engine.license_env` names: it reaches media nodes only."""
        import os
        import re

        name = engine_spec.license_env
        value = os.environ.get(name or "", "").strip()
        if not value:
            raise ValueError(f"the environment variable {name} is not set: Red5 Pro nodes need the license key")
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,512}", value):
            raise ValueError(f"the license key in {name} has characters a Red5 Pro key does not have "
                             "(expected letters, digits, '.', '_' and '-')")
        return {"red5pro_license": value}


ENGINE = Red5Pro()
