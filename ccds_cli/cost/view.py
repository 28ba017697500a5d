"""How `ccds cost` looks to people: tables with proportional bars (rich), assumptions last."""

from __future__ import annotations

BAR = 30


def _usd(v: float | None) -> str:
    if v is None:
        return "-"
    return f"${v:,.2f}" if abs(v) < 100 else f"${v:,.0f}"


def _bars(title: str, values: dict[str, float], total: float):
    from rich.table import Table

    t = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    t.add_column("")
    t.add_column("USD/month", justify="right")
    t.add_column("share", justify="right")
    t.add_column("")
    for name, v in values.items():
        share = v / total if total else 0.0
        t.add_row(name, _usd(v), f"{share:6.1%}", "[cyan]" + "█" * max(0, round(share * BAR)) + "[/cyan]")
    return t


def show(r: dict, console) -> None:
    from rich.table import Table

    total = r["total_usd"]
    console.print(f"[bold]{r['deployment']}[/bold]: estimated [bold]{_usd(total)}[/bold] per month"
                  + (f", ${r['usd_per_viewer_hour']:.4f} per viewer-hour"
                     if r["usd_per_viewer_hour"] is not None else ", no viewers in traffic"))
    console.print(_bars("by category", {k: v for k, v in r["by_category"].items() if v}, total))
    console.print(_bars("by region", r["by_region"], total))
    console.print(_bars("by cloud", r["by_cloud"], total))
    console.print(_bars("by role", r["by_role"], total))

    eg = Table(title="egress per account (tiers apply per account and month)", title_justify="left", show_edge=False)
    for col in ("provider", "cloud", "GB", "allowance GB", "USD"):
        eg.add_column(col, justify="right" if col in ("GB", "allowance GB", "USD") else "left")
    for a in r["egress_accounts"]:
        eg.add_row(a["provider"], a["cloud"], f"{a['gb']:,.0f}",
                   "-" if a["allowance_gb"] is None else f"{a['allowance_gb']:,.0f}", _usd(a["usd"]))
    console.print(eg)

    lines = Table(title="lines", title_justify="left", show_edge=False)
    for col in ("region", "cloud/region", "role", "item", "quantity", "unit price", "USD"):
        lines.add_column(col, justify="right" if col in ("quantity", "unit price", "USD") else "left")
    for x in r["lines"]:
        unit = "-" if x["unit_usd"] is None else f"${x['unit_usd']:.4f}/{x['unit']}"
        lines.add_row(x["region"] + (f" ({x['event']})" if x["event"] else ""), f"{x['cloud']}/{x['cloud_region']}",
                      x["role"], x["item"], f"{x['quantity']:,.1f}", unit, _usd(x["usd"]))
    console.print(lines)

    if r.get("events"):
        ev = Table(title="events (--events)", title_justify="left", show_edge=False)
        for col in ("event", "hours", "extra nodes", "egress GB", "USD"):
            ev.add_column(col)
        for e in r["events"]:
            ev.add_row(e["name"], f"{e['hours']:g}", str(e["extra_nodes"]), f"{e['egress_gb']:,.0f}", _usd(e["usd"]))
        console.print(ev)

    if r.get("compare"):
        cmp = Table(title="--compare: each region alone, on the nearest region of every cloud", title_justify="left",
                    show_edge=False)
        for col in ("region", "now", "USD now", "cheapest", "USD", "saving"):
            cmp.add_column(col)
        for c in r["compare"]:
            cur, best = c["current"], c["cheapest"]
            cmp.add_row(c["region"], f"{cur['cloud']}/{cur['cloud_region']}", _usd(cur["usd"]),
                        f"{best['cloud']}/{best['cloud_region']} ({best['distance_km']} km)" if best else "-",
                        _usd(best["usd"]) if best else "-", _usd(c["saving_usd"]))
        console.print(cmp)

    if r.get("budget"):
        b = r["budget"]
        colour = "red" if b["over"] else "green"
        console.print(f"[{colour}]budget {_usd(b['limit_usd'])}: "
                      f"{'over by ' + _usd(b['difference_usd']) if b['over'] else 'within'}[/{colour}]")
    console.print("[dim]assumptions:[/dim]")
    for a in r["assumptions"]:
        console.print(f"[dim]  - {a}[/dim]")
    dates = ", ".join(f"{c} {v['as_of']}" for c, v in r["catalog"].items() if v["as_of"])
    if dates:
        console.print(f"[dim]  - catalog dates: {dates}[/dim]")
