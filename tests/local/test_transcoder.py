"""The transcoder's supervision with a real ffmpeg: started per published stream once the manager names
an origin, restarted with a doubling back-off when it dies, stopped when the stream ends, bounded by
capacity. (The media path itself: tests/e2e/test_local_abr.py.)"""

from __future__ import annotations

import time

import pytest
from localtf import free_base_port

from ccds_cli.agent.transcoder import MAX_BACKOFF, Transcoder, ffmpeg_argv
from ccds_cli.ladder import parse_ladder

LADDER = parse_ladder("360:1000,180:500")


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_ffmpeg_command_pushes_the_source_and_each_rung():
    argv = ffmpeg_argv("ffmpeg", "rtmp://127.0.0.1:1/live/s", "rtmp://10.0.0.5:1935/live/s", LADDER)
    outputs = [argv[i + 2] for i, a in enumerate(argv) if a == "-f"]
    assert outputs == ["rtmp://10.0.0.5:1935/live/s", "rtmp://10.0.0.5:1935/live/s_360p",
                       "rtmp://10.0.0.5:1935/live/s_180p"]
    assert argv[argv.index("-c") + 1] == "copy"  # the source goes through unchanged
    assert "scale=-2:360" in argv and "1000k" in argv and "scale=-2:180" in argv and "500k" in argv
    assert argv.count("libx264") == 2 and argv.count("zerolatency") == 2 and argv.count("veryfast") == 2


def _wait_exit(t: Transcoder, key, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc = t.jobs[key].proc
        if proc is not None and proc.poll() is not None:
            return
        time.sleep(0.05)
    pytest.fail("ffmpeg did not exit although its source refuses connections")


def test_restarted_with_backoff_stopped_when_unpublished_and_bounded():
    closed = free_base_port(2)  # nothing listens there: ffmpeg fails to read and exits
    origins = {}
    clock = Clock()
    t = Transcoder(LADDER, f"rtmp://127.0.0.1:{closed}/{{app}}/{{stream}}", lambda a, s: origins.get((a, s)),
                   max_jobs=1, clock=clock)
    key = ("live", "s")
    try:
        t.sync({key})  # the manager names no origin yet: nothing runs, asked again later
        assert t.jobs[key].proc is None and t.running() == {}
        origins[key] = {"urls": {"rtmp": f"rtmp://127.0.0.1:{closed + 1}/live/s"}}
        clock.now += 1
        t.sync({key, ("live", "other")})
        first = t.jobs[key].proc
        assert first is not None and ("live", "other") not in t.jobs  # capacity 1: the second waits
        _wait_exit(t, key)
        t.sync({key})  # died while still published: a restart after the back-off, not at once
        assert t.jobs[key].proc is None and t.jobs[key].restarts == 1
        waits = []
        for _ in range(6):
            job = t.jobs[key]
            waits.append(job.not_before - clock.now)
            clock.now = job.not_before
            t.sync({key})
            assert job.proc is not None and job.proc is not first
            _wait_exit(t, key)
            t.sync({key})
        assert waits[1:] == [min(waits[0] * 2 ** (i + 1), MAX_BACKOFF) for i in range(5)], waits
        clock.now = t.jobs[key].not_before
        t.sync({key})
        running = t.jobs[key].proc
        t.sync(set())  # the publisher left: the transcode ends, and its process is gone
        assert key not in t.jobs and running.poll() is not None
    finally:
        t.stop()
