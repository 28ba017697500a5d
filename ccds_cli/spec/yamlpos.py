"""YAML loading that remembers where every key is, refuses duplicate keys, and is safe on any input.

PyYAML silently keeps the last of two equal keys; a spec that says `min: 1` twice is a mistake
the user wants to hear about. We read the parser's event stream (libyaml's when PyYAML has it) and
build plain Python data ourselves, recording the position of each mapping key (and sequence item)
by its path. Building from events, with an explicit stack instead of recursion, is also what makes
hostile input harmless: PyYAML's own composer recurses once per nesting level (libyaml's segfaults
on 200,000 nested brackets, the pure-Python one raises RecursionError) and expands aliases without
limit (a "billion laughs" file takes gigabytes).

Limits (docs/spec.md, "Limits"): nesting depth MAX_DEPTH, at most MAX_NODES values in a file, aliases
expanding to at most MAX_ALIAS_NODES values in total, numbers at most MAX_NUMBER_CHARS characters.
Only YAML's standard scalar tags (`!!str`, `!!int`, `!!float`, `!!bool`, `!!null`, `!!timestamp`)
and `!!seq` / `!!map` are accepted; nothing else (`!!python/object`, `!!binary`, local tags) is
constructed. Every problem is a Diagnostic at the line and column of the offending text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.resolver import Resolver

Path_ = tuple[Any, ...]
# libyaml's parser when PyYAML was built with it (about 10x faster); same events, same marks.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_DEPTH = 64  # a spec is about 6 levels deep
MAX_NODES = 1_000_000  # values (scalars, lists, mappings) in one file
MAX_ALIAS_NODES = 100_000  # values that aliases (`*name`) may add, summed over all of them
MAX_NUMBER_CHARS = 100  # an int, float or timestamp longer than this is not a number a spec needs

_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null", "timestamp")}
# Characters YAML 1.1 allows in a stream (tab, line breaks, printable Unicode); anything else is an error.
_FORBIDDEN = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_IMPLICIT = Resolver.yaml_implicit_resolvers
_CONSTRUCT = yaml.SafeLoader("")  # for its scalar constructors only (int bases, sexagesimal, floats)


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
    """Path -> (line, col), 1-based; the position of the key for mapping entries.

    `invalid` holds the paths whose YAML value was already reported (a bad `!!int`, a bad merge):
    the loader does not report them a second time from the model."""

    def __init__(self) -> None:
        self._pos: dict[Path_, tuple[int, int]] = {}
        self.invalid: set[Path_] = set()

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


def line_col(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of a character index, counting lines as editors do (by '\\n')."""
    line_start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


def short_tag(tag: str) -> str:
    return "!!" + tag[len(_TAG):] if tag.startswith(_TAG) else tag


class _Fatal(Exception):
    """A problem after which the rest of the file cannot be read meaningfully."""

    def __init__(self, mark: Any, message: str):
        super().__init__(message)
        self.mark, self.message = mark, message


class _Merge:
    """The `<<` key of a mapping: its value is merged, not stored."""


_MERGE = _Merge()
_SKIP = object()  # a key that was reported (duplicate, not a scalar): its value is dropped


class _Frame:
    __slots__ = ("is_map", "value", "path", "anchor", "mark", "size", "key", "key_mark", "merged",
                 "merge_mark")

    def __init__(self, is_map: bool, path: Path_, anchor: str | None, mark: Any):
        self.is_map = is_map
        self.value: Any = {} if is_map else []
        self.path = path
        self.anchor = anchor
        self.mark = mark
        self.size = 1  # values in this collection, itself included, aliases expanded
        self.key: Any = None  # a mapping's pending key (None: the next value is a key)
        self.key_mark: Any = None
        self.merged: list[dict] = []
        self.merge_mark: Any = None


class _Builder:
    def __init__(self, filename: str):
        self.filename = filename
        self.positions = Positions()
        self.diagnostics: list[Diagnostic] = []
        self.anchors: dict[str, tuple[Any, int]] = {}  # name -> (value, expanded size)
        self.nodes = 0
        self.alias_nodes = 0
        self.stack: list[_Frame] = []
        self.root: Any = None
        self.have_root = False

    def error(self, mark: Any, path: Path_, message: str) -> None:
        self.diagnostics.append(Diagnostic(self.filename, mark.line + 1, mark.column + 1, field_name(path),
                                           message))
        self.positions.invalid.add(path)

    # -- where the next value goes -------------------------------------------------------------------

    def _slot(self) -> tuple[Path_, bool]:
        """The path of the next value, and whether it is a mapping key."""
        if not self.stack:
            return (), False
        top = self.stack[-1]
        if not top.is_map:
            return top.path + (len(top.value),), False
        if top.key is None:
            return top.path, True
        if top.key is _MERGE or top.key is _SKIP:
            return top.path + ("<<",), False
        return top.path + (top.key,), False

    def _deliver(self, value: Any, size: int, mark: Any, anchor: str | None) -> None:
        if anchor is not None:
            self.anchors[anchor] = (value, size)
        if not self.stack:
            self.root, self.have_root = value, True
            self.positions.set((), mark)
            return
        top = self.stack[-1]
        top.size += size
        if not top.is_map:
            self.positions.set(top.path + (len(top.value),), mark)
            top.value.append(value)
            return
        if top.key is None:  # this value is a key
            self._take_key(top, value, mark)
            return
        key, top.key = top.key, None
        if key is _SKIP:
            return
        if key is _MERGE:
            self._merge(top, value)
            return
        top.value[key] = value

    def _take_key(self, top: _Frame, key: Any, mark: Any) -> None:
        if isinstance(key, _Merge):
            if top.merge_mark is not None:
                self.error(mark, top.path, "a mapping can have only one merge key '<<' (list the mappings "
                           "to merge instead: `<<: [*a, *b]`)")
                top.key = _SKIP
                return
            top.merge_mark, top.key = mark, _MERGE
            return
        if isinstance(key, (dict, list)):
            self.error(mark, top.path, "a mapping key must be a plain value, not a list or a mapping")
            top.key = _SKIP
            return
        if not isinstance(key, (str, int, float, bool)) and key is not None:
            key = str(key)
        if key in top.value:
            first = self.positions.get(top.path + (key,))
            self.diagnostics.append(Diagnostic(
                self.filename, mark.line + 1, mark.column + 1, field_name(top.path + (key,)),
                f"duplicate key {key!r} (first defined on line {first[0]}); YAML would silently keep only "
                "the last one"))
            top.key = _SKIP
            return
        self.positions.set(top.path + (key,), mark)
        top.value[key] = None  # holds the key's place (and its order) until the value arrives
        top.key, top.key_mark = key, mark

    def _merge(self, top: _Frame, value: Any) -> None:
        sources = value if isinstance(value, list) else [value]
        if not sources or not all(isinstance(s, dict) for s in sources):
            got = "a list" if isinstance(value, list) else ("nothing" if value is None else "a scalar")
            self.error(top.merge_mark, top.path, f"the merge key '<<' needs a mapping (an alias such as *base) "
                       f"or a list of mappings; got {got}")
            return
        top.merged.extend(sources)

    def _close(self, frame: _Frame) -> Any:
        if not frame.is_map or not frame.merged:
            return frame.value
        # Explicit keys win over merged ones; of merged mappings, the first listed wins (YAML's rule).
        out: dict = {}
        for source in reversed(frame.merged):
            out.update(source)
        for key in out:
            if (frame.path + (key,)) not in self.positions._pos:
                self.positions.set(frame.path + (key,), frame.merge_mark)
        out.update(frame.value)
        return out

    def _count(self, mark: Any, n: int = 1) -> None:
        self.nodes += n
        if self.nodes > MAX_NODES:
            raise _Fatal(mark, f"the file holds more than {MAX_NODES:,} values; a spec needs far fewer")

    # -- events --------------------------------------------------------------------------------------

    def start(self, event: Any, is_map: bool) -> None:
        path, is_key = self._slot()
        tag = event.tag
        want = _TAG + ("map" if is_map else "seq")
        if tag not in (None, "!", want):
            raise _Fatal(event.start_mark, f"tag {short_tag(tag)} is not allowed here: {_why_not(tag)} "
                         "(no tags; only !!map on a mapping, !!seq on a list)")
        if len(self.stack) >= MAX_DEPTH:
            raise _Fatal(event.start_mark, f"nested more than {MAX_DEPTH} levels deep; a spec needs about 6")
        self._count(event.start_mark)
        self.stack.append(_Frame(is_map, path if not is_key else path + ("<key>",), event.anchor,
                                 event.start_mark))

    def end(self) -> None:
        frame = self.stack.pop()
        if frame.is_map and frame.key is not None:  # cannot happen with a well-formed event stream
            frame.key = None
        self._deliver(self._close(frame), frame.size, frame.mark, frame.anchor)

    def alias(self, event: Any) -> None:
        name = event.anchor
        if any(f.anchor == name for f in self.stack):
            raise _Fatal(event.start_mark, f"alias *{name} refers to the anchor &{name} that contains it "
                         "(a recursive alias)")
        if name not in self.anchors:
            raise _Fatal(event.start_mark, f"alias *{name} is not defined (anchors must come before their aliases)")
        value, size = self.anchors[name]
        self.alias_nodes += size
        if self.alias_nodes > MAX_ALIAS_NODES:
            raise _Fatal(event.start_mark, f"aliases expand to more than {MAX_ALIAS_NODES:,} values (an alias "
                         "bomb?); write the repeated parts out or use fewer levels of aliases")
        self._count(event.start_mark, size)
        self._deliver(value, size, event.start_mark, None)

    def scalar(self, event: Any) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            self._count(event.start_mark, 0)
        text = event.value
        if event.tag is None and event.implicit[0] and (text[:1] not in _IMPLICIT or "/" in text):
            value: Any = text  # the common case: plain text no implicit type can match ('/': no number, no date)
            stack = self.stack
            if stack and event.anchor is None:
                top = stack[-1]
                if not top.is_map:  # an item of a list (300,000 CIDRs): _deliver, inlined
                    mark = event.start_mark
                    self.positions._pos[top.path + (len(top.value),)] = (mark.line + 1, mark.column + 1)
                    top.value.append(value)
                    top.size += 1
                    return
        else:
            value = self._scalar_value(event, self._slot()[0], self._slot()[1])
        self._deliver(value, 1, event.start_mark, event.anchor)

    def _scalar_value(self, event: Any, path: Path_, is_key: bool) -> Any:
        text, tag = event.value, event.tag
        if tag is None or tag == "!":
            if tag == "!" or not event.implicit[0]:
                return text  # quoted, or a non-specific tag: a string
            tag = _resolve(text)
            if tag == _TAG + "merge":
                return _MERGE if is_key else text
            if tag not in _SCALAR_TAGS:
                return text  # `=` (the YAML 1.1 "value" key) and the like: just text
            implicit = True
        elif tag not in _SCALAR_TAGS:
            self.error(event.start_mark, path, f"tag {short_tag(tag)} is not allowed: {_why_not(tag)} (only !!str, "
                       "!!int, !!float, !!bool, !!null, !!timestamp)")
            return text
        else:
            implicit = False
        name = tag[len(_TAG):]
        if name == "str":
            return text
        what = {"int": "number", "float": "number", "timestamp": "date/time"}.get(name, "value") if implicit \
            else short_tag(tag)
        if name in ("int", "float", "timestamp") and len(text) > MAX_NUMBER_CHARS:
            self.error(event.start_mark, path, f"a {what} of {len(text):,} characters is not a value a spec needs")
            return text
        if not implicit and name in ("bool", "null", "timestamp") and \
                not any(t == tag and r.match(text) for t, r in _resolvers(text)):
            self.error(event.start_mark, path, f"{text[:40]!r} is not a valid {what}")
            return text
        node = yaml.ScalarNode(tag, text)
        try:
            if name == "int":
                return _CONSTRUCT.construct_yaml_int(node)
            if name == "float":
                return _CONSTRUCT.construct_yaml_float(node)
            if name == "bool":
                return _CONSTRUCT.construct_yaml_bool(node)
            if name == "null":
                return None
            return _CONSTRUCT.construct_yaml_timestamp(node)
        except (ValueError, OverflowError, KeyError, AttributeError, yaml.YAMLError) as exc:
            why = str(exc).split("\n")[0] if isinstance(exc, (ValueError, OverflowError)) else "malformed"
            self.error(event.start_mark, path, f"{text[:40]!r} is not a valid {what} ({why})")
            return text


def _why_not(tag: str) -> str:
    return "Python objects are never constructed" if "python" in tag else "a spec uses plain YAML"


def _resolvers(text: str) -> list:
    return _IMPLICIT.get(text[:1] if text else "", [])


def _resolve(text: str) -> str:
    """The tag YAML 1.1 gives a plain scalar (PyYAML's Resolver, without its per-call overhead)."""
    for tag, regexp in _resolvers(text):
        if regexp.match(text):
            return tag
    return _TAG + "str"


def _syntax(exc: yaml.MarkedYAMLError, text: str, filename: str) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = exc.problem or "invalid YAML"
    if exc.context:
        problem = f"{exc.context}, {problem}"
        start = exc.context_mark
        if start is not None and mark is not None and start.line != mark.line:
            # an unclosed bracket is found lines later; say where it was opened
            problem += f" (the construct started on line {start.line + 1})"
    if mark is not None and "\t" in _line(text, mark.line):
        problem += "; YAML does not allow tabs for indentation: use spaces"
    return Diagnostic(filename, line, col, "", f"YAML syntax error: {problem}")


def _line(text: str, number: int) -> str:
    """Line `number` (0-based) of text, without splitting the whole file."""
    start = 0
    for _ in range(number):
        start = text.find("\n", start) + 1
        if start == 0:
            return ""
    end = text.find("\n", start)
    return text[start:] if end < 0 else text[start:end]


def forbidden_character(text: str) -> tuple[int, int, str] | None:
    """The first character YAML does not allow (control characters, NUL...): (line, col, description)."""
    m = _FORBIDDEN.search(text)
    if m is None:
        return None
    line, col = line_col(text, m.start())
    return line, col, f"U+{ord(m.group()):04X}"


def load(text: str, filename: str) -> tuple[Any, Positions, list[Diagnostic]]:
    """Parse YAML text; returns data, positions and diagnostics. Data is None after a fatal problem
    (syntax, limits, aliases); duplicate keys and bad scalars are reported with the data kept."""
    bad = forbidden_character(text)
    if bad is not None:
        line, col, what = bad
        return None, Positions(), [Diagnostic(filename, line, col, "", f"character {what} is not allowed in YAML "
                                              "(a control character; is this a binary file?)")]
    builder = _Builder(filename)
    parser = _LOADER(text)
    documents = 0
    next_event, scalar, scalar_event = parser.get_event, builder.scalar, yaml.ScalarEvent
    try:
        while True:
            event = next_event()
            if event is None:
                break
            kind = type(event)
            if kind is scalar_event:
                scalar(event)
            elif kind is yaml.MappingStartEvent:
                builder.start(event, True)
            elif kind is yaml.SequenceStartEvent:
                builder.start(event, False)
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                builder.end()
            elif kind is yaml.AliasEvent:
                builder.alias(event)
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise _Fatal(event.start_mark, "YAML syntax error: expected a single document in the "
                                 "stream, but found another document")
            elif kind is yaml.StreamEndEvent:
                break
    except _Fatal as exc:
        mark = exc.mark
        path = builder._slot()[0] if builder.stack else ()
        return None, Positions(), builder.diagnostics + [
            Diagnostic(filename, mark.line + 1, mark.column + 1, field_name(path) if "syntax" not in exc.message
                       else "", exc.message)]
    except yaml.MarkedYAMLError as exc:
        return None, Positions(), [_syntax(exc, text, filename)]
    except yaml.reader.ReaderError as exc:
        line, col = line_col(text, min(max(exc.position, 0), len(text)))
        return None, Positions(), [Diagnostic(filename, line, col, "", f"YAML error: {exc.reason}")]
    except yaml.YAMLError as exc:  # pragma: no cover - non-marked errors are rare
        return None, Positions(), [Diagnostic(filename, 1, 1, "", f"YAML error: {exc}")]
    finally:
        parser.dispose()
    if not builder.have_root:
        return None, Positions(), [Diagnostic(filename, 1, 1, "", "the file is empty; expected a spec mapping")]
    return builder.root, builder.positions, builder.diagnostics
