"""Tables that fit: every command's human output goes through `Table`, which never cuts a cell.

At a terminal a table is a rich table sized to the console: free text wraps between words, names,
paths and URLs (`atom` columns) are never broken, and when the columns cannot all fit, those with
the highest `drop` rank go first (a line says which; `--output json` has them all). When even the
kept columns cannot fit, or when the console is not a terminal (a CI log, a pipe), each row is one
plain line of `key=value` pairs that nothing wraps or cuts: a log keeps every name whole and grep
finds it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

_PLAIN_SAFE = re.compile(r'^[^\s"=]+$')


@dataclass(frozen=True)
class Column:
    """`atom`: cells are names, paths or URLs, shown whole or not at all. `drop`: 0 never leaves
    the table; higher numbers leave first when the terminal is too narrow."""

    name: str
    atom: bool = True
    drop: int = 0
    justify: str = "left"
    key: str = ""  # the key in plain lines (default: the name, spaces as underscores)
    visual: bool = False  # only for the eye (a bar): left out of plain lines

    @property
    def plain_key(self) -> str:
        return self.key or re.sub(r"\s+", "_", self.name.strip()) or "value"


@dataclass(frozen=True)
class Styled:
    """A cell with a rich style at a terminal (the text itself is never read as markup)."""

    text: str
    style: str = ""


Cell = Any  # str, Styled, or anything str() makes readable


def _text(cell: Cell) -> str:
    if isinstance(cell, Styled):
        return cell.text
    return "" if cell is None else str(cell)


def plain_value(value: str) -> str:
    """`value` as it appears after `key=`: bare when it has no space, quote or equals sign."""
    if value and _PLAIN_SAFE.match(value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def plain_line(pairs: Iterable[tuple[str, str]]) -> str:
    return " ".join(f"{k}={plain_value(v)}" for k, v in pairs)


def _longest_word(text: str) -> int:
    return max((len(w) for w in text.split()), default=0)


@dataclass
class Table:
    """Rows of cells under named columns; `print(console)` picks the form that fits."""

    title: str = ""
    columns: Sequence[Column | str] = ()
    rows: list[list[Cell]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.columns = [c if isinstance(c, Column) else Column(c) for c in self.columns]

    def add_row(self, *cells: Cell) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"{len(cells)} cells for {len(self.columns)} columns")
        self.rows.append(list(cells))

    # -- how wide ------------------------------------------------------------------------------
    def _min_width(self, i: int) -> int:
        col = self.columns[i]
        cells = [_text(r[i]) for r in self.rows]
        need = max((len(c) if col.atom else _longest_word(c) for c in cells), default=0)
        return max(need, len(col.name) if col.atom else _longest_word(col.name), 1)

    def fitting(self, width: int) -> list[int] | None:
        """Indices of the columns to show within `width` (None: not even the essential ones fit)."""
        keep = list(range(len(self.columns)))
        while True:
            # one space of padding either side of each cell and one border between them, plus the edges
            need = sum(self._min_width(i) + 3 for i in keep) + 1
            if need <= width:
                return keep
            droppable = [i for i in keep if self.columns[i].drop > 0]
            if not droppable:
                return None
            worst = max(droppable, key=lambda i: (self.columns[i].drop, i))
            keep.remove(worst)

    # -- output --------------------------------------------------------------------------------
    def print(self, console: Any) -> None:
        keep = self.fitting(console.width) if console.is_terminal else None
        if keep is None:
            for line in self.plain_lines():
                console.print(line, markup=False, highlight=False, soft_wrap=True)
            return
        console.print(self._rich(keep))
        dropped = self._dropped(keep)
        if dropped:
            console.print(dropped, markup=False, highlight=False, soft_wrap=True, style="dim")

    def renderable(self, console: Any):
        """What `print` shows at a terminal, as one rich renderable for a Live view (which redraws in
        place, so rich must wrap every line itself): the table at the console's width, or its
        plain lines when it cannot fit."""
        from rich.console import Group
        from rich.text import Text

        keep = self.fitting(console.width)
        if keep is None:
            return Text("\n".join(self.plain_lines()), no_wrap=False, overflow="fold")
        dropped = self._dropped(keep)
        note = Text(dropped, style="dim", no_wrap=False, overflow="fold")
        return Group(self._rich(keep), note) if dropped else self._rich(keep)

    def _dropped(self, keep: list[int]) -> str:
        names = [self.columns[i].name for i in range(len(self.columns)) if i not in keep]
        return (f"(not shown at this width: {', '.join(names)}; widen the terminal or use --output json)"
                if names else "")

    def plain_lines(self) -> list[str]:
        """The title, then one `key=value` line per row (empty cells as `-`)."""
        lines = [f"{self.title}:"] if self.title else []
        prefix = "  " if self.title else ""
        for row in self.rows:
            lines.append(prefix + plain_line((c.plain_key, _text(v) or "-") for c, v in zip(self.columns, row)
                                             if not c.visual))
        return lines

    def _rich(self, keep: list[int]):
        from rich.table import Table as RichTable
        from rich.text import Text

        table = RichTable(title=self.title or None, title_justify="left")
        for i in keep:
            col = self.columns[i]
            width = self._min_width(i)
            # fold, never ellipsis: were rich ever to squeeze a column below its longest word, the
            # word continues on the next line instead of losing its end
            table.add_column(col.name, justify=col.justify, overflow="fold", no_wrap=col.atom,
                             min_width=width if col.atom else None)
        for row in self.rows:
            table.add_row(*(Text(_text(row[i]), style=row[i].style if isinstance(row[i], Styled) else "")
                            for i in keep))
        return table
