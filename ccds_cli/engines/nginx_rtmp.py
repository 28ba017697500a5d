"""nginx with the RTMP module (Debian packages): the local cloud's engine, also usable on clouds."""

from __future__ import annotations

from ccds_cli.engines.base import Engine, Port
from ccds_cli.engines.cloudinit import node_user_data
from ccds_cli.vocab import ROLES

# Loopback port of the agent's on_play server on edges and relays (never opened in the firewall).
ON_PLAY_PORT = 8086
# Origins of a region with `fallback: hls` serve HLS on their own port (nothing else there, so viewers
# and a CDN in front never reach /stat): http://<origin>:8088/hls/<app>/<stream>/index.m3u8.
HLS_PORT = 8088
HLS_DIR = "/var/lib/ccds-hls"


class NginxRtmp(Engine):
    kind = "nginx-rtmp"
    ports = (
        Port("rtmp-ingest", "tcp", 1935, 1935, "publishers", ("origin", "transcoder")),
        Port("rtmp-play", "tcp", 1935, 1935, "viewers", ("edge",)),
        Port("rtmp-cluster", "tcp", 1935, 1935, "cluster", ROLES),
        Port("hls", "tcp", HLS_PORT, HLS_PORT, "viewers", ("origin",)),
        Port("stat", "tcp", 8080, 8080, "cluster", ROLES),
        Port("stat-admin", "tcp", 8080, 8080, "admins", ROLES),
        Port("ssh", "tcp", 22, 22, "admins", ROLES),
    )
    playback = {"rtmp": "rtmp://{host}:1935/{app}/{stream}"}

    def bootstrap(self, role, ctx):
        # Edges and relays ask their agent where each stream is: it answers on_play with a redirect
        # to the stream's origin (or relay), which nginx-rtmp pulls from. They only pull, and their
        # own pulls pass nginx-rtmp's access checks, so nobody may publish to them.
        pulls = role in ("edge", "relay")
        pull = (f"            on_play http://127.0.0.1:{ON_PLAY_PORT}/on_play;\n"
                "            deny publish all;\n") if pulls else ""
        hls = role == "origin" and ctx.fallback == "hls"
        conf = (NGINX_CONF.replace("@PULL@", pull).replace("@HLS@", HLS_APP if hls else "")
                .replace("@HLS_SERVER@", HLS_SERVER if hls else ""))
        endpoints = {"rtmp": "rtmp://{public}:1935/live"}
        install = "apt-get install -y -q nginx-light libnginx-mod-rtmp"
        if hls:
            endpoints["hls"] = "http://{public}:%d/hls/{app}/{stream}/index.m3u8" % HLS_PORT
            install = f"install -d -m 0755 -o www-data {HLS_DIR}\n{install}"  # nginx makes hls_path, not its parent
        return node_user_data(self.kind, role, ctx, files={"/etc/nginx/nginx.conf": conf},
                              install=install, stats_url="http://127.0.0.1:8080/stat", service="nginx",
                              endpoints=endpoints,
                              agent_extra=("--on-play-port", str(ON_PLAY_PORT)) if pulls else ())


NGINX_CONF = """\
load_module modules/ngx_rtmp_module.so;
worker_processes auto;
events { worker_connections 4096; }
rtmp {
    server {
        listen 1935;
        application live {
            live on;
@PULL@@HLS@        }
    }
}
http {
    server {
        listen 8080;
        location /stat { rtmp_stat all; }
        location /health { return 200 "ok"; }
    }
@HLS_SERVER@}
"""

HLS_APP = f"""\
            hls on;
            hls_path {HLS_DIR}/live;
            hls_nested on;
            hls_fragment 2s;
            hls_playlist_length 12s;
"""

HLS_SERVER = f"""\
    server {{
        listen {HLS_PORT};
        location /hls/ {{
            alias {HLS_DIR}/;
            types {{ application/vnd.apple.mpegurl m3u8; video/mp2t ts; }}
            add_header Cache-Control no-cache;
            add_header Access-Control-Allow-Origin *;
        }}
    }}
"""


ENGINE = NginxRtmp()
