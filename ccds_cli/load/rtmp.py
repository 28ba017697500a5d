"""A minimal asyncio RTMP *play* client: enough to be a viewer, and cheap enough to be hundreds.

Written for `ccds load` from the RTMP specification (Adobe, "Real-Time Messaging Protocol", 2012:
handshake 5.2, chunking 5.3, protocol control 5.4, user control 6.2/7.1.7, NetConnection and
NetStream commands 7.2) and the AMF0 specification. No library on PyPI is a maintained asyncio
RTMP client (pyrtmp is a server, python-librtmp a 2015 cffi binding with a blocking API).

What it does: plain (version 3, unsigned) handshake, `connect`, `createStream`, `play`, answers
pings and acknowledgement windows, and parses the chunk stream. Audio and video message payloads
are never copied: only their first bytes are looked at (to tell frames from codec headers), the
rest is counted and skipped in the receive buffer. That keeps one viewer at a few microseconds of
CPU per chunk. Commands, metadata and control messages are reassembled and decoded.

    player = RtmpPlayer("rtmp://127.0.0.1:1935/live/stream")
    await player.open(timeout=5)        # raises RtmpError(kind=connect|rejected|closed|timeout|protocol)
    await player.first_media            # resolved with the arrival time of the first frame
    player.stats.video_frames, player.stats.media_bytes, player.stats.max_video_gap
    player.close("done"); await player.done   # the reason the connection ended
"""

from __future__ import annotations

import asyncio
import os
import struct
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from ccds_cli.load import amf0

DEFAULT_PORT = 1935
HANDSHAKE_SIZE = 1536
OUT_CHUNK_SIZE = 4096
MAX_CONTROL_MESSAGE = 1 << 20  # commands/metadata larger than this are a broken (or hostile) server
FLASHVER = "ccds-load/1.0"      # not nginx-rtmp's relay flashver, so edges count us as viewers

# Message types (RTMP spec 5.4, 6.2, 7.1)
SET_CHUNK_SIZE, ABORT, ACK, USER_CONTROL, WINDOW_ACK_SIZE, SET_PEER_BANDWIDTH = 1, 2, 3, 4, 5, 6
AUDIO, VIDEO, DATA_AMF3, COMMAND_AMF3, DATA_AMF0, COMMAND_AMF0, AGGREGATE = 8, 9, 15, 17, 18, 20, 22
# User control events
STREAM_BEGIN, STREAM_EOF, SET_BUFFER_LENGTH, PING_REQUEST, PING_RESPONSE = 0, 1, 3, 6, 7

PLAY_ERRORS = ("NetStream.Play.Failed", "NetStream.Play.StreamNotFound", "NetStream.Failed",
               "NetStream.Play.Forbidden", "NetConnection.Connect.Rejected")
STREAM_STOPPED = ("NetStream.Play.UnpublishNotify", "NetStream.Play.Stop", "NetStream.Play.Complete")


class RtmpError(Exception):
    """Why a play did not start. `kind`: connect (TCP), rejected (the server said no), closed (it hung
    up), timeout, protocol (it sent something we cannot parse), url (not an rtmp:// URL)."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass
class PlayStats:
    """Counters of one player; times are `time.monotonic()` seconds."""

    wire_bytes: int = 0       # everything received, handshake and chunk headers included
    media_bytes: int = 0      # audio + video message payloads
    video_frames: int = 0     # coded frames (codec headers excluded)
    audio_frames: int = 0
    keyframes: int = 0
    first_media: float | None = None
    last_media: float | None = None
    last_video: float | None = None
    max_video_gap: float = 0.0  # longest wait between two video frames
    metadata: dict | None = None
    stream_stopped: str | None = None  # onStatus code when the server said the stream ended


def parse_url(url: str) -> tuple[str, int, str, str]:
    """rtmp://host[:port]/app/stream[?query] -> (host, port, app, play name incl. query)."""
    parts = urlsplit(url)
    if parts.scheme != "rtmp" or not parts.hostname:
        raise RtmpError("url", f"not an rtmp:// URL: {url}")
    segments = parts.path.lstrip("/").split("/", 1)
    if len(segments) < 2 or not segments[0] or not segments[1]:
        raise RtmpError("url", f"rtmp URL needs /app/stream: {url}")
    name = segments[1] + (f"?{parts.query}" if parts.query else "")
    return parts.hostname, parts.port or DEFAULT_PORT, segments[0], name


class _ChunkStream:
    """Header state of one chunk stream id, and the message being reassembled on it."""

    __slots__ = ("ts", "delta", "length", "type", "msid", "ext", "got", "head", "body")

    def __init__(self) -> None:
        self.ts = self.delta = self.length = self.type = self.msid = self.got = 0
        self.ext = False
        self.head = bytearray()           # first bytes of a media message
        self.body: bytearray | None = None  # whole payload of anything else


def _chunk_basic(fmt: int, csid: int) -> bytes:
    return bytes([(fmt << 6) | csid])  # we only send on chunk streams 2..63


class RtmpPlayer(asyncio.BufferedProtocol):
    """One RTMP viewer connection. Create, `await open()`, read `stats`, `close()`."""

    def __init__(self, url: str, *, buffer_ms: int = 500, recv_buffer: int = 32768, flashver: str = FLASHVER):
        self.url = url
        self.host, self.port, self.app, self.stream_name = parse_url(url)
        self.buffer_ms = buffer_ms
        self.flashver = flashver
        self.stats = PlayStats()
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray(max(recv_buffer, 2 * HANDSHAKE_SIZE + 64))
        self._pos = self._end = 0
        self._phase = 0  # 0: want S0+S1, 1: want S2, 2: chunk stream
        self._streams: dict[int, _ChunkStream] = {}
        self._cur: _ChunkStream | None = None
        self._left = 0  # payload bytes still to come in the current chunk
        self._in_chunk = 128
        self._ack_window = 0
        self._acked = 0
        self._next_tx = 1
        self._tx: dict[int, asyncio.Future] = {}
        self._close_reason: str | None = None
        loop = asyncio.get_running_loop()
        self._handshaken: asyncio.Future = loop.create_future()
        self._playing: asyncio.Future = loop.create_future()
        self.first_media: asyncio.Future = loop.create_future()
        self.done: asyncio.Future = loop.create_future()
        self.stream_id = 0
        for fut in (self._handshaken, self._playing, self.first_media):
            fut.add_done_callback(_consume)

    # -- the public side -------------------------------------------------------------------------
    async def open(self, timeout: float = 5.0) -> None:
        """TCP connect, handshake, connect, createStream, play; returns once the server started play."""
        try:
            await asyncio.wait_for(self._open(), timeout)
        except asyncio.TimeoutError:
            self.close("timeout")
            raise RtmpError("timeout", f"no RTMP play start from {self.host}:{self.port} within {timeout:g} s")
        except RtmpError:
            self.close("failed")
            raise

    def close(self, reason: str = "closed") -> None:
        """Hang up (idempotent); `done` resolves with the first reason given."""
        if self._close_reason is None:
            self._close_reason = reason
        if self.transport is not None:
            self.transport.close()
        elif not self.done.done():
            self.done.set_result(self._close_reason)
            self._fail_pending(RtmpError("closed", "closed before connecting"))

    @property
    def closed(self) -> bool:
        return self.done.done()

    # -- protocol callbacks ----------------------------------------------------------------------
    def connection_made(self, transport) -> None:  # noqa: ANN001 - asyncio signature
        self.transport = transport
        if self._close_reason is not None:  # closed while connecting
            transport.close()
            return
        c1 = struct.pack(">II", int(time.time()) & 0xFFFFFFFF, 0) + os.urandom(HANDSHAKE_SIZE - 8)
        transport.write(b"\x03" + c1)

    def get_buffer(self, sizehint: int) -> memoryview:
        if self._end - self._pos == 0:
            self._pos = self._end = 0
        elif len(self._buf) - self._end < 4096:
            keep = self._end - self._pos
            self._buf[:keep] = self._buf[self._pos:self._end]
            self._pos, self._end = 0, keep
            if len(self._buf) - keep < 4096:  # only ever a partial header or handshake is kept
                self._buf.extend(bytes(len(self._buf)))
        return memoryview(self._buf)[self._end:]

    def buffer_updated(self, nbytes: int) -> None:
        self._end += nbytes
        self.stats.wire_bytes += nbytes
        try:
            if self._phase < 2:
                self._handshake()
            if self._phase == 2:
                self._parse(time.monotonic())
        except (RtmpError, amf0.AmfError, struct.error, ValueError, IndexError) as exc:
            err = exc if isinstance(exc, RtmpError) else RtmpError("protocol", f"bad RTMP data: {exc}")
            self._fail_pending(err)
            self.close(f"protocol error: {err.message}")
            return
        if self._ack_window and self.stats.wire_bytes - self._acked >= self._ack_window:
            self._acked = self.stats.wire_bytes
            self._send(2, ACK, 0, struct.pack(">I", self._acked & 0xFFFFFFFF))

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        reason = self._close_reason or (f"connection reset: {exc}" if exc else "closed by the server")
        self._fail_pending(RtmpError("closed", f"{self.host}:{self.port} {reason}"))
        if not self.done.done():
            self.done.set_result(reason)

    # -- internals ---------------------------------------------------------------------------------
    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.create_connection(lambda: self, self.host, self.port)
        except OSError as exc:
            raise RtmpError("connect", f"cannot connect to {self.host}:{self.port}: {exc.strerror or exc}") from None
        await self._handshaken
        tc_url = f"rtmp://{self.host}:{self.port}/{self.app}"
        name, values = await self._call(0, "connect", {
            "app": self.app, "flashVer": self.flashver, "tcUrl": tc_url, "fpad": False, "capabilities": 15.0,
            "audioCodecs": 3575.0, "videoCodecs": 252.0, "videoFunction": 1.0, "objectEncoding": 0.0})
        if name != "_result":
            raise RtmpError("rejected", f"connect to {tc_url} refused: {_describe(values)}")
        name, values = await self._call(0, "createStream", None)
        if name != "_result" or len(values) < 2 or not isinstance(values[1], float):
            raise RtmpError("rejected", f"createStream refused: {_describe(values)}")
        self.stream_id = int(values[1])
        self._send(8, COMMAND_AMF0, self.stream_id, amf0.encode_all("play", 0.0, None, self.stream_name, -2.0))
        self._send(2, USER_CONTROL, 0, struct.pack(">HII", SET_BUFFER_LENGTH, self.stream_id, self.buffer_ms))
        await self._playing

    def _call(self, msid: int, command: str, *args) -> asyncio.Future:
        tx = self._next_tx
        self._next_tx += 1
        fut = asyncio.get_running_loop().create_future()
        fut.add_done_callback(_consume)
        self._tx[tx] = fut
        self._send(3, COMMAND_AMF0, msid, amf0.encode_all(command, float(tx), *args))
        return fut

    def _send(self, csid: int, mtype: int, msid: int, payload: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        # fmt 0: timestamp 0 (3 bytes), length (3), type (1), message stream id (4, little endian)
        head = _chunk_basic(0, csid) + b"\0\0\0" + len(payload).to_bytes(3, "big") + bytes([mtype]) \
            + struct.pack("<I", msid)
        out = bytearray(head)
        for i in range(0, len(payload), OUT_CHUNK_SIZE):
            if i:
                out += _chunk_basic(3, csid)
            out += payload[i:i + OUT_CHUNK_SIZE]
        self.transport.write(bytes(out))

    def _fail_pending(self, err: RtmpError) -> None:
        for fut in (self._handshaken, self._playing, *self._tx.values()):
            if not fut.done():
                fut.set_exception(err)
        self._tx.clear()
        if not self.first_media.done():
            self.first_media.set_exception(err)

    def _handshake(self) -> None:
        avail = self._end - self._pos
        if self._phase == 0 and avail >= 1 + HANDSHAKE_SIZE:
            if self._buf[self._pos] != 3:
                raise RtmpError("protocol", f"server speaks RTMP version {self._buf[self._pos]}, not 3")
            s1 = bytes(self._buf[self._pos + 1:self._pos + 1 + HANDSHAKE_SIZE])
            self._pos += 1 + HANDSHAKE_SIZE
            self.transport.write(s1)  # C2 echoes S1
            self._phase, avail = 1, avail - 1 - HANDSHAKE_SIZE
        if self._phase == 1 and avail >= HANDSHAKE_SIZE:
            self._pos += HANDSHAKE_SIZE  # S2 echoes our C1; nothing in it we need
            self._phase = 2
            self._send(2, SET_CHUNK_SIZE, 0, struct.pack(">I", OUT_CHUNK_SIZE))
            self._handshaken.set_result(None)

    def _parse(self, now: float) -> None:
        buf, pos, end = self._buf, self._pos, self._end
        streams = self._streams
        while pos < end:
            if self._left:
                cs = self._cur
                n = min(self._left, end - pos)
                if cs.body is not None:
                    cs.body += buf[pos:pos + n]
                elif len(cs.head) < 2:
                    cs.head += buf[pos:pos + min(n, 2 - len(cs.head))]
                pos += n
                cs.got += n
                self._left -= n
                if not self._left and cs.got >= cs.length:
                    self._pos = pos
                    self._message(cs, now)
                    cs.got = 0
                continue
            # a chunk header: basic header (1-3 bytes), message header (11/7/3/0), extended timestamp
            b0 = buf[pos]
            fmt, csid, hl = b0 >> 6, b0 & 0x3F, 1
            if csid == 0:
                if pos + 2 > end:
                    break
                csid, hl = buf[pos + 1] + 64, 2
            elif csid == 1:
                if pos + 3 > end:
                    break
                csid, hl = buf[pos + 1] + (buf[pos + 2] << 8) + 64, 3
            mh = (11, 7, 3, 0)[fmt]
            if pos + hl + mh > end:
                break
            cs = streams.get(csid)
            if cs is None:
                if fmt != 0:
                    raise RtmpError("protocol", f"chunk stream {csid} starts without a full header")
                cs = streams[csid] = _ChunkStream()
            p = pos + hl
            if fmt < 3:
                field = (buf[p] << 16) | (buf[p + 1] << 8) | buf[p + 2]
                ext = field == 0xFFFFFF
            else:
                field, ext = 0, cs.ext
            need = hl + mh + (4 if ext else 0)
            if pos + need > end:
                break
            if ext:
                field = int.from_bytes(buf[p + mh:p + mh + 4], "big") if fmt < 3 else field
            if cs.got and fmt != 3:  # a new header in the middle of a message: drop the partial one
                cs.got = 0
            if fmt == 0:
                cs.ts, cs.delta = field, 0
            elif fmt < 3:
                cs.delta = field
            if fmt < 2:
                cs.length = (buf[p + 3] << 16) | (buf[p + 4] << 8) | buf[p + 5]
                cs.type = buf[p + 6]
                if fmt == 0:
                    cs.msid = int.from_bytes(buf[p + 7:p + 11], "little")
            if fmt < 3:
                cs.ext = ext
            pos += need
            if cs.got == 0:  # first chunk of a message
                if fmt:
                    cs.ts = (cs.ts + cs.delta) & 0xFFFFFFFF
                if cs.type in (AUDIO, VIDEO):
                    cs.head = bytearray()
                    cs.body = None
                else:
                    if cs.length > MAX_CONTROL_MESSAGE:
                        raise RtmpError("protocol", f"{cs.length}-byte message of type {cs.type}")
                    cs.body = bytearray()
            self._cur = cs
            self._left = min(self._in_chunk, cs.length - cs.got)
            if not self._left:  # an empty message
                self._pos = pos
                self._message(cs, now)
        self._pos = pos

    def _message(self, cs: _ChunkStream, now: float) -> None:
        t = cs.type
        if t == VIDEO or t == AUDIO:
            self._media(t, cs.head, cs.length, now)
            return
        body = bytes(cs.body or b"")
        cs.body = None
        if t == SET_CHUNK_SIZE:
            size = struct.unpack(">I", body[:4])[0] & 0x7FFFFFFF
            if size < 1:
                raise RtmpError("protocol", "chunk size 0")
            self._in_chunk = size
        elif t == ABORT:
            other = self._streams.get(struct.unpack(">I", body[:4])[0])
            if other is not None:
                other.got, other.body = 0, None
        elif t == WINDOW_ACK_SIZE:
            self._ack_window = struct.unpack(">I", body[:4])[0]
        elif t == SET_PEER_BANDWIDTH:
            self._send(2, WINDOW_ACK_SIZE, 0, body[:4])
        elif t == USER_CONTROL:
            event = struct.unpack(">H", body[:2])[0]
            if event == PING_REQUEST:
                self._send(2, USER_CONTROL, 0, struct.pack(">H", PING_RESPONSE) + body[2:6])
            elif event == STREAM_EOF:
                self.stats.stream_stopped = self.stats.stream_stopped or "StreamEOF"
        elif t in (COMMAND_AMF0, COMMAND_AMF3):
            self._command(amf0.decode_all(body[1:] if t == COMMAND_AMF3 else body))
        elif t in (DATA_AMF0, DATA_AMF3):
            values = amf0.decode_all(body[1:] if t == DATA_AMF3 else body)
            if values and values[0] == "@setDataFrame":
                values = values[1:]
            if values and values[0] == "onMetaData" and len(values) > 1 and isinstance(values[1], dict):
                self.stats.metadata = values[1]
        elif t == AGGREGATE:  # FLV tags back to back: header(11) payload previous-tag-size(4)
            p = 0
            while p + 11 <= len(body):
                tag, size = body[p], int.from_bytes(body[p + 1:p + 4], "big")
                if tag in (AUDIO, VIDEO):
                    self._media(tag, body[p + 11:p + 13], size, now)
                p += 11 + size + 4

    def _media(self, t: int, head: bytes, length: int, now: float) -> None:
        st = self.stats
        st.media_bytes += length
        if not head:
            return
        b0 = head[0]
        if t == VIDEO:
            if b0 & 0x80:  # enhanced RTMP: the low nibble is a packet type (0 = sequence start)
                frame = (b0 & 0x0F) in (1, 3)
            else:
                frame = (b0 >> 4) != 5 and not ((b0 & 0x0F) in (7, 12) and (len(head) < 2 or head[1] != 1))
            if not frame:
                return
            st.video_frames += 1
            if (b0 >> 4) & 0x07 == 1:
                st.keyframes += 1
            if st.last_video is not None and now - st.last_video > st.max_video_gap:
                st.max_video_gap = now - st.last_video
            st.last_video = now
        else:
            if b0 >> 4 == 10 and (len(head) < 2 or head[1] == 0):  # AAC sequence header
                return
            st.audio_frames += 1
        st.last_media = now
        if st.first_media is None:
            st.first_media = now
            if not self.first_media.done():
                self.first_media.set_result(now)

    def _command(self, values: list) -> None:
        if not values or not isinstance(values[0], str):
            return
        name = values[0]
        if name in ("_result", "_error") and len(values) > 1 and isinstance(values[1], float):
            fut = self._tx.pop(int(values[1]), None)
            if fut is not None and not fut.done():
                fut.set_result((name, values[2:]))
        elif name == "onStatus":
            info = next((v for v in values[1:] if isinstance(v, dict)), {})
            code = str(info.get("code", ""))
            if code in PLAY_ERRORS or info.get("level") == "error":
                err = RtmpError("rejected", f"play {self.stream_name}: {code} {info.get('description', '')}".strip())
                if not self._playing.done():
                    self._playing.set_exception(err)
                else:
                    self.close(f"{code}")
            elif code in ("NetStream.Play.Start", "NetStream.Play.Reset"):
                if not self._playing.done():
                    self._playing.set_result(None)
            elif code in STREAM_STOPPED:
                self.stats.stream_stopped = code
        elif name == "close":
            self.close("the server sent close")


def _describe(values: list) -> str:
    info = next((v for v in values if isinstance(v, dict)), None)
    if info:
        return " ".join(str(info.get(k)) for k in ("code", "description") if info.get(k)) or str(info)
    return str(values)[:200]


def _consume(fut: asyncio.Future) -> None:
    """Mark a future's exception as retrieved: a player nobody awaited must not log 'never retrieved'."""
    if not fut.cancelled():
        fut.exception()
