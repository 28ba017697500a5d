"""The table helper: nothing is cut at any width; plain key=value lines off a terminal."""

from __future__ import annotations

import io

from rich.console import Console

from ccds_cli.ui.table import Column, Styled, Table, plain_line

LONG = "control.aws-main.us-east-1-with-a-very-long-provider-alias"
URL = "http://127.0.0.1:19300/api/v1/streams/live/some-stream-name/subscribe"


def _table() -> Table:
    t = Table("Workspaces", [Column("workspace"), Column("result"), Column("url", drop=2),
                             Column("notes", atom=False, drop=1)])
    t.add_row(LONG, Styled("ok", "green"), URL, "2 retries; throttled by the cloud API, then it went through")
    t.add_row("laptop.local", "failed", "-", "")
    return t


def _render(table: Table, width: int, terminal: bool) -> str:
    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=terminal, color_system=None, soft_wrap=True)
    table.print(console)
    return buf.getvalue()


def test_terminal_tables_drop_columns_by_rank_and_never_cut():
    for width in (200, 120, 100, 80):
        text = _render(_table(), width, terminal=True)
        assert "…" not in text
        assert LONG in text, text
        assert all(len(line) <= width for line in text.splitlines()), text
    wide = _render(_table(), 200, terminal=True)
    assert URL in wide and "not shown" not in wide
    narrow = _render(_table(), 100, terminal=True)
    assert URL not in narrow and "not shown at this width: url" in narrow  # the highest rank left first


def test_too_narrow_for_the_kept_columns_gives_plain_lines():
    text = _render(_table(), 40, terminal=True)
    assert text.splitlines()[1].startswith(f"  workspace={LONG} result=ok url={URL} notes=\"2 retries;")


def test_off_a_terminal_one_record_per_line():
    lines = _render(_table(), 80, terminal=False).splitlines()
    assert lines == ["Workspaces:",
                     f'  workspace={LONG} result=ok url={URL} notes="2 retries; throttled by the cloud API, then '
                     'it went through"',
                     "  workspace=laptop.local result=failed url=- notes=-"]


def test_plain_values_are_quoted_when_needed():
    assert plain_line([("a", "x"), ("b", 'say "hi"'), ("c", "two\nlines"), ("d", "k=v")]) == \
        'a=x b="say \\"hi\\"" c="two\\nlines" d="k=v"'


def test_visual_columns_stay_off_plain_lines():
    t = Table("", [Column("cloud"), Column("bar", visual=True)])
    t.add_row("aws", "████")
    assert t.plain_lines() == ["cloud=aws"]


def test_status_says_when_the_managers_pace_the_fleet():
    """A paced fleet is detected dead later: status says so, next to the viewers."""
    from ccds_cli.commands.status import _manager_lines

    manager = {"reachable": True, "url": "http://m", "status": "ok", "leader": "m-1", "faulty": [],
               "nodes": {"edge": {"INSERVICE": 2000}}, "live_streams": 3, "viewers": 10}
    assert "asked to beat" not in " ".join(t for t, _ in _manager_lines({"manager": {**manager, "beat_interval": None}}))
    lines = _manager_lines({"manager": {**manager, "beat_interval": 4.5, "fault_timeout": 13.5}})
    assert "nodes asked to beat every 4.5 s (FAULT after 13.5 s silent)" in lines[1][0]
