"""The stream manager API as a synthetic client sees it: async, one pooled connection set per run."""

from __future__ import annotations

from typing import Any

import httpx


class Refused(Exception):
    """The manager answered, with a non-2xx status."""

    def __init__(self, status: int, detail: str, retry_after: float | None = None):
        super().__init__(f"{status}: {detail}")
        self.status, self.detail, self.retry_after = status, detail, retry_after


class Unreachable(Exception):
    """The manager did not answer (connection refused, timeout, not HTTP)."""


class AsyncManager:
    """`POST /streams/{app}/{stream}/publish`, `POST …/subscribe` (body, so credentials stay out of
    URLs), `GET /health`, and `GET /nodes` when an admin token is known."""

    def __init__(self, base_url: str, admin_token: str | None = None, *, timeout: float = 5.0,
                 max_connections: int = 64):
        self.url = base_url.rstrip("/")
        self.admin_token = admin_token
        # `timeout` bounds the manager's answer; waiting for one of our own pooled connections is ours
        # (a fast ramp queues there) and must not read as "the manager did not answer".
        self.http = httpx.AsyncClient(base_url=self.url + "/api/v1", timeout=httpx.Timeout(timeout, pool=60.0),
                                      limits=httpx.Limits(max_connections=max_connections,
                                                          max_keepalive_connections=max_connections))

    async def close(self) -> None:
        await self.http.aclose()

    async def _call(self, method: str, path: str, admin: bool = False, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.admin_token}"} if admin and self.admin_token else None
        try:
            resp = await self.http.request(method, path, headers=headers, **kw)
        except httpx.HTTPError as exc:
            raise Unreachable(f"{type(exc).__name__}: {exc}".rstrip(": ")) from None
        if resp.status_code >= 300:
            try:
                detail = resp.json().get("detail", resp.text)
            except ValueError:
                detail = resp.text
            ra = resp.headers.get("retry-after")
            try:
                retry = float(ra) if ra else None
            except ValueError:
                retry = None
            raise Refused(resp.status_code, str(detail)[:300], retry)
        try:
            return resp.json()
        except ValueError:
            raise Unreachable(f"{self.url} answered {resp.status_code} with something that is not JSON") from None

    async def health(self) -> dict:
        return await self._call("GET", "/health")

    async def nodes(self) -> list[dict] | None:
        """Every node with its load, or None without an admin token (or when refused)."""
        if not self.admin_token:
            return None
        try:
            return await self._call("GET", "/nodes", admin=True)
        except (Refused, Unreachable):
            return None

    @staticmethod
    def _body(region: str | None, lat: float | None, lon: float | None, creds: dict | None) -> dict:
        body = {"region": region, "lat": lat, "lon": lon, **(creds or {})}
        return {k: v for k, v in body.items() if v is not None}

    async def publish(self, app: str, stream: str, *, region: str | None = None, lat: float | None = None,
                      lon: float | None = None, creds: dict | None = None) -> dict:
        return await self._call("POST", f"/streams/{app}/{stream}/publish", json=self._body(region, lat, lon, creds))

    async def subscribe(self, app: str, stream: str, *, region: str | None = None, lat: float | None = None,
                        lon: float | None = None, creds: dict | None = None) -> dict:
        return await self._call("POST", f"/streams/{app}/{stream}/subscribe",
                                json=self._body(region, lat, lon, creds))
