"""`ccds status` tells the truth when viewers were promised slots they have not taken yet: reserved
edge slots count against capacity, and joins the manager refused are shown (it said "0 viewer(s)"
while every slot was reserved and subscribe answered 503)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from e2ehelp import Publisher, streams, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _post(url: str, body: dict | None = None) -> int:
    req = urllib.request.Request(url, data=json.dumps(body or {}).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_status_counts_reserved_slots_and_refused_joins(deployment, tmp_path):
    dep = deployment
    data = __import__("yaml").safe_load(dep.spec.read_text())
    data["regions"]["local"]["pools"]["edge"].update(min=1, max=1, capacity=3)
    data["regions"]["local"]["fallback"] = "none"  # no HLS: a full edge means 503 (test_local_hls_fallback.py)
    data["traffic"]["peak_viewers"] = {"local": 1}
    dep.spec.write_text(__import__("yaml").safe_dump(data, sort_keys=False))
    up = dep.run_json("up", "{spec}", "--yes")
    url = dep.manager_url()
    origin = next(n for n in up["result"]["nodes"] if n["role"] == "origin")
    api = f"{url}/api/v1/streams/live/slots"
    assert _post(f"{api}/publish") == 200
    with Publisher(f"rtmp://127.0.0.1:{origin['ports']['rtmp']}/live/slots", 60, tmp_path / "pub.log"):
        wait_for(lambda: streams(f"http://127.0.0.1:{origin['ports']['http']}/stat").get("slots", {})
                 .get("publishing"), 20, what="the stream on the origin")
        # Three viewers are routed (their slots reserved) but none connects; the fourth is refused.
        assert [_post(f"{api}/subscribe") for _ in range(4)] == [200, 200, 200, 503]
        assert _post(f"{api}/subscribe", {"protocol": "hls"}) == 404  # fallback: none, the origin makes no HLS
        manager = dep.run_json("status", "{spec}", expect=None)["result"]["manager"]
        assert manager["edge_slots"] == {"capacity": 3, "viewers": 0, "reserved": 3, "free": 0}, manager
        assert manager["refused_joins"] >= 1
        assert manager["beat_interval"] is None and manager["fault_timeout"] == 3.5  # a small fleet is not paced
        # (a reservation lasts until the edge's next count after the connect grace: gone by now or soon)
        text = dep.run("status", "{spec}").stdout
        assert "reserved of 3" in text and "join(s) refused" in text, text
