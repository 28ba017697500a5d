"""Stream sources for node agents (node token): which node and URL each stream is pulled from.

Agents poll the list every heartbeat with `If-None-Match`; an unchanged list answers 304 with no
body, so the poll costs the manager one small query and the agent nothing.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from ccds_cli.sm import sources
from ccds_cli.sm.auth import NodeAuth
from ccds_cli.sm.routes.deps import AUTH, StoreDep, errors
from ccds_cli.sm.routing import NAME_RE

router = APIRouter(prefix="/sources", tags=["sources"])

AppName = Annotated[str, Path(pattern=NAME_RE.pattern)]
StreamName = Annotated[str, Path(pattern=NAME_RE.pattern)]


def _requester(node: str, role: str, region: str, provider: str) -> sources.Requester:
    return sources.Requester(name=node, role=role, region=region, provider=provider)


@router.get("", responses=errors(304, *AUTH, 413, 503))
def list_sources(request: Request, store: StoreDep, _: NodeAuth,
                 node: Annotated[str, Query(description="the asking node's name")] = "",
                 role: Annotated[str, Query(description="its role: edge | relay")] = "",
                 region: Annotated[str, Query(description="its region (picks private addresses)")] = "",
                 provider: Annotated[str, Query(description="its provider alias")] = ""):
    """Every live or just-assigned stream whose origin is in service, with the URLs to pull it from."""
    entries, tag = sources.source_map(store, _requester(node, role, region, provider))
    headers = {"ETag": tag, "Cache-Control": "no-cache"}
    sent = [t.strip() for t in request.headers.get("if-none-match", "").split(",")]
    if tag in sent or "*" in sent:
        return Response(status_code=304, headers=headers)
    return JSONResponse({"streams": entries}, headers=headers)


@router.get("/{app}/{stream}", responses=errors(*AUTH, 404, 413, 503))
def get_source(store: StoreDep, _: NodeAuth, app: AppName, stream: StreamName, node: str = "", role: str = "",
               region: str = "", provider: str = ""):
    """One stream's source: 404 when it is not published, 503 + Retry-After while its origin is down."""
    return sources.source_for(store, app, stream, _requester(node, role, region, provider))
