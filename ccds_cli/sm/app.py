"""The FastAPI application factory: wires settings, store, leader and routers; nothing else."""

from __future__ import annotations

import contextlib

import httpx
import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ccds_cli import __version__
from ccds_cli.sm import limits
from ccds_cli.sm.auth import require_admin
from ccds_cli.sm.leader import Leader
from ccds_cli.sm.metrics import Metrics
from ccds_cli.sm.pgasync import AsyncPgPool
from ccds_cli.sm.routes import dist, events, health, leases, metrics, nodes, sources, streams, ui
from ccds_cli.sm.settings import Settings
from ccds_cli.sm.store import NoCapacity, Store, StoreError

SETTINGS_ENV = "CCDS_SM_SETTINGS"  # `ccds sm serve --workers N` hands the settings to its workers here


def app_from_env() -> FastAPI:
    """The app of one worker process of `ccds sm serve --workers N` (uvicorn calls this in each)."""
    import json
    import os

    return create_app(Settings.from_env(**json.loads(os.environ[SETTINGS_ENV])), workers=True)


def create_app(settings: Settings, store: Store | None = None, workers: bool = False) -> FastAPI:
    """Build the app; the schema is migrated before the first request is served. `workers`: one of
    several processes of one manager (their metrics summed across them, ccds_cli/sm/metrics.py)."""
    store = store or Store(settings)
    store.migrate()
    leader = Leader(store)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        if settings.run_background:
            leader.start()
        try:
            yield
        finally:
            leader.stop()
            app.state.metrics.close()
            app.state.http.close()
            if app.state.pg_pool is not None:
                await app.state.pg_pool.close()

    # The API description is served by `_docs` below: to anyone with `docs`, else to the admin token.
    app = FastAPI(title="ccds stream manager", version=__version__, lifespan=lifespan,
                  openapi_url=None, docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.store = store
    app.state.leader = leader
    app.state.metrics = Metrics(store, leader, workers=workers)
    app.state.http = httpx.Client()
    app.state.pg_pool = AsyncPgPool(settings.database_url) if store.postgres else None

    @app.exception_handler(StoreError)
    async def _store_error(_: Request, exc: StoreError):
        headers = {"Retry-After": str(settings.retry_after)} if isinstance(exc, NoCapacity) else None
        return JSONResponse({"detail": str(exc)}, status_code=exc.status, headers=headers)

    @app.exception_handler(sa.exc.DBAPIError)
    async def _db_down(_: Request, exc: sa.exc.DBAPIError):
        """A lost database connection is transient (failover, restart): tell the client to retry."""
        if not exc.connection_invalidated and not isinstance(exc, sa.exc.OperationalError):
            raise exc
        return JSONResponse({"detail": "database unavailable, retry"}, status_code=503,
                            headers={"Retry-After": str(settings.retry_after)})

    app.add_exception_handler(RequestValidationError, limits.validation_error)
    app.add_middleware(limits.BodyLimit, max_body=settings.max_body, max_public_body=settings.max_public_body)

    # streams first: subscribe is the hot path, and routes are matched in order
    for router in (streams.router, nodes.router, events.router, health.router, sources.router, dist.router,
                   leases.router):
        app.include_router(router, prefix="/api/v1")
    app.include_router(metrics.router)
    app.include_router(ui.router)
    _docs(app, settings)
    return app


def _docs(app: FastAPI, settings: Settings) -> None:
    """`/openapi.json` for tools (the admin token, or anyone with `docs`); `/docs` and `/redoc` only with
    `docs`: a production manager does not publish a map of its API to the internet."""
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(request: Request):
        if not settings.docs:
            require_admin(request)
        return JSONResponse(app.openapi())

    if settings.docs:
        @app.get("/docs", include_in_schema=False)
        async def swagger():
            return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - API")

        @app.get("/redoc", include_in_schema=False)
        async def redoc():
            return get_redoc_html(openapi_url="/openapi.json", title=f"{app.title} - API")
