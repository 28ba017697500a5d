"""Benchmark: `ccds up` of one vSphere region with 3 nodes vs plain `terraform apply` of the same
rendered workspace, both against one vCenter simulator with terraform-provider-vsphere 2.0.2.

Needs the test bed of `bash scripts/vcsim.sh`. The baseline renders an identical spec under another
deployment name (its VMs and tag category do not collide) and runs `terraform init` + `terraform apply
-auto-approve`, as someone without ccds would. Prints both wall times (init included) and the ratio.

    python benchmarks/bench_vsphere.py [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def write_spec(directory: Path, name: str, server: str) -> Path:
    doc = {
        "version": 1, "name": name, "engine": {"kind": "mediamtx"},
        "providers": {"lab": {"cloud": "vsphere", "server": server, "datacenter": "DC0", "cluster": "DC0_C0",
                              "datastore": "LocalDS_0", "network": "VM Network", "template": "DC0_H0_VM0",
                              "folder": "ccds", "allow_unverified_ssl": True, "guest_net_timeout": 0}},
        "regions": {"dc": {"placement": "lab/dc0", "network": {"cidr": "10.30.0.0/16"}, "pools": {
            "origin": {"instance_type": "1x1", "min": 1, "max": 2, "capacity": 20},
            "edge": {"instance_type": "2x2", "min": 2, "max": 3, "capacity": 200}}}},
        "security": {"admin_cidrs": ["203.0.113.0/24"]},
    }
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "ccds.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def one_round(tmp: Path, sim, env: dict[str, str], n: int) -> tuple[float, float]:
    from ccds_cli.plan import build_plan
    from ccds_cli.render import render
    from ccds_cli.spec import load_spec
    from ccds_cli.state.secrets import load_or_create

    spec = write_spec(tmp / f"ccds{n}", f"benchccds{n}", sim.server)
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "ccds_cli", "up", str(spec), "--yes", "-o", "json"], env=env,
                          cwd=spec.parent, capture_output=True, text=True, timeout=900)
    ccds_seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"ccds up failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    nodes = len(json.loads(proc.stdout)["result"]["nodes"])

    plain = write_spec(tmp / f"plain{n}", f"benchplain{n}", sim.server)
    loaded = load_spec(plain)
    (ws,) = render(loaded, build_plan(loaded.spec), tmp / f"plain{n}" / "workspaces")
    plain_env = dict(env, TF_VAR_secrets=json.dumps(load_or_create(tmp / f"plain{n}" / "secrets.json")))
    started = time.monotonic()
    for cmd in (["init", "-input=false", "-no-color"], ["apply", "-auto-approve", "-input=false", "-no-color"]):
        subprocess.run(["terraform", *cmd], cwd=ws.path, env=plain_env, check=True, capture_output=True, text=True,
                       timeout=900)
    plain_seconds = time.monotonic() - started
    if nodes != 3:
        raise SystemExit(f"ccds up made {nodes} nodes, expected 3")
    return ccds_seconds, plain_seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1, choices=range(1, 6))
    args = parser.parse_args()

    from tests.vsphere.vcsim import PASSWORD, USER, Vcsim, cli_config, ready, vm_folder

    if ready():
        print(ready())
        return 2
    with tempfile.TemporaryDirectory(prefix="ccds-bench-vsphere-") as tmp:
        tmp = Path(tmp)
        sim = Vcsim(tmp / "vcsim")
        try:
            vm_folder(sim.connect(), "DC0", "ccds")
            env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "VSPHERE_", "CCDS_"))}
            env.update(TF_CLI_CONFIG_FILE=str(cli_config(tmp / "tf")), TF_IN_AUTOMATION="1", TF_INPUT="0",
                       CHECKPOINT_DISABLE="1", VSPHERE_USER=USER, VSPHERE_PASSWORD=PASSWORD, CI="true",
                       PYTHONPATH=str(REPO))
            rounds = [one_round(tmp, sim, env, n) for n in range(args.rounds)]
        finally:
            sim.stop()
    for n, (ours, plain) in enumerate(rounds):
        print(f"round {n + 1}: ccds up {ours:.1f}s, terraform init + apply {plain:.1f}s, ratio {ours / plain:.2f}")
    ours = sorted(r[0] for r in rounds)[len(rounds) // 2]
    plain = sorted(r[1] for r in rounds)[len(rounds) // 2]
    print(f"one vSphere region, 3 VMs cloned on the simulator (provider 2.0.2), median of {len(rounds)}: "
          f"ccds up {ours:.1f}s vs terraform apply {plain:.1f}s = {ours / plain:.2f}x (report)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
