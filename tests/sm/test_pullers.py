"""The agent's pullers against the real manager app: nginx-rtmp's on_play redirects (a real loopback
HTTP server) and MediaMTX path reconciliation against a fake of its v3 control API.

The MediaMTX binary cannot be downloaded here, so `FakeMediaMTX` reproduces what MediaMTX 1.15's
API does for these calls (read from its internal/api/api.go, internal/conf/conf.go and
apidocs/openapi.yaml at v1.15.0): `POST /v3/config/paths/add/<name>` is 400 "path already exists"
for a configured name; `PATCH .../patch/<name>` and `DELETE .../delete/<name>` are 404 for an
unknown one; bodies are decoded with unknown fields refused (400); names are taken verbatim after
the route prefix, slashes included; `GET /v3/config/paths/list` pages with `itemsPerPage`/`page`
and answers `{pageCount, itemCount, items}`.
"""

from __future__ import annotations

import json
import math
import re

import httpx
import pytest
from smhelp import NODE

from ccds_cli.agent.pullers import MediaMTXPaths, OnPlayServer, mediamtx_source
from ccds_cli.agent.sources import SourceMap

PATH_CONF_FIELDS = {"name": str, "source": str, "sourceOnDemand": bool, "sourceOnDemandStartTimeout": str,
                    "sourceOnDemandCloseAfter": str, "maxReaders": int, "fallback": str}
NAME_OK = re.compile(r"^[0-9a-zA-Z_\-/\.~:]+$")


class FakeMediaMTX:
    """Path configuration of a MediaMTX 1.15 API, with every request recorded."""

    def __init__(self, paths: dict[str, dict] | None = None):
        self.paths = {n: {"name": n, **c} for n, c in (paths or {}).items()}
        self.calls: list[tuple[str, str]] = []

    def _error(self, status: int, msg: str) -> httpx.Response:
        return httpx.Response(status, json={"error": msg})

    def _body(self, request: httpx.Request) -> dict:
        body = json.loads(request.content)
        for key, value in body.items():
            if key not in PATH_CONF_FIELDS:
                raise ValueError(f'json: unknown field "{key}"')
            if not isinstance(value, PATH_CONF_FIELDS[key]):
                raise ValueError(f"json: cannot unmarshal {key}")
        return body

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path.decode().split("?", 1)[0]
        self.calls.append((request.method, path))
        if request.method == "GET" and path == "/v3/config/paths/list":
            per = int(request.url.params.get("itemsPerPage", 100))
            page = int(request.url.params.get("page", 0))
            items = [self.paths[k] for k in sorted(self.paths)]
            return httpx.Response(200, json={"pageCount": math.ceil(len(items) / per), "itemCount": len(items),
                                             "items": items[page * per:(page + 1) * per]})
        m = re.fullmatch(r"/v3/config/paths/(add|patch|replace|delete)/(.+)", path)
        routes = {"add": "POST", "patch": "PATCH", "replace": "POST", "delete": "DELETE"}
        if not m or routes[m.group(1)] != request.method:
            return self._error(404, "not found")
        op, name = m.group(1), m.group(2)
        if not NAME_OK.match(name) and not name.startswith("~"):
            return self._error(400, "invalid name")
        try:
            body = self._body(request) if op != "delete" else {}
        except ValueError as exc:
            return self._error(400, str(exc))
        if op == "add":
            if name in self.paths:
                return self._error(400, "path already exists")
            self.paths[name] = {"name": name, **body}
        elif op == "replace":
            self.paths[name] = {"name": name, **body}
        elif name not in self.paths:
            return self._error(404, "path not found")
        elif op == "patch":
            self.paths[name].update(body)
        else:
            del self.paths[name]
        return httpx.Response(200)


def _origins(mgr):
    o1 = mgr.up("o1", "origin", endpoints={"srt": "srt://o1.example:8890", "rtmp": "rtmp://o1.example:1935/live"})
    o2 = mgr.up("o2", "origin", region="r2",
                endpoints={"srt": "srt://o2.example:8890", "rtmp": "rtmp://o2.example:1935/live"})
    return o1, o2


def _live(mgr, node_id, *names):
    mgr.beat(node_id, streams=[{"app": "live", "name": n, "publishing": True} for n in names])


def _map(mgr) -> SourceMap:
    return SourceMap("http://testserver/api/v1", NODE, mgr.client, node="e1", role="edge", region="r1",
                     provider="local")


def test_mediamtx_add_repoint_delete_and_idempotent(mgr):
    o1, o2 = _origins(mgr)
    _live(mgr, o1, "a")
    _live(mgr, o2, "b")
    fake = FakeMediaMTX({"all_others": {}, "cam": {"source": "rtsp://10.9.9.9/cam"}})  # not ours: untouched
    puller = MediaMTXPaths("http://127.0.0.1:9997/v3/paths/list", client=httpx.Client(transport=httpx.MockTransport(fake.handle)))
    sources = _map(mgr)
    assert sources.refresh()
    puller.sync(sources)
    assert fake.paths["live/a"] == {"name": "live/a", "source": "srt://10.0.0.185:8890?streamid=read:live/a",
                                    "sourceOnDemand": True}  # same provider+region: private address
    assert fake.paths["live/b"]["source"] == "srt://o2.example:8890?streamid=read:live/b"
    assert ("POST", "/v3/config/paths/add/live/a") in fake.calls

    fake.calls.clear()
    assert not sources.refresh()  # 304
    puller.sync(sources)
    assert fake.calls == [("GET", "/v3/config/paths/list")] and puller.requests == 1

    _live(mgr, o2, "a")  # a moved to o2
    mgr.clock.advance(mgr.store.settings.reservation_ttl + 1)
    mgr.beat(o1)
    _live(mgr, o2, "a")  # b ended: o2 reports only a
    assert sources.refresh()
    fake.calls.clear()
    puller.sync(sources)
    assert ("PATCH", "/v3/config/paths/patch/live/a") in fake.calls
    assert ("DELETE", "/v3/config/paths/delete/live/b") in fake.calls
    assert fake.paths["live/a"]["source"] == "srt://o2.example:8890?streamid=read:live/a"
    assert set(fake.paths) == {"all_others", "cam", "live/a"}


def test_mediamtx_adopts_paths_after_restart_and_waits_for_a_first_list(mgr):
    o1, _ = _origins(mgr)
    _live(mgr, o1, "a")
    fake = FakeMediaMTX({"live/a": {"source": "srt://10.0.0.185:8890?streamid=read:live/a", "sourceOnDemand": True},
                         "live/gone": {"source": "srt://1.2.3.4:8890?streamid=read:live/gone", "sourceOnDemand": True}})
    puller = MediaMTXPaths("http://127.0.0.1:9997", client=httpx.Client(transport=httpx.MockTransport(fake.handle)))
    sources = _map(mgr)
    puller.sync(sources)  # no list from the manager yet: nothing may be deleted
    assert fake.calls == [] and "live/gone" in fake.paths
    sources.refresh()
    puller.sync(sources)
    assert set(fake.paths) == {"live/a"}
    assert ("POST", "/v3/config/paths/add/live/a") not in fake.calls


def test_mediamtx_source_url_shapes():
    entry = {"app": "live", "stream": "s", "host": "10.0.0.9", "urls": {}}
    assert mediamtx_source(entry) == "srt://10.0.0.9:8890?streamid=read:live/s"
    entry["urls"] = {"srt": "srt://[2001:db8::1]:9000/s"}
    assert mediamtx_source(entry) == "srt://[2001:db8::1]:9000?streamid=read:live/s"


@pytest.fixture
def on_play(mgr):
    sources = _map(mgr)
    server = OnPlayServer(0)
    server.start(sources)
    yield server, sources
    server.stop()


def _play(server: OnPlayServer, name: str, method: str = "POST") -> httpx.Response:
    form = {"app": "live", "name": name, "addr": "127.0.0.1", "call": "play", "flashver": "LNX 9,0,124,2"}
    url = f"http://127.0.0.1:{server.port}/on_play"
    with httpx.Client(timeout=5.0) as c:
        return c.post(url, data=form) if method == "POST" else c.get(url, params=form)


def test_on_play_redirects_to_the_streams_origin(mgr, on_play):
    server, sources = on_play
    o1, o2 = _origins(mgr)
    _live(mgr, o1, "a")
    sources.refresh()
    resp = _play(server, "a")
    assert resp.status_code == 302 and resp.headers["location"] == "rtmp://10.0.0.185:1935/live/a"
    assert _play(server, "nope").status_code == 404
    # Published after the last refresh: the miss asks the manager right away.
    _live(mgr, o2, "b")
    resp = _play(server, "b", method="GET")
    assert resp.status_code == 302 and resp.headers["location"] == "rtmp://o2.example:1935/live/b"


def _ctx():
    from ccds_cli.engines.base import BootstrapContext

    return BootstrapContext(deployment="d", region_key="na", provider="aws-main", cloud_region="us-east-1",
                            capacity=100, engine_version=None, manager_url_expr="${var.manager_url}",
                            ccds_version="0.1.0", lat=1.0, lon=2.0)


def test_cloud_bootstrap_has_no_fixed_origin():
    import yaml

    from ccds_cli.engines import get

    def files(engine: str, role: str) -> tuple[dict, str]:
        doc = yaml.safe_load(get(engine).bootstrap(role, _ctx()).replace("$${", "${"))
        written = {f["path"]: f.get("content", "") for f in doc["write_files"]}
        return written, written["/usr/local/sbin/ccds-bootstrap"]

    for role in ("edge", "relay"):
        conf, script = files("nginx-rtmp", role)
        assert "on_play http://127.0.0.1:8086/on_play;" in conf["/etc/nginx/nginx.conf"]
        assert "pull " not in conf["/etc/nginx/nginx.conf"] and "ORIGIN" not in script
        assert "--on-play-port 8086" in script
        mtx, script = files("mediamtx", role)
        assert mtx["/etc/mediamtx/mediamtx.yml"].rstrip().endswith("paths:") and "ORIGIN" not in script
    conf, script = files("nginx-rtmp", "origin")
    assert "on_play" not in conf["/etc/nginx/nginx.conf"] and "--on-play-port" not in script
    mtx, _ = files("mediamtx", "origin")
    assert yaml.safe_load(mtx["/etc/mediamtx/mediamtx.yml"])["paths"] == {"all_others": None}
