"""Engine stats readers: one adapter per engine, all returning `EngineStats`.

"Subscribers" means viewers: pulls by relays/edges are counted as `relays`, not viewers, and a
relay feeding an edge is not a publisher. `peers` are the addresses of the deployment's relays and
edges (from the manager's heartbeat answer); loopback addresses are never taken as peers because
on the local cloud every viewer is on 127.0.0.1 as well.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Protocol

import httpx

# nginx-rtmp's relay module announces itself with these flashver strings: the pulling side
# (`pull`/`push` towards another server) uses the module default, the local end is "ngx-local-relay".
NGINX_RELAY_FLASHVER = "LNX.11,1,102,55"
NGINX_LOCAL_RELAY = "ngx-local-relay"
LOOPBACK = ("127.", "::1", "localhost")


@dataclass
class EngineStats:
    publishers: int = 0
    subscribers: int = 0
    relays: int = 0
    bw_in: int = 0
    bw_out: int = 0
    streams: list[dict] = field(default_factory=list)


class StatsReader(Protocol):
    def read(self, client: httpx.Client, peers: set[str]) -> EngineStats: ...


def _host(addr: str) -> str:
    """'10.0.0.5:53212' -> '10.0.0.5', '[::1]:5' -> '::1'."""
    if addr.startswith("["):
        return addr[1:].split("]", 1)[0]
    return addr.rsplit(":", 1)[0] if addr.count(":") == 1 else addr


def _is_peer(addr: str, peers: set[str]) -> bool:
    host = _host(addr)
    return bool(host) and not host.startswith(LOOPBACK) and host in peers


def _int(el: ET.Element | None, tag: str) -> int:
    child = el.find(tag) if el is not None else None
    try:
        return int(child.text or 0) if child is not None else 0
    except ValueError:
        return 0


def parse_nginx_rtmp(xml_text: str, peers: set[str] = frozenset()) -> EngineStats:
    """Count from the `rtmp_stat all` XML: per stream, clients split into publishers, relays, viewers."""
    root = ET.fromstring(xml_text)
    stats = EngineStats(bw_in=_int(root, "bw_in"), bw_out=_int(root, "bw_out"))
    for app in root.iter("application"):
        app_name = (app.findtext("name") or "").strip()
        for stream in app.iter("stream"):
            pubs = subs = relays = 0
            for client in stream.findall("client"):
                flashver = (client.findtext("flashver") or "").strip()
                publishing = client.find("publishing") is not None
                if flashver == NGINX_LOCAL_RELAY or flashver == NGINX_RELAY_FLASHVER \
                        or _is_peer(client.findtext("address") or "", peers):
                    relays += 0 if publishing else 1  # the edge's own incoming pull is not a child
                elif publishing:
                    pubs += 1
                else:
                    subs += 1
            stats.publishers += pubs
            stats.subscribers += subs
            stats.relays += relays
            stats.streams.append({"app": app_name, "name": (stream.findtext("name") or "").strip(),
                                  "publishing": pubs > 0, "subscribers": subs,
                                  "bw_in": _int(stream, "bw_in"), "bw_out": _int(stream, "bw_out")})
    return stats


class NginxRtmpReader:
    def __init__(self, url: str):
        self.url = url

    def read(self, client: httpx.Client, peers: set[str]) -> EngineStats:
        resp = client.get(self.url, timeout=3.0)
        resp.raise_for_status()
        return parse_nginx_rtmp(resp.text, peers)


# MediaMTX reader/source types -> the list endpoint that knows their remote address.
_MTX_LISTS = {"rtmpConn": "rtmpconns", "rtspSession": "rtspsessions", "rtspsSession": "rtspssessions",
              "srtConn": "srtconns", "webRTCSession": "webrtcsessions"}


def parse_mediamtx(paths: dict, remote: dict[str, str], peers: set[str] = frozenset()) -> EngineStats:
    """Count from `/v3/paths/list`; `remote` maps connection id -> remote address (relay detection)."""
    stats = EngineStats()
    for item in paths.get("items") or []:
        app, _, name = (item.get("name") or "").rpartition("/")
        source = item.get("source") or {}
        # A path fed by a local publisher has a connection as source; a pulled one has `...Source`.
        publishing = bool(source) and source.get("type", "") in _MTX_LISTS and item.get("ready", True)
        subs = relays = 0
        for reader in item.get("readers") or []:
            if _is_peer(remote.get(reader.get("id", ""), ""), peers):
                relays += 1
            else:
                subs += 1
        stats.publishers += int(publishing)
        stats.subscribers += subs
        stats.relays += relays
        stats.streams.append({"app": app, "name": name, "publishing": publishing, "subscribers": subs,
                              "bw_in": 0, "bw_out": 0})
    return stats


class MediaMTXReader:
    """Reads the MediaMTX control API (`--stats-url http://host:9997` or the full paths URL)."""

    def __init__(self, url: str):
        self.base = url.split("/v3/", 1)[0].rstrip("/")
        self._last: tuple[float, int, int] | None = None

    def read(self, client: httpx.Client, peers: set[str]) -> EngineStats:
        resp = client.get(f"{self.base}/v3/paths/list", params={"itemsPerPage": 10000}, timeout=3.0)
        resp.raise_for_status()
        paths = resp.json()
        remote: dict[str, str] = {}
        types = {r.get("type") for it in paths.get("items") or [] for r in it.get("readers") or []}
        for kind in sorted(t for t in types if t in _MTX_LISTS and peers):
            listing = client.get(f"{self.base}/v3/{_MTX_LISTS[kind]}/list", params={"itemsPerPage": 10000},
                                 timeout=3.0)
            if listing.status_code == 200:
                remote.update({c["id"]: c.get("remoteAddr", "") for c in listing.json().get("items") or []})
        stats = parse_mediamtx(paths, remote, peers)
        rx = sum(int(it.get("bytesReceived") or 0) for it in paths.get("items") or [])
        tx = sum(int(it.get("bytesSent") or 0) for it in paths.get("items") or [])
        now = time.monotonic()
        if self._last is not None and now > self._last[0]:
            dt = now - self._last[0]
            stats.bw_in = max(0, int((rx - self._last[1]) * 8 / dt))
            stats.bw_out = max(0, int((tx - self._last[2]) * 8 / dt))
        self._last = (now, rx, tx)
        return stats


def reader_for(engine: str, url: str) -> StatsReader:
    if engine == "nginx-rtmp":
        return NginxRtmpReader(url)
    if engine == "mediamtx":
        return MediaMTXReader(url)
    raise ValueError(f"no stats reader for engine {engine!r} (nginx-rtmp, mediamtx)")
