"""`ccds sm serve`: run the stream manager (secrets from CCDS_ADMIN_TOKEN / CCDS_NODE_KEY)."""

from typing import Annotated

import typer

from ccds_cli.ladder import DEFAULT_LADDER

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
    renditions: Annotated[str, typer.Option(
        help="The ABR ladder transcoders publish, HEIGHT:KBPS,... (the spec's `renditions`); subscribe "
             "answers list the live ones.")] = DEFAULT_LADDER,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
    docs: Annotated[bool, typer.Option(
        "--docs", help="Serve /docs, /redoc and /openapi.json to anyone (else /openapi.json needs the admin "
        "token). Also CCDS_SM_DOCS=1.")] = False,
    workers: Annotated[int, typer.Option(
        min=1, max=256, help="Worker processes (PostgreSQL only): one per core; the leader's work runs in "
        "one of them.")] = 1,
    forwarded_allow_ips: Annotated[str | None, typer.Option(
        help="Addresses or CIDRs (comma-separated) of proxies whose X-Forwarded-Proto/-For are believed: the "
        "load balancer that ends TLS, so URLs in answers say https. Default: 127.0.0.1 (FORWARDED_ALLOW_IPS).")]
        = None,
    beat_interval: Annotated[float | None, typer.Option(
        help="Ask agents to beat at least this many seconds apart (a node is then FAULT after 3x it, if "
        "that is longer than --heartbeat-timeout). Default: each agent's own (2 s).")] = None,
    max_beat_rate: Annotated[float, typer.Option(
        help="Beats/s the deployment's managers and database take at most: a larger fleet is asked for a "
        "longer beat interval (and fault detection slows with it). 0: never.")] = 500.0,
) -> None:
    """Serve the stream manager API (publish/subscribe routing, node registry, health)."""
    import logging
    import os

    if workers == 1:  # one process keeps its counters in memory: another program's directory is not ours
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)  # (read when prometheus_client is first imported)

    import uvicorn

    from ccds_cli.errors import BadInput
    from ccds_cli.ladder import parse_ladder
    from ccds_cli.sm.app import create_app
    from ccds_cli.sm.pace import MAX_ASK_S
    from ccds_cli.sm.settings import Settings

    try:
        ladder = tuple((r.height, r.kbps) for r in parse_ladder(renditions))
    except ValueError as exc:
        raise BadInput(f"--renditions: {exc}") from None
    if beat_interval is not None and not 0 < beat_interval <= MAX_ASK_S:
        raise BadInput(f"--beat-interval {beat_interval:g} must be positive and at most {MAX_ASK_S:g} s")
    if not 0 <= max_beat_rate < float("inf"):
        raise BadInput(f"--max-beat-rate {max_beat_rate:g} must be 0 (never pace the fleet) or a positive rate")
    settings = Settings.from_env(database_url=database_url, heartbeat_timeout=heartbeat_timeout,
                                 deployment=deployment, auth_url=auth_url, auth_timeout=auth_timeout,
                                 reservation_ttl=reservation_ttl, connect_grace=connect_grace,
                                 docs=docs or None, beat_interval=beat_interval, renditions=ladder,
                                 max_beat_rate=max_beat_rate)
    if not settings.admin_token or not settings.node_key:
        raise BadInput("CCDS_ADMIN_TOKEN and CCDS_NODE_KEY must be set",
                       hint="`ccds up` generates them into .ccds/<name>/secrets.json")
    if forwarded_allow_ips is not None:
        from ipaddress import ip_network

        for item in forwarded_allow_ips.split(","):
            try:
                ip_network(item.strip(), strict=False)
            except ValueError:
                raise BadInput(f"--forwarded-allow-ips: {item.strip()!r} is not an IP address or CIDR") from None
    if workers > 1 and not database_url.startswith("postgresql"):
        raise BadInput(f"--workers {workers} needs PostgreSQL: SQLite has one writer, so one process serves it",
                       hint="use --workers 1, or --database-url postgresql+psycopg://...")
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if workers == 1:
        uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level, access_log=False,
                    forwarded_allow_ips=forwarded_allow_ips)
        return
    # Several processes share the socket; each builds its app from the settings handed down in the
    # environment (tokens stay in their own variables), and each gets its own instance id. The leader's
    # work runs once: the workers compete for the same advisory lock as separate managers do.
    # Their request counters are summed at scrape from files in a private directory made here (new,
    # 0700, removed at exit; ccds_cli/sm/metrics.py).
    from ccds_cli.sm.app import SETTINGS_ENV
    from ccds_cli.sm.metrics import workers_metrics_dir

    os.environ[SETTINGS_ENV] = settings.model_dump_json(
        exclude={"admin_token", "node_key", "metrics_token", "instance_id"})
    with workers_metrics_dir():
        uvicorn.run("ccds_cli.sm.app:app_from_env", factory=True, workers=workers, host=host, port=port,
                    log_level=log_level, access_log=False, forwarded_allow_ips=forwarded_allow_ips)
