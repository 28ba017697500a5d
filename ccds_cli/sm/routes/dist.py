"""The ccds wheel this stream manager runs from, for its nodes to install (no authentication:
it is the open-source package, and nodes check it against the sha256 published beside it).

Built on the first request from the files of the running install (`ccds_cli/nodepkg/wheel.py`),
so every manager running the same build serves the same bytes, whichever one a load balancer picks.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.responses import PlainTextResponse, Response

from ccds_cli.nodepkg import wheel
from ccds_cli.sm.routes.deps import errors

router = APIRouter(tags=["dist"])


def _wheel() -> wheel.Wheel:
    try:
        return wheel.current()
    except wheel.WheelError as exc:
        raise HTTPException(503, f"this stream manager cannot build its ccds wheel: {exc}") from None


@router.get("/dist", responses=errors(413, 503))
def dist_info() -> dict:
    w = _wheel()
    return {"filename": w.filename, "version": w.version, "sha256": w.sha256, "size": w.size,
            "url": f"/api/v1/dist/{w.filename}"}


@router.get("/dist/SHA256SUMS", response_class=PlainTextResponse, responses=errors(413, 503))
def dist_sums() -> str:
    return _wheel().sums()


@router.get("/dist/{filename}", responses=errors(404, 413, 503))
def dist_file(filename: str) -> Response:
    w = _wheel()
    if filename != w.filename:
        raise HTTPException(404, f"this stream manager serves {w.filename}")
    return Response(w.data, media_type="application/octet-stream",
                    headers={"Content-Disposition": f'attachment; filename="{w.filename}"',
                             "ETag": f'"{w.sha256}"', "X-Checksum-Sha256": w.sha256})
