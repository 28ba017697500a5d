"""How `ccds cost` looks to people: tables with proportional bars (rich), assumptions last."""

from __future__ import annotations

BAR = 30


def _usd(v: float | None) -> str:
    if v is None:
        return "-"
    return f"${v:,.2f}" if abs(v) < 100 else f"${v:,.0f}"


def _bars(title: str, key: str, values: dict[str, float], total: float):
    from ccds_cli.ui.table import Column, Styled, Table

    t = Table(title, [Column(key), Column("USD/month", justify="right"), Column("share", justify="right"),
                      Column("bar", drop=1, visual=True)])
    for name, v in values.items():
        share = v / total if total else 0.0
        t.add_row(name, _usd(v), f"{share:6.1%}".strip(), Styled("█" * max(0, round(share * BAR)), "cyan"))
    return t


def show(r: dict, console) -> None:
    from ccds_cli.ui.table import Column, Table

    total = r["total_usd"]
    console.print(f"[bold]{r['deployment']}[/bold]: estimated [bold]{_usd(total)}[/bold] per month"
                  + (f", ${r['usd_per_viewer_hour']:.4f} per viewer-hour"
                     if r["usd_per_viewer_hour"] is not None else ", no viewers in traffic"))
    _bars("by category", "category", {k: v for k, v in r["by_category"].items() if v}, total).print(console)
    _bars("by region", "region", r["by_region"], total).print(console)
    _bars("by cloud", "cloud", r["by_cloud"], total).print(console)
    _bars("by role", "role", r["by_role"], total).print(console)

    eg = Table("egress per account (tiers apply per account and month)", [
        Column("provider"), Column("cloud"), Column("GB", justify="right"),
        Column("allowance GB", justify="right", drop=1), Column("USD", justify="right")])
    for a in r["egress_accounts"]:
        eg.add_row(a["provider"], a["cloud"], f"{a['gb']:,.0f}",
                   "-" if a["allowance_gb"] is None else f"{a['allowance_gb']:,.0f}", _usd(a["usd"]))
    eg.print(console)

    lines = Table("lines", [Column("region"), Column("cloud/region", drop=2), Column("role", drop=3),
                            Column("item", atom=False), Column("quantity", justify="right", drop=4),
                            Column("unit price", justify="right", drop=1), Column("USD", justify="right")])
    for x in r["lines"]:
        unit = "-" if x["unit_usd"] is None else f"${x['unit_usd']:.4f}/{x['unit']}"
        lines.add_row(x["region"] + (f" ({x['event']})" if x["event"] else ""), f"{x['cloud']}/{x['cloud_region']}",
                      x["role"], x["item"], f"{x['quantity']:,.1f}", unit, _usd(x["usd"]))
    lines.print(console)

    if r.get("events"):
        ev = Table("events (--events)", [Column("event"), Column("hours"), Column("extra nodes"),
                                         Column("egress GB"), Column("USD")])
        for e in r["events"]:
            ev.add_row(e["name"], f"{e['hours']:g}", e["extra_nodes"], f"{e['egress_gb']:,.0f}", _usd(e["usd"]))
        ev.print(console)

    if r.get("compare"):
        cmp = Table("--compare: each region alone, on the nearest region of every cloud", [
            Column("region"), Column("now", drop=2), Column("USD now"), Column("cheapest"), Column("USD"),
            Column("saving")])
        for c in r["compare"]:
            cur, best = c["current"], c["cheapest"]
            cmp.add_row(c["region"], f"{cur['cloud']}/{cur['cloud_region']}", _usd(cur["usd"]),
                        f"{best['cloud']}/{best['cloud_region']} ({best['distance_km']} km)" if best else "-",
                        _usd(best["usd"]) if best else "-", _usd(c["saving_usd"]))
        cmp.print(console)

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
