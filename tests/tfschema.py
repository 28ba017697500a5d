"""Check Terraform modules against real provider schemas, offline.

Only the AWS provider can be installed on development machines, so `terraform validate` cannot
check the other clouds' modules. This checker reads the `terraform providers schema -json` dumps
in `tests/schemas/` (copied into the repository, see its README) and reports what `validate` would: unknown types, arguments and
blocks, missing required arguments, computed-only attributes set, block counts, and module calls
whose arguments do not match the called module's variables.

Errors are strings `file:resource_type.name: message`, with `file` relative to the directory
passed to `check_module`, so a test can print them all at once.
"""

from __future__ import annotations

import gzip
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import hcl2

SOURCE_TO_SCHEMA = {
    "hashicorp/aws": "aws",
    "hashicorp/google": "google",
    "hashicorp/azurerm": "azurerm",
    "oracle/oci": "oci",
    "hashicorp/oci": "oci",
    "digitalocean/digitalocean": "digitalocean",
    "linode/linode": "linode",
    "terraform-provider-openstack/openstack": "openstack",
    "hashicorp/vsphere": "vsphere",
    "vmware/vsphere": "vsphere",
}
BUILTIN_TYPES = {("resource", "terraform_data"), ("data", "terraform_remote_state")}
RESOURCE_META = {"count", "for_each", "depends_on", "provider", "lifecycle", "connection", "provisioner"}
DATA_META = {"count", "for_each", "depends_on", "provider", "lifecycle"}
MODULE_META = {"source", "version", "count", "for_each", "depends_on", "providers"}
JSON_COMMENT = "//"


def schema_dir() -> Path:
    """Where the schema dumps live: `$CCDS_TF_SCHEMAS` (e.g. a full reference copy, with `full/`),
    else `tests/schemas/` in the repository."""
    env = os.environ.get("CCDS_TF_SCHEMAS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent / "schemas"


@lru_cache(maxsize=None)
def _load_schema_file(path: Path) -> dict[str, dict[str, Any]]:
    """Return {"resource": {...}, "data": {...}} of one dump (plain or gzipped)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        doc = json.load(fh)
    out: dict[str, dict[str, Any]] = {"resource": {}, "data": {}}
    for prov in doc.get("provider_schemas", {}).values():
        out["resource"].update(prov.get("resource_schemas") or {})
        out["data"].update(prov.get("data_source_schemas") or {})
    return out


def _lookup_type(schema_name: str, kind: str, type_name: str) -> dict | None:
    """Find a type's schema in `<provider>.json` first, then in `full/` where there is one (a
    reference copy of every type; `tests/schemas/` keeps only the types ccds uses)."""
    base = schema_dir()
    for path in (base / f"{schema_name}.json", base / "full" / f"{schema_name}.json.gz"):
        if path.is_file():
            found = _load_schema_file(path)[kind].get(type_name)
            if found is not None:
                return found
    return None


@lru_cache(maxsize=None)
def _stripped_attributes(schema_name: str) -> frozenset[str]:
    """Attribute names a dump lost and that must be accepted as optional.

    The aws dump lost every attribute named `description` when descriptions were stripped (no
    type keeps one, although aws_security_group and its rules have it). Detected from the data,
    so the allowance disappears once a corrected dump lands.
    """
    small = schema_dir() / f"{schema_name}.json"
    if small.is_file():
        with open(small, encoding="utf-8") as fh:
            recorded = json.load(fh).get("_lost_attributes")
        if recorded is not None:  # tests/schemas/strip.py measured it on the full dump
            return frozenset(recorded)
    path = schema_dir() / "full" / f"{schema_name}.json.gz"
    if not path.is_file():
        path = small
    if not path.is_file():
        return frozenset()
    types = _load_schema_file(path)["resource"]
    if len(types) > 20 and not any("description" in (t.get("block") or {}).get("attributes", {})
                                   for t in types.values()):
        return frozenset({"description"})
    return frozenset()


def _object_attr_keys(attr: dict) -> set[str] | None:
    """Keys of a list/set-of-object attribute, which Terraform also accepts in block syntax."""
    typ = attr.get("type")
    if (isinstance(typ, list) and len(typ) == 2 and typ[0] in ("list", "set")
            and isinstance(typ[1], list) and len(typ[1]) == 2 and typ[1][0] == "object"):
        return set(typ[1][1])
    return None


def _normalize_source(source: str) -> str:
    """`registry.terraform.io/hashicorp/aws` -> `hashicorp/aws` (lower-cased, as Terraform does)."""
    parts = source.strip().lower().split("/")
    return "/".join(parts[-2:]) if len(parts) >= 2 else f"hashicorp/{parts[0]}"


def _unquote(value: Any) -> Any:
    """python-hcl2 keeps the quotes of string literals and labels; drop them."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


@lru_cache(maxsize=None)
def _parser_marks_blocks() -> bool:
    """python-hcl2 >= 5 marks block bodies with `__is_block__`; older versions do not."""
    return "__is_block__" in json.dumps(hcl2.loads('x {\n}\n'))


def _is_block(value: Any) -> bool:
    """True when the value was written as block syntax (`x { ... }`); False when unsure."""
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(v, dict) for v in items):
        return False
    return _parser_marks_blocks() and all(v.get("__is_block__") for v in items)


def _may_be_block(value: Any) -> bool:
    """False only when the value is certainly not block syntax (an expression or literal)."""
    if value is None:
        return True
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(v, dict) for v in items):
        return False
    return not _parser_marks_blocks() or all(v.get("__is_block__") for v in items)


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _body_items(body: dict) -> Iterator[tuple[str, Any]]:
    for key, value in body.items():
        if key.startswith("__") or key == JSON_COMMENT:  # python-hcl2 metadata, JSON comments
            continue
        yield _unquote(key), value


class _File:
    """One parsed file: its relative name, whether it is JSON syntax, and its top-level dict."""

    def __init__(self, rel: str, is_json: bool, doc: dict):
        self.rel, self.is_json, self.doc = rel, is_json, doc

    def labelled(self, top: str, depth: int) -> Iterator[tuple[list[str], dict]]:
        """Yield (labels, body) for `top` blocks with `depth` labels, in HCL or JSON layout."""
        for chunk in _as_list(self.doc.get(top) or []):
            yield from _walk_labels(chunk, depth, [])


def _walk_labels(node: Any, depth: int, labels: list[str]) -> Iterator[tuple[list[str], dict]]:
    if depth == 0:
        for body in _as_list(node):
            if isinstance(body, dict):
                yield labels, body
        return
    for chunk in _as_list(node):
        if not isinstance(chunk, dict):
            continue
        for key, value in _body_items(chunk):
            yield from _walk_labels(value, depth - 1, labels + [key])


def _parse_dir(path: Path, root: Path) -> tuple[list[_File], list[str]]:
    files, errors = [], []
    for f in sorted(path.iterdir()):
        if not f.is_file() or not (f.name.endswith(".tf") or f.name.endswith(".tf.json")):
            continue
        rel = os.path.relpath(f, root)
        try:
            with open(f, encoding="utf-8") as fh:
                is_json = f.name.endswith(".tf.json")
                doc = json.load(fh) if is_json else hcl2.load(fh)
        except Exception as exc:  # any parser failure is a finding, not a crash
            errors.append(f"{rel}: parse error: {exc}")
            continue
        files.append(_File(rel, is_json, doc))
    return files, errors


def _provider_sources(files: list[_File]) -> dict[str, str]:
    """Local provider name -> normalized source, from every `required_providers` block."""
    sources: dict[str, str] = {}
    for f in files:
        for terraform in _as_list(f.doc.get("terraform") or []):
            if not isinstance(terraform, dict):
                continue
            for req in _as_list(terraform.get("required_providers") or []):
                if not isinstance(req, dict):
                    continue
                for local, spec in _body_items(req):
                    src = _unquote(spec.get("source")) if isinstance(spec, dict) else None
                    sources[local] = _normalize_source(src) if isinstance(src, str) else f"hashicorp/{local}"
    return sources


def _provider_local_name(type_name: str, body: dict) -> str:
    """The provider a block uses: its `provider = x.alias` meta-argument, else the type prefix."""
    ref = body.get("provider")
    if isinstance(ref, str):
        ref = _unquote(ref).removeprefix("${").removesuffix("}")
        return ref.split(".")[0]
    return type_name.split("_")[0]


def _check_nested_attr(where: str, name: str, attr: dict, value: Any, errors: list[str]) -> None:
    """Check keys of a literal object given to a protocol-6 nested attribute (e.g. linode)."""
    nested = attr.get("nested_type") or {}
    known = nested.get("attributes") or {}
    objects = value if isinstance(value, list) else [value]
    for obj in objects:
        if not isinstance(obj, dict):
            continue  # an expression: cannot check statically
        for key, _ in _body_items(obj):
            if key not in known:
                errors.append(f"{where}: unknown attribute {key!r} in {name}")
        for key, spec in known.items():
            if spec.get("required") and key not in {k for k, _ in _body_items(obj)}:
                errors.append(f"{where}: missing required attribute {key!r} in {name}")


def _block_limits(spec: dict) -> tuple[int, int]:
    """(min, max) items of a block type; max 0 means unlimited."""
    mode = spec.get("nesting_mode", "list")
    lo, hi = int(spec.get("min_items") or 0), int(spec.get("max_items") or 0)
    if mode in ("single", "group"):
        hi = 1
    return lo, hi


def _check_body(where: str, body: dict, block: dict, meta: set[str], is_json: bool,
                errors: list[str], lenient: frozenset[str] = frozenset()) -> None:
    """Check one block body against its schema block, recursing into nested blocks.

    `lenient` names attributes the dump is known to have lost (see _stripped_attributes).
    """
    attrs = dict(block.get("attributes") or {})
    for name in lenient:
        attrs.setdefault(name, {"type": "string", "optional": True})
    btypes = block.get("block_types") or {}
    static: dict[str, list[dict]] = {}
    dynamic: dict[str, list[dict]] = {}
    for key, value in _body_items(body):
        if key in meta:
            continue
        if key == "dynamic":
            for labels, dyn in _walk_labels(value, 1, []):
                dynamic.setdefault(labels[0], []).append(dyn)
            continue
        if key in attrs:
            attr = attrs[key]
            if _is_block(value):
                keys = _object_attr_keys(attr)
                if keys is None:
                    errors.append(f"{where}: {key!r} is an argument, not a block (use `{key} = ...`)")
                    continue
                for i, b in enumerate(_as_list(value)):  # attribute-as-blocks (e.g. `route { }`)
                    for k, _ in _body_items(b):
                        if k not in keys and k not in lenient:
                            errors.append(f"{where}.{key}[{i}]: unknown argument {k!r}")
            elif attr.get("computed") and not attr.get("optional") and not attr.get("required"):
                errors.append(f"{where}: {key!r} is computed-only and cannot be set")
            elif "nested_type" in attr:
                _check_nested_attr(where, key, attr, value, errors)
            continue
        if key in btypes:
            if not is_json and not _may_be_block(value):
                errors.append(f"{where}: {key!r} is a block, not an argument (use `{key} {{ ... }}`)")
                continue
            static[key] = [b for b in _as_list(value) if isinstance(b, dict)]
            continue
        kind = "nested block" if _is_block(value) else "argument"
        errors.append(f"{where}: unknown {kind} {key!r}")
    for name, dyns in dynamic.items():
        if name not in btypes:
            errors.append(f"{where}: unknown nested block {name!r} (dynamic)")
    for name, attr in attrs.items():
        if attr.get("required") and name not in {k for k, _ in _body_items(body)}:
            errors.append(f"{where}: missing required argument {name!r}")
    for name, spec in btypes.items():
        blocks, dyns = static.get(name, []), dynamic.get(name, [])
        lo, hi = _block_limits(spec)
        if len(blocks) < lo and not dyns:
            errors.append(f"{where}: block {name!r} needs at least {lo}, found {len(blocks)}")
        if hi and len(blocks) > hi:
            errors.append(f"{where}: block {name!r} allows at most {hi}, found {len(blocks)}")
        elif hi and dyns and len(blocks) + len(dyns) > hi:
            errors.append(f"{where}: block {name!r} allows at most {hi}, found {len(blocks)} static "
                          f"+ {len(dyns)} dynamic")
        inner = spec.get("block") or {}
        mode = spec.get("nesting_mode", "list")
        for i, b in enumerate(blocks):
            if mode == "map":  # map blocks carry one label
                for labels, lb in _walk_labels(b, 1, []):
                    _check_body(f"{where}.{name}[{labels[0]}]", lb, inner, set(), is_json, errors,
                                lenient)
            else:
                _check_body(f"{where}.{name}[{i}]", b, inner, set(), is_json, errors, lenient)
        for d in dyns:
            for key, _ in _body_items(d):
                if key not in ("for_each", "iterator", "labels", "content"):
                    errors.append(f"{where}: unknown argument {key!r} in dynamic {name!r}")
            contents = [c for c in _as_list(d.get("content") or []) if isinstance(c, dict)]
            if len(contents) != 1:
                errors.append(f"{where}: dynamic {name!r} needs exactly one content block")
            for c in contents:
                _check_body(f"{where}.dynamic.{name}", c, inner, set(), is_json, errors, lenient)


def _module_variables(files: list[_File]) -> dict[str, bool]:
    """Variable name -> has a default (so the caller may omit it)."""
    out: dict[str, bool] = {}
    for f in files:
        for labels, body in f.labelled("variable", 1):
            out[labels[0]] = "default" in body
    return out


def _check_module_calls(path: Path, root: Path, files: list[_File], errors: list[str],
                        seen: set[Path]) -> None:
    for f in files:
        for labels, body in f.labelled("module", 1):
            where = f"{f.rel}:module.{labels[0]}"
            source = _unquote(body.get("source"))
            if not isinstance(source, str):
                errors.append(f"{where}: missing source")
                continue
            if not source.startswith(("./", "../")):
                errors.append(f"{where}: non-local module source {source!r} cannot be checked offline")
                continue
            target = (path / source).resolve()
            if not target.is_dir():
                errors.append(f"{where}: module source {source!r} is not a directory")
                continue
            callee, parse_errors = _parse_dir(target, root)
            errors.extend(parse_errors)
            declared = _module_variables(callee)
            passed = {k for k, _ in _body_items(body)} - MODULE_META
            for arg in sorted(passed - declared.keys()):
                errors.append(f"{where}: argument {arg!r} is not a variable of {source}")
            for var in sorted(k for k, has_default in declared.items() if not has_default):
                if var not in passed:
                    errors.append(f"{where}: required variable {var!r} of {source} not passed")
            if target not in seen:
                _check(target, root, errors, seen)


def _check(path: Path, root: Path, errors: list[str], seen: set[Path]) -> None:
    seen.add(path.resolve())
    files, parse_errors = _parse_dir(path, root)
    errors.extend(parse_errors)
    sources = _provider_sources(files)
    for f in files:
        for kind, meta in (("resource", RESOURCE_META), ("data", DATA_META)):
            for labels, body in f.labelled(kind, 2):
                type_name, name = labels
                prefix = "data." if kind == "data" else ""
                where = f"{f.rel}:{prefix}{type_name}.{name}"
                if (kind, type_name) in BUILTIN_TYPES:
                    continue
                local = _provider_local_name(type_name, body)
                source = sources.get(local, f"hashicorp/{local}")
                schema_name = SOURCE_TO_SCHEMA.get(source)
                if schema_name is None:
                    errors.append(f"{where}: no schema known for provider source {source!r}")
                    continue
                schema = _lookup_type(schema_name, kind, type_name)
                if schema is None:
                    what = "data source" if kind == "data" else "resource type"
                    errors.append(f"{where}: unknown {what} {type_name!r} in {source}")
                    continue
                _check_body(where, body, schema.get("block") or {}, meta, f.is_json, errors,
                            _stripped_attributes(schema_name))
    _check_module_calls(path, root, files, errors, seen)


def check_module(path: Path) -> list[str]:
    """Check every `*.tf` / `*.tf.json` in `path` (and local modules it calls); return errors."""
    path = Path(path)
    errors: list[str] = []
    _check(path, path, errors, set())
    return errors


def check_workspace(path: Path) -> list[str]:
    """Check a rendered workspace: its root module and the module copies it calls."""
    return check_module(path)
