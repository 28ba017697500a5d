"""`/ui`: the live dashboard (admin token as a bearer, or a login form that sets a session cookie)."""

from __future__ import annotations

import hmac
from importlib import resources
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ccds_cli.sm import dashboard
from ccds_cli.sm.auth import _bearer, _matches

router = APIRouter(prefix="/ui", include_in_schema=False)
MAX_FORM = 4096
ASSETS = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8",
          "favicon.svg": "image/svg+xml"}


def _authed(request: Request) -> bool:
    admin = request.app.state.settings.admin_token
    if _bearer(request) is not None:  # a bearer token decides alone
        return _matches(request, admin)
    return dashboard.valid_session(admin, request.cookies.get(dashboard.COOKIE))


def _html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers=dashboard.SECURITY_HEADERS)


def _same_origin(request: Request) -> None:
    """Forms that change the session must come from this page (SameSite=Strict does the rest)."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
        raise HTTPException(403, "cross-origin form refused")


def _data(request: Request) -> dict:
    st = request.app.state
    return dashboard.collect(st.store, st.leader, st.metrics)


@router.get("", response_class=HTMLResponse)
def ui(request: Request):
    """The dashboard, or the login form (401) when the request carries no valid credentials."""
    if not _authed(request):
        return _html(dashboard.login_page(), 401)
    return _html(dashboard.page(_data(request)))


@router.get("/fragment", response_class=HTMLResponse)
def fragment(request: Request):
    if not _authed(request):
        return _html("", 401)
    return _html(dashboard.fragment(_data(request)))


@router.post("/login")
async def login(request: Request):
    _same_origin(request)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            raise HTTPException(413, "form too large")
    token = (parse_qs(body.decode("utf-8", "replace")).get("token") or [""])[0]
    admin = request.app.state.settings.admin_token
    if not admin or not hmac.compare_digest(token.encode(), admin.encode()):
        return _html(dashboard.login_page("That is not this manager's admin token."), 403)
    resp = RedirectResponse("/ui", status_code=303, headers=dashboard.SECURITY_HEADERS)
    secure = request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
    resp.set_cookie(dashboard.COOKIE, dashboard.new_session(admin), max_age=dashboard.SESSION_SECONDS,
                    path="/ui", httponly=True, samesite="strict", secure=secure)
    return resp


@router.post("/logout")
def logout(request: Request):
    _same_origin(request)
    resp = RedirectResponse("/ui", status_code=303, headers=dashboard.SECURITY_HEADERS)
    resp.delete_cookie(dashboard.COOKIE, path="/ui", httponly=True, samesite="strict")
    return resp


@router.get("/static/{name}")
def asset(name: str):
    if name not in ASSETS:
        raise HTTPException(404, "no such file")
    body = resources.files("ccds_cli.sm").joinpath("static", name).read_bytes()
    return Response(body, media_type=ASSETS[name], headers={"X-Content-Type-Options": "nosniff",
                                                            "Cache-Control": "no-cache"})
