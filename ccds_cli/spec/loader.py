"""Load a spec file: YAML -> pydantic -> semantic checks, every problem reported at once with
`file:line:col: field.path: message`. Raises SpecError (exit 2); never a traceback."""

from __future__ import annotations

import contextlib
import datetime
import difflib
import gc
import hashlib
import os
import re
import stat
import threading
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
            and repr(err["input"]) not in msg and not re.search(r"://[^/?#]*@", str(err["input"])):
        # (a URL with user:password@ is never echoed: the password would land in logs)
        msg = f"{msg} (got {_shown(err['input'])})"
    return msg


MAX_SPEC_BYTES = 8 * 1024 * 1024  # docs/spec.md "Limits": 300,000 CIDRs fit, a runaway file does not
READ_TIMEOUT_S = 10.0
MAX_REPORTED = 200  # diagnostics shown for one file; a file with more is summarised


def read_bounded(path: Path, limit: int, *, timeout: float = READ_TIMEOUT_S) -> bytes:
    """A regular file's bytes, at most `limit` of them, within `timeout` seconds; BadInput otherwise.

    `stat` first, so a FIFO, a device (`/dev/zero`), a socket or a directory is refused without
    opening it; then opened non-blocking and checked again (the path may have changed in between),
    and read in a worker thread so a stuck file system cannot hang the command."""
    name = str(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise BadInput(f"{name}: no such file", hint="run `ccds init` to write a starting spec") from None
    except OSError as exc:
        raise BadInput(f"{name}: cannot read the file ({exc.strerror})") from None
    _regular(name, st)
    if st.st_size > limit:
        raise _too_big(name, st.st_size, limit)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise BadInput(f"{name}: cannot read the file ({exc.strerror})") from None
    result: dict[str, Any] = {}

    def read() -> None:
        try:
            _regular(name, os.fstat(fd))
            chunks, size = [], 0
            while size <= limit:
                chunk = os.read(fd, min(1 << 20, limit + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            result["data"] = b"".join(chunks)
        except (BadInput, OSError) as exc:
            result["error"] = exc
        finally:
            os.close(fd)

    worker = threading.Thread(target=read, name="ccds-read-spec", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise _at_start(name, f"reading the file took more than {timeout:g} s (a stuck network file system?)")
    error = result.get("error")
    if isinstance(error, BadInput):
        raise error
    if error is not None:
        raise BadInput(f"{name}: cannot read the file ({error.strerror})")
    data = result["data"]
    if len(data) > limit:  # the file grew after stat
        raise _too_big(name, len(data), limit)
    return data


def _at_start(name: str, message: str) -> SpecError:
    return SpecError([Diagnostic(name, 1, 1, "", message)])


def _regular(name: str, st: os.stat_result) -> None:
    if stat.S_ISREG(st.st_mode):
        return
    kind = ("a directory" if stat.S_ISDIR(st.st_mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode)
            else "a character device" if stat.S_ISCHR(st.st_mode) else "a block device" if stat.S_ISBLK(st.st_mode)
            else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
    raise _at_start(name, f"this is {kind}; ccds reads only regular files")


def _too_big(name: str, size: int, limit: int) -> SpecError:
    most = f"{limit // (1 << 20)} MiB" if limit >= 1 << 20 else f"{limit // 1024} KiB"
    return _at_start(name, f"the file is {size:,} bytes; ccds reads at most {most} here (docs/spec.md, Limits)")


def _decode(raw: bytes, name: str) -> str:
    """UTF-8 text (an optional BOM dropped); a bad byte is reported at its own line and column."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        start = exc.start
        line = raw.count(b"\n", 0, start) + 1
        line_start = raw.rfind(b"\n", 0, start) + 1
        col = len(raw[line_start:start].decode("utf-8", "replace")) + 1
        hint = "; it looks like UTF-16: save it as UTF-8" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else \
            "; save the file as UTF-8"
        raise SpecError([Diagnostic(name, line, col, "", f"not UTF-8 text: byte 0x{raw[start]:02x} cannot be "
                                    f"decoded{hint}")]) from None


def _capped(diags: list[Diagnostic]) -> list[Diagnostic]:
    if len(diags) <= MAX_REPORTED:
        return diags
    last = diags[MAX_REPORTED - 1]
    return diags[:MAX_REPORTED] + [Diagnostic(last.file, last.line, last.col, "",
                                              f"... more problems not shown (the first {MAX_REPORTED} are above)")]


def _under(path: tuple, invalid: set) -> bool:
    return any(path[:i] in invalid for i in range(len(path) + 1))


def load_spec(path: str | Path) -> LoadedSpec:
    """Read, validate and check a spec; raise SpecError listing every problem."""
    path = Path(path)
    name = str(path)
    raw = read_bounded(path, MAX_SPEC_BYTES)
    with _collector_paused():
        return _load_text(path, raw, _decode(raw, name))


@contextlib.contextmanager
def _collector_paused():
    """Loading builds hundreds of thousands of objects and no reference cycles worth collecting: with
    Python's cycle collector running meanwhile, 300,000 CIDRs take twice as long."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _load_text(path: Path, raw: bytes, text: str) -> LoadedSpec:
    from ccds_cli.spec import checks
    from ccds_cli.spec.models import Spec

    name = str(path)
    data, positions, diags = yamlpos.load(text, name)
    if data is None and not diags:
        diags = [Diagnostic(name, 1, 1, "", "the file is empty; expected a spec mapping")]
    if diags and data is None:
        raise SpecError(_capped(diags))
    if not isinstance(data, dict):
        line, col = positions.get(())
        raise SpecError(diags + [Diagnostic(name, line, col, "", "expected a mapping of spec fields at the top level")])
    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            dpath = _error_path(err, data)
            if positions.invalid and _under(dpath, positions.invalid):
                continue  # its YAML value was reported already
            line, col = positions.get(dpath)
            diags.append(Diagnostic(name, line, col, field_name(dpath), _message(err, dpath, data)))
            if len(diags) > 10 * MAX_REPORTED:
                break
        diags.sort(key=lambda d: (d.line, d.col))
        raise SpecError(_capped(diags)) from None
    if diags:
        raise SpecError(_capped(diags))
    loaded = LoadedSpec(spec, path, hashlib.sha256(raw).hexdigest(), positions)
    errors, warnings = checks.run(loaded)
    loaded.warnings = warnings
    if errors:
        raise SpecError(_capped(sorted(errors, key=lambda d: (d.line, d.col))))
    return loaded
