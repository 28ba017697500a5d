"""`ccds node agent`: the per-node agent that reports engine counters to the stream manager."""

from pathlib import Path
from typing import Annotated

import typer

from ccds_cli.ladder import DEFAULT_LADDER

app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode=None)


def _endpoints(values: list[str]) -> dict[str, str]:
    from ccds_cli.errors import BadInput

    out = {}
    for v in values:
        proto, sep, url = v.partition("=")
        if not sep or not proto or not url:
            raise BadInput(f"--endpoint {v!r} must look like PROTO=URL_PREFIX (rtmp=rtmp://host:1935/live)")
        out[proto] = url
    return out


@app.command("agent")
def agent(
    manager: Annotated[str, typer.Option(help="Stream manager base URL.")],
    deployment: Annotated[str, typer.Option(help="Deployment name.")],
    region: Annotated[str, typer.Option(help="Region key from the spec (na-east).")],
    provider: Annotated[str, typer.Option(help="Provider alias from the spec.")],
    role: Annotated[str, typer.Option(help="origin | relay | edge | transcoder")],
    name: Annotated[str, typer.Option(help="Node name (unique in the deployment).")],
    engine: Annotated[str, typer.Option(help="nginx-rtmp | mediamtx")],
    stats_url: Annotated[str, typer.Option(help="nginx-rtmp: the rtmp_stat URL; mediamtx: its API URL.")],
    public_host: Annotated[str, typer.Option(help="Address viewers/publishers use.")],
    private_host: Annotated[str, typer.Option(help="Address other nodes use.")],
    capacity: Annotated[int, typer.Option(help="Viewers (edge) or publishers (origin) this node takes.")],
    lat: Annotated[float | None, typer.Option(help="Latitude of the node's region.")] = None,
    lon: Annotated[float | None, typer.Option(help="Longitude of the node's region.")] = None,
    endpoint: Annotated[list[str] | None, typer.Option(
        help="PROTO=URL_PREFIX; stream S is at URL_PREFIX/S. Repeatable.")] = None,
    interval: Annotated[float, typer.Option(help="Seconds between heartbeats.")] = 2.0,
    on_play_port: Annotated[int, typer.Option(
        help="nginx-rtmp edges/relays: serve the engine's on_play callback on 127.0.0.1:PORT and redirect "
             "each play to the stream's source (0: off).")] = 0,
    metrics_port: Annotated[int, typer.Option(
        help="Serve Prometheus metrics (the engine's counters, heartbeats) on this port (0: off).")] = 0,
    metrics_host: Annotated[str, typer.Option(help="Address the metrics endpoint listens on.")] = "127.0.0.1",
    renditions: Annotated[str, typer.Option(
        help="transcoder: the ladder HEIGHT:KBPS,... it publishes to the origin as <stream>_<height>p "
             "(the spec's `renditions`).")] = DEFAULT_LADDER,
    transcode_input: Annotated[str, typer.Option(
        help="transcoder: where its ffmpeg reads a stream published to this node's engine.")]
        = "rtmp://127.0.0.1:1935/{app}/{stream}",
    token_file: Annotated[Path | None, typer.Option(help="File holding this node's own credential "
                                                         "(default: $CCDS_NODE_TOKEN).")] = None,
    log_level: Annotated[str, typer.Option(help="Logging level.")] = "info",
) -> None:
    """Register with the stream manager and heartbeat engine counters until SIGTERM."""
    import logging
    import os
    import signal
    import threading

    from ccds_cli.agent.pullers import PullerError, puller_for
    from ccds_cli.agent.runner import Agent, AgentConfig
    from ccds_cli.agent.stats import reader_for
    from ccds_cli.errors import BadInput
    from ccds_cli.vocab import ROLES

    token = token_file.read_text().strip() if token_file else os.environ.get("CCDS_NODE_TOKEN", "")
    if not token:
        raise BadInput("no node credential", hint="set CCDS_NODE_TOKEN or pass --token-file (ccds gives each node its own)")
    if role not in ROLES:
        raise BadInput(f"--role {role!r} must be origin, relay, edge or transcoder")
    if interval <= 0:
        raise BadInput("--interval must be positive")
    if not 0 <= metrics_port <= 65535:
        raise BadInput("--metrics-port must be 0 (off) or a TCP port")
    try:
        reader = reader_for(engine, stats_url)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    logging.basicConfig(level=log_level.upper(), format=f"%(asctime)s agent[{name}] %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request would drown the log
    cfg = AgentConfig(manager=manager, token=token, deployment=deployment, region=region, provider=provider,
                      role=role, name=name, engine=engine, stats_url=stats_url, public_host=public_host,
                      private_host=private_host, capacity=capacity, lat=lat, lon=lon,
                      endpoints=_endpoints(endpoint or []), interval=interval, on_play_port=on_play_port)
    puller = puller_for(engine, role, stats_url, on_play_port)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    transcoder = None
    if role == "transcoder":
        from ccds_cli.agent.transcoder import Transcoder, find_ffmpeg
        from ccds_cli.ladder import parse_ladder

        try:
            ladder = parse_ladder(renditions)
            ffmpeg = find_ffmpeg()
        except (ValueError, FileNotFoundError) as exc:
            raise BadInput(str(exc)) from None
        if not transcode_input.startswith("rtmp://") or "{stream}" not in transcode_input:
            raise BadInput("--transcode-input must be an rtmp:// URL template holding {stream}")
        transcoder = Transcoder(ladder, transcode_input, lambda a, s: node_agent.origin_of(a, s),
                                max_jobs=capacity, ffmpeg=ffmpeg)
    node_agent = Agent(cfg, reader, puller=puller, transcoder=transcoder)
    if metrics_port:
        from ccds_cli.agent.metrics import serve

        try:
            serve(node_agent, metrics_host, metrics_port)
        except OSError as exc:
            raise BadInput(f"cannot serve metrics on {metrics_host}:{metrics_port}: {exc}",
                           hint="choose another --metrics-port") from None
    try:
        node_agent.run(stop)
    except PullerError as exc:
        raise BadInput(str(exc), hint="choose another --on-play-port") from None
