"""ABR routing: publishers go to a transcoder of the origin's region when it has a free slot, and
subscribe lists the renditions (`<stream>_<height>p`) live for the stream, on both databases."""

from __future__ import annotations

import pytest

from ccds_cli.sm import routing


@pytest.fixture(autouse=True)
def _no_cache_delay(monkeypatch):
    monkeypatch.setattr(routing._LiveRenditions, "TTL", 0.0)  # the one-second cache, re-read every call


def test_publish_goes_through_a_transcoder_of_the_region_while_it_has_slots(mgr):
    mgr.up("o1", "origin", capacity=20)
    mgr.up("t1", "transcoder", capacity=1, port=2001)
    mgr.up("t2", "transcoder", capacity=1, port=2002)
    mgr.up("t9", "transcoder", region="r9", capacity=5)  # another region's: never used for r1's origin
    answers = [mgr.publish(s, region="r1").json() for s in ("a", "b", "c")]
    assert [(a["node"]["name"], a["transcoder"], a["origin"]) for a in answers] == [
        ("t1", True, "o1"), ("t2", True, "o1"), ("o1", False, "o1")]  # both slots taken: straight to the origin
    assert answers[0]["urls"] == {"rtmp": "rtmp://t1.example:2001/live/a"}
    assert answers[2]["urls"] == {"rtmp": "rtmp://o1.example:1935/live/c"}


def test_transcoder_slots_follow_its_own_count(mgr):
    mgr.up("o1", "origin", capacity=20)
    t1 = mgr.up("t1", "transcoder", capacity=2)
    mgr.beat(t1, publishers=2)  # full by its own count
    assert mgr.publish("a").json()["transcoder"] is False
    mgr.beat(t1, publishers=1)
    assert mgr.publish("b").json()["node"]["name"] == "t1"


def _live(name: str) -> dict:
    return {"app": "live", "name": name, "publishing": True, "subscribers": 0}


def test_subscribe_lists_the_live_renditions_of_the_ladder(mgr):
    origin = mgr.up("o1", "origin")
    mgr.up("e1", port=2001)
    assert mgr.publish("show").status_code == 200
    assert mgr.subscribe("show", region="r1").json()["renditions"] == []  # not transcoded
    mgr.beat(origin, streams=[_live(n) for n in ("show", "show_360p", "show_720p", "show_999p", "other_180p")])
    body = mgr.subscribe("show", region="r1").json()
    assert body["renditions"] == [
        {"name": "show_720p", "height": 720, "kbps": 2500, "urls": {"rtmp": "rtmp://e1.example:2001/live/show_720p"}},
        {"name": "show_360p", "height": 360, "kbps": 1000, "urls": {"rtmp": "rtmp://e1.example:2001/live/show_360p"}},
    ]  # highest first; 999p is not a rung of the ladder, other_180p another stream's
    assert mgr.client.post("/api/v1/streams/live/show/subscribe", json={}).json()["renditions"] == body["renditions"]
    # a rendition that stops is no longer listed once it is not live
    mgr.clock.advance(mgr.store.settings.heartbeat_timeout + 1)
    mgr.beat(origin, streams=[_live("show"), _live("show_720p")])
    mgr.beat(mgr.up("e2", port=2002))
    assert [r["name"] for r in mgr.subscribe("show", region="r1").json()["renditions"]] == ["show_720p"]


def test_the_ladder_setting_gives_the_bitrates(make_manager):
    mgr = make_manager(renditions=((480, 1200),))
    origin = mgr.up("o1", "origin")
    mgr.up("e1")
    mgr.publish("s")
    mgr.beat(origin, streams=[_live("s"), _live("s_480p"), _live("s_360p")])
    assert [(r["name"], r["kbps"]) for r in mgr.subscribe("s").json()["renditions"]] == [("s_480p", 1200)]


def test_hls_answer_of_a_transcoded_stream_is_a_master_playlist_of_its_renditions(mgr):
    hls = "http://o1.example:8088/hls/{app}/{stream}/index.m3u8"
    origin = mgr.up("o1", "origin", endpoints={"rtmp": "rtmp://o1.example:1935/live", "hls": hls})
    mgr.up("e1", port=2001)
    mgr.publish("show")
    plain = mgr.subscribe("show", protocol="hls").json()
    assert plain["urls"] == {"hls": "http://o1.example:8088/hls/live/show/index.m3u8"} and plain["renditions"] == []
    assert mgr.client.get("/api/v1/streams/live/show/master.m3u8").status_code == 404  # not transcoded
    mgr.beat(origin, streams=[_live(n) for n in ("show", "show_360p", "show_720p")])
    body = mgr.subscribe("show", protocol="hls").json()
    assert body["fallback"] == "hls"
    assert body["urls"] == {"hls": "http://testserver/api/v1/streams/live/show/master.m3u8",
                            "hls_source": "http://o1.example:8088/hls/live/show/index.m3u8"}
    assert [(r["name"], r["urls"]) for r in body["renditions"]] == [
        ("show_720p", {"hls": "http://o1.example:8088/hls/live/show_720p/index.m3u8"}),
        ("show_360p", {"hls": "http://o1.example:8088/hls/live/show_360p/index.m3u8"})]
    master = mgr.client.get("/api/v1/streams/live/show/master.m3u8")
    assert master.status_code == 200 and master.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    assert master.text == ("#EXTM3U\n#EXT-X-VERSION:3\n"
                           '#EXT-X-STREAM-INF:BANDWIDTH=2628000,NAME="720p"\n'
                           "http://o1.example:8088/hls/live/show_720p/index.m3u8\n"
                           '#EXT-X-STREAM-INF:BANDWIDTH=1128000,NAME="360p"\n'
                           "http://o1.example:8088/hls/live/show_360p/index.m3u8\n")
    assert mgr.client.get("/api/v1/streams/live/nope/master.m3u8").status_code == 404
