"""Dependencies shared by the route modules."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ccds_cli.sm.store import Store


async def get_store(request: Request) -> Store:
    """Async so FastAPI calls it on the event loop instead of handing it to a worker thread."""
    return request.app.state.store


StoreDep = Annotated[Store, Depends(get_store)]
