"""`ccds sm serve`: run the stream manager (secrets from CCDS_ADMIN_TOKEN / CCDS_NODE_KEY)."""

from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode=None)


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port of the HTTP API.")] = 8080,
    database_url: Annotated[str, typer.Option(
        "--database-url", envvar="CCDS_DATABASE_URL",
        help="sqlite:///path.db (one manager) or postgresql+psycopg://... (several managers, HA).")]
        = "sqlite:///ccds-sm.db",
    heartbeat_timeout: Annotated[float, typer.Option(
        help="Seconds without a heartbeat before a node is FAULT (agents beat every 2 s).")] = 6.0,
    deployment: Annotated[str | None, typer.Option(help="Only accept nodes of this deployment.")] = None,
    auth_url: Annotated[str | None, typer.Option(
        help="Round-trip auth backend for publish/subscribe: POSTed credentials, 2xx allows.")] = None,
    auth_timeout: Annotated[float, typer.Option(help="Seconds to wait for the auth backend (then deny).")] = 2.0,
    reservation_ttl: Annotated[float, typer.Option(
        help="Seconds a subscribe answer holds a viewer slot at most.")] = 20.0,
    connect_grace: Annotated[float, typer.Option(
        help="Seconds a viewer has to connect before the edge's own count replaces its reservation.")] = 4.0,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
    docs: Annotated[bool, typer.Option(
        "--docs", help="Serve /docs, /redoc and /openapi.json to anyone (else /openapi.json needs the admin "
        "token). Also CCDS_SM_DOCS=1.")] = False,
) -> None:
    """Serve the stream manager API (publish/subscribe routing, node registry, health)."""
    import logging

    import uvicorn

    from ccds_cli.errors import BadInput
    from ccds_cli.sm.app import create_app
    from ccds_cli.sm.settings import Settings

    settings = Settings.from_env(database_url=database_url, heartbeat_timeout=heartbeat_timeout,
                                 deployment=deployment, auth_url=auth_url, auth_timeout=auth_timeout,
                                 reservation_ttl=reservation_ttl, connect_grace=connect_grace,
                                 docs=docs or None)
    if not settings.admin_token or not settings.node_key:
        raise BadInput("CCDS_ADMIN_TOKEN and CCDS_NODE_KEY must be set",
                       hint="`ccds up` generates them into .ccds/<name>/secrets.json")
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level, access_log=False)
