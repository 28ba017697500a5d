"""Deployment health for load balancers and `ccds status`: no authentication, counts only."""

from __future__ import annotations

from fastapi import APIRouter, Request

from ccds_cli.sm.routes.deps import StoreDep, errors
from ccds_cli.sm.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, responses=errors(413, 503))
def health(request: Request, store: StoreDep):
    summary = store.health()
    summary["is_leader"] = request.app.state.leader.is_leader
    return summary
