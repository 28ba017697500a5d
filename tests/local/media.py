"""ffmpeg test-pattern publisher, bounded playback checks and nginx-rtmp `/stat` parsing."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from localtf import http_get


def require(tool: str) -> str:
    path = shutil.which(tool)
    assert path, f"{tool} must be on PATH (apt-get install ffmpeg)"
    return path


class Publisher:
    """A test pattern pushed to an RTMP URL for `seconds`; always stopped by PID on exit.

    `-g 25` (a key frame every second) lets a new viewer start decoding within a second.
    """

    def __init__(self, url: str, seconds: int, log: Path, size: str = "320x240"):
        self.url, self.seconds, self.log, self.size = url, seconds, log, size
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "Publisher":
        argv = [require("ffmpeg"), "-nostdin", "-loglevel", "error", "-re",
                "-f", "lavfi", "-i", f"testsrc=size={self.size}:rate=25", "-f", "lavfi", "-i", "sine",
                "-t", str(self.seconds), "-c:v", "libx264", "-preset", "ultrafast",
                "-tune", "zerolatency", "-g", "25", "-c:a", "aac", "-f", "flv", self.url]
        self.out = open(self.log, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.out,
                                     stderr=subprocess.STDOUT)
        return self

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.out.close()


def read_frames(url: str, frames: int = 10, timeout: float = 25.0) -> subprocess.CompletedProcess:
    """Decode `frames` video frames from `url` (bounded); returncode 0 means the stream played."""
    argv = [require("ffmpeg"), "-nostdin", "-v", "error", "-rw_timeout", "10000000", "-i", url,
            "-map", "0:v:0", "-frames:v", str(frames), "-f", "null", "-"]
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        return subprocess.CompletedProcess(argv, 124, "", f"timed out: {exc}")


def probe_video(url: str, entries: str = "codec_name,width,height") -> dict:
    """ffprobe's view of the first video stream at `url` (bounded): the stream `entries` asked for."""
    argv = ["ffprobe", "-v", "error", "-rw_timeout", "10000000", "-select_streams", "v:0",
            "-show_entries", f"stream={entries}", "-of", "json", url]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, f"ffprobe {url}: {proc.stderr[-2000:]}"
    return json.loads(proc.stdout)["streams"][0]


def streams(stat_url: str) -> dict[str, dict]:
    """{stream name: {"publishing": bool, "nclients": int, "flashvers": [...]}} of app `live`."""
    _, body = http_get(stat_url)
    root = ET.fromstring(body)
    found = {}
    for app in root.iter("application"):
        if app.findtext("name") != "live":
            continue
        for stream in app.iter("stream"):
            clients = stream.findall("client")
            found[stream.findtext("name")] = {
                "publishing": stream.find("publishing") is not None,
                "nclients": int(stream.findtext("nclients") or 0),
                "publishers": [c.findtext("flashver") or "" for c in clients
                               if c.find("publishing") is not None],
            }
    return found
