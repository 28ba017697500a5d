"""A package index on 127.0.0.1 for the install checks: PEP 691 JSON or PEP 503 HTML project pages
(as pip and PyPI speak them) and the files they link, with their sha256. Never an outside address."""

from __future__ import annotations

import hashlib
import html
import json
import threading
import tomllib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from ccds_cli.nodepkg import wheel


def _dependencies() -> tuple[str, ...]:
    """ccds's direct dependencies and its postgres extra's, read from pyproject.toml (not from the wheel
    the code under test reads): what a private index must also carry."""
    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + project["optional-dependencies"]["postgres"]
    return tuple(dict.fromkeys(canonicalize_name(Requirement(r).name) for r in reqs))


DEPENDENCIES = _dependencies()


class LoopIndex:
    def __init__(self, style: str = "json") -> None:
        self.style = style  # json (PEP 691) | html (PEP 503)
        self.projects: dict[str, dict[str, bytes]] = {}
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        index = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                index.requests.append(self.path)
                status, ctype, body = index.answer(self.path, self.headers.get("Accept", ""))
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def simple(self) -> str:
        return self.url + "/simple"

    def add(self, project: str, files: dict[str, bytes]) -> None:
        self.projects.setdefault(project, {}).update(files)
        self.files.update(files)

    def add_dependencies(self, skip: tuple[str, ...] = ()) -> None:
        for name in DEPENDENCIES:
            if name not in skip:
                self.add(name, {f"{name}-1.0-py3-none-any.whl": b"not checked"})

    def add_ccds(self, built: wheel.Wheel | None = None) -> wheel.Wheel:
        built = built or wheel.current()
        self.add("ccds", {built.filename: built.data})
        return built

    def answer(self, path: str, accept: str) -> tuple[int, str, bytes]:
        if path.startswith("/files/") and path[7:] in self.files:
            return 200, "application/octet-stream", self.files[path[7:]]
        if path.startswith("/simple/") and path.endswith("/"):
            files = self.projects.get(path[8:-1])
            if files is None:
                return 404, "text/plain", b"not found"
            entries = [(name, f"../../files/{name}", hashlib.sha256(data).hexdigest()) for name, data in files.items()]
            if self.style == "json" and "application/vnd.pypi.simple.v1+json" in accept:
                doc = {"meta": {"api-version": "1.0"}, "name": path[8:-1],
                       "files": [{"filename": n, "url": u, "hashes": {"sha256": h}} for n, u, h in entries]}
                return 200, "application/vnd.pypi.simple.v1+json", json.dumps(doc).encode()
            links = "".join(f'<a href="{html.escape(u)}#sha256={h}">{html.escape(n)}</a><br>' for n, u, h in entries)
            return 200, "text/html", f"<!DOCTYPE html><html><body>{links}</body></html>".encode()
        return 404, "text/plain", b"not found"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def other_build(version: str = "0.1.0") -> wheel.Wheel:
    """A ccds wheel that is not this build: same name and version, one file changed."""
    v, files, meta = wheel.installed_content()
    files = dict(files)
    files["ccds_cli/__init__.py"] = files["ccds_cli/__init__.py"] + b"# someone else's build\n"
    return wheel.build(version, files, meta)
