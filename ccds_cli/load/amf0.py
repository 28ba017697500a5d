"""AMF0, the value encoding of RTMP commands (connect, createStream, play, onStatus): just what a
player needs. Written from the AMF0 specification (Adobe, 2007), section 2."""

from __future__ import annotations

import struct
from typing import Any

NUMBER, BOOLEAN, STRING, OBJECT, NULL, UNDEFINED, REFERENCE, ECMA_ARRAY, OBJECT_END = 0, 1, 2, 3, 5, 6, 7, 8, 9
STRICT_ARRAY, DATE, LONG_STRING, UNSUPPORTED, XML_DOC, TYPED_OBJECT = 10, 11, 12, 13, 15, 16
_END = b"\x00\x00\x09"


class AmfError(ValueError):
    """The bytes are not valid AMF0 (or use a type a player never receives)."""


def _key(name: str) -> bytes:
    raw = name.encode()
    return struct.pack(">H", len(raw)) + raw


def encode(value: Any) -> bytes:
    """One value: None -> null, bool, int/float -> number, str, dict -> anonymous object."""
    if value is None:
        return bytes([NULL])
    if isinstance(value, bool):
        return bytes([BOOLEAN, int(value)])
    if isinstance(value, (int, float)):
        return bytes([NUMBER]) + struct.pack(">d", float(value))
    if isinstance(value, str):
        raw = value.encode()
        if len(raw) > 0xFFFF:
            return bytes([LONG_STRING]) + struct.pack(">I", len(raw)) + raw
        return bytes([STRING]) + struct.pack(">H", len(raw)) + raw
    if isinstance(value, dict):
        return bytes([OBJECT]) + b"".join(_key(k) + encode(v) for k, v in value.items()) + _END
    if isinstance(value, (list, tuple)):
        return bytes([STRICT_ARRAY]) + struct.pack(">I", len(value)) + b"".join(encode(v) for v in value)
    raise TypeError(f"cannot encode {type(value).__name__} as AMF0")


def encode_all(*values: Any) -> bytes:
    return b"".join(encode(v) for v in values)


def _string(buf: bytes, pos: int, wide: bool = False) -> tuple[str, int]:
    size = 4 if wide else 2
    if pos + size > len(buf):
        raise AmfError("truncated string length")
    n = int.from_bytes(buf[pos:pos + size], "big")
    pos += size
    if pos + n > len(buf):
        raise AmfError("truncated string")
    return buf[pos:pos + n].decode("utf-8", "replace"), pos + n


def _props(buf: bytes, pos: int, depth: int) -> tuple[dict, int]:
    out: dict[str, Any] = {}
    while True:
        if buf[pos:pos + 3] == _END:
            return out, pos + 3
        if pos + 3 > len(buf):
            raise AmfError("object without end marker")
        name, pos = _string(buf, pos)
        out[name], pos = decode_one(buf, pos, depth + 1)


def decode_one(buf: bytes, pos: int = 0, depth: int = 0) -> tuple[Any, int]:
    """(value, next position). Objects and ECMA arrays become dicts, strict arrays lists."""
    if depth > 32:
        raise AmfError("nesting too deep")
    if pos >= len(buf):
        raise AmfError("truncated value")
    marker = buf[pos]
    pos += 1
    if marker == NUMBER:
        if pos + 8 > len(buf):
            raise AmfError("truncated number")
        return struct.unpack_from(">d", buf, pos)[0], pos + 8
    if marker == BOOLEAN:
        if pos >= len(buf):
            raise AmfError("truncated boolean")
        return bool(buf[pos]), pos + 1
    if marker in (STRING, XML_DOC, LONG_STRING):
        return _string(buf, pos, wide=marker != STRING)
    if marker == OBJECT:
        return _props(buf, pos, depth)
    if marker == TYPED_OBJECT:
        _, pos = _string(buf, pos)
        return _props(buf, pos, depth)
    if marker == ECMA_ARRAY:
        return _props(buf, pos + 4, depth)  # the count is advisory; the end marker ends it
    if marker == STRICT_ARRAY:
        if pos + 4 > len(buf):
            raise AmfError("truncated array")
        n = int.from_bytes(buf[pos:pos + 4], "big")
        pos += 4
        items = []
        for _ in range(n):
            item, pos = decode_one(buf, pos, depth + 1)
            items.append(item)
        return items, pos
    if marker == DATE:
        if pos + 10 > len(buf):
            raise AmfError("truncated date")
        return struct.unpack_from(">d", buf, pos)[0], pos + 10  # ms since the epoch, then a time zone
    if marker in (NULL, UNDEFINED, UNSUPPORTED):
        return None, pos
    if marker == REFERENCE:
        return None, pos + 2
    raise AmfError(f"unknown AMF0 marker {marker}")


def decode_all(buf: bytes) -> list[Any]:
    """Every value in a command or data message body, in order."""
    values, pos = [], 0
    while pos < len(buf):
        value, pos = decode_one(buf, pos)
        values.append(value)
    return values
