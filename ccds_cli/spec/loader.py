"""Load a spec file: YAML -> pydantic -> semantic checks, every problem reported at once with
`file:line:col: field.path: message`. Raises SpecError (exit 2); never a traceback."""

from __future__ import annotations

import datetime
import difflib
import hashlib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ccds_cli.errors import BadInput, SpecError
from ccds_cli.spec import yamlpos
from ccds_cli.spec.yamlpos import Diagnostic, Positions, field_name


@dataclass
class LoadedSpec:
    spec: Any  # models.Spec
    path: Path
    sha256: str
    positions: Positions
    warnings: list[Diagnostic] = field(default_factory=list)

    def where(self, path: tuple) -> tuple[int, int]:
        return self.positions.get(path)


def did_you_mean(word: str, choices: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _data_path(loc: tuple, data: Any) -> tuple:
    """Pydantic's loc with union tags and validator names dropped, so it follows the YAML data."""
    out: list = []
    node = data
    for part in loc:
        if part == "[key]":  # pydantic's marker for "the mapping key itself": the path already names it
            continue
        if isinstance(node, dict) and part in node:
            out.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            out.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and part not in node and part == loc[-1]:
            out.append(part)  # a missing field: point at its parent, name the field
    return tuple(out)


def _model_at(path: tuple, data: Any):
    """The pydantic model class whose field set applies at `path` (for "did you mean")."""
    from ccds_cli.spec.models import Spec

    tp: Any = Spec
    node = data
    for part in path:
        tp = _unwrap(tp, node)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            info = tp.model_fields.get(part)
            if info is None:
                return None
            tp = info.annotation
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        elif typing.get_origin(tp) is list:
            tp = typing.get_args(tp)[0]
        else:
            return None
        node = node.get(part) if isinstance(node, dict) else (
            node[part] if isinstance(node, list) and isinstance(part, int) and part < len(node) else None)
    tp = _unwrap(tp, node)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _unwrap(tp: Any, node: Any) -> Any:
    """Strip Annotated/Optional; pick the union member a discriminated mapping selects."""
    for _ in range(6):
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            chosen = members[0] if len(members) == 1 else None
            if chosen is None and isinstance(node, dict):
                for m in members:
                    for key in ("cloud", "backend"):
                        f = getattr(m, "model_fields", {}).get(key)
                        if f is not None and node.get(key) in typing.get_args(f.annotation):
                            chosen = m
            if chosen is None:
                return tp
            tp = chosen
        else:
            return tp
    return tp


def _error_path(err: dict, data: Any) -> tuple:
    """The data path of an error; a bad union tag points at the tag's key (`cloud`, `backend`)."""
    path = _data_path(tuple(err["loc"]), data)
    if err["type"] == "union_tag_invalid":
        tag_key = str(err.get("ctx", {}).get("discriminator", "")).strip("'")
        node: Any = data
        for part in path:
            node = node[part]
        if isinstance(node, dict) and tag_key in node:
            path += (tag_key,)
    return path


def _shown(value: Any) -> str:
    """An input value for a message: its first line, shortened (a pasted key must not be echoed)."""
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    text = repr(value)
    if isinstance(value, str) and ("\n" in value or len(text) > 60):
        text = repr(value.splitlines()[0][:40] + "...") if value.strip() else text
    return text


def _message(err: dict, path: tuple, data: Any) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        model = _model_at(path[:-1], data)
        choices = list(model.model_fields) if model else []
        hint = did_you_mean(path[-1], choices) if choices else ""
        allowed = f" (allowed: {', '.join(choices)})" if choices and not hint else ""
        return f"unknown key {path[-1]!r}{hint}{allowed}"
    if kind == "missing":
        return "required field is missing"
    if kind == "union_tag_invalid":
        ctx = err.get("ctx", {})
        tag = ctx.get("tag")
        expected = ctx.get("expected_tags", "")
        choices = [t.strip(" '") for t in str(expected).split(",")]
        return f"{tag!r} is not one of {expected}{did_you_mean(tag, choices)}"
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        choices = [t.strip(" '") for t in str(expected).replace(" or ", ",").split(",")]
        return f"{err['input']!r} is not allowed; expected {expected}{did_you_mean(err['input'], choices)}"
    if kind == "string_pattern_mismatch":
        return (f"{err['input']!r} is not a valid name: use lower-case letters, digits and '-', "
                "starting with a letter (at most 31 characters)")
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if "input" in err and kind not in ("missing",) and not isinstance(err["input"], (dict, list)) \
            and repr(err["input"]) not in msg:
        msg = f"{msg} (got {_shown(err['input'])})"
    return msg


def load_spec(path: str | Path) -> LoadedSpec:
    """Read, validate and check a spec; raise SpecError listing every problem."""
    from ccds_cli.spec import checks
    from ccds_cli.spec.models import Spec

    path = Path(path)
    name = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise BadInput(f"{name}: no such file", hint="run `ccds init` to write a starting spec") from None
    except OSError as exc:
        raise BadInput(f"{name}: cannot read the file ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError([Diagnostic(name, 1, 1, "", f"not UTF-8 text (byte {exc.start})")]) from None
    data, positions, diags = yamlpos.load(text, name)
    if data is None and not diags:
        diags = [Diagnostic(name, 1, 1, "", "the file is empty; expected a spec mapping")]
    if diags and data is None:
        raise SpecError(diags)
    if not isinstance(data, dict):
        line, col = positions.get(())
        raise SpecError(diags + [Diagnostic(name, line, col, "", "expected a mapping of spec fields at the top level")])
    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            dpath = _error_path(err, data)
            line, col = positions.get(dpath)
            diags.append(Diagnostic(name, line, col, field_name(dpath), _message(err, dpath, data)))
        diags.sort(key=lambda d: (d.line, d.col))
        raise SpecError(diags) from None
    if diags:
        raise SpecError(diags)
    loaded = LoadedSpec(spec, path, hashlib.sha256(raw).hexdigest(), positions)
    errors, warnings = checks.run(loaded)
    loaded.warnings = warnings
    if errors:
        raise SpecError(sorted(errors, key=lambda d: (d.line, d.col)))
    return loaded
