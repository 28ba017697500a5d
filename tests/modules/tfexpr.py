"""Evaluate a module's resource-dependent locals with the real terraform binary, no provider.

Some locals mix inputs with resource attributes (the database address a module fills into the
nodes' bootstrap). Their expressions are copied verbatim from the module's `.tf` files into a
scratch root beside `variables.tf` and `locals.tf`, with every reference to one of the module's
resources or data sources replaced by the string `ref:<the reference>`. `terraform apply` (no
resources, so no provider) then computes which attribute a local would take for given inputs,
e.g. `ref:aws_db_instance.this[0].address`, or `""` when no database exists.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tfgraph import _blocks
from tflocals import MODULES, _terraform


def _balanced_end(text: str, start: int) -> int:
    """Index of the newline that ends the expression starting at `start` (bracket depth 0).

    Strings, `${...}` interpolations inside them (with their own strings) and comments are
    skipped, so brackets and quotes there do not count.
    """
    stack: list = []  # "str", or the bracket depth inside one interpolation
    depth, i = 0, start
    while i < len(text):
        ch = text[i]
        if stack and stack[-1] == "str":
            if ch == "\\":
                i += 2
                continue
            if ch == '"':
                stack.pop()
            elif text.startswith("${", i) or text.startswith("%{", i):
                stack.append(0)
                i += 2
                continue
            i += 1
            continue
        if ch == '"':
            stack.append("str")
        elif ch == "#" or text.startswith("//", i):
            newline = text.find("\n", i)
            i = len(text) if newline < 0 else newline
            continue
        elif ch in "([{":
            if stack:
                stack[-1] += 1
            else:
                depth += 1
        elif ch in ")]}":
            if stack:
                if stack[-1] == 0:
                    stack.pop()
                else:
                    stack[-1] -= 1
            else:
                depth -= 1
        elif ch == "\n" and depth == 0 and not stack:
            return i
        i += 1
    return i


def _locals_in(text: str) -> dict[str, str]:
    """{local name: its expression text} for every `locals` block in one file's text."""
    found: dict[str, str] = {}
    for block in re.finditer(r"^locals\s*\{\n", text, re.M):
        end = _balanced_end(text, block.end() - 2)  # from the block's own '{'
        body_start, body_end = block.end(), end
        pos = body_start
        while pos < body_end:
            match = re.compile(r"^[ ]{2}([a-z_][a-z0-9_]*)\s*=\s*", re.M).search(text, pos, body_end)
            if not match:
                break
            expr_end = _balanced_end(text, match.end())
            found[match.group(1)] = text[match.end():expr_end].strip()
            pos = expr_end
    return found


def module_locals_source(module: str) -> dict[str, str]:
    """{local name: its expression text} for every `locals` block in modules/<module>/*.tf."""
    found: dict[str, str] = {}
    for tf in sorted((MODULES / module).glob("*.tf")):
        found.update(_locals_in(tf.read_text()))
    return found


# The locals behind the database placeholders (those a module defines are evaluated).
DATABASE_LOCALS = ("database_vm", "database_host", "database_port", "database_user", "database_name",
                   "database_password", "node_user_data")


def resource_locals(module: str, names: tuple[str, ...] = DATABASE_LOCALS) -> list[str]:
    """Those of `names` the module defines outside locals.tf: the ones write_harness must copy."""
    in_locals_tf = _locals_in((MODULES / module / "locals.tf").read_text())
    defined = module_locals_source(module)
    return [n for n in names if n in defined and n not in in_locals_tf]


def stub_references(expr: str, names: set[str]) -> str:
    """Replace references to the resources/data sources `names` with "ref:<reference>" strings."""
    by_length = sorted(names, key=len, reverse=True)
    pattern = re.compile(
        r"(?<![\w.\-\"])(" + "|".join(re.escape(n) for n in by_length) + r")"
        r"((?:\[[^\[\]]*\]|\.[A-Za-z_][A-Za-z0-9_-]*)*)")
    return pattern.sub(lambda m: json.dumps("ref:" + (m.group(1) + m.group(2)).replace('"', "'")), expr)


def write_harness(module: str, root: Path, copied: list[str], names: list[str]) -> None:
    """Write into `root` a provider-less module: variables.tf, locals.tf, the stubbed `copied`
    locals of `module` and one sensitive output per name in `names`."""
    import shutil

    sources = module_locals_source(module)
    resources = set(k for k in _blocks(MODULES / module) if not k.startswith("local."))
    root.mkdir(parents=True, exist_ok=True)
    for name in ("variables.tf", "locals.tf"):
        shutil.copy(MODULES / module / name, root / name)
    body = "".join(f"  {n} = {stub_references(sources[n], resources)}\n" for n in copied)
    outputs = "".join(f'output "{n}" {{\n  value     = local.{n}\n  sensitive = true\n}}\n' for n in names)
    (root / "harness.tf").write_text(f"locals {{\n{body}}}\n\n{outputs}")


def apply_outputs(root: Path, *extra: str) -> dict:
    """`terraform init` + `apply` in `root` (no provider needed); return its outputs' values."""
    (root / "cli.tfrc").write_text("")  # ignore any user CLI configuration
    init = _terraform(root, "init", "-input=false")
    assert init.returncode == 0, init.stdout + init.stderr
    proc = _terraform(root, "apply", "-auto-approve", "-input=false", *extra)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = _terraform(root, "output", "-json")
    assert out.returncode == 0, out.stderr
    return {k: v["value"] for k, v in json.loads(out.stdout).items()}


def evaluate_resource_locals(module: str, tmp_path: Path, inputs: dict, copied: list[str],
                             names: list[str]) -> dict:
    """Evaluate locals `names` of `module`, copying the expressions of `copied` from its files.

    `copied` are the resource-dependent locals (not in locals.tf); the rest come from locals.tf.
    """
    write_harness(module, tmp_path, copied, names)
    (tmp_path / "test.tfvars.json").write_text(json.dumps(inputs))
    return apply_outputs(tmp_path, "-var-file=test.tfvars.json")
