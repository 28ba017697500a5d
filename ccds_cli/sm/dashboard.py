"""The live dashboard's page: server-rendered HTML, every value escaped, no data in scripts.

`page()` is the whole document; `fragment()` is what the page's script fetches every few seconds to
replace its <main> (the same renderer, so there is one way to draw a node). The script
(`static/app.js`) only swaps server-escaped HTML in; it never builds markup from data. Sessions are
an expiry signed with the admin token (HMAC), so changing the token ends them; the cookie is
HttpOnly and SameSite=Strict, and state-changing forms check their Origin.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import datetime, timezone
from html import escape
from typing import Any

COOKIE = "ccds_ui"
SESSION_SECONDS = 12 * 3600
REFRESH_MS = 2000
STATES = ("STARTING", "INSERVICE", "SUNSET", "FAULT", "TERMINATED")
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                                "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}


def e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


# -- sessions ------------------------------------------------------------------------------------
def _sign(admin_token: str, expires: int) -> str:
    return hmac.new(admin_token.encode(), f"ccds-ui:{expires}".encode(), hashlib.sha256).hexdigest()


def new_session(admin_token: str, now: float | None = None) -> str:
    expires = int((time.time() if now is None else now) + SESSION_SECONDS)
    return f"{expires}.{_sign(admin_token, expires)}"


def valid_session(admin_token: str, value: str | None, now: float | None = None) -> bool:
    if not admin_token or not value or "." not in value or len(value) > 100:
        return False
    expires, _, signature = value.partition(".")
    if not expires.isdigit() or int(expires) < (time.time() if now is None else now):
        return False
    return hmac.compare_digest(signature, _sign(admin_token, int(expires)))


# -- what the page shows -------------------------------------------------------------------------
def collect(store: Any, leader: Any, metrics: Any) -> dict[str, Any]:
    """Everything the dashboard draws, read in a few queries (at most once per refresh per viewer)."""
    snap = store.metrics_snapshot()
    regions: dict[str, list[dict]] = {}
    for n in snap["per_node"]:
        regions.setdefault(n["region"], []).append(n)
    streams = [s for s in store.list_streams() if s["live"] or s["viewers"]]
    events = store.recent_events(40)
    refused = metrics.refused_total()
    return {"deployment": store.deployment or "", "regions": regions, "streams": streams, "events": events,
            "viewers": sum(r["viewers"] for r in snap["regions"].values()), "live_streams": snap["live_streams"],
            "leader": leader.is_leader, "instance": store.settings.instance_id, "refused": int(refused),
            "decisions": [ev for ev in events if ev["kind"] != "state"],
            "at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")}


def _state_class(state: str) -> str:
    return state if state in STATES else "OTHER"


def _node_row(n: dict) -> str:
    cap = max(int(n["capacity"] or 0), 0)
    load = int(n["load"] or 0)
    share = f"{load / cap:.0%}" if cap else "-"
    return (f'<tr class="node state-{_state_class(n["state"])}" data-node="{e(n["name"])}">'
            f'<td class="name">{e(n["name"])}</td><td class="role">{e(n["role"])}</td>'
            f'<td class="state">{e(n["state"])}</td>'
            f'<td class="load"><meter min="0" max="{cap or 1}" value="{min(load, cap or 1)}" low="{0.6 * cap:g}" '
            f'high="{0.9 * cap:g}" optimum="0" title="{e(share)}">{e(share)}</meter> '
            f'<span class="count">{load} / {cap}</span></td>'
            f'<td class="beat">{n["heartbeat_age"]:.1f} s</td></tr>')


def fragment(data: dict[str, Any]) -> str:
    """The inside of <main>: summary, regions with their nodes, streams, controller, events."""
    out = [f'<p id="summary"><span class="figure">{data["viewers"]}</span> viewers · '
           f'<span class="figure">{data["live_streams"]}</span> live streams · '
           f'<span class="figure">{data["refused"]}</span> joins refused here · '
           f'{"this manager leads" if data["leader"] else "follower"} ({e(data["instance"])}) · '
           f'updated <time id="updated">{e(data["at"])}</time></p>']
    out.append('<section id="regions"><h2>Regions</h2>')
    if not data["regions"]:
        out.append('<p class="empty">No node has registered yet.</p>')
    for region, nodes in sorted(data["regions"].items()):
        counts = {}
        for n in nodes:
            counts[n["state"]] = counts.get(n["state"], 0) + 1
        summary = ", ".join(f"{n} {e(s)}" for s, n in sorted(counts.items()))
        out.append(f'<article class="region" data-region="{e(region)}"><h3>{e(region)} '
                   f'<small>{summary}</small></h3><table><thead><tr><th>node</th><th>role</th><th>state</th>'
                   '<th>load</th><th>heartbeat</th></tr></thead><tbody>')
        out.extend(_node_row(n) for n in nodes)
        out.append("</tbody></table></article>")
    out.append("</section>")
    out.append('<section id="streams"><h2>Live streams</h2>')
    if data["streams"]:
        out.append("<table><thead><tr><th>stream</th><th>viewers</th><th>origin</th><th>edges</th></tr></thead><tbody>")
        for s in data["streams"]:
            out.append(f'<tr data-stream="{e(s["app"])}/{e(s["name"])}"><td>{e(s["app"])}/{e(s["name"])}</td>'
                       f'<td class="viewers">{int(s["viewers"])}</td><td>{e(s["origin"])}</td>'
                       f'<td>{e(", ".join(s["edges"]))}</td></tr>')
        out.append("</tbody></table>")
    else:
        out.append('<p class="empty">No stream is live.</p>')
    out.append("</section>")
    out.append('<section id="controller"><h2>Controller</h2>')
    if data["decisions"]:
        out.append("<ul>" + "".join(f'<li><time>{_when(ev["at"])}</time> {e(ev["kind"])}: {e(ev["reason"])}</li>'
                                    for ev in data["decisions"][:15]) + "</ul>")
    else:
        out.append('<p class="empty">No controller decision or block-list entry recorded by the managers.</p>')
    out.append("</section>")
    out.append('<section id="events"><h2>Recent events</h2><ul>')
    for ev in data["events"]:
        change = f'{e(ev["from_state"] or "-")} &rarr; {e(ev["to_state"] or "-")}' if ev["to_state"] else e(ev["kind"])
        out.append(f'<li><time>{_when(ev["at"])}</time> <b>{e(ev["node_name"])}</b> {change}: {e(ev["reason"])}</li>')
    out.append("</ul></section>")
    return "".join(out)


def _when(at: float) -> str:
    return e(datetime.fromtimestamp(at, timezone.utc).strftime("%H:%M:%S"))


def page(data: dict[str, Any]) -> str:
    return ('<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>ccds {e(data["deployment"])}</title><link rel="stylesheet" href="/ui/static/app.css"><link rel="icon" href="/ui/static/favicon.svg">'
            '<script src="/ui/static/app.js" defer></script></head><body>'
            f'<header><h1>ccds <span id="deployment">{e(data["deployment"])}</span></h1>'
            '<form method="post" action="/ui/logout"><button type="submit">Log out</button></form></header>'
            f'<main id="dashboard" data-refresh="{REFRESH_MS}" data-source="/ui/fragment">{fragment(data)}</main>'
            "</body></html>")


def login_page(message: str = "") -> str:
    note = f'<p class="error">{e(message)}</p>' if message else ""
    return ('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>ccds: log in</title>'
            '<link rel="stylesheet" href="/ui/static/app.css"><link rel="icon" href="/ui/static/favicon.svg"></head><body class="login">'
            '<form method="post" action="/ui/login"><h1>ccds stream manager</h1>'
            '<label for="token">Admin token</label>'
            '<input id="token" name="token" type="password" autocomplete="current-password" required>'
            f'{note}<button type="submit">Log in</button>'
            '<p class="hint">The token is in the deployment\'s <code>.ccds/&lt;name&gt;/secrets.json</code>.</p>'
            "</form></body></html>")
