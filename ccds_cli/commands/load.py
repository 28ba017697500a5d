"""`ccds load`: synthetic publishers and viewers through the deployment's stream manager."""

import os
from typing import Annotated

import typer

from ccds_cli.commands._common import Outcome, OutputMode, OutputOpt, SpecArg, StateDirOpt, manager_for, start


def run(
    spec: SpecArg,
    viewers: Annotated[int, typer.Option("--viewers", "-n", help="Viewers to start (1..20,000).")] = 100,
    publishers: Annotated[int, typer.Option(help="Test-pattern publishers (ffmpeg), one stream each; "
                                                 "0 watches --stream.")] = 1,
    ramp: Annotated[float, typer.Option(help="Viewers started per second.")] = 50.0,
    duration: Annotated[float, typer.Option(help="Seconds every viewer is held after the ramp.")] = 30.0,
    stream: Annotated[str | None, typer.Option(help="Stream name (or app/name); default ccds-load-<random>.")]
        = None,
    region: Annotated[str | None, typer.Option(help="Region key the clients ask for.")] = None,
    lat: Annotated[float | None, typer.Option(help="Viewer latitude (the manager picks the nearest edge).")] = None,
    lon: Annotated[float | None, typer.Option(help="Viewer longitude.")] = None,
    bitrate: Annotated[int, typer.Option(help="Publishers' bitrate in kbit/s (100..20,000).")] = 1500,
    media_timeout: Annotated[float, typer.Option(help="Seconds from the subscribe answer to the first frame "
                                                      "before a viewer counts as 'no media'.")] = 10.0,
    username: Annotated[str | None, typer.Option(help="Round-trip auth user (password/token from "
                                                      "CCDS_LOAD_PASSWORD / CCDS_LOAD_TOKEN).")] = None,
    manager: Annotated[str | None, typer.Option(help="Stream manager URL (default: from the deployment state).")]
        = None,
    state_dir: StateDirOpt = None,
    output: OutputOpt = OutputMode.text,
) -> Outcome:
    """Drive synthetic viewers (and publishers) through the deployment; report joins, failures, bytes."""
    from ccds_cli.errors import BadInput, ExitCode
    from ccds_cli.load.engine import LoadOptions, validate
    from ccds_cli.load.show import ProgressView, human
    from ccds_cli.load.sync import run_load_sync
    from ccds_cli.output import is_ci

    out = start("load", output)
    validate(viewers=viewers, publishers=publishers, ramp=ramp, duration=duration, stream=stream)
    if (lat is None) != (lon is None):
        raise BadInput("--lat and --lon go together")
    if lat is not None and not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise BadInput(f"--lat {lat:g} --lon {lon:g} is not a position (-90..90, -180..180)")
    if not 100 <= bitrate <= 20_000:
        raise BadInput(f"--bitrate must be between 100 and 20,000 kbit/s (got {bitrate})")
    if not 0 < media_timeout <= 300:
        raise BadInput(f"--media-timeout must be above 0 and at most 300 s (got {media_timeout:g})")
    manager, token = manager_for(spec, state_dir, manager)
    creds = {k: v for k, v in {"username": username, "password": os.environ.get("CCDS_LOAD_PASSWORD"),
                               "token": os.environ.get("CCDS_LOAD_TOKEN")}.items() if v}
    options = LoadOptions(bitrate_kbps=bitrate, media_timeout=media_timeout)
    out.info(f"load: {viewers} viewers at {ramp:g}/s, {publishers} publisher(s), held {duration:g} s, via {manager}")
    with ProgressView(out.err, live=not out.json and not is_ci(), title="load") as view:
        report = run_load_sync(manager, token, handle_signals=True, viewers=viewers, publishers=publishers,
                               ramp=ramp, duration=duration, stream=stream, region=region, lat=lat, lon=lon,
                               creds=creds or None, options=options, on_progress=view.update)
    code = ExitCode.INTERRUPTED if report.interrupted else ExitCode.OK if report.ok else ExitCode.UNHEALTHY
    return Outcome(report.as_dict(), human, int(code))
