"""Viewers always get a picture, on the local cloud as a user runs it: with the one edge full, subscribe
answers with the origin's HLS (`fallback: hls`, the default) instead of 503; ffprobe plays that URL;
`ccds load` viewers and `ccds probe` take the fallback and fetch real segments; `ccds status`, the
manager's events and its demand counters (what `ccds operate` scales on) count the fallbacks.
(`fallback: none` keeping the 503 on a real deployment: test_local_status_slots.py.)"""

from __future__ import annotations

import json
import subprocess

import httpx
import pytest
import yaml
from e2ehelp import explain, ok, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
SLOTS = 3


def test_full_edge_falls_back_to_playable_hls(deployment):
    from ccds_cli.load import hold_viewers

    dep = deployment
    data = yaml.safe_load(dep.spec.read_text())
    data["regions"]["local"]["pools"]["edge"].update(min=1, max=1, capacity=SLOTS)
    data["traffic"]["peak_viewers"] = {"local": SLOTS}
    dep.spec.write_text(yaml.safe_dump(data, sort_keys=False))
    ok(dep.run("up", "{spec}", "--yes", timeout=240))
    api, token = dep.manager_url(), dep.admin_token()
    admin = {"Authorization": f"Bearer {token}"}
    origin = next(n for n, rec in dep.records().items() if rec["role"] == "origin")
    with hold_viewers(api, token, viewers=SLOTS, ramp=20, publishers=1, stream="hls-e2e") as load:
        assert load.snapshot().playing == SLOTS  # the edge is full of real-time viewers
        answer = httpx.get(f"{api}/api/v1/streams/live/hls-e2e/subscribe", params={"region": "local"},
                           timeout=10).json()
        assert answer["fallback"] == "hls" and answer["fallback_reason"] == "no_capacity", answer
        assert answer["node"]["name"] == origin and answer["reservation"] is None
        url = answer["urls"]["hls"]
        port = dep.records()[origin]["ports"]["http"]
        assert url == f"http://127.0.0.1:{port}/hls/live/hls-e2e/index.m3u8"
        probe = wait_for(lambda: (lambda p: p if p.returncode == 0 and p.stdout.strip() else None)(subprocess.run(
            ["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "stream=codec_type,codec_name,width,"
             "height", "-of", "json", url], capture_output=True, text=True, timeout=30)), 20, what="ffprobe on HLS")
        video = json.loads(probe.stdout)["streams"]
        assert video and video[0]["codec_type"] == "video" and video[0]["codec_name"] == "h264", probe.stdout
        assert (video[0]["width"], video[0]["height"]) == (640, 360)

        # `ccds load`: every new viewer is sent to HLS and must fetch segments to pass
        proc = dep.run("load", "{spec}", "--publishers", "0", "--stream", "hls-e2e", "--viewers", "3", "--ramp",
                       "10", "--duration", "5", "--output", "json", timeout=120)
        assert proc.returncode == 0, explain(proc, "ccds load with every viewer on HLS should pass")
        r = json.loads(proc.stdout)["result"]
        fb = r["fallbacks"]
        assert (fb["total"], fb["hls"], fb["received_media"], fb["failed"]) == (3, 3, 3, 0), fb
        assert fb["segments"] >= 3 and fb["bytes"] > 30_000 and fb["nodes"] == {origin: 3}, fb
        assert r["viewers"]["fallback"] == 3 and r["viewers"]["held"] == 3 and r["edges"] == []
        text = dep.run("load", "{spec}", "--publishers", "0", "--stream", "hls-e2e", "--viewers", "1",
                       "--duration", "3", timeout=120)
        assert text.returncode == 0 and "fallbacks taken: 1 (hls 1)" in text.stdout, explain(text, "text report")

        # `ccds probe` publishes its own stream; the edge is still full, so it plays the fallback
        res = dep.run_json("probe", "{spec}", "--timeout", "40", timeout=120)["result"]
        assert res["ok"] and res["fallback"] == "hls" and res["edge"] == origin, res
        assert res["hls_segments"] >= 1 and res["hls_bytes"] > 0 and res["frames"] >= 5, res

        status = dep.run_json("status", "{spec}", expect=None)["result"]["manager"]
        assert status["hls_fallbacks"] >= 1 + 3 + 1 + 1, status
        assert "sent to HLS" in dep.run("status", "{spec}").stdout
    demand = httpx.get(f"{api}/api/v1/demand", headers=admin, timeout=10).json()["regions"]
    # by the region each viewer named: ours named `local`, ccds load and probe none ("")
    assert demand["local"] == {"fallback": 1} and demand[""]["fallback"] >= 3 + 1 + 1, demand
    assert not any(k.get("refused") for k in demand.values()), demand
    events = httpx.get(f"{api}/api/v1/events", headers=admin, timeout=10).json()
    assert any(e["kind"] == "fallback" and e["node_name"] == origin for e in events), events[-5:]
