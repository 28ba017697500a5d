"""Run the real `terraform` binary offline in tests.

Only a filesystem mirror of providers exists on development and CI machines, so every test that
runs `terraform init` needs a CLI config pointing at it. `terraform_env()` writes one and returns
the environment to run terraform with; `terraform()` runs a command and fails with its output.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=None)
def find_mirror() -> Path | None:
    """The filesystem mirror root (the directory holding `registry.terraform.io`), if any.

    `$CCDS_TF_MIRROR` wins; otherwise it is searched as the machines' README says, never assumed.
    """
    env = os.environ.get("CCDS_TF_MIRROR")
    if env:
        return Path(env)
    proc = subprocess.run(["find", "/", "-xdev", "-maxdepth", "3", "-name", "registry.terraform.io"],
                          capture_output=True, text=True, timeout=120)
    hits = sorted(line for line in proc.stdout.splitlines() if line.strip())
    return Path(hits[0]).parent if hits else None


def terraform_env(workdir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Write `<workdir>/terraformrc` using only the local mirror and return an env for terraform."""
    mirror = find_mirror()
    if mirror is None:
        raise RuntimeError("no Terraform provider mirror found (find / -maxdepth 3 -name registry.terraform.io)")
    workdir.mkdir(parents=True, exist_ok=True)
    rc = workdir / "terraformrc"
    rc.write_text(
        "provider_installation {\n"
        f"  filesystem_mirror {{\n    path = {json.dumps(str(mirror))}\n  }}\n"
        "}\n"
    )
    env = dict(os.environ)
    env.update({
        "TF_CLI_CONFIG_FILE": str(rc),
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "CHECKPOINT_DISABLE": "1",
    })
    env.pop("TF_PLUGIN_CACHE_DIR", None)
    env.update(extra or {})
    return env


def terraform_bin() -> str:
    found = shutil.which("terraform") or shutil.which("tofu")
    if not found:
        raise RuntimeError("terraform (or tofu) is not on PATH")
    return found


def terraform(args: list[str], cwd: Path, env: dict[str, str], timeout: int = 600,
              check: bool = True) -> subprocess.CompletedProcess:
    """Run `terraform <args>` in `cwd`; on failure raise with stdout and stderr in the message."""
    proc = subprocess.run([terraform_bin(), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"terraform {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}")
    return proc


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
