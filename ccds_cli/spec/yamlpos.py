"""YAML loading that remembers where every key is and refuses duplicate keys.

PyYAML silently keeps the last of two equal keys; a spec that says `min: 1` twice is a mistake
the user wants to hear about. We compose the node graph and build plain Python data ourselves,
recording the position of each mapping key (and sequence item) by its path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

Path_ = tuple[Any, ...]
# libyaml's parser when PyYAML was built with it (about 10x faster); same nodes, same marks.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Diagnostic:
    """One problem in a file, printed as `file:line:col: field.path: message`."""

    file: str
    line: int
    col: int
    field: str
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}"
        return f"{where}: {self.field + ': ' if self.field else ''}{self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "column": self.col, "field": self.field,
                "message": self.message, "severity": self.severity}


class Positions:
    """Path -> (line, col), 1-based; the position of the key for mapping entries."""

    def __init__(self) -> None:
        self._pos: dict[Path_, tuple[int, int]] = {}

    def set(self, path: Path_, mark: yaml.Mark) -> None:
        self._pos[path] = (mark.line + 1, mark.column + 1)

    def get(self, path: Path_) -> tuple[int, int]:
        """Position of the path, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self._pos:
                return self._pos[path]
            path = path[:-1]
        return self._pos.get((), (1, 1))


def field_name(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class _Builder:
    def __init__(self, filename: str):
        self.filename = filename
        self.positions = Positions()
        self.diagnostics: list[Diagnostic] = []
        self._constructor = yaml.SafeLoader("")

    def build(self, node: yaml.Node, path: Path_) -> Any:
        if isinstance(node, yaml.MappingNode):
            self._constructor.flatten_mapping(node)  # resolves `<<` merge keys
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.build(key_node, path)
                if not isinstance(key, (str, int, float, bool)) and key is not None:
                    key = str(key)
                if key in out:
                    first = self.positions.get(path + (key,))
                    self.diagnostics.append(Diagnostic(
                        self.filename, key_node.start_mark.line + 1, key_node.start_mark.column + 1,
                        field_name(path + (key,)),
                        f"duplicate key {key!r} (first defined on line {first[0]}); YAML would silently "
                        "keep only the last one"))
                    continue
                self.positions.set(path + (key,), key_node.start_mark)
                out[key] = self.build(value_node, path + (key,))
            return out
        if isinstance(node, yaml.SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                self.positions.set(path + (index,), item.start_mark)
                items.append(self.build(item, path + (index,)))
            return items
        return self._constructor.construct_object(node, deep=True)


def load(text: str, filename: str) -> tuple[Any, Positions, list[Diagnostic]]:
    """Parse YAML text; returns data, positions and diagnostics (syntax errors, duplicate keys)."""
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or "invalid YAML"
        if exc.context:
            problem = f"{exc.context}, {problem}"
            start = exc.context_mark
            if start is not None and mark is not None and start.line != mark.line:
                # an unclosed bracket is found lines later; say where it was opened
                problem += f" (the construct started on line {start.line + 1})"
        lines = text.splitlines()
        if mark is not None and mark.line < len(lines) and "\t" in lines[mark.line]:
            problem += "; YAML does not allow tabs for indentation: use spaces"
        return None, Positions(), [Diagnostic(filename, line, col, "", f"YAML syntax error: {problem}")]
    except yaml.YAMLError as exc:  # pragma: no cover - non-marked errors are rare
        return None, Positions(), [Diagnostic(filename, 1, 1, "", f"YAML error: {exc}")]
    if node is None:
        return None, Positions(), [Diagnostic(filename, 1, 1, "", "the file is empty; expected a spec mapping")]
    builder = _Builder(filename)
    builder.positions.set((), node.start_mark)
    data = builder.build(node, ())
    return data, builder.positions, builder.diagnostics
