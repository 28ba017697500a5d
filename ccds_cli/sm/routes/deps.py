"""Dependencies shared by the route modules."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from pydantic import BaseModel

from ccds_cli.sm.store import Store


async def get_store(request: Request) -> Store:
    """Async so FastAPI calls it on the event loop instead of handing it to a worker thread."""
    return request.app.state.store


StoreDep = Annotated[Store, Depends(get_store)]


class ErrorOut(BaseModel):
    detail: str


_WHY = {
    304: "the list is unchanged since the ETag sent in If-None-Match (no body)",
    400: "the request cannot be carried out (see detail), or its body cannot be parsed",
    401: "no bearer token was sent",
    403: "the token is wrong for this route, or the authentication backend denied the client",
    404: "no such node or stream",
    409: "the request conflicts with the current state",
    413: "the request body is over the limit (16 KiB on publish/subscribe, 1 MiB elsewhere)",
    503: "nothing can serve it now, or the database is unavailable: retry after Retry-After seconds",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for the error codes a route answers (422 is documented by FastAPI itself)."""
    return {code: ({"description": _WHY[code]} if code == 304 else {"model": ErrorOut, "description": _WHY[code]})
            for code in codes}


AUTH = (401, 403)
