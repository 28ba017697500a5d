"""Publish and subscribe routing (public, optionally round-trip authenticated) and the stream list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import JSONResponse

from ccds_cli.sm import routing
from ccds_cli.sm.auth import AdminAuth, round_trip
from ccds_cli.sm.routes.deps import StoreDep
from ccds_cli.sm.schemas import ClientAuth, PublishAnswer, StreamOut, SubscribeAnswer

router = APIRouter(prefix="/streams", tags=["streams"])

AppName = Annotated[str, Path(pattern=routing.NAME_RE.pattern, description="application (e.g. live)")]
StreamName = Annotated[str, Path(pattern=routing.NAME_RE.pattern, description="stream name")]


def _authorize(request: Request, creds: ClientAuth, app: str, stream: str, action: str) -> None:
    st = request.app.state
    if not round_trip(st.settings, st.http, username=creds.username, password=creds.password, token=creds.token,
                      stream=f"{app}/{stream}", action=action):
        raise HTTPException(403, f"{action} of {app}/{stream} denied by the authentication backend")


@router.post("/{app}/{stream}/publish", response_model=PublishAnswer)
def publish(request: Request, store: StoreDep, app: AppName, stream: StreamName, body: ClientAuth | None = None):
    """Where to publish: the least-loaded INSERVICE origin in the region (or the nearest one)."""
    creds = body or ClientAuth()
    _authorize(request, creds, app, stream, "publish")
    return routing.publish(store, app, stream, creds.region, creds.lat, creds.lon)


@router.get("/{app}/{stream}/subscribe", response_model=SubscribeAnswer)
def subscribe(request: Request, store: StoreDep, app: AppName, stream: StreamName, region: str | None = None, lat: float | None = None, lon: float | None = None,
              username: str | None = None, password: str | None = None, token: str | None = None):
    """Where to play: an INSERVICE edge with a free slot in the region, else the nearest region with one."""
    creds = ClientAuth(username=username, password=password, token=token, region=region, lat=lat, lon=lon)
    _authorize(request, creds, app, stream, "subscribe")
    # The hot path: the answer is built by `routing` in the documented shape; skip re-validating it.
    return JSONResponse(routing.subscribe(store, app, stream, creds.region, creds.lat, creds.lon))


@router.get("", response_model=list[StreamOut])
def list_streams(store: StoreDep, _: AdminAuth):
    """Registered streams with their origin, live state and viewers summed over all nodes."""
    return store.list_streams()
