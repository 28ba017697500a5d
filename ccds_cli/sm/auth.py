"""Bearer tokens for admin and node endpoints, and the optional round-trip check of publishers/viewers."""

from __future__ import annotations

import hmac
from typing import Annotated

import httpx
from fastapi import Depends, HTTPException, Request

from ccds_cli.sm.settings import Settings


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _check(request: Request, expected: str, what: str) -> None:
    """401 when no token was sent, 403 when it is wrong; an unset token locks the endpoint entirely."""
    token = _bearer(request)
    if token is None:
        raise HTTPException(401, f"{what} token required", headers={"WWW-Authenticate": "Bearer"})
    if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
        raise HTTPException(403, f"invalid {what} token")


def require_admin(request: Request) -> None:
    _check(request, request.app.state.settings.admin_token, "admin")


def _matches(request: Request, expected: str) -> bool:
    token = _bearer(request)
    return token is not None and bool(expected) and hmac.compare_digest(token.encode(), expected.encode())


def require_node(request: Request) -> None:
    """Nodes use the node token; the admin token is accepted too (operators may act for a node)."""
    s: Settings = request.app.state.settings
    if not _matches(request, s.admin_token):
        _check(request, s.node_token, "node")


def require_metrics(request: Request) -> None:
    """A Prometheus server may scrape with the admin token or, better, a token good for /metrics only."""
    s: Settings = request.app.state.settings
    if not _matches(request, s.metrics_token):
        _check(request, s.admin_token, "admin or metrics")


AdminAuth = Annotated[None, Depends(require_admin)]
NodeAuth = Annotated[None, Depends(require_node)]


def round_trip(settings: Settings, client: httpx.Client, *, username: str | None, password: str | None,
               token: str | None, stream: str, action: str) -> bool:
    """Ask the customer's backend; only a 2xx allows. Errors and timeouts deny (fail closed)."""
    if not settings.auth_url:
        return True
    try:
        resp = client.post(settings.auth_url, json={"username": username, "password": password, "token": token,
                                                    "stream": stream, "action": action},
                           timeout=settings.auth_timeout)
    except httpx.HTTPError:
        return False
    return 200 <= resp.status_code < 300
