"""Engine registry."""

from __future__ import annotations

from ccds_cli.engines.base import Engine


def get(kind: str) -> Engine:
    if kind == "mediamtx":
        from ccds_cli.engines.mediamtx import MediaMtx

        return MediaMtx()
    if kind == "nginx-rtmp":
        from ccds_cli.engines.nginx_rtmp import NginxRtmp

        return NginxRtmp()
    if kind == "red5pro":
        from ccds_cli.engines.red5pro import Red5Pro

        return Red5Pro()
    from ccds_cli.errors import BadInput

    raise BadInput(f"unknown engine {kind!r}", hint="engines: mediamtx, nginx-rtmp, red5pro")
