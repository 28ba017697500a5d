"""The asyncio RTMP play client: AMF0 and chunk parsing byte by byte, then against real nginx-rtmp."""

from __future__ import annotations

import asyncio
import struct

import pytest
from loadhelp import Publisher, wait

from ccds_cli.load import amf0
from ccds_cli.load.rtmp import (
    ACK,
    AUDIO,
    DATA_AMF0,
    PING_REQUEST,
    PING_RESPONSE,
    SET_CHUNK_SIZE,
    USER_CONTROL,
    VIDEO,
    WINDOW_ACK_SIZE,
    RtmpError,
    RtmpPlayer,
    parse_url,
)
from ccds_cli.localcloud.procs import free_port


# -- AMF0 and URLs -----------------------------------------------------------------------------
def test_amf0_round_trip_and_truncation():
    values = ["_result", 1.0, None, {"code": "NetStream.Play.Start", "n": 2.5, "ok": True, "nested": {"a": "b"}},
              ["x", 3.0], "é" * 10]
    data = amf0.encode_all(*values)
    assert amf0.decode_all(data) == values
    long = "x" * 70000
    assert amf0.decode_all(amf0.encode(long)) == [long]
    ecma = bytes([amf0.ECMA_ARRAY]) + struct.pack(">I", 1) + b"\x00\x05width" + amf0.encode(640) + b"\x00\x00\x09"
    assert amf0.decode_all(ecma) == [{"width": 640.0}]
    for cut in (1, 5, len(data) - 2):
        with pytest.raises(amf0.AmfError):
            amf0.decode_all(data[:cut])


def test_parse_url():
    assert parse_url("rtmp://127.0.0.1:19400/live/s1") == ("127.0.0.1", 19400, "live", "s1")
    assert parse_url("rtmp://edge.example/live/s1?token=abc") == ("edge.example", 1935, "live", "s1?token=abc")
    for bad in ("http://h/live/s", "rtmp://h/live", "rtmp:///live/s"):
        with pytest.raises(RtmpError) as exc:
            parse_url(bad)
        assert exc.value.kind == "url"


# -- the chunk stream, fed byte by byte from a synthetic server ----------------------------------
def _basic(fmt: int, csid: int) -> bytes:
    if csid < 64:
        return bytes([(fmt << 6) | csid])
    if csid < 320:
        return bytes([fmt << 6, csid - 64])
    return bytes([(fmt << 6) | 1]) + struct.pack("<H", csid - 64)


def _message(csid: int, mtype: int, payload: bytes, *, chunk: int, ts: int = 0, msid: int = 1, fmt: int = 0) -> bytes:
    """One message as a server sends it: a fmt 0/1/2 header, then fmt 3 continuation chunks."""
    ext = ts >= 0xFFFFFF
    field = (0xFFFFFF if ext else ts).to_bytes(3, "big")
    extra = ts.to_bytes(4, "big") if ext else b""
    if fmt == 0:
        head = field + len(payload).to_bytes(3, "big") + bytes([mtype]) + struct.pack("<I", msid)
    elif fmt == 1:
        head = field + len(payload).to_bytes(3, "big") + bytes([mtype])
    elif fmt == 2:
        head = field
    else:
        head = b""
        extra = ts.to_bytes(4, "big") if ext else b""
    out = bytearray(_basic(fmt, csid) + head + extra)
    for i in range(0, len(payload), chunk):
        if i:
            out += _basic(3, csid) + (ts.to_bytes(4, "big") if ext else b"")
        out += payload[i:i + chunk]
    return bytes(out)


class _Transport:
    def __init__(self):
        self.written = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


def _feed(player: RtmpPlayer, data: bytes, step: int) -> None:
    for i in range(0, len(data), step):
        part = data[i:i + step]
        buf = player.get_buffer(len(part))
        buf[:len(part)] = part
        player.buffer_updated(len(part))


def _messages_written(raw: bytes) -> list[tuple[int, bytes]]:
    """(type, payload) of what the client sent after its handshake (single-chunk fmt 0 messages)."""
    out, p = [], 0
    while p < len(raw):
        assert raw[p] >> 6 == 0
        length, mtype = int.from_bytes(raw[p + 4:p + 7], "big"), raw[p + 7]
        out.append((mtype, raw[p + 12:p + 12 + length]))
        p += 12 + length
    return out


@pytest.mark.parametrize("step", [1, 7, 4096])
def test_chunk_stream_parsing_counts_frames_and_answers_control(step):
    async def main():
        player = RtmpPlayer("rtmp://127.0.0.1:1/live/s")
        transport = _Transport()
        player.connection_made(transport)
        c0c1 = bytes(transport.written)
        assert c0c1[0] == 3 and len(c0c1) == 1537
        keyframe = bytes([0x17, 1, 0, 0, 0]) + b"k" * 295
        inter = bytes([0x27, 1, 0, 0, 0]) + b"i" * 95
        stream = b"".join([
            b"\x03" + b"s" * 1536 + c0c1[1:],                       # S0 S1 S2
            _message(2, SET_CHUNK_SIZE, struct.pack(">I", 64), chunk=128, msid=0),
            _message(2, WINDOW_ACK_SIZE, struct.pack(">I", 500), chunk=64, msid=0),
            _message(5, DATA_AMF0, amf0.encode_all("onMetaData", {"width": 320.0, "framerate": 25.0}), chunk=64),
            _message(6, VIDEO, bytes([0x17, 0]) + b"avcC" * 10, chunk=64),     # AVC sequence header: no frame
            _message(6, VIDEO, keyframe, chunk=64, ts=40, fmt=1),
            _message(6, VIDEO, inter, chunk=64, ts=40, fmt=1),                   # new length
            _message(6, VIDEO, inter, chunk=64, ts=40, fmt=2),                   # same length, delta again
            _message(6, VIDEO, inter, chunk=64, ts=40, fmt=3),                   # same header, new message
            _message(70, VIDEO, inter, chunk=64, ts=0x1000000, msid=1),          # 2-byte csid, extended time
            _message(70, VIDEO, inter, chunk=64, ts=0x1000000, fmt=3),
            _message(400, AUDIO, bytes([0xAF, 0, 0x12, 0x10]), chunk=64),        # 3-byte csid, AAC header
            _message(400, AUDIO, bytes([0xAF, 1]) + b"a" * 200, chunk=64, ts=23, fmt=1),
            _message(2, USER_CONTROL, struct.pack(">HI", PING_REQUEST, 1234), chunk=64, msid=0),
            _message(7, VIDEO, b"", chunk=64),                                   # an empty message
        ])
        transport.written.clear()
        _feed(player, stream, step)
        st = player.stats
        assert player._handshaken.done()
        assert (st.video_frames, st.keyframes, st.audio_frames) == (6, 1, 1)
        assert st.media_bytes == 42 + 300 + 5 * 100 + 4 + 202
        assert st.metadata == {"width": 320.0, "framerate": 25.0} and st.first_media is not None
        assert player.first_media.done()
        sent = _messages_written(bytes(transport.written)[1536:])  # after C2 (the echo of S1)
        assert bytes(transport.written)[:1536] == b"s" * 1536
        types = [t for t, _ in sent]
        assert types[0] == SET_CHUNK_SIZE  # ours, right after the handshake (connect is sent by open())
        assert (USER_CONTROL, struct.pack(">HI", PING_RESPONSE, 1234)) in sent
        assert ACK in types  # 500-byte window crossed

    asyncio.run(main())


def test_garbage_closes_the_connection_with_a_protocol_error():
    async def main():
        player = RtmpPlayer("rtmp://127.0.0.1:1/live/s")
        transport = _Transport()
        player.connection_made(transport)
        _feed(player, b"\x06" + bytes(3072), 4096)  # RTMP version 6: not ours
        assert transport.closed and player._close_reason.startswith("protocol error")
        with pytest.raises(RtmpError):
            player._handshaken.result()

    asyncio.run(main())


# -- against real nginx-rtmp ---------------------------------------------------------------------
@pytest.mark.slow
def test_play_from_real_nginx_counts_frames_and_notices_the_end(origin, tmp_path):
    async def main():
        missing = RtmpPlayer(f"rtmp://127.0.0.1:{free_port()}/live/x")  # nobody listens there
        with pytest.raises(RtmpError) as exc:
            await missing.open(timeout=3)
        assert exc.value.kind == "connect"

        idle = RtmpPlayer(f"{origin.rtmp}/nobody")  # nginx accepts the play and waits for a publisher
        await idle.open(timeout=5)
        done, _ = await asyncio.wait([idle.first_media], timeout=1.5)
        assert not done and idle.stats.video_frames == 0
        idle.close("test")
        assert await idle.done == "test"

        pub = Publisher(f"{origin.rtmp}/s1", tmp_path / "pub.log", seconds=60)
        try:
            player = None
            for _ in range(40):  # the publisher needs a moment to connect
                player = RtmpPlayer(f"{origin.rtmp}/s1")
                await player.open(timeout=5)
                done, _ = await asyncio.wait([player.first_media], timeout=0.5)
                if done:
                    break
                player.close("retry")
            await asyncio.sleep(3)
            st = player.stats
            assert st.video_frames >= 60 and st.keyframes >= 2 and st.audio_frames >= 60
            assert st.metadata["width"] == 320.0 and st.max_video_gap < 1.0
        finally:
            pub.stop()
        await asyncio.sleep(1.5)
        frames = player.stats.video_frames
        await asyncio.sleep(1)
        assert player.stats.video_frames == frames and player.stats.stream_stopped is not None
        player.close("done")
        await player.done

    asyncio.run(main())


@pytest.mark.slow
def test_two_hundred_players_on_one_nginx_all_get_media_and_nginx_counts_them(origin, tmp_path):
    async def main():
        players = [RtmpPlayer(f"{origin.rtmp}/crowd") for _ in range(200)]
        await asyncio.gather(*(p.open(timeout=10) for p in players))
        await asyncio.wait_for(asyncio.gather(*(p.first_media for p in players)), 20)
        stats = await asyncio.to_thread(origin.stats)
        assert stats.subscribers == 200 and stats.publishers == 1 and stats.relays == 0
        await asyncio.sleep(2)
        assert all(p.stats.video_frames >= 25 for p in players)
        for p in players:
            p.close("done")
        await asyncio.gather(*(p.done for p in players))
        wait(lambda: origin.stats().subscribers == 0, 10, "nginx to see the players leave")

    pub = Publisher(f"{origin.rtmp}/crowd", tmp_path / "pub.log", seconds=60)
    try:
        asyncio.run(main())
    finally:
        pub.stop()
