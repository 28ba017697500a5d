"""Evaluate a module's `locals.tf` with the real terraform binary and no cloud provider.

Modules that keep every value derived only from their inputs in `locals.tf` can be checked for
real: `variables.tf` + `locals.tf` are copied into a scratch root whose only content is one
output per local, and `terraform apply` (no resources, so no provider to install) computes them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

MODULES = Path(__file__).resolve().parents[2] / "modules"


def _terraform(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    terraform = shutil.which("terraform")
    assert terraform, "terraform must be on PATH"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
           "TF_CLI_CONFIG_FILE": str(tmp_path / "cli.tfrc"), "TF_IN_AUTOMATION": "1"}
    return subprocess.run([terraform, *args, "-no-color"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


def run_locals(module: str, tmp_path: Path, inputs: dict, names: list[str]) -> subprocess.CompletedProcess:
    """Apply the scratch root for `inputs`; return the finished apply (which may have failed)."""
    for name in ("variables.tf", "locals.tf"):
        shutil.copy(MODULES / module / name, tmp_path / name)
    (tmp_path / "harness.tf").write_text("".join(
        f'output "{n}" {{\n  value     = local.{n}\n  sensitive = true\n}}\n' for n in names))
    (tmp_path / "test.tfvars.json").write_text(json.dumps(inputs))
    (tmp_path / "cli.tfrc").write_text("")  # ignore any user CLI configuration
    init = _terraform(tmp_path, "init", "-input=false")
    assert init.returncode == 0, init.stdout + init.stderr
    return _terraform(tmp_path, "apply", "-auto-approve", "-input=false", "-var-file=test.tfvars.json")


def evaluate(module: str, tmp_path: Path, inputs: dict, names: list[str]) -> dict:
    """Return {local name: value} of `modules/<module>/locals.tf` for `inputs` (a tfvars dict)."""
    proc = run_locals(module, tmp_path, inputs, names)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = _terraform(tmp_path, "output", "-json")
    assert out.returncode == 0, out.stderr
    return {k: v["value"] for k, v in json.loads(out.stdout).items()}


CONTROL_GUARDS = ("control.enabled", "managed_database", "dns_enabled")


def control_blocks(module: str) -> dict[str, str]:
    """{"type.name": its count/for_each text} for every resource and data block in control.tf."""
    import hcl2

    with open(MODULES / module / "control.tf") as fh:
        doc = hcl2.load(fh)
    found = {}
    for block in doc.get("resource", []) + doc.get("data", []):
        for rtype, named in block.items():
            for name, body in named.items():
                found[f'{rtype.strip(chr(34))}.{name.strip(chr(34))}'] = \
                    str(body.get("count", "")) + str(body.get("for_each", ""))
    return found


def unguarded(blocks: dict[str, str]) -> list[str]:
    """Blocks of control.tf not counted on the control switch (region workspaces would get them)."""
    return [k for k, guard in blocks.items() if not any(g in guard for g in CONTROL_GUARDS)]
