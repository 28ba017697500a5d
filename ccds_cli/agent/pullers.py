"""Engine pullers: point an edge's or relay's media engine at each stream's source (one per engine).

* nginx-rtmp: the engine's `on_play` callback reaches `OnPlayServer` on loopback, which answers
  `302 Location: rtmp://<ip>:<port>/<app>/<stream>`; nginx-rtmp then pulls that stream from there
  (a remote relay; its docs require an IP address, not a name, in the Location). Unknown: 404,
  and nginx-rtmp drops the viewer.
* MediaMTX: `MediaMTXPaths` keeps one configured path per live stream, `source: srt://...` with
  `sourceOnDemand`, through the v3 control API. There is no catch-all path: with several origins
  a regex path can only name one of them, and a catch-all would also let anyone publish to an edge.
"""

from __future__ import annotations

import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol
from urllib.parse import parse_qs, quote, urlsplit

import httpx

from ccds_cli.agent.sources import SourceMap

log = logging.getLogger("ccds.agent")


class PullerError(Exception):
    """The puller cannot run (its port is taken): the agent exits with a clear message."""


class Puller(Protocol):
    def start(self, sources: SourceMap) -> None: ...

    def sync(self, sources: SourceMap) -> None: ...

    def stop(self) -> None: ...


# --- nginx-rtmp ---------------------------------------------------------------------------------

PLAY_WAIT_TRIES, PLAY_WAIT_STEP = 12, 0.25  # ~3 s: two heartbeats of the local cloud, one and a half of a cloud's


class _OnPlayHandler(BaseHTTPRequestHandler):
    server: "_Server"
    timeout = 5  # a stuck client cannot hold a handler thread

    def _fields(self) -> dict[str, str]:
        """nginx-rtmp posts a form (`notify_method post`, the default) or sends a query (`get`)."""
        raw = urlsplit(self.path).query
        if self.command == "POST":
            length = min(int(self.headers.get("Content-Length") or 0), 65536)
            raw = self.rfile.read(length).decode("latin-1")
        return {k: v[0] for k, v in parse_qs(raw).items()}

    def _answer(self) -> None:
        if urlsplit(self.path).path != "/on_play":
            self._send(404)
            return
        f = self._fields()
        app, name = f.get("app", ""), f.get("name", "")
        entry = None
        # A stream published a moment ago is known to the manager after its origin's next heartbeat: a
        # viewer that early waits for it (bounded, under the handler's timeout) instead of being refused.
        for _ in range(PLAY_WAIT_TRIES if app and name else 0):
            entry = self.server.sources.lookup(app, name)
            if entry is not None:
                break
            time.sleep(PLAY_WAIT_STEP)
        url = (entry or {}).get("urls", {}).get("rtmp", "")
        if not url.startswith("rtmp://"):
            log.info("on_play %s/%s from %s: no source", app, name, f.get("addr", "?"))
            self._send(404)
            return
        log.info("on_play %s/%s from %s -> %s", app, name, f.get("addr", "?"), url)
        self._send(302, url)

    def _send(self, status: int, location: str = "") -> None:
        self.send_response(status)
        if location:
            self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = _answer

    def log_message(self, fmt, *args) -> None:  # noqa: ANN002 - stdlib signature
        log.debug("on_play: " + fmt, *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    sources: SourceMap


class OnPlayServer:
    """Serves nginx-rtmp's `on_play` on 127.0.0.1:`port` from the source map (nothing to reconcile)."""

    def __init__(self, port: int, host: str = "127.0.0.1"):
        self.host, self.port = host, port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self, sources: SourceMap) -> None:
        try:
            self._server = _Server((self.host, self.port), _OnPlayHandler)
        except OSError as exc:
            raise PullerError(f"cannot serve on_play on {self.host}:{self.port}: {exc}") from None
        self._server.sources = sources
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.5},
                                        name="on_play", daemon=True)
        self._thread.start()
        log.info("on_play redirects served on http://%s:%d/on_play", self.host, self.port)

    def sync(self, sources: SourceMap) -> None:
        """Nothing to push: every play asks. A stream that moved is found on its next first viewer."""

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = None


# --- MediaMTX -----------------------------------------------------------------------------------

def mediamtx_source(entry: dict) -> str:
    """srt://host:port?streamid=read:app/stream of a source entry (port from its srt URL, else 8890)."""
    srt = urlsplit((entry.get("urls") or {}).get("srt", ""))
    host = srt.hostname or entry["host"]
    port = srt.port or 8890
    host = f"[{host}]" if ":" in host else host
    return f"srt://{host}:{port}?streamid=read:{entry['app']}/{entry['stream']}"


class MediaMTXPaths:
    """Reconciles MediaMTX's path configuration (v3 API) with the source map.

    Paths this agent manages are recognised by their content, so an agent restart adopts them: a
    plain (non-regex) name whose `source` reads the same name over SRT. Other paths are left alone.
    """

    def __init__(self, api: str, client: httpx.Client | None = None, timeout: float = 3.0):
        self.base = api.split("/v3/", 1)[0].rstrip("/")
        self.client = client or httpx.Client(timeout=timeout)
        self.timeout = timeout
        self.requests = 0  # API calls made by the last sync (tests check idempotence)

    def start(self, sources: SourceMap) -> None:
        return None

    def stop(self) -> None:
        return None

    @staticmethod
    def managed(conf: dict) -> bool:
        name, source = conf.get("name") or "", conf.get("source") or ""
        return not name.startswith("~") and source.startswith("srt://") and source.endswith(f"streamid=read:{name}")

    def current(self) -> dict[str, dict]:
        """Managed path configurations by name (paged: the API defaults to 100 per page)."""
        found, page, pages = {}, 0, 1
        while page < pages and page < 1000:
            resp = self._call("GET", "/v3/config/paths/list", params={"itemsPerPage": 1000, "page": page})
            resp.raise_for_status()
            body = resp.json()
            pages = int(body.get("pageCount") or 0)
            found.update({c["name"]: c for c in body.get("items") or [] if self.managed(c)})
            page += 1
        return found

    def desired(self, sources: SourceMap) -> dict[str, dict]:
        return {f"{app}/{stream}": {"source": mediamtx_source(e), "sourceOnDemand": True}
                for (app, stream), e in sources.streams.items()}

    def sync(self, sources: SourceMap) -> None:
        """Add missing paths, re-point moved ones, delete ended ones. Errors are logged, retried next beat."""
        self.requests = 0
        if not sources.loaded:
            return  # no list yet: an empty map would delete every path
        try:
            have = self.current()
            want = self.desired(sources)
            for name, conf in sorted(want.items()):
                old = have.get(name)
                if old is None:
                    resp = self._call("POST", f"/v3/config/paths/add/{quote(name)}", json=conf)
                    if resp.status_code == 400 and "exists" in resp.text:  # an unmanaged path of that name
                        resp = self._call("PATCH", f"/v3/config/paths/patch/{quote(name)}", json=conf)
                elif old.get("source") != conf["source"] or old.get("sourceOnDemand") is not True:
                    resp = self._call("PATCH", f"/v3/config/paths/patch/{quote(name)}", json=conf)
                else:
                    continue
                self._check(resp, name)
            for name in sorted(set(have) - set(want)):
                resp = self._call("DELETE", f"/v3/config/paths/delete/{quote(name)}")
                if resp.status_code != 404:  # already gone is fine
                    self._check(resp, name)
        except httpx.HTTPError as exc:
            log.warning("MediaMTX paths not reconciled: %s", exc)

    def _call(self, method: str, path: str, **kw) -> httpx.Response:
        self.requests += 1
        return self.client.request(method, self.base + path, timeout=self.timeout, **kw)

    @staticmethod
    def _check(resp: httpx.Response, name: str) -> None:
        if resp.status_code != 200:
            log.warning("MediaMTX refused path %s: %s %s", name, resp.status_code, resp.text[:200])


def puller_for(engine: str, role: str, stats_url: str, on_play_port: int) -> Puller | None:
    """The puller of an edge or relay; None for roles that do not pull (or nginx-rtmp without on_play)."""
    if role not in ("edge", "relay"):
        return None
    if engine == "nginx-rtmp":
        return OnPlayServer(on_play_port) if on_play_port else None
    if engine == "mediamtx":
        return MediaMTXPaths(stats_url)
    return None
