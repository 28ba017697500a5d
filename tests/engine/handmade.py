"""Hand-written Terraform workspaces made only of `terraform_data` (no provider needed)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Ws:
    name: str
    path: Path
    kind: str = "region"
    stage: int = 1
    cloud: str = "test"


def workspace(root: Path, name: str, *, count: int = 2, command: str | None = None, destroy_command: str | None = None,
              stage: int = 1) -> Ws:
    """A root module with `count` plain resources and optionally one running `command` at create time."""
    path = root / name
    path.mkdir(parents=True, exist_ok=True)
    resources: dict = {"node": {"count": count, "input": name}}
    if command is not None:
        resources["step"] = {"input": name, "provisioner": [{"local-exec": {"command": command}}]}
    if destroy_command is not None:
        resources["teardown"] = {"input": name, "provisioner": [
            {"local-exec": {"when": "destroy", "command": destroy_command}}]}
    doc = {
        "variable": {"secrets": {"type": "map(string)", "sensitive": True, "default": {}}},
        "resource": {"terraform_data": resources},
        "output": {"nodes": {"value": "${[for n in terraform_data.node : {id = n.id, name = n.input}]}"},
                   "token_length": {"value": "${nonsensitive(length(lookup(var.secrets, \"node_token\", \"\")))}"}},
    }
    (path / "main.tf.json").write_text(json.dumps(doc, indent=2))
    return Ws(name, path, "control" if stage == 0 else "region", stage)
