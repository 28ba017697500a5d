"""How `ccds load` looks to people: live progress on stderr and the final report (rich)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from ccds_cli.load.report import LoadProgress

PLAIN_EVERY = 5.0  # seconds between plain progress lines (CI, --output json)


def progress_line(p: LoadProgress) -> str:
    failed = ", ".join(f"{k} {v}" for k, v in p.failures.items() if v)
    return (f"{p.elapsed_s:6.1f}s {p.phase:<10} {p.started}/{p.requested} started, {p.playing} playing, "
            f"{p.joining} joining, {p.failed} failed{f' ({failed})' if failed else ''}"
            f"{f', {p.fallback} fallback' if p.fallback else ''}, {p.mbps:.1f} Mbit/s")


class ProgressView:
    """`update(progress)` from the load engine; a rich live panel at a terminal, else plain lines."""

    def __init__(self, console: Any, *, live: bool, title: str):
        self.console, self.live_mode, self.title = console, live, title
        self._live = None
        self._last: LoadProgress | None = None
        self._printed = 0.0

    def __enter__(self) -> "ProgressView":
        if self.live_mode:
            from rich.live import Live

            self._live = Live(self._render(), console=self.console, refresh_per_second=4, transient=True,
                              get_renderable=self._render)
            self._live.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def update(self, p: LoadProgress) -> None:
        first = self._last is None
        phase_changed = self._last is not None and self._last.phase != p.phase
        self._last = p
        if self._live is None and (first or phase_changed or time.monotonic() - self._printed >= PLAIN_EVERY):
            self._printed = time.monotonic()
            self.console.print(f"{datetime.now():%H:%M:%S} {self.title}: {progress_line(p)}", markup=False,
                               highlight=False)

    def _render(self):
        from rich.text import Text

        from ccds_cli.ui.table import Column, Table

        p = self._last
        if p is None:
            return Text(f"{self.title}: starting")
        table = Table(f"{self.title}: {progress_line(p)}", [Column("edge"), Column("playing", justify="right")])
        for edge, n in list(p.edges.items())[:20]:
            table.add_row(edge, n)
        if len(p.edges) > 20:
            table.add_row(f"and {len(p.edges) - 20} more", "")
        return table.renderable(self.console)


def human(r: dict, console: Any) -> None:
    """The final report as tables."""
    from rich.markup import escape

    from ccds_cli.ui.table import Column, Table

    v = r["viewers"]
    mark = ("[green]ok[/green]" if r["ok"] else "[yellow]interrupted[/yellow]" if r["interrupted"]
            else "[red]FAILED[/red]")
    console.print(f"ccds load {', '.join(r['streams'])} via {r['manager']}: {mark}  ({r['elapsed_s']:.1f} s)")
    if r.get("note"):
        console.print(f"  {r['note']}")
    for p in r["publishers"]:
        console.print(f"  publisher {p['stream']} -> {p['origin'] or '-'} ({p['url'] or '-'}): {p['state']}"
                      + (f", on air after {p['live_after_ms']} ms" if p["live_after_ms"] is not None else "")
                      + (f" [red]{escape(p['error'])}[/red]" if p["error"] else ""))
    console.print(f"  viewers: {v['started']} started, {v['received_media']} received media, {v['held']} held "
                  f"to the end, {v['failed']} failed, {v['fallback']} fallback"
                  + (f", {v['released']} released" if v["released"] else "")
                  + (f", {v['cancelled']} cancelled" if v["cancelled"] else ""))
    j = r["join_ms"]
    if j["count"]:
        console.print(f"  join time (subscribe answer -> first frame): p50 {j['p50']:.0f} ms, "
                      f"p99 {j['p99']:.0f} ms, max {j['max']:.0f} ms")
    f = r["frames"]
    console.print(f"  received {r['bytes_received'] / 1e6:,.1f} MB"
                  + (f", {r['kbps_per_viewer']:,.0f} kbit/s per viewer" if r["kbps_per_viewer"] else "")
                  + f", {f['video']:,} video frames"
                  + (f", longest frame gap {f['max_video_gap_ms']:.0f} ms" if f["max_video_gap_ms"] is not None else "")
                  + (f", {f['stalled_viewers']} viewers stalled > 1 s" if f["stalled_viewers"] else ""))
    fb = r["fallbacks"]
    if fb["total"]:
        kinds = ", ".join(f"{k} {n}" for k, n in fb.items() if isinstance(n, int) and k not in
                          ("total", "received_media", "failed", "segments", "bytes"))
        nodes = ", ".join(f"{k} {n}" for k, n in fb["nodes"].items())
        console.print(f"  fallbacks taken: {fb['total']} ({kinds}) from {nodes or '-'}: {fb['received_media']} "
                      f"received media, {fb['failed']} failed, {fb['segments']:,} segments, "
                      f"{fb['bytes'] / 1e6:,.1f} MB"
                      + (f", join p50 {fb['join_ms']['p50']:.0f} ms" if fb["join_ms"]["p50"] is not None else ""))
    if r["edges"]:
        with_manager = any("manager_subscribers" in e for e in r["edges"])
        columns = [Column("edge"), Column("region", drop=1)] + [
            Column(c, justify="right") for c in ("assigned", "media", "held", "failed", "MB")]
        if with_manager:
            columns.append(Column("manager", justify="right", drop=2))  # the edge's heartbeat count at the end
        table = Table("", columns)
        for e in r["edges"]:
            row = [e["edge"] or "-", e["region"] or "-", e["assigned"], e["received_media"], e["held"],
                   e["failed"], f"{e['bytes'] / 1e6:,.1f}"]
            if with_manager:
                row.append("-" if e.get("manager_subscribers") is None else e["manager_subscribers"])
            table.add_row(*row)
        table.print(console)
    if len(r["regions"]) > 1:
        console.print("  regions: " + ", ".join(f"{g['region']} {g['received_media']}/{g['assigned']}"
                                                for g in r["regions"]))
    if any(r["failures"].values()):
        console.print("  failures: " + ", ".join(f"{k} {n}" for k, n in r["failures"].items() if n))
        for cause, rows in r["failure_details"].items():
            for row in rows[:3]:
                console.print(f"    {cause}: {row['count']} x {row['detail']}", markup=False)
