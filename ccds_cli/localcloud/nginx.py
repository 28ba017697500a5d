"""nginx with the RTMP module as a local media node: finding the binary and module, writing config.

Each node is its own nginx master with its own prefix, config, pid file, logs and temp paths in
the node directory, so nodes never share state with each other or with a system nginx.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

from ccds_cli.errors import MissingTool

INSTALL_HINT = "install it: apt-get install nginx-light libnginx-mod-rtmp (Debian/Ubuntu)"
MODULE_FILE = "ngx_rtmp_module.so"
MODULE_DIRS = (
    "/usr/lib/nginx/modules",
    "/usr/lib64/nginx/modules",
    "/usr/share/nginx/modules",
    "/usr/local/lib/nginx/modules",
    "/usr/local/nginx/modules",
    "/etc/nginx/modules",
    "/opt/homebrew/lib/nginx/modules",
)
TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
# HLS (`hls=True`, origins of a region with `fallback: hls`): nginx-rtmp writes <node>/hls/<app>/<stream>/
# index.m3u8 + MPEG-TS segments; the http server serves them under this path (a CDN can front it).
HLS_URL_PATH = "/hls/{app}/{stream}/index.m3u8"
HLS_FRAGMENT_S, HLS_PLAYLIST_S = 2, 12


def nginx_binary() -> str:
    """`$CCDS_NGINX`, else `nginx` on PATH or in /usr/sbin (often not on a user's PATH)."""
    for candidate in (os.environ.get("CCDS_NGINX"), shutil.which("nginx"), "/usr/sbin/nginx",
                      "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise MissingTool("nginx not found", hint=INSTALL_HINT)


@lru_cache(maxsize=None)
def _build_info(binary: str) -> str:
    proc = subprocess.run([binary, "-V"], capture_output=True, text=True, timeout=10)
    return proc.stdout + proc.stderr


def rtmp_module(binary: str) -> str | None:
    """Path of the dynamic RTMP module to `load_module`, or None when compiled in statically."""
    info = _build_info(binary)
    if re.search(r"--add-module=\S*rtmp", info):
        return None
    dirs = [os.environ.get("CCDS_NGINX_MODULES", "")]
    match = re.search(r"--modules-path=(\S+)", info)
    if match:
        dirs.append(match.group(1))
    dirs.extend(MODULE_DIRS)
    for directory in filter(None, dirs):
        path = Path(directory) / MODULE_FILE
        if path.is_file():
            return str(path)
    raise MissingTool(f"the nginx RTMP module ({MODULE_FILE}) was not found",
                      hint=INSTALL_HINT + "; or point CCDS_NGINX_MODULES at its directory")


# Edges and relays only pull (the agent's on_play redirect, or `pull`), and nginx-rtmp's access module
# does not apply to a node's own pulls: refusing every publish lets nothing but their origins (through
# those pulls) feed them. A publisher pointed at an edge is dropped ("access forbidden by rule").
PULL_ONLY_ROLES = ("edge", "relay")
PUBLISH_GUARD = ("            deny publish all;",)


def render_config(node_dir: Path, *, name: str, role: str, rtmp_port: int, http_port: int,
                  pull: str | None, module: str | None, host: str = "127.0.0.1", on_play: str | None = None,
                  hls: bool = False) -> str:
    """nginx.conf of one node: RTMP `live` app + /stat, /health (+ HLS under /hls/ with `hls`).

    Origins and transcoders take publishers (`live on`, no pull): a transcoder's agent reads each stream
    published to it back from this app with ffmpeg and pushes it and its renditions to the origin.

    An edge or relay pulls either from the node its agent names per stream (`on_play`: the agent's
    loopback URL answering each play with a redirect to the stream's origin or relay) or, without
    an agent, from one fixed node (`pull`, on demand).
    """
    d = node_dir
    lines = [f"# ccds local cloud: node {name} ({role}). Generated; rewritten on every start."]
    if module:
        lines.append(f"load_module {module};")
    if hls:
        lines += _worker_user(d)
    lines += [
        "worker_processes 1;",
        f"pid {d}/nginx.pid;",
        f"error_log {d}/logs/error.log warn;",
        "events { worker_connections 1024; }",
        "",
        "rtmp {",
        "    server {",
        f"        listen {host}:{rtmp_port};",
        "        chunk_size 4096;",
        "        application live {",
        "            live on;",
    ]
    if on_play:
        lines.append(f"            on_play {on_play};")
    elif pull:
        lines.append(f"            pull {pull};")
    if hls:
        lines += [
            "            hls on;",
            f"            hls_path {d}/hls/live;",
            "            hls_nested on;",
            f"            hls_fragment {HLS_FRAGMENT_S}s;",
            f"            hls_playlist_length {HLS_PLAYLIST_S}s;",
        ]
    if role in PULL_ONLY_ROLES:
        lines += PUBLISH_GUARD
    lines += [
        "        }",
        "    }",
        "}",
        "",
        "http {",
        f"    access_log {d}/logs/access.log;",
    ]
    lines += [f"    {t}_temp_path {d}/tmp/{t};" for t in TEMP_PATHS]
    lines += [
        "    server {",
        f"        listen {host}:{http_port};",
        "        location = /stat { rtmp_stat all; }",
        "        location = /health { default_type text/plain; return 200 \"ok\\n\"; }",
    ]
    if hls:
        lines += [
            "        location /hls/ {",
            f"            alias {d}/hls/;",
            "            types { application/vnd.apple.mpegurl m3u8; video/mp2t ts; }",
            "            add_header Cache-Control no-cache;",
            "            add_header Access-Control-Allow-Origin *;",
            "        }",
        ]
    lines += [
        "    }",
        "}",
        "",
    ]
    return "\n".join(lines)


def _worker_user(node_dir: Path) -> list[str]:
    """A master started as root runs its workers as `nobody`, who may not reach the node directory
    (under a 0700 home or temp dir) to write HLS segments: run them as the directory's owner."""
    if os.geteuid() != 0:
        return []  # an unprivileged master's workers are the same user
    import grp
    import pwd

    st = node_dir.stat()
    try:
        return [f"user {pwd.getpwuid(st.st_uid).pw_name} {grp.getgrgid(st.st_gid).gr_name};"]
    except KeyError:  # ids without names: nginx takes names only
        return ["user root root;"]


def prepare(node_dir: Path, **kwargs) -> tuple[list[str], Path]:
    """Write the config and directories; return the argv that runs the master in the foreground."""
    binary = nginx_binary()
    module = rtmp_module(binary)
    # nginx creates hls_path itself, but not its parents
    for sub in ("logs", *(f"tmp/{t}" for t in TEMP_PATHS), *(("hls",) if kwargs.get("hls") else ())):
        (node_dir / sub).mkdir(parents=True, exist_ok=True)
    conf = node_dir / "nginx.conf"
    conf.write_text(render_config(node_dir, module=module, **kwargs))
    argv = [binary, "-p", f"{node_dir}/", "-c", str(conf), "-g", "daemon off;"]
    if _version(binary) >= (1, 19, 5):  # `-e` (start-up error log) is newer than Ubuntu 22.04's 1.18
        argv[3:3] = ["-e", f"{node_dir}/logs/error.log"]
    return argv, conf


def _version(binary: str) -> tuple[int, ...]:
    match = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", _build_info(binary))
    return tuple(int(x) for x in match.groups()) if match else (0, 0, 0)


def check_config(argv: list[str]) -> str | None:
    """`nginx -t` with the same arguments: None when valid, else nginx's own message."""
    test = [a for a in argv if a not in ("-g", "daemon off;")] + ["-t", "-q"]
    proc = subprocess.run(test, capture_output=True, text=True, timeout=30)
    return None if proc.returncode == 0 else (proc.stderr or proc.stdout).strip()
