"""What the stream manager accepts from a client before any route code runs.

* A request body limit, checked before anything is parsed: a declared `Content-Length` above the
  limit is answered 413 at once; a body without one (chunked) is counted as it streams in and
  refused as soon as it passes the limit. Publish and subscribe are public (no token), so their limit
  is small (`max_public_body`, 16 KiB: credentials and a location); every other route needs a token
  and gets `max_body` (1 MiB: a heartbeat of MAX_STREAMS_PER_BEAT streams is about 200 KB).
* Validation errors are answered 422 even when the input holds NaN or Infinity (FastAPI's default
  handler echoed the input back and failed to render it as JSON: a 500).
"""

from __future__ import annotations

import math
import re
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

PUBLIC_ROUTE = re.compile(r"^/api/v1/streams/[^/]+/[^/]+/(publish|subscribe)/?$")


class BodyLimit:
    """ASGI middleware: the body of one request is read (up to its limit) before the app sees it."""

    def __init__(self, app: Any, max_body: int, max_public_body: int):
        self.app = app
        self.max_body = max_body
        self.max_public_body = max_public_body

    def limit_for(self, path: str) -> int:
        return self.max_public_body if PUBLIC_ROUTE.match(path) else self.max_body

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        declared = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _answer(send, 400, "Content-Length is not a number")
                    return
                if declared < 0:
                    await _answer(send, 400, "Content-Length is negative")
                    return
        if declared is not None and declared > limit:
            await _answer(send, 413, f"request body of {declared} bytes is over the limit of {limit} bytes")
            return
        # Read the whole body now, counting: chunked uploads have no Content-Length to trust.
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > limit:
                await _answer(send, 413, f"request body is over the limit of {limit} bytes")
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()  # after the body: wait for the disconnect, as the server would tell

        await self.app(scope, replay, send)


async def _answer(send: Any, status: int, detail: str) -> None:
    body = JSONResponse({"detail": detail}).body
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def _finite(value: Any) -> Any:
    """JSON-safe: NaN and infinities as the strings a client sent, everything else as is."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422, rendered even when the rejected input is not valid JSON (NaN, Infinity)."""
    errors = []
    for err in exc.errors()[:50]:  # a body of 10,000 bad items does not need 10,000 messages back
        err = dict(err)
        err.pop("url", None)
        if isinstance(err.get("input"), (str, bytes)) and len(err["input"]) > 200:
            err["input"] = err["input"][:200]
        elif isinstance(err.get("input"), (dict, list)):
            err.pop("input")  # the client has it; echoing a 1 MiB body back doubles the traffic
        errors.append(_finite(jsonable_encoder(err)))
    return JSONResponse({"detail": errors}, status_code=422)
