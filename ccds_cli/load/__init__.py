"""Synthetic publishers and viewers through a deployment's stream manager (`ccds load`).

They go exactly where real clients go: a publisher asks `POST /api/v1/streams/{app}/{stream}/publish`
for an origin and pushes an ffmpeg test pattern there (H.264 CBR + AAC, default 1,500 kbit/s); a
viewer asks `POST …/subscribe` for an edge and plays it with our own asyncio RTMP client
(`ccds_cli.load.rtmp`), counting audio/video frames and bytes. One process holds thousands of
viewers (measured: 1,170–1,440 per core at 1.5 Mbit/s; `benchmarks/bench_capacity.py`).

Python API (the CLI is a thin layer over it)::

    from ccds_cli.load import run_load, run_load_sync, hold_viewers, LoadRun, LoadOptions

    # one bounded run, like `ccds load`: returns a LoadReport (dataclass; .as_dict() for JSON)
    report = await run_load(manager_url, admin_token, viewers=500, publishers=1, ramp=50, duration=30,
                            stream=None, region=None, lat=None, lon=None,
                            on_progress=lambda p: print(p.playing), stop=asyncio.Event() or None)
    report = run_load_sync(manager_url, admin_token, viewers=500, handle_signals=True)

    # hold viewers open until told to stop (autoscaling tests), from synchronous code:
    with hold_viewers(manager_url, admin_token, viewers=300, ramp=100, publishers=1) as load:
        load.snapshot()          # LoadProgress: playing, joining, failed, failures by cause, edges
        load.add(200)            # 200 more; returns once they play or failed
        load.remove(100)         # the 100 newest leave (state `released`)
    load.report                  # LoadReport, after the block (or load.stop())

    # or inside an event loop:
    async with LoadRun(manager_url, admin_token, publishers=1) as run:
        await run.add_viewers(300, ramp=100); await run.wait_settled()
        run.snapshot(); run.remove_viewers(50)
    report = await run.stop()    # idempotent; `async with` already called it

`admin_token` is optional: publish and subscribe are public (round-trip credentials go in
`creds={"username":…, "password":…, "token":…}`); with the token the report adds the manager's own
subscriber count per edge. Every run is bounded: `run_load` ends by itself after about
live_timeout + viewers/ramp + duration + media_timeout seconds; a LoadRun / hold_viewers after
`max_seconds` (default 3,600). Limits: 1..20,000 viewers, 0..50 publishers, ramp up to 2,000/s.

Errors are `ccds_cli.errors.CcdsError`s: BadInput (counts, names), Unhealthy (the manager does not
answer, or refuses to publish), CcdsError (a publisher never came on air), MissingTool (ffmpeg).
Viewer failures are not exceptions: the report counts them by cause (refused_by_manager,
refused_by_edge, no_media, dropped). Subscriptions are released by hanging up: the API has no
release call, the manager's reservation expires and the edge's heartbeat stops counting the viewer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ccds_cli.load.engine import LoadOptions, LoadRun, run_load  # noqa: F401
    from ccds_cli.load.report import LoadProgress, LoadReport  # noqa: F401
    from ccds_cli.load.sync import LoadHandle, hold_viewers, run_load_sync  # noqa: F401

_EXPORTS = {
    "LoadHandle": "sync", "LoadOptions": "engine", "LoadRun": "engine", "hold_viewers": "sync",
    "run_load": "engine", "run_load_sync": "sync", "LoadProgress": "report", "LoadReport": "report",
    "MAX_VIEWERS": "engine",
}


def __getattr__(name: str):
    """Lazy exports: `import ccds_cli.load.rtmp` alone does not import httpx or the engine."""
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f"ccds_cli.load.{_EXPORTS[name]}"), name)
    raise AttributeError(name)


__all__ = sorted(_EXPORTS)
