"""The transcoder: one ffmpeg per stream published to this node, pushing it and its ABR ladder to the origin.

A publisher sent here by the stream manager publishes `app/<stream>` to this node's engine. Every beat the
agent hands `Transcoder.sync` the streams its engine sees published; for each one it asks the manager which
origin holds the stream (`GET /api/v1/sources/{app}/{stream}`, the same source lookup edges use) and runs

    ffmpeg -i <this engine>/app/<stream>
           -c copy                                          -f flv <origin>/app/<stream>
           -vf scale=-2:<h> -c:v libx264 -b:v <kbps>k ...   -f flv <origin>/app/<stream>_<h>p   (per rung)

so the origin holds the source and every rendition, and edges pull them like any stream. `scale=-2:h`
keeps the source's aspect ratio (1280x720 -> 640x360). A process that dies while its stream is still
published is started again after a back-off that doubles up to `MAX_BACKOFF`; one whose stream ended is
stopped. Bounded: at most `max_jobs` processes (the node's capacity), every stop waits at most `grace`.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable

from ccds_cli.ladder import Rung

log = logging.getLogger("ccds.agent")

MIN_BACKOFF = 1.0
MAX_BACKOFF = 30.0


def ffmpeg_argv(ffmpeg: str, source: str, target: str, ladder: list[Rung]) -> list[str]:
    """The ffmpeg command: read `source`, push it unchanged to `target` and each rung to `target_<h>p`."""
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-rw_timeout", "10000000", "-i", source,
            "-map", "0:v:0", "-map", "0:a:0?", "-c", "copy", "-f", "flv", target]
    for r in ladder:
        argv += ["-map", "0:v:0", "-map", "0:a:0?",
                 "-vf", f"scale=-2:{r.height}", "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency",
                 "-pix_fmt", "yuv420p", "-b:v", f"{r.kbps}k", "-maxrate", f"{r.kbps}k", "-bufsize", f"{2 * r.kbps}k",
                 # a key frame every 2 s whatever the frame rate: a viewer switching rungs starts within 2 s
                 "-force_key_frames", "expr:gte(t,n_forced*2)",
                 "-c:a", "aac", "-b:a", "96k", "-f", "flv", f"{target}_{r.height}p"]
    return argv


@dataclass
class Job:
    app: str
    stream: str
    target: str = ""
    proc: subprocess.Popen | None = None
    errors: object = None  # the process's stderr (an unnamed temporary file)
    restarts: int = 0
    backoff: float = MIN_BACKOFF
    not_before: float = 0.0
    started_at: float = field(default_factory=time.monotonic)


class Transcoder:
    """Keeps one ffmpeg per published stream (see the module docstring)."""

    def __init__(self, ladder: list[Rung], source_template: str, lookup: Callable[[str, str], dict | None],
                 max_jobs: int, ffmpeg: str | None = None, grace: float = 5.0,
                 clock: Callable[[], float] = time.monotonic):
        self.ladder = ladder
        self.source_template = source_template  # rtmp://127.0.0.1:1935/{app}/{stream}
        self.lookup = lookup  # (app, stream) -> the manager's source entry, None when it has none
        self.max_jobs = max(1, max_jobs)
        self.ffmpeg = ffmpeg or find_ffmpeg()
        self.grace = grace
        self.clock = clock
        self.jobs: dict[tuple[str, str], Job] = {}
        self._full_warned: set[tuple[str, str]] = set()

    # -- one reconcile round (the agent calls it every beat) ---------------------------------
    def sync(self, published: set[tuple[str, str]]) -> None:
        for key in sorted(set(self.jobs) - published):  # the publisher left: its transcode ends
            log.info("transcode of %s/%s stopped: no longer published here", *key)
            self._stop(self.jobs.pop(key))
        self._full_warned &= published
        now = self.clock()
        for key in sorted(published):
            app, stream = key
            if _is_rendition(stream, self.ladder):
                continue  # never transcode our own output (only if someone published it here)
            job = self.jobs.get(key)
            if job is not None and job.proc is not None and job.proc.poll() is None:
                continue
            if job is not None and job.proc is not None:  # died while its stream is still published
                self._died(job, now)
            if job is None:
                if len(self.jobs) >= self.max_jobs:
                    if key not in self._full_warned:
                        log.warning("not transcoding %s/%s: %d transcodes already run (the node's capacity)",
                                    app, stream, self.max_jobs)
                        self._full_warned.add(key)
                    continue
                job = self.jobs[key] = Job(app, stream)
            if now >= job.not_before:
                self._start(job, now)

    def stop(self) -> None:
        """Stop every transcode: all signalled at once, then each waited for (bounded by `grace` overall)."""
        jobs = [self.jobs.pop(key) for key in sorted(self.jobs)]
        for job in jobs:
            if job.proc is not None and job.proc.poll() is None:
                job.proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + self.grace
        for job in jobs:
            if job.proc is not None:
                try:
                    job.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    job.proc.kill()
                    job.proc.wait(timeout=self.grace)
            _close(job)

    def running(self) -> dict[str, int]:
        """`app/stream` -> ffmpeg pid of every transcode running now."""
        return {f"{j.app}/{j.stream}": j.proc.pid for j in self.jobs.values()
                if j.proc is not None and j.proc.poll() is None}

    # -- one process ------------------------------------------------------------------------------
    def _start(self, job: Job, now: float) -> None:
        entry = self.lookup(job.app, job.stream)
        target = ((entry or {}).get("urls") or {}).get("rtmp", "")
        if not target.startswith("rtmp://") or not target.endswith("/" + job.stream):
            # Not registered (published here without asking the manager), or its origin is down: ask again later.
            log.warning("transcode of %s/%s waits: the manager names no origin for it", job.app, job.stream)
            job.not_before = now + job.backoff
            job.backoff = min(job.backoff * 2, MAX_BACKOFF)
            return
        path_app = f"{job.app}/" if job.app else ""  # MediaMTX paths may have no application part
        source = self.source_template.replace("{app}/", path_app).replace("{stream}", job.stream)
        job.errors = tempfile.TemporaryFile()
        # Same process group as the agent: whatever stops the agent's group stops its transcodes too.
        job.proc = subprocess.Popen(ffmpeg_argv(self.ffmpeg, source, target, self.ladder), stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=job.errors, close_fds=True)
        job.target, job.started_at = target, now
        log.info("transcoding %s/%s -> %s (+ %s), pid %d", job.app, job.stream, target,
                 ", ".join(f"{r.height}p@{r.kbps}k" for r in self.ladder), job.proc.pid)

    def _died(self, job: Job, now: float) -> None:
        code = job.proc.returncode if job.proc is not None else None
        log.warning("transcode of %s/%s exited with %s; restart %d in %.0fs: %s", job.app, job.stream, code,
                    job.restarts + 1, job.backoff, _tail(job.errors))
        _close(job)
        if now - job.started_at > 4 * MAX_BACKOFF:  # it ran a good while: a fresh failure, not a loop
            job.backoff = MIN_BACKOFF
        job.restarts += 1
        job.not_before = now + job.backoff
        job.backoff = min(job.backoff * 2, MAX_BACKOFF)

    def _stop(self, job: Job) -> None:
        proc = job.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # ffmpeg's clean stop: it closes its outputs
            try:
                proc.wait(timeout=self.grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=self.grace)
        _close(job)


def _close(job: Job) -> None:
    job.proc = None
    if job.errors is not None:
        job.errors.close()
        job.errors = None


def _tail(errors, size: int = 600) -> str:
    if errors is None:
        return ""
    try:
        errors.seek(max(0, errors.seek(0, os.SEEK_END) - size))
        return errors.read().decode(errors="replace").strip().replace("\n", " | ")
    except OSError:
        return ""


def _is_rendition(stream: str, ladder: list[Rung]) -> bool:
    return any(stream.endswith(f"_{r.height}p") for r in ladder)


def find_ffmpeg() -> str:
    """`$CCDS_FFMPEG`, else `ffmpeg` on PATH; FileNotFoundError with the install hint otherwise."""
    for candidate in (os.environ.get("CCDS_FFMPEG"), shutil.which("ffmpeg")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError("a transcoder needs ffmpeg (apt-get install ffmpeg, or point CCDS_FFMPEG at it)")
