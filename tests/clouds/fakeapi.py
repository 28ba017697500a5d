"""A small HTTP server on 127.0.0.1 that speaks just enough of a cloud API for an adapter test.

Routes are `(method, path regex) -> handler(request) -> (status, headers, body)`; bodies that are
dicts/lists are sent as JSON. Every request is recorded so tests can assert on what the real SDK
sent (auth headers, page parameters, filters).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    match: re.Match | None = None

    def q(self, key: str, default: str | None = None) -> str | None:
        values = self.query.get(key)
        return values[0] if values else default

    def json(self) -> Any:
        return json.loads(self.body or b"null")


Handler = Callable[[Request], tuple[int, dict[str, str], Any]]


@dataclass
class FakeApi:
    routes: list[tuple[str, re.Pattern, Handler]] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append((method.upper(), re.compile(pattern + r"\Z"), handler))

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeApi":
        api = self

        class _H(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                req = Request(self.command, parts.path, parse_qs(parts.query),
                              {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
                api.requests.append(req)
                for method, pattern, handler in api.routes:
                    m = pattern.match(parts.path)
                    if method == self.command and m:
                        req.match = m
                        status, headers, body = handler(req)
                        break
                else:
                    status, headers, body = 404, {}, {"error": f"no fake route {self.command} {parts.path}"}
                if isinstance(body, (dict, list)):
                    data = json.dumps(body).encode()
                    headers = {"Content-Type": "application/json", **headers}
                else:
                    data = body.encode() if isinstance(body, str) else (body or b"")
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve

            def log_message(self, *args) -> None:  # keep test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _H)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def paged(items: list, page: int, per_page: int) -> tuple[list, bool]:
    """Slice a page (1-based); the bool says whether another page follows."""
    start = (page - 1) * per_page
    return items[start:start + per_page], start + per_page < len(items)


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (for servers that need a port up front, like moto's)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
