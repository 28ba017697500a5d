"""Node state transitions, oldest first; `after` pages through them."""

from __future__ import annotations

from fastapi import APIRouter, Query

from ccds_cli.sm.auth import AdminAuth
from ccds_cli.sm.routes.deps import StoreDep
from ccds_cli.sm.schemas import EventOut

router = APIRouter(prefix="/events", tags=["events"])


@router.get("", response_model=list[EventOut])
def list_events(store: StoreDep, _: AdminAuth, after: int = 0, limit: int = Query(200, ge=1, le=1000),
                node: str | None = None):
    return store.events(after_id=after, limit=limit, node=node)
