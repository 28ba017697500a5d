"""The agent loop: register, heartbeat every `interval`, re-register when forgotten, deregister on stop.

A beat costs the manager the same whatever the deployment's size: the agent echoes the peer list's
version (the list comes back only when it changed) and sends its stream list as a diff against the
sequence number the manager acknowledged (the full list when it has none, or the manager asks for it).
Beats are jittered (+-10 %), follow a longer interval when the manager asks for one, and back off on
429/503 (Retry-After when given, else doubling up to `MAX_BACKOFF`).

Edges and relays also keep the manager's stream sources and drive their engine's puller with them
(`pullers.py`): each stream is pulled from the node that holds it, not from one origin fixed at boot.

Transcoders (`transcoder.py`) report no streams of their own: the streams published to them are held by
the origins they push to (the origins' beats register them and their renditions), and their readers are
their own ffmpeg processes, counted as relays, not viewers.

Bounded by a stop event (set by SIGTERM/SIGINT): every wait is `stop.wait(...)`, every HTTP call
has a timeout, so the process always leaves within about one interval plus one request.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from dataclasses import asdict, dataclass, field
from urllib.parse import quote

import httpx

from ccds_cli.agent.pullers import Puller
from ccds_cli.agent.sources import SourceMap
from ccds_cli.agent.stats import StatsReader
from ccds_cli.agent.transcoder import Transcoder

log = logging.getLogger("ccds.agent")
MAX_STREAMS_PER_BEAT = 1000  # = ccds_cli.sm.schemas.MAX_STREAMS_PER_BEAT (the agent does not import the manager)
JITTER = 0.1  # each wait is the interval +-10 %: a fleet started together spreads out
MAX_BACKOFF = 30.0  # seconds, whatever Retry-After says (a node silent longer is FAULT anyway)
MAX_INTERVAL = 300.0  # the most an answer's `interval` can stretch the beat


def _retry_after(value: str | None) -> float | None:
    try:
        return min(MAX_BACKOFF, max(0.0, float(value))) if value else None
    except ValueError:  # an HTTP date, or garbage: the doubling backoff applies
        return None


def _key(s: dict) -> tuple[str, str]:
    return (str(s.get("app", "")), str(s.get("name", "")))


@dataclass
class AgentConfig:
    manager: str
    token: str
    deployment: str
    region: str
    provider: str
    role: str
    name: str
    engine: str
    stats_url: str
    public_host: str
    private_host: str
    capacity: int
    lat: float | None = None
    lon: float | None = None
    endpoints: dict[str, str] = field(default_factory=dict)
    interval: float = 2.0
    on_play_port: int = 0  # nginx-rtmp edges/relays: where the engine's on_play callback is served

    def registration(self) -> dict:
        d = asdict(self)
        for k in ("manager", "token", "interval", "on_play_port"):
            d.pop(k)
        return d


class Agent:
    def __init__(self, cfg: AgentConfig, reader: StatsReader, client: httpx.Client | None = None,
                 puller: Puller | None = None, transcoder: Transcoder | None = None):
        self.cfg = cfg
        self.reader = reader
        self.api = cfg.manager.rstrip("/") + "/api/v1"
        self.client = client or httpx.Client(timeout=5.0)
        self.headers = {"Authorization": f"Bearer {cfg.token}"}
        self.node_id: str | None = None
        self.state: str | None = None
        self.peers: set[str] = set()
        self.peers_version: int | None = None  # the version of `peers` (None: unknown, the next answer has it)
        self.streams_seq: int | None = None  # the sequence number of the list the manager holds (acked)
        self.acked: dict[tuple[str, str], dict] = {}  # that list, by (app, name)
        self.interval = cfg.interval  # the manager may ask for a longer one
        self.backoff = 0.0  # seconds to wait before the next beat after a 429/503 (0: none)
        self.beats = 0
        self.beat_failures = 0
        self.last_beat_at: float | None = None
        self.last_stats = None  # EngineStats of the last good read (the metrics endpoint shows them)
        self.engine_ok = False
        self.puller = puller
        self.transcoder = transcoder
        self.published: set[tuple[str, str]] | None = None  # streams the engine saw published (last good read)
        # The on_play server's threads look streams up with their own client, never the loop's.
        self.sources = SourceMap(self.api, self.headers, httpx.Client(timeout=5.0) if client is None else client,
                                 node=cfg.name, role=cfg.role, region=cfg.region, provider=cfg.provider)

    def register(self) -> bool:
        try:
            resp = self.client.post(f"{self.api}/nodes", json=self.cfg.registration(), headers=self.headers)
        except httpx.HTTPError as exc:
            log.warning("manager unreachable (%s); retrying", exc)
            return False
        if resp.status_code != 201:
            log.error("registration refused: %s %s", resp.status_code, resp.text[:200])
            return False
        body = resp.json()
        self.node_id, self.state = body["id"], body["state"]
        self.streams_seq, self.acked, self.peers_version = None, {}, None
        log.info("registered as %s (%s)", self.node_id, self.state)
        return True

    def heartbeat(self) -> bool:
        """One beat; False when the manager did not take it (the caller re-registers on 404)."""
        try:
            s = self.reader.read(self.client, self.peers)
            if self.cfg.role == "transcoder":
                self.published = {(x["app"], x["name"]) for x in s.streams if x.get("publishing")}
                s.relays, s.subscribers, s.streams = s.relays + s.subscribers, 0, []
            stats = asdict(s)
            self.last_stats, self.engine_ok = s, True
            streams = stats.pop("streams")
            if len(streams) > MAX_STREAMS_PER_BEAT:  # the manager refuses more: the ones that matter most
                streams = sorted(streams, key=lambda x: (not x.get("publishing"), -int(x.get("subscribers") or 0)))[
                    :MAX_STREAMS_PER_BEAT]
            payload = {"engine_ok": True, **stats}
        except Exception as exc:  # an unreadable engine is reported, not fatal: the manager decides
            payload, streams = {"engine_ok": False, "error": str(exc)[:300]}, []
            self.engine_ok = False
        current = {_key(x): dict(x) for x in streams}
        payload.update(self._stream_diff(current))
        if self.peers_version is not None:
            payload["peers_version"] = self.peers_version
        try:
            resp = self.client.post(f"{self.api}/nodes/{self.node_id}/heartbeat", json=payload,
                                    headers=self.headers)
        except httpx.HTTPError as exc:
            log.warning("heartbeat failed: %s", exc)
            self.beat_failures += 1
            return False
        if resp.status_code == 404:
            log.warning("manager forgot this node; registering again")
            self.node_id = None
            self.beat_failures += 1
            return False
        if resp.status_code in (429, 503):  # a busy or recovering manager: back off as it asks
            wait = _retry_after(resp.headers.get("retry-after"))
            self.backoff = wait if wait is not None else min(MAX_BACKOFF, max(self.interval, 2 * self.backoff))
            log.warning("manager busy (%s); next beat in %.1f s", resp.status_code, self.backoff)
            self.beat_failures += 1
            return False
        if resp.status_code != 200:
            log.error("heartbeat refused: %s %s", resp.status_code, resp.text[:200])
            self.beat_failures += 1
            return False
        self.backoff = 0.0
        body = resp.json()
        if body["state"] != self.state:
            log.info("state %s -> %s", self.state, body["state"])
        self.state = body["state"]
        if body.get("peers") is not None:  # null: unchanged since the version we sent
            self.peers = set(body["peers"])
        self.peers_version = body.get("peers_version")
        seq = body.get("streams_seq")
        self.streams_seq, self.acked = (seq, current) if seq is not None else (None, {})
        asked = body.get("interval")
        asked = float(asked) if isinstance(asked, (int, float)) and math.isfinite(asked) and asked > 0 else None
        interval = self.cfg.interval if asked is None else min(MAX_INTERVAL, max(self.cfg.interval, asked))
        if interval != self.interval:
            log.info("beating every %g s (the manager asks for %s)", interval, f"{asked:g} s" if asked else "none")
        self.interval = interval
        self.beats += 1
        self.last_beat_at = time.time()
        return True

    def _stream_diff(self, current: dict[tuple[str, str], dict]) -> dict:
        """The full list when the manager holds none we know of, else what changed since it acked."""
        if self.streams_seq is None:
            return {"streams": list(current.values())}
        return {"streams_base": self.streams_seq,
                "streams_changed": [v for k, v in current.items() if self.acked.get(k) != v],
                "streams_removed": [{"app": k[0], "name": k[1]} for k in self.acked if k not in current]}

    def next_wait(self) -> float:
        """Seconds to the next beat: the backoff after a 429/503, else the interval, both jittered."""
        base = self.backoff or self.interval
        return base * random.uniform(1 - JITTER, 1 + JITTER)

    def deregister(self) -> None:
        if self.node_id is None:
            return
        try:
            self.client.delete(f"{self.api}/nodes/{self.node_id}", headers=self.headers, timeout=3.0)
        except httpx.HTTPError as exc:
            log.warning("could not deregister: %s", exc)

    def pull(self) -> None:
        """Refresh the source map (a 304 when unchanged) and let the engine's puller follow it."""
        if self.puller is None:
            return
        self.sources.refresh()
        self.puller.sync(self.sources)

    def transcode(self) -> None:
        """Let the transcoder follow the streams published here (nothing while the engine is unreadable)."""
        if self.transcoder is not None and self.engine_ok and self.published is not None:
            self.transcoder.sync(self.published)

    def origin_of(self, app: str, stream: str) -> dict | None:
        """A transcoder's target: the manager's source entry of `app/stream` (its origin), fresh every time."""
        try:
            resp = self.client.get(f"{self.api}/sources/{quote(app, safe='')}/{quote(stream, safe='')}",
                                   params=self.sources.params, headers=self.headers, timeout=3.0)
        except httpx.HTTPError as exc:
            log.warning("source of %s/%s unavailable: %s", app, stream, exc)
            return None
        return resp.json() if resp.status_code == 200 else None

    def run(self, stop: threading.Event) -> None:
        if self.puller is not None:
            self.puller.start(self.sources)
        try:
            self._loop(stop)
        finally:
            if self.puller is not None:
                self.puller.stop()
            if self.transcoder is not None:
                self.transcoder.stop()

    def _loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            if self.node_id is None:
                if not self.register():
                    stop.wait(min(self.cfg.interval, 2.0))
                    continue
            if not self.heartbeat() and self.node_id is None:
                continue  # forgotten: register again right away
            self.pull()
            self.transcode()
            stop.wait(self.next_wait())
        self.deregister()
