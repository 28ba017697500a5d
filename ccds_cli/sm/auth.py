"""Bearer tokens for admin and node endpoints, and the optional round-trip check of publishers/viewers.

Who may do what (docs/security.md, "Who holds what"):

* the **admin token** (managers and the operator) may call every route, and act for any node;
* a **node credential** is one node's own: `n1.<claims>.<mac>`, where the claims name the
  deployment, region, role and name of one node and the MAC is HMAC-SHA256 under the **node key**,
  a secret only the managers (and the operator who generated it) hold. A credential lets its node
  register itself under exactly those claims, heartbeat and deregister itself, and read what every
  node reads (the node list, stream sources); nothing else. Nodes never see the node key, so a
  node cannot mint a credential for another name.

The credential is derived, not stored (`ccds_cli/state/secrets.py`): managers need no table of
tokens, and `ccds` computes the credential of every node it is about to create when it passes
secrets to Terraform.
"""

from __future__ import annotations

import hmac
from typing import Annotated

import httpx
from fastapi import Depends, HTTPException, Request

from ccds_cli.sm.settings import Settings
from ccds_cli.state.secrets import NodeIdentity, node_credential, verify_node_credential

# node id -> (deployment, name): immutable for a row, so a heartbeat's ownership check costs no query.
_OWNER_CACHE_MAX = 100_000


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


async def require_node(request: Request) -> NodeIdentity | None:
    """A node credential of this deployment (its identity), or the admin token (None: an operator
    acting for any node). 401 without a token, 403 for anything else. Async: an HMAC check and no
    I/O, so a heartbeat never leaves the event loop for it."""
    s: Settings = request.app.state.settings
    token = _bearer(request)
    if token is None:
        raise HTTPException(401, "node credential required", headers={"WWW-Authenticate": "Bearer"})
    if _matches(request, s.admin_token):
        return None
    who = verify_node_credential(s.node_key, token)
    if who is None:
        raise HTTPException(403, "invalid node credential")
    if s.deployment and who.deployment != s.deployment:
        raise HTTPException(403, f"this node credential is for deployment {who.deployment!r}, "
                                 f"not {s.deployment!r}")
    return who


def check_registration(who: NodeIdentity | None, body) -> None:
    """A node registers only as itself: the body's deployment, region, role and name are the
    credential's (the admin token registers anything)."""
    if who is None:
        return
    role = getattr(body.role, "value", body.role)
    claimed = NodeIdentity(body.deployment, body.region, str(role), body.name)
    if claimed != NodeIdentity(who.deployment, who.region, who.role, who.name):
        raise HTTPException(403, f"this node credential is for {who.role} {who.name!r} in region {who.region!r} "
                                 f"of {who.deployment!r}; it cannot register {claimed.role} {claimed.name!r} "
                                 f"in region {claimed.region!r} of {claimed.deployment!r}")
    if who.capacity is not None and body.capacity > who.capacity:
        raise HTTPException(403, f"this node credential allows a capacity of at most {who.capacity}; "
                                 f"{who.name!r} registered with {body.capacity}")


async def require_own_node(node_id: str, request: Request,
                     who: Annotated[NodeIdentity | None, Depends(require_node)]) -> NodeIdentity | None:
    """For `/nodes/{node_id}/...`: a node credential acts only on its own node (403 for another's,
    404 when no node has that id); the admin token on any."""
    if who is None:
        return None
    owners: dict[str, tuple[str, str]] | None = getattr(request.app.state, "node_owners", None)
    if owners is None:
        owners = request.app.state.node_owners = {}
    owner = owners.get(node_id)
    if owner is None:
        from starlette.concurrency import run_in_threadpool

        from ccds_cli.sm.store import NotFound

        try:  # a cache miss (the node's first beat after this manager started) reads the database once
            row = await run_in_threadpool(request.app.state.store.get_node, node_id)
        except NotFound:
            row = None
        if row is None or row["id"] != node_id:
            raise HTTPException(404, f"node {node_id} is not registered")
        owner = (row["deployment"], row["name"])
        if len(owners) >= _OWNER_CACHE_MAX:
            owners.clear()
        owners[node_id] = owner
    if owner != (who.deployment, who.name):
        raise HTTPException(403, f"this node credential is for node {who.name!r}; it cannot act for another node")
    return who


def require_metrics(request: Request) -> None:
    """A Prometheus server may scrape with the admin token or, better, a token good for /metrics only."""
    s: Settings = request.app.state.settings
    if not _matches(request, s.metrics_token):
        _check(request, s.admin_token, "admin or metrics")


AdminAuth = Annotated[None, Depends(require_admin)]
NodeAuth = Annotated[NodeIdentity | None, Depends(require_node)]
OwnNodeAuth = Annotated[NodeIdentity | None, Depends(require_own_node)]

__all__ = ["NodeIdentity", "node_credential", "verify_node_credential"]


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
