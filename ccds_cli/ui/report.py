"""Turn orchestration results and root outputs into what people and scripts read.

Pure functions over plain data: plan summaries, the end-of-run table, the node list and the
URLs where to publish and play (from the nodes' `ports` on the local cloud, otherwise from the
engine's well-known ports on each node's public address).
"""

from __future__ import annotations

from typing import Any, Iterable

STREAM = "<stream>"


def nodes_from(results: Iterable[Any]) -> list[dict[str, Any]]:
    """Every node from the workspaces' `nodes` outputs, tagged with its workspace."""
    nodes = []
    for r in results:
        for node in (r.outputs or {}).get("nodes") or []:
            if isinstance(node, dict):
                nodes.append({"workspace": r.name, **node})
    return nodes


def access_urls(nodes: Iterable[dict[str, Any]], engine_kind: str) -> dict[str, list[dict[str, str]]]:
    """Where publishers send streams (origins) and where viewers play them (edges)."""
    from ccds_cli import engines

    try:
        playback = dict(engines.get(engine_kind).playback)
    except Exception:  # an unknown engine still gets the node list, just no URLs
        playback = {}
    publish, play = [], []
    for node in nodes:
        role = node.get("role")
        if role not in ("origin", "edge"):
            continue
        urls = _urls(node, playback)
        if role == "origin":  # publishers push; the read-side URLs belong to edges
            urls = {k: v for k, v in urls.items() if k in ("rtmp", "stats")}
        if not urls:
            continue
        entry = {"region": str(node.get("region_key", "")), "node": str(node.get("name", "")), **urls}
        (publish if role == "origin" else play).append(entry)
    return {"publish": publish, "play": play}


def _urls(node: dict[str, Any], playback: dict[str, str]) -> dict[str, str]:
    ports = node.get("ports") or {}
    host = node.get("public_ip") or node.get("private_ip") or ""
    if isinstance(ports, dict) and ports:
        host = host or "127.0.0.1"
        urls = {}
        if "rtmp" in ports:
            urls["rtmp"] = f"rtmp://{host}:{ports['rtmp']}/live/{STREAM}"
        for proto, port in sorted(ports.items()):
            if proto in ("http", "stats"):
                urls.setdefault("stats", f"http://{host}:{port}/stat")
        return urls
    if not host:
        return {}
    return {proto: template.format(host=host, app="live", stream=STREAM) for proto, template in playback.items()}


def render_results(title: str, results: list[Any], console: Any) -> None:
    from ccds_cli.ui.table import Column, Styled, Table

    table = Table(title, [Column("workspace"), Column("result"), Column("add", justify="right"),
                          Column("change", justify="right"), Column("destroy", justify="right"),
                          Column("time", justify="right", drop=1), Column("notes", atom=False)])
    for r in results:
        counts = r.changes if r.result not in ("planned",) else r.planned
        style = {"ok": "green", "failed": "red", "interrupted": "yellow", "skipped": "yellow"}.get(r.result, "")
        notes = r.error or ""
        if r.retries:
            notes = (f"{len(r.retries)} retr{'y' if len(r.retries) == 1 else 'ies'}; " + notes).strip("; ")
        table.add_row(r.name, Styled(r.result, style), counts.get("add", 0), counts.get("change", 0),
                      counts.get("destroy", 0), f"{r.duration:.1f}s", notes)
    table.print(console)


def render_plan(results: list[Any], console: Any) -> None:
    from ccds_cli.ui.table import Column, Table

    table = Table("Planned changes", [Column("workspace"), Column("add"), Column("change"), Column("destroy"),
                                      Column("status", atom=False)])
    for r in results:
        table.add_row(r.name, r.planned["add"], r.planned["change"], r.planned["destroy"], r.error or r.result)
    table.print(console)


def render_access(nodes: list[dict[str, Any]], access: dict[str, list[dict[str, str]]], console: Any) -> None:
    from ccds_cli.ui.table import Column, Table

    if nodes:
        table = Table("Nodes", [Column("region", drop=1), Column("role"), Column("name"), Column("public"),
                                Column("private", drop=2)])
        for n in nodes:
            table.add_row(n.get("region_key", ""), n.get("role", ""), n.get("name", ""), n.get("public_ip", ""),
                          n.get("private_ip", ""))
        table.print(console)
    for label, key in (("Publish to", "publish"), ("Play from", "play")):
        for entry in access.get(key, []):
            console.print(f"{label} ({entry['region']} {entry['node']}):", markup=False, highlight=False)
            for k, v in entry.items():
                if k not in ("region", "node"):
                    console.print(f"  {k:7} {v}", markup=False, highlight=False, soft_wrap=True)
