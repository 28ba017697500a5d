"""`GET /metrics`: the Prometheus text format (admin token, or the scrape-only CCDS_METRICS_TOKEN)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ccds_cli.sm.auth import require_metrics

router = APIRouter(tags=["metrics"])


@router.get("/metrics", dependencies=[Depends(require_metrics)], include_in_schema=True)
def metrics(request: Request) -> Response:
    """Sync on purpose: the fleet gauges read the database in a worker thread, not on the event loop."""
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
