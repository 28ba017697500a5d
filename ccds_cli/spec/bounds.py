"""Validation whose cost does not grow with how wrong the input is.

Pydantic collects every error of a document before it raises: a spec listing 900,000 bad CIDRs cost
38 s and 3.3 GB before anything was printed. Two guards keep a hostile spec as cheap as a good one:

* `Many` on every list and mapping field validates it in chunks of CHUNK entries and stops at the
  first chunk that has errors (their positions are those of the whole collection). A collection of
  fewer than CHUNK entries is validated at once as before, so every problem is still reported together.
* `BoundedModel` refuses a mapping with more than MAX_UNKNOWN_KEYS unknown keys with one error,
  instead of one "unknown key" error (each with its "did you mean") per key.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError, WrapValidator, model_validator

CHUNK = 1000
MAX_UNKNOWN_KEYS = 32


def _shifted(exc: ValidationError, offset: int) -> ValidationError:
    """The chunk's errors with list indices made relative to the whole list."""
    lines = []
    for err in exc.errors(include_url=False):
        loc = err["loc"]
        if loc and isinstance(loc[0], int):
            loc = (loc[0] + offset,) + tuple(loc[1:])
        line: dict[str, Any] = {"type": err["type"], "loc": loc, "input": err.get("input")}
        if "ctx" in err:
            line["ctx"] = err["ctx"]
        lines.append(line)
    return ValidationError.from_exception_data(exc.title, lines)


def _in_chunks(value: Any, handler: Any) -> Any:
    if isinstance(value, list) and len(value) > CHUNK:
        out: list = []
        for start in range(0, len(value), CHUNK):
            try:
                out.extend(handler(value[start:start + CHUNK]))
            except ValidationError as exc:
                try:
                    shifted = _shifted(exc, start)
                except (KeyError, TypeError, ValueError):  # an error type pydantic cannot rebuild
                    return handler(value)
                raise shifted from None
        return out
    if isinstance(value, dict) and len(value) > CHUNK:
        items = list(value.items())
        merged: dict = {}
        for start in range(0, len(items), CHUNK):
            merged.update(handler(dict(items[start:start + CHUNK])))  # errors are located by key
        return merged
    return handler(value)


Many = WrapValidator(_in_chunks)


class BoundedModel(BaseModel):
    """A spec model: a mapping with a great many unknown keys is one error, not one per key."""

    @model_validator(mode="before")
    @classmethod
    def _few_unknown_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and len(data) > len(cls.model_fields) + MAX_UNKNOWN_KEYS:
            unknown = [k for k in data if k not in cls.model_fields]
            if len(unknown) > MAX_UNKNOWN_KEYS:
                shown = ", ".join(repr(k)[:40] for k in unknown[:5])
                raise ValueError(f"{len(unknown):,} unknown keys ({shown}, ...); allowed: "
                                 f"{', '.join(cls.model_fields)}")
        return data
