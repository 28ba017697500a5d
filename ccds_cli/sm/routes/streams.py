"""Publish and subscribe routing (public, optionally round-trip authenticated) and the stream list."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

from ccds_cli.sm import routing
from ccds_cli.sm.auth import AdminAuth, round_trip
from ccds_cli.sm.metrics import result_of
from ccds_cli.sm.routes.deps import AUTH, StoreDep, errors
from ccds_cli.sm.schemas import ClientAuth, PublishAnswer, StreamOut, SubscribeAnswer
from ccds_cli.sm.store import NoEdgeCapacity

router = APIRouter(prefix="/streams", tags=["streams"])

AppName = Annotated[str, Path(pattern=routing.NAME_RE.pattern, description="application (e.g. live)")]
StreamName = Annotated[str, Path(pattern=routing.NAME_RE.pattern, description="stream name")]


def _authorize(request: Request, creds: ClientAuth, app: str, stream: str, action: str) -> None:
    st = request.app.state
    if not round_trip(st.settings, st.http, username=creds.username, password=creds.password, token=creds.token,
                      stream=f"{app}/{stream}", action=action):
        raise HTTPException(403, f"{action} of {app}/{stream} denied by the authentication backend")


@router.get("/{app}/{stream}/subscribe", response_model=SubscribeAnswer, responses=errors(403, 404, 413, 503))
async def subscribe(request: Request, app: AppName, stream: StreamName, creds: Annotated[ClientAuth, Query()]):
    """Where to play: an INSERVICE edge with a free slot in the region, else the nearest region with one.

    With every edge full, and when the stream's origin serves HLS (its region's `fallback: hls`), the
    answer is that origin with `"fallback": "hls"` and `urls.hls` (no slot reserved) instead of 503.
    `protocol=hls` asks for that HLS answer directly (404 when the origin serves none)."""
    return await _route_viewer(request, app, stream, creds)


@router.post("/{app}/{stream}/subscribe", response_model=SubscribeAnswer,
             responses=errors(400, 403, 404, 413, 503))
async def subscribe_post(request: Request, app: AppName, stream: StreamName, body: ClientAuth | None = None):
    """The same answer as GET, with credentials in the body: they stay out of URLs and access logs."""
    return await _route_viewer(request, app, stream, body or ClientAuth())


async def _route_viewer(request: Request, app: str, stream: str, creds: ClientAuth) -> JSONResponse:
    started = time.perf_counter()
    answer, failure = None, None
    try:
        try:
            answer = await _pick_edge(request, app, stream, creds)
        except NoEdgeCapacity:
            await run_in_threadpool(request.app.state.store.count_demand, creds.region, "refused")
            raise
        # Demand the region could not serve itself: counted for `ccds operate` (GET /api/v1/demand). A viewer
        # who asked for HLS needs no edge: not demand.
        if answer.get("fallback"):
            kind = "fallback" if answer.get("fallback_reason") == routing.NO_CAPACITY else None
        else:
            kind = "spilled" if creds.region and answer.get("node", {}).get("region") not in (None, creds.region) \
                else None
        if kind:
            await run_in_threadpool(request.app.state.store.count_demand, creds.region, kind)
        if kind == "fallback":
            await run_in_threadpool(routing.note_fallback, request.app.state.store, answer, creds.region,
                                    _noted(request))
        if answer.get("fallback") and answer.get("renditions"):
            answer["urls"] = {"hls": _master_url(request, app, stream), "hls_source": answer["urls"]["hls"]}
        # The hot path: the answer is built by `routing` in the documented shape; skip re-validating it.
        return JSONResponse(answer)
    except Exception as exc:
        failure = exc
        raise
    finally:  # one counter and one histogram observe per request; no database work
        request.app.state.metrics.observe("subscribe", result_of(failure, answer), time.perf_counter() - started,
                                          creds.region)


def _master_url(request: Request, app: str, stream: str) -> str:
    return str(request.url_for("master_playlist", app=app, stream=stream))


@router.get("/{app}/{stream}/master.m3u8", response_class=PlainTextResponse, responses=errors(404, 413, 503))
def master_playlist(request: Request, store: StoreDep, app: AppName, stream: StreamName):
    """The HLS master playlist of a transcoded stream (public, like the playlists it lists): its live
    renditions on the stream's origin, highest first. The HLS fallback answer's `urls.hls` points here
    when the stream has renditions; 404 when it has none or its origin serves no HLS."""
    answer = routing.subscribe_hls(store, app, stream)
    if not answer["renditions"]:
        raise HTTPException(404, f"stream {app}/{stream} has no live renditions: play urls.hls of the answer")
    return PlainTextResponse(routing.master_playlist(answer), media_type="application/vnd.apple.mpegurl",
                             headers={"Cache-Control": "no-cache"})


def _noted(request: Request) -> dict:
    """This process's memory of recent `fallback` events (routing.note_fallback)."""
    st = request.app.state
    if not hasattr(st, "fallback_noted"):
        st.fallback_noted = {}
    return st.fallback_noted


async def _pick_edge(request: Request, app: str, stream: str, creds: ClientAuth) -> dict:
    st = request.app.state
    store = st.store
    if creds.protocol == "hls" and not st.settings.auth_url:  # no edge slot: one read of the stream's origin
        if store.postgres:
            return await routing.subscribe_hls_async(store, st.pg_pool, app, stream)
        return routing.subscribe_hls(store, app, stream)
    if st.settings.auth_url:
        # The auth backend is a network round trip on a blocking client: wait for it in a worker thread.
        answer = await run_in_threadpool(_subscribe, request, store, creds, app, stream)
    elif store.postgres:
        # One statement on an async connection; rarer cases (region full, lat/lon ranking) in a thread.
        answer = await routing.subscribe_async(store, st.pg_pool, app, stream, creds.region, creds.lat, creds.lon)
        if answer is None:
            answer = await run_in_threadpool(routing.subscribe, store, app, stream, creds.region, creds.lat,
                                             creds.lon)
    else:
        # SQLite answers in about a hundred microseconds, less than handing the call to a thread costs.
        answer = routing.subscribe(store, app, stream, creds.region, creds.lat, creds.lon)
    return answer


@router.post("/{app}/{stream}/publish", response_model=PublishAnswer, responses=errors(400, 403, 413, 503))
def publish(request: Request, store: StoreDep, app: AppName, stream: StreamName, body: ClientAuth | None = None):
    """Where to publish: the least-loaded INSERVICE origin in the region (or the nearest one)."""
    creds = body or ClientAuth()
    started, failure = time.perf_counter(), None
    try:
        _authorize(request, creds, app, stream, "publish")
        return routing.publish(store, app, stream, creds.region, creds.lat, creds.lon)
    except Exception as exc:
        failure = exc
        raise
    finally:
        request.app.state.metrics.observe("publish", result_of(failure), time.perf_counter() - started,
                                          creds.region)


def _subscribe(request: Request, store, creds: ClientAuth, app: str, stream: str) -> dict:
    _authorize(request, creds, app, stream, "subscribe")
    if creds.protocol == "hls":
        return routing.subscribe_hls(store, app, stream)
    return routing.subscribe(store, app, stream, creds.region, creds.lat, creds.lon)


@router.get("", response_model=list[StreamOut], responses=errors(*AUTH, 413, 503))
def list_streams(store: StoreDep, _: AdminAuth):
    """Registered streams with their origin, live state and viewers summed over all nodes."""
    return store.list_streams()
