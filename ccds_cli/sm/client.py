"""A small HTTP client for the stream manager API, for `ccds probe`, `ccds status` and tests."""

from __future__ import annotations

from typing import Any

import httpx


class ManagerError(Exception):
    def __init__(self, status: int, detail: str, retry_after: float | None = None):
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
        self.retry_after = retry_after


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:  # an HTTP date, or garbage
        return None


class ManagerClient:
    """Thin wrapper: raises `ManagerError` for non-2xx answers and keeps Retry-After."""

    def __init__(self, base_url: str, admin_token: str | None = None, timeout: float = 5.0):
        self.base = base_url.rstrip("/") + "/api/v1"
        headers = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}
        self.http = httpx.Client(timeout=timeout, headers=headers)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "ManagerClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        resp = self.http.request(method, self.base + path, **kw)
        if resp.status_code >= 300:
            try:
                body = resp.json()
            except ValueError:
                body = None
            # our {"detail": ...}, else the start of whatever answered (a proxy's page, another service)
            detail = body.get("detail") if isinstance(body, dict) and "detail" in body else \
                " ".join(resp.text.split())[:200]
            ra = resp.headers.get("retry-after")
            raise ManagerError(resp.status_code, str(detail), _seconds(ra))
        try:
            return resp.json()
        except ValueError:  # something else answers at that address (a proxy page, another service)
            kind = resp.headers.get("content-type") or "no content type"
            raise ManagerError(resp.status_code, f"not a stream manager answer ({kind}: {resp.text[:80]!r})") from None

    def health(self) -> dict:
        return self._call("GET", "/health")

    def nodes(self, **filters: Any) -> list[dict]:
        return self._call("GET", "/nodes", params={k: v for k, v in filters.items() if v is not None})

    def streams(self) -> list[dict]:
        return self._call("GET", "/streams")

    def events(self, after: int = 0, limit: int = 200) -> list[dict]:
        return self._call("GET", "/events", params={"after": after, "limit": limit})

    def publish(self, app: str, stream: str, region: str | None = None, **creds: Any) -> dict:
        body = {"region": region, **creds}
        return self._call("POST", f"/streams/{app}/{stream}/publish", json=body)

    def subscribe(self, app: str, stream: str, region: str | None = None, lat: float | None = None,
                  lon: float | None = None, **creds: Any) -> dict:
        params = {k: v for k, v in {"region": region, "lat": lat, "lon": lon, **creds}.items() if v is not None}
        return self._call("GET", f"/streams/{app}/{stream}/subscribe", params=params)

    def set_state(self, node: str, state: str, reason: str = "") -> dict:
        return self._call("PUT", f"/nodes/{node}/state", json={"state": state, "reason": reason})

    def take_lease(self, name: str, holder: str, ttl_s: float) -> dict:
        """Take or renew a lease; `granted` says whether `holder` holds it now."""
        return self._call("POST", f"/leases/{name}", json={"holder": holder, "ttl_s": ttl_s})

    def release_lease(self, name: str, holder: str) -> bool:
        return bool(self._call("DELETE", f"/leases/{name}", params={"holder": holder}).get("released"))

    def demand(self) -> dict[str, dict[str, int]]:
        """{region: {refused|fallback|spilled: count}}, monotonic counters."""
        return self._call("GET", "/demand").get("regions", {})

