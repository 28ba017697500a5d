"""`/ui`: who may see it, and that what nodes send is shown as text, never as markup."""

from __future__ import annotations

from smhelp import ADMIN, NODE


def test_login_form_cookie_and_bearer(mgr):
    anonymous = mgr.client.get("/ui")
    assert anonymous.status_code == 401 and '<form method="post" action="/ui/login">' in anonymous.text
    assert "default-src 'none'" in anonymous.headers["content-security-policy"]
    assert mgr.client.get("/ui/fragment").status_code == 401
    wrong = mgr.client.post("/ui/login", data={"token": "guess"}, follow_redirects=False)
    assert wrong.status_code == 403 and "not this manager&#x27;s admin token" in wrong.text
    assert "ccds_ui" not in mgr.client.cookies

    ok = mgr.client.post("/ui/login", data={"token": "admin-secret"}, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/ui"
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    assert "admin-secret" not in cookie  # a signed expiry, not the token
    page = mgr.client.get("/ui")
    assert page.status_code == 200 and '<main id="dashboard"' in page.text
    assert mgr.client.get("/ui/fragment").status_code == 200

    mgr.client.post("/ui/logout", follow_redirects=False)
    mgr.client.cookies.clear()
    assert mgr.client.get("/ui").status_code == 401
    assert mgr.client.get("/ui", headers=ADMIN).status_code == 200
    assert mgr.client.get("/ui", headers=NODE).status_code == 401  # a node token is not an admin token


def test_forged_or_expired_sessions_and_cross_origin_forms_are_refused(mgr):
    from ccds_cli.sm import dashboard

    assert not dashboard.valid_session("admin-secret", "9999999999.deadbeef")
    assert not dashboard.valid_session("admin-secret", dashboard.new_session("admin-secret", now=0))  # expired
    assert not dashboard.valid_session("other-token", dashboard.new_session("admin-secret"))
    mgr.client.cookies.set("ccds_ui", "9999999999.deadbeef", path="/ui")
    assert mgr.client.get("/ui").status_code == 401
    evil = mgr.client.post("/ui/login", data={"token": "admin-secret"}, headers={"Origin": "https://evil.example"},
                           follow_redirects=False)
    assert evil.status_code == 403
    big = mgr.client.post("/ui/login", content=b"token=" + b"a" * 10_000,
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert big.status_code == 413


def test_what_nodes_send_is_escaped(mgr):
    edge = mgr.up("e1", capacity=4)
    mgr.beat(edge, subscribers=3)
    resp = mgr.client.post(f"/api/v1/nodes/{edge}/heartbeat", headers=mgr.node_headers(edge),
                           json={"engine_ok": False, "error": '<img src=x onerror="alert(1)">'})
    assert resp.status_code == 200
    page = mgr.client.get("/ui", headers=ADMIN).text
    assert "<img" not in page and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
    assert 'data-node="e1"' in page and "state-FAULT" in page
    assert '<script src="/ui/static/app.js" defer></script>' in page and page.count("<script") == 1
    js = mgr.client.get("/ui/static/app.js")
    assert js.status_code == 200 and "innerHTML" not in js.text
    assert mgr.client.get("/ui/static/../app.py").status_code == 404


def test_nodes_and_load_bars(mgr):
    origin = mgr.up("o1", role="origin", capacity=5)
    edge = mgr.up("e1", capacity=10)
    mgr.beat(origin, publishers=1, streams=[{"app": "live", "name": "show", "publishing": True}])
    mgr.beat(edge, subscribers=7, streams=[{"app": "live", "name": "show", "subscribers": 7}])
    page = mgr.client.get("/ui", headers=ADMIN).text
    assert '<meter min="0" max="10" value="7"' in page and "7 / 10" in page
    assert 'data-stream="live/show"' in page and '<td class="viewers">7</td>' in page
