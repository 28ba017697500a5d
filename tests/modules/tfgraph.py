"""Terraform's reference graph of a module, read from its HCL without any provider.

`terraform plan` reports dependency cycles (`validate` misses self-references inside a for_each
resource), but only the AWS provider can be installed on the development machines. Terraform builds its graph from the references in each block, one node per
resource, data source and local value (all instances of a `for_each` resource are one node, so a
database VM in the same resource block as the managers that need its address is a cycle). This
module builds that graph from the text of the references, so tests can ask "is there a cycle?"
and "does X depend on Y?" for every cloud module.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import hcl2

# A reference starts at a word boundary that is not inside another traversal (`data.x.y` must not
# also count as a reference to resource `x.y`).
_REF = re.compile(r"(?<![\w.\-])((?:data\.)?[a-z][a-z0-9_]*\.[A-Za-z_][A-Za-z0-9_-]*)")


def _clean(name: str) -> str:
    return name.strip('"')


def _blocks(module: Path) -> dict[str, object]:
    """{node name: body} for every resource ("type.name"), data ("data.type.name") and local."""
    found: dict[str, object] = {}
    for tf in sorted(module.glob("*.tf")):
        with open(tf) as fh:
            doc = hcl2.load(fh)
        for kind, prefix in (("resource", ""), ("data", "data.")):
            for chunk in doc.get(kind, []):
                for rtype, named in chunk.items():
                    for name, body in named.items():
                        found[f"{prefix}{_clean(rtype)}.{_clean(name)}"] = body
        for chunk in doc.get("locals", []):
            for name, value in chunk.items():
                if not name.startswith("__"):  # parser bookkeeping (__is_block__, __comments__)
                    found[f"local.{name}"] = value
    return found


def _without_ignore_changes(body: object) -> object:
    """`lifecycle.ignore_changes` names the block's own attributes; they are not references."""
    if not isinstance(body, dict):
        return body
    out = dict(body)
    if isinstance(out.get("lifecycle"), list):
        out["lifecycle"] = [{k: v for k, v in lc.items() if k != "ignore_changes"}
                            for lc in out["lifecycle"] if isinstance(lc, dict)]
    return out


def module_graph(module: Path) -> dict[str, set[str]]:
    """{node: nodes its body references} over resources, data sources and locals of `module`."""
    blocks = _blocks(module)
    graph: dict[str, set[str]] = {}
    for node, body in blocks.items():
        text = json.dumps(_without_ignore_changes(body))
        graph[node] = {ref for ref in _REF.findall(text) if ref in blocks}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One dependency cycle as [a, b, ..., a], or [] when the graph is acyclic."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return []

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return []


def depends_on(graph: dict[str, set[str]], node: str, target: str) -> bool:
    """Whether `node` references `target`, directly or through other nodes."""
    seen: set[str] = set()
    todo = [node]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt == target:
                return True
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return False
