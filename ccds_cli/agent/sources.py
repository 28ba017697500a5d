"""The agent's copy of the manager's stream sources (`GET /api/v1/sources`).

Refreshed once per heartbeat with `If-None-Match` (a 304 when nothing changed); a stream missing
from the copy is asked for on its own right away, so a viewer arriving between two refreshes is
not turned away. Safe to use from the on_play server's threads: the map is replaced, never mutated.
"""

from __future__ import annotations

import logging
import threading
from urllib.parse import quote

import httpx

log = logging.getLogger("ccds.agent")


class SourceMap:
    def __init__(self, api: str, headers: dict[str, str], client: httpx.Client, *, node: str, role: str,
                 region: str, provider: str, timeout: float = 3.0):
        self.api = api.rstrip("/")
        self.headers = headers
        self.client = client
        self.params = {"node": node, "role": role, "region": region, "provider": provider}
        self.timeout = timeout
        self.etag: str | None = None
        self.streams: dict[tuple[str, str], dict] = {}
        self.loaded = False  # True once a full list arrived (until then, `streams` is not the truth)
        self._lock = threading.Lock()  # one request at a time on the shared client

    def refresh(self) -> bool:
        """Fetch the list unless unchanged; True when the map changed. Errors keep the last map."""
        headers = dict(self.headers)
        if self.etag:
            headers["If-None-Match"] = self.etag
        try:
            with self._lock:
                resp = self.client.get(f"{self.api}/sources", params=self.params, headers=headers,
                                       timeout=self.timeout)
        except httpx.HTTPError as exc:
            log.warning("sources unavailable: %s", exc)
            return False
        if resp.status_code == 304:
            return False
        if resp.status_code != 200:
            log.warning("sources refused: %s %s", resp.status_code, resp.text[:200])
            return False
        new = {(s["app"], s["stream"]): s for s in resp.json().get("streams", [])}
        changed = new != self.streams or not self.loaded
        self.streams, self.etag, self.loaded = new, resp.headers.get("etag"), True
        return changed

    def lookup(self, app: str, stream: str) -> dict | None:
        """The stream's source from the map, else from the manager; None when it has none now."""
        found = self.streams.get((app, stream))
        if found is not None:
            return found
        try:
            with self._lock:
                resp = self.client.get(f"{self.api}/sources/{quote(app, safe='')}/{quote(stream, safe='')}",
                                       params=self.params, headers=self.headers, timeout=self.timeout)
        except httpx.HTTPError as exc:
            log.warning("source of %s/%s unavailable: %s", app, stream, exc)
            return None
        if resp.status_code != 200:
            return None  # 404 unknown, 503 origin down, 422 a name the manager rejects
        entry = resp.json()
        self.streams = {**self.streams, (app, stream): entry}  # replaced, not mutated (readers in threads)
        return entry
