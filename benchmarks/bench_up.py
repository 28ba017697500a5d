"""Benchmark: `ccds up` of a 4-region AWS spec vs plain `terraform apply` of the same 4 workspaces in turn.

Both run against one moto server with the real AWS provider from the offline mirror, in the same
run. The sequential baseline renders an identical spec under another deployment name (so names
and tags do not collide) and runs `terraform init` + `terraform apply -auto-approve` per
workspace, one after another, as someone without ccds would. Prints both times and the ratio
(target: at most 0.5).

    python benchmarks/bench_up.py [--parallelism 4]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SPEC = """version: 1
name: {name}
engine: {{kind: mediamtx}}
providers:
  aws-main: {{cloud: aws}}
regions:
{regions}
security:
  admin_cidrs: [203.0.113.0/24]
"""
REGION = """  {key}:
    placement: aws-main/{region}
    network: {{cidr: 10.{n}.0.0/16}}
    pools:
      origin: {{instance_type: t3.small, min: 1, max: 2, capacity: 20}}
      edge:   {{instance_type: t3.small, min: 2, max: 4, capacity: 200}}
"""
PLACES = {"na-east": "us-east-1", "eu-west": "eu-west-1", "na-west": "us-west-2", "ap-south": "ap-southeast-1"}


def write_spec(directory: Path, name: str) -> Path:
    regions = "".join(REGION.format(key=k, region=r, n=10 + i) for i, (k, r) in enumerate(PLACES.items()))
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "ccds.yaml"
    path.write_text(SPEC.format(name=name, regions=regions))
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parallelism", type=int, default=4)
    args = parser.parse_args()

    import json

    from ccds_cli.plan import build_plan
    from ccds_cli.render import render
    from ccds_cli.spec import load_spec
    from ccds_cli.state.secrets import load_or_create
    from tests.engine.motoenv import Moto, ccds_env

    moto = Moto()
    try:
        with tempfile.TemporaryDirectory(prefix="ccds-bench-") as tmp:
            tmp = Path(tmp)
            env = ccds_env(tmp / "tf", moto.url, {"CI": "true"})

            spec = write_spec(tmp / "ccds", "benchccds")
            started = time.monotonic()
            proc = subprocess.run([sys.executable, "-m", "ccds_cli", "up", str(spec), "--yes", "-o", "json",
                                   "--parallelism", str(args.parallelism)], env=env, cwd=spec.parent,
                                  capture_output=True, text=True, timeout=3600)
            ccds_seconds = time.monotonic() - started
            if proc.returncode != 0:
                print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n")
                return 1

            plain = write_spec(tmp / "plain", "benchplain")
            loaded = load_spec(plain)
            workspaces = render(loaded, build_plan(loaded.spec), tmp / "plain" / "workspaces")
            secrets = load_or_create(tmp / "plain" / "secrets.json")
            plain_env = dict(env, TF_VAR_secrets=json.dumps(secrets))
            started = time.monotonic()
            for ws in workspaces:
                for cmd in (["init", "-input=false", "-no-color"], ["apply", "-auto-approve", "-input=false", "-no-color"]):
                    subprocess.run(["terraform", *cmd], cwd=ws.path, env=plain_env, check=True, capture_output=True,
                                   text=True, timeout=1800)
            plain_seconds = time.monotonic() - started
    finally:
        moto.stop()

    ratio = ccds_seconds / plain_seconds
    print(f"workspaces: {len(workspaces)} (AWS regions: {', '.join(PLACES.values())})")
    print(f"ccds up (parallelism {args.parallelism}): {ccds_seconds:.1f}s")
    print(f"terraform apply, one workspace after another: {plain_seconds:.1f}s")
    print(f"ratio: {ratio:.2f} (target <= 0.5) -> {'ok' if ratio <= 0.5 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
