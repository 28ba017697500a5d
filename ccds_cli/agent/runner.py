"""The agent loop: register, heartbeat every `interval`, re-register when forgotten, deregister on stop.

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
        log.info("registered as %s (%s)", self.node_id, self.state)
        return True

    def heartbeat(self) -> bool:
        """One beat; False when the manager did not take it (the caller re-registers on 404)."""
        try:
            s = self.reader.read(self.client, self.peers)
            if self.cfg.role == "transcoder":
                self.published = {(x["app"], x["name"]) for x in s.streams if x.get("publishing")}
                s.relays, s.subscribers, s.streams = s.relays + s.subscribers, 0, []
            payload = {"engine_ok": True, **asdict(s)}
            self.last_stats, self.engine_ok = s, True
            if len(s.streams) > MAX_STREAMS_PER_BEAT:  # the manager refuses more: the ones that matter most
                payload["streams"] = sorted(s.streams, key=lambda x: (not x.get("publishing"),
                                                                      -int(x.get("subscribers") or 0)))[
                    :MAX_STREAMS_PER_BEAT]
        except Exception as exc:  # an unreadable engine is reported, not fatal: the manager decides
            payload = {"engine_ok": False, "error": str(exc)[:300]}
            self.engine_ok = False
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
        if resp.status_code != 200:
            log.error("heartbeat refused: %s %s", resp.status_code, resp.text[:200])
            self.beat_failures += 1
            return False
        body = resp.json()
        if body["state"] != self.state:
            log.info("state %s -> %s", self.state, body["state"])
        self.state, self.peers = body["state"], set(body.get("peers") or [])
        self.beats += 1
        self.last_beat_at = time.time()
        return True

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
            stop.wait(self.cfg.interval)
        self.deregister()
