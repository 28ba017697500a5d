"""`ccds status`: desired vs actual nodes per region and role, with the cloud's instance states;
`--watch` keeps it on screen, refreshed every `--interval` seconds (rich Live), until Ctrl-C (exit
130) or `--count` rounds."""

from typing import Annotated

import typer

from ccds_cli.commands._common import Outcome, OutputMode, OutputOpt, SpecArg, StateDirOpt, open_deployment, start

WatchOpt = Annotated[bool, typer.Option("--watch", "-w", help="Refresh until Ctrl-C (or --count rounds).")]
IntervalOpt = Annotated[float, typer.Option("--interval", help="Seconds between refreshes with --watch (0.5-3600).")]
CountOpt = Annotated[int, typer.Option("--count", help="With --watch: stop after N refreshes (0: until Ctrl-C).")]


def run(spec: SpecArg, output: OutputOpt = OutputMode.text, state_dir: StateDirOpt = None, watch: WatchOpt = False,
        interval: IntervalOpt = 2.0, count: CountOpt = 0) -> Outcome:
    """Show the deployment's health; exit 4 when anything is missing, stopped or terminated."""
    from ccds_cli.errors import BadInput

    out = start("status", output)
    if not 0.5 <= interval <= 3600:
        raise BadInput(f"--interval must be between 0.5 and 3600 seconds (got {interval:g})")
    if count < 0:
        raise BadInput("--count must be 0 (until Ctrl-C) or more")
    dep = open_deployment(spec, state_dir, out)
    if not watch:
        return _outcome(_look(dep, out, set()))
    return _watch(dep, out, interval, count)


def _look(dep, out, warned: set[str]) -> dict:
    from ccds_cli.deployment.health import deployment_status
    from ccds_cli.operate.state import controller_status

    result, warnings = deployment_status(dep)
    result["controller"] = controller_status(dep.root)
    for w in warnings:
        if w not in warned:  # a watch says each warning once
            warned.add(w)
            out.warn(w)
    return result


def _outcome(result: dict, human=None) -> Outcome:
    from ccds_cli.errors import ExitCode

    return Outcome(result, human or _human, 0 if result["healthy"] else int(ExitCode.UNHEALTHY))


def _watch(dep, out, interval: float, count: int) -> Outcome:
    """At a terminal, one screen redrawn in place; otherwise (a pipe, CI, JSON) every round printed
    in turn. Rounds are bounded by --count; Ctrl-C ends the watch with exit 130 (cli.main)."""
    import time
    from datetime import datetime

    warned: set[str] = set()
    rounds = 0
    if out.json or not out.console.is_terminal:
        while True:
            result = _look(dep, out, warned)
            rounds += 1
            if count and rounds >= count:
                return _outcome(result)  # cli.main prints the last round, as without --watch
            out.emit(result, _human, ok=result["healthy"], exit_code=_outcome(result).exit_code)
            if not out.json:
                out.console.print(f"--- {datetime.now():%H:%M:%S}, next in {interval:g} s", markup=False)
            time.sleep(interval)
    from rich.console import Group
    from rich.live import Live
    from rich.text import Text

    with Live(console=out.console, auto_refresh=False, transient=False) as live:
        while True:
            result = _look(dep, out, warned)
            rounds += 1
            footer = (f"{datetime.now():%H:%M:%S} round {rounds}" + (f" of {count}" if count else "")
                      + f", every {interval:g} s; Ctrl-C to stop")
            lines = [Text(line, style=style, no_wrap=False, overflow="fold")
                     for line, style in _manager_lines(result) + _controller_lines(result.get("controller") or {})]
            live.update(Group(_table(result).renderable(out.console), *lines, Text(footer, style="dim")), refresh=True)
            if count and rounds >= count:
                return _outcome(result, lambda res, console: None)  # already on screen
            time.sleep(interval)


def _human(res: dict, console) -> None:
    _table(res).print(console)
    for line, style in _manager_lines(res) + _controller_lines(res.get("controller") or {}):
        console.print(line, style=style or None, markup=False, highlight=False)


def _controller_lines(c: dict) -> list[tuple[str, str]]:
    """`ccds operate`: is one acting, what it is doing, which pools it paused, what is blocked."""
    active = c.get("active")
    if active:
        line = (f"controller: active on {active['host']} (pid {active['pid']}), last round "
                f"{active['seconds_since_round']} s ago")
        lines = [(line + (f", pending: {c['pending_action']}" if c.get("pending_action") else ""), "")]
    elif c.get("controllers"):
        lines = [(f"controller: none acting (last round {c.get('last_round') or 'never'})", "yellow")]
    else:
        lines = [("controller: not running (`ccds operate FILE` makes the deployment run itself)", "")]
    lines += [(f"  standby on {s['host']} (pid {s['pid']})", "") for s in c.get("standby") or []]
    for p in c.get("paused_pools") or []:
        why = "; ".join(f"{k}={v}" for k, v in p.items() if k != "pool")
        lines.append((f"  paused pool: {p['pool']}" + (f" ({why})" if why else ""), "yellow"))
    lines += [(f"  blocked: {b['placement']} since {b.get('since_iso')} until {b.get('until_iso')}: {b.get('reason')}",
               "yellow") for b in c.get("block_list") or []]
    return lines


def _table(res: dict):
    from ccds_cli.ui.table import Column, Table

    table = Table(f"ccds status {res['deployment']}: " + ("healthy" if res["healthy"] else "UNHEALTHY"), [
        Column("workspace", drop=1), Column("region"), Column("role"), Column("desired"), Column("actual"),
        Column("running"), Column("states", atom=False, drop=2), Column("problems", atom=False)])
    for s in res["workspaces"]:
        for r in s["roles"]:
            states = ", ".join(sorted({i["state"] for i in r["instances"]})) or "-"
            table.add_row(s["name"], r["region"], r["role"], r["desired"], r["actual"],
                          "?" if r["running"] is None else r["running"], states, "; ".join(r["problems"]))
        for problem in s["problems"]:
            table.add_row(s["name"], "", "", "", "", "", "", problem)
    return table


def _manager_lines(res: dict) -> list[tuple[str, str]]:
    """The stream manager's view: its own node states, streams and viewers (with a style each)."""
    m = res["manager"]
    if m is None:
        return []
    if not m["reachable"]:
        return [(f"stream manager {m.get('url') or ''} not reachable: {m.get('error')}", "red")]
    states = ", ".join(f"{role}: " + " ".join(f"{st}={n}" for st, n in sorted(by.items()))
                       for role, by in sorted(m["nodes"].items())) or "no nodes registered"
    lines = [(f"stream manager {m['url']} ({m['status']}, leader {m['leader']}): {states}", "")]
    slots = m.get("edge_slots") or {}
    line = f"  {m['live_streams']} live stream(s), {m['viewers']} viewer(s)"
    if slots:
        line += (f"; edge slots: {slots['viewers']} watching + {slots['reserved']} reserved of {slots['capacity']}"
                 f" ({slots['free']} free)")
    if m.get("refused_joins"):
        line += f"; {m['refused_joins']} join(s) refused"
    if m.get("hls_fallbacks"):
        line += f"; {m['hls_fallbacks']} viewer(s) sent to HLS (edges full)"
    if m.get("beat_interval"):
        line += f"; nodes asked to beat every {m['beat_interval']:g} s (FAULT after {m['fault_timeout']:g} s silent)"
    if m["faulty"]:
        line += f"; FAULT: {', '.join(m['faulty'])}"
    lines.append((line, "red" if m["faulty"] or m.get("refused_joins") else ""))
    return lines
