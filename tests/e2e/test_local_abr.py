"""Issue 9 item 4 on the local cloud: a region with a transcoder pool. The manager's publish answer sends
the publisher (1280x720) to the transcoder, which pushes the stream and its ABR ladder to the origin; an
edge serves `<stream>_360p` at 640x360, and subscribe lists the live renditions with their bitrates."""

from __future__ import annotations

import json
import os
import signal
import urllib.request
from pathlib import Path

import pytest
import yaml
from e2ehelp import Publisher, http_get, ok, probe_video, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def post(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def probe(url: str) -> dict:
    return probe_video(url, "width,height")


def transcodes(stream: str) -> set[int]:
    """PIDs of the transcoder's ffmpeg processes pushing `stream`'s renditions."""
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"-force_key_frames" in argv and any(a.endswith(f"/live/{stream}_360p".encode()) for a in argv):
            found.add(int(entry.name))
    return found


def test_transcoder_publishes_the_ladder_an_edge_serves(deployment, tmp_path):
    dep = deployment
    spec = yaml.safe_load(dep.spec.read_text())
    spec["regions"]["local"]["pools"]["edge"].update(min=1, max=1)
    spec["regions"]["local"]["pools"]["transcoder"] = {"instance_type": "process", "min": 1, "max": 1, "capacity": 2}
    dep.spec.write_text(yaml.safe_dump(spec, sort_keys=False))
    ok(dep.run("up", "{spec}", "--yes", timeout=180))
    api = dep.manager_url()
    nodes = wait_for(lambda: (n := dep.manager_nodes(api)) and sum(x["state"] == "INSERVICE" for x in n.values()) == 3
                     and n, timeout=30, what="origin, edge and transcoder in service")
    roles = {n["role"]: name for name, n in nodes.items()}
    assert set(roles) == {"origin", "edge", "transcoder"}, nodes
    status = dep.run_json("status", "{spec}", expect=0)["result"]
    assert status["healthy"] and {(r["role"], r["running"]) for ws in status["workspaces"] for r in ws["roles"]} == {
        ("manager", 1), ("origin", 1), ("edge", 1), ("transcoder", 1)}, status

    answer = post(f"{api}/api/v1/streams/live/abr/publish", {"region": "local"})
    assert answer["transcoder"] is True and answer["node"]["name"] == roles["transcoder"], answer
    assert answer["origin"] == roles["origin"], answer
    with Publisher(answer["urls"]["rtmp"], seconds=90, log=tmp_path / "publisher.log", size="1280x720"):
        def listed():
            sub = post(f"{api}/api/v1/streams/live/abr/subscribe", {"region": "local"})
            return sub if len(sub["renditions"]) == 3 else None

        sub = wait_for(listed, timeout=45, interval=1, what="subscribe listing three renditions")
        assert [(r["name"], r["height"], r["kbps"]) for r in sub["renditions"]] == [
            ("abr_720p", 720, 2500), ("abr_360p", 360, 1000), ("abr_180p", 180, 500)], sub
        assert sub["node"]["name"] == roles["edge"]
        rendition = {r["height"]: r for r in sub["renditions"]}[360]["urls"]["rtmp"]
        assert rendition == sub["urls"]["rtmp"] + "_360p"  # the same edge serves the rendition
        assert probe(rendition) == {"width": 640, "height": 360}
        assert probe(sub["urls"]["rtmp"]) == {"width": 1280, "height": 720}  # the source, pushed unchanged
        # The origin holds the stream and its renditions (the transcoder claims none of them).
        _, body = http_get(f"{api}/api/v1/streams", headers={"Authorization": f"Bearer {dep.admin_token()}"})
        held = {s["name"]: s["origin"] for s in json.loads(body) if s["live"]}
        assert held == {n: roles["origin"] for n in ("abr", "abr_720p", "abr_360p", "abr_180p")}, held
        # HLS (the fallback, here asked for): the manager's master playlist of the origin's rendition playlists
        hls = post(f"{api}/api/v1/streams/live/abr/subscribe", {"region": "local", "protocol": "hls"})
        assert hls["fallback"] == "hls" and hls["urls"]["hls"] == f"{api}/api/v1/streams/live/abr/master.m3u8", hls
        _, master = http_get(hls["urls"]["hls"])
        assert master.count("#EXT-X-STREAM-INF") == 3 and "/abr_360p/index.m3u8" in master, master
        assert wait_for(lambda: probe(hls["urls"]["hls"]), timeout=30, what="ffprobe plays the master playlist") == {
            "width": 1280, "height": 720}  # its first variant: 720p of the 1280x720 source

        # A transcode that dies is started again by the agent, and the rendition plays again.
        (first,) = transcodes("abr")
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: transcodes("abr") - {first}, timeout=20, what="the transcode restarted")
        assert wait_for(lambda: probe(rendition), timeout=30, what="360p again") == {"width": 640, "height": 360}
