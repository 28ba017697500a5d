"""Viewer outcomes and the report, without a network: a scripted manager answers subscribe."""

from __future__ import annotations

import asyncio

import pytest

from ccds_cli.errors import BadInput
from ccds_cli.load.engine import validate
from ccds_cli.load.manager import Refused, Unreachable
from ccds_cli.load.report import build, percentile
from ccds_cli.load.viewer import NO_MEDIA, REFUSED_BY_EDGE, REFUSED_BY_MANAGER, Viewer
from ccds_cli.localcloud.procs import free_port


class ScriptedManager:
    def __init__(self, answer):
        self.answer = answer

    async def subscribe(self, app, stream, **kw):
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def _node(name="edge-0", region="r1"):
    return {"id": name, "name": name, "region": region}


def _run(answer) -> Viewer:
    v = Viewer(0, "live", "s")

    async def go():
        await v.run(ScriptedManager(answer), region=None, lat=None, lon=None, creds=None, connect_timeout=2,
                    recv_buffer=32768)

    asyncio.run(go())
    return v


def test_viewer_outcomes_by_cause():
    v = _run(Refused(503, "no INSERVICE edge with spare capacity", 2))
    assert (v.state, v.cause, v.detail) == ("failed", REFUSED_BY_MANAGER, "503 no INSERVICE edge with spare capacity")
    v = _run(Unreachable("ConnectError"))
    assert v.cause == REFUSED_BY_MANAGER and v.detail.startswith("no answer")
    v = _run({"node": _node(), "urls": {"srt": "srt://x"}})
    assert v.cause == REFUSED_BY_EDGE and "no rtmp URL (srt)" in v.detail and v.edge == "edge-0"
    v = _run({"node": _node(), "urls": {"rtmp": f"rtmp://127.0.0.1:{free_port()}/live/s"}})
    assert v.cause == REFUSED_BY_EDGE and "cannot connect" in v.detail
    v = _run({"node": _node("hls-0"), "fallback": "hls", "urls": {"hls": "http://x/live/s/index.m3u8"}})
    assert (v.state, v.fallback, v.cause) == ("fallback", "hls", None)


def test_report_groups_by_edge_and_region_and_counts_fallbacks():
    viewers = []
    for i, (edge, region, state, cause) in enumerate([
            ("edge-0", "r1", "held", None), ("edge-0", "r1", "held", None), ("edge-1", "r2", "failed", NO_MEDIA),
            (None, None, "failed", REFUSED_BY_MANAGER), ("hls-0", "r2", "fallback", None)]):
        v = Viewer(i, "live", "s")
        v.edge, v.region, v.state, v.cause = edge, region, state, cause
        v.detail = cause and f"{cause} detail"
        v.answered_at = None if cause == REFUSED_BY_MANAGER else 10.0
        if state == "held":
            v.first_media_at, v.ended_at = 10.1 + i / 10, 20.0
        if state == "fallback":  # sent to HLS: no edge, the node serving it named apart
            v.fallback, v.hls_node, v.edge = "hls", edge, None
        viewers.append(v)
    r = build(viewers, manager="http://m", streams=["live/s"], interrupted=False, elapsed=12.0,
              requested={"viewers": 5}, publishers=[], manager_nodes=[{"name": "edge-0", "subscribers": 2,
                                                                       "capacity": 50}], note=None).as_dict()
    assert not r["ok"]
    assert r["viewers"] == {"started": 5, "received_media": 2, "held": 2, "released": 0, "failed": 2,
                            "fallback": 1, "cancelled": 0}
    edges = {e["edge"]: e for e in r["edges"]}
    assert edges["edge-0"]["assigned"] == 2 and edges["edge-0"]["manager_subscribers"] == 2
    assert edges["edge-1"]["failed"] == 1 and edges["edge-1"]["manager_subscribers"] is None
    assert [g["region"] for g in r["regions"]] == ["r1", "r2"] and r["regions"][1]["fallback"] == 1
    assert r["failures"] == {"refused_by_manager": 1, "refused_by_edge": 0, "no_media": 1, "dropped": 0}
    assert r["failure_details"]["no_media"] == [{"detail": "no_media detail", "count": 1}]
    assert r["fallbacks"] == {"total": 1, "hls": 1, "received_media": 0, "failed": 0, "segments": 0, "bytes": 0,
                              "join_ms": {"p50": None, "p99": None}, "nodes": {"hls-0": 1}}
    assert "hls-0" not in edges
    assert r["join_ms"] == {"count": 2, "p50": 100.0, "p99": 200.0, "max": 200.0}


def test_percentile_nearest_rank():
    assert percentile([], 50) is None
    assert percentile([5], 99) == 5
    values = list(range(1, 101))
    assert (percentile(values, 50), percentile(values, 99), percentile(values, 100)) == (50, 99, 100)


@pytest.mark.parametrize("kw", [dict(viewers=0), dict(viewers=20_001), dict(ramp=0), dict(ramp=5000),
                                dict(duration=0), dict(publishers=-1), dict(publishers=0, stream=None),
                                dict(stream="a/b/c"), dict(stream="-x")])
def test_validate_refuses(kw):
    args = dict(viewers=10, publishers=1, ramp=50, duration=10, stream=None) | kw
    with pytest.raises(BadInput):
        validate(**args)
