"""`ccds probe`: push a synthetic stream through origin and edge and measure it."""

from typing import Annotated

import typer

from ccds_cli.commands._common import Outcome, OutputMode, OutputOpt, SpecArg, StateDirOpt, manager_for


def _human(result: dict, console) -> None:
    mark = "[green]ok[/green]" if result["ok"] else "[red]FAILED[/red]"
    console.print(f"probe {result['stream']}: {mark}")
    console.print(f"  origin {result['origin'] or '-'}  ({result['publish_url'] or '-'})")
    if result.get("fallback"):
        console.print(f"  [yellow]fallback {result['fallback']}[/yellow] from {result['edge'] or '-'}  "
                      f"({result['play_url'] or '-'}): {result['hls_segments']} segments, "
                      f"{result['hls_bytes']:,} bytes")
    else:
        console.print(f"  edge   {result['edge'] or '-'}  ({result['play_url'] or '-'})")
    if result["frames"]:
        console.print(f"  time to first frame {result['time_to_first_frame_ms']} ms, "
                      f"end-to-end latency p50 {result['latency_ms_p50']} ms (max {result['latency_ms_max']} ms), "
                      f"{result['frames']} frames ({result['damaged_frames']} damaged)")
    if result["error"]:
        console.print(f"  [red]{result['error']}[/red]")


def run(
    spec: SpecArg,
    manager: Annotated[str | None, typer.Option(help="Stream manager URL (default: from the deployment state).")]
        = None,
    region: Annotated[str | None, typer.Option(help="Region key to publish and play in.")] = None,
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 30.0,
    hls: Annotated[bool, typer.Option("--hls", help="Ask for the stream's HLS (protocol=hls) instead of an edge.")]
        = False,
    state_dir: StateDirOpt = None,
    output: OutputOpt = OutputMode.text,
) -> Outcome:
    """Publish a test stream through the deployment and report time-to-first-frame and latency."""
    import shutil
    from dataclasses import asdict

    from ccds_cli.commands._common import start
    from ccds_cli.errors import BadInput, ExitCode, MissingTool
    from ccds_cli.sm.client import ManagerClient
    from ccds_cli.sm.probe import run_probe

    out = start("probe", output)
    if not shutil.which("ffmpeg"):
        raise MissingTool("ffmpeg is needed to publish and play the probe stream",
                          hint="apt-get install ffmpeg")
    manager, token = manager_for(spec, state_dir, manager)
    if timeout <= 0:
        raise BadInput("--timeout must be positive")
    out.info(f"probing through {manager} ...")
    with ManagerClient(manager, token) as client:
        result = asdict(run_probe(client, manager, region=region, timeout=timeout, hls=hls))
    code = ExitCode.OK if result["ok"] else ExitCode.UNHEALTHY
    return Outcome(result, _human, int(code))
