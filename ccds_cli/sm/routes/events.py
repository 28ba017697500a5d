"""Node state transitions, oldest first; `after` pages through them."""

from __future__ import annotations

from fastapi import APIRouter, Query

from ccds_cli.sm.auth import AdminAuth
from ccds_cli.sm.routes.deps import AUTH, StoreDep, errors
from ccds_cli.sm.schemas import EventOut

router = APIRouter(prefix="/events", tags=["events"])


@router.get("", response_model=list[EventOut], responses=errors(*AUTH, 413, 503))
def list_events(store: StoreDep, _: AdminAuth, after: int = Query(0, ge=0, le=2**31 - 1),  # an INTEGER column
                limit: int = Query(200, ge=1, le=1000), node: str | None = Query(None, max_length=128)):
    return store.events(after_id=after, limit=limit, node=node)
