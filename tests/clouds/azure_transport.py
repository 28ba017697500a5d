"""An azure-core transport that answers from recorded ARM/AAD response shapes, in process.

The SDK builds its whole pipeline (auth policy, retries, paging) as usual; only the socket is
replaced. Routes: `(method, url regex) -> handler(request) -> (status, headers, json body)`.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any, Callable

import requests
import urllib3
from azure.core.pipeline._tools import is_rest
from azure.core.pipeline.transport import HttpTransport
from azure.core.pipeline.transport._requests_basic import RequestsTransportResponse
from azure.core.rest._requests_basic import RestRequestsTransportResponse


class RecordedTransport(HttpTransport):
    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern, Callable]] = []
        self.requests: list[Any] = []

    def route(self, method: str, pattern: str, handler: Callable) -> None:
        self.routes.append((method.upper(), re.compile(pattern), handler))

    def send(self, request, **kwargs):
        self.requests.append(request)
        for method, pattern, handler in self.routes:
            if request.method == method and pattern.search(request.url):
                status, headers, body = handler(request)
                break
        else:
            status, headers, body = 404, {}, {"error": {"code": "NoFakeRoute", "message": request.url}}
        resp = requests.Response()
        resp.status_code = status
        resp.headers.update({"Content-Type": "application/json", **headers})
        data = json.dumps(body).encode()
        # A urllib3 body, as requests itself builds a response, so streamed reads work too.
        resp.raw = urllib3.response.HTTPResponse(body=io.BytesIO(data), preload_content=False,
                                                 status=status, headers=dict(resp.headers))
        resp.url = request.url
        resp.reason = "fake"
        if is_rest(request):  # new-style SDKs send azure.core.rest requests and read .json()
            out = RestRequestsTransportResponse(request=request, internal_response=resp)
            out.read()
            return out
        return RequestsTransportResponse(request, resp)

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *args) -> None:
        pass
