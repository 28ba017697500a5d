"""Figures for docs/cost.md: `ccds cost` speed on a 100-region spec, and the reference watch party.

    python benchmarks/bench_cost.py            # both; exits 1 if the 100-region estimate takes >= 1 s
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# One region near N. Virginia per public cloud, with a 4-vCPU edge and a 2-vCPU origin.
REFERENCE = {
    "aws": ("us-east-1", "c5.xlarge", "c5.large", {}),
    "gcp": ("us-east4", "e2-highcpu-4", "e2-highcpu-2", {"project": "p"}),
    "azure": ("eastus", "Standard_F4s_v2", "Standard_F2s_v2", {}),
    "oci": ("us-ashburn-1", "VM.Standard.E4.Flex", "VM.Standard.E4.Flex",
            {"compartment_id": "ocid1.compartment.oc1..x", "ocpus": 2, "memory_gbs": 8}),
    "digitalocean": ("nyc3", "c-4", "c-2", {}),
    "linode": ("us-iad", "g6-dedicated-4", "g6-dedicated-2", {}),
}


def reference_spec(cloud: str) -> dict:
    """50,000 viewers at 4.5 Mbps for 120 h/month in one region; 2,000 viewers per 4-vCPU edge."""
    region, edge, origin, extra = REFERENCE[cloud]
    return {
        "version": 1, "name": "watchparty",
        "providers": {"main": {"cloud": cloud, **extra}},
        "regions": {"na-east": {
            "placement": f"main/{region}", "network": {"cidr": "10.10.0.0/16"},
            "pools": {"origin": {"instance_type": origin, "min": 1, "max": 2, "capacity": 20},
                      "relay": {"instance_type": origin, "min": 0, "max": 20, "capacity": 50},
                      "edge": {"instance_type": edge, "min": 2, "max": 100, "capacity": 2000}}}},
        "traffic": {"bitrate_kbps": 4500, "peak_viewers": {"na-east": 50000}, "hours_per_month": 120},
    }


def big_spec(n: int = 100) -> dict:
    """`n` regions spread over the six public clouds' known regions."""
    from ccds_cli import clouds

    providers, regions, viewers = {}, {}, {}
    pools = [(c, list(clouds.get(c).regions())) for c in REFERENCE]
    for i in range(n):
        cloud, names = pools[i % len(pools)]
        region_name = names[(i // len(pools)) % len(names)]
        _, edge, origin, extra = REFERENCE[cloud]
        providers[f"p-{cloud}"] = {"cloud": cloud, **extra}
        key = f"r{i:03d}"
        regions[key] = {"placement": f"p-{cloud}/{region_name}",
                        "network": {"cidr": f"10.{i // 2}.{(i % 2) * 128}.0/17"},
                        "pools": {"origin": {"instance_type": origin, "min": 1, "max": 4, "capacity": 20},
                                  "relay": {"instance_type": origin, "min": 0, "max": 40, "capacity": 50},
                                  "edge": {"instance_type": edge, "min": 2, "max": 200, "capacity": 2000}}}
        viewers[key] = 1000 + 137 * i
    return {"version": 1, "name": "bench", "providers": providers, "regions": regions,
            "control": {"placement": ["p-aws/us-east-1", "p-oci/eu-frankfurt-1"]},
            "traffic": {"bitrate_kbps": 4500, "peak_viewers": viewers, "hours_per_month": 120}}


def bench_speed(tmp: Path) -> float:
    """Stages in one process (spec loading, plan + estimate + --compare), then the whole CLI."""
    path = tmp / "big.yaml"
    path.write_text(yaml.safe_dump(big_spec()))
    from ccds_cli.cost import estimate_spec
    from ccds_cli.spec import load_spec

    loads, costs = [], []
    for _ in range(5):
        t = time.perf_counter()
        spec = load_spec(path).spec
        t1 = time.perf_counter()
        estimate_spec(spec, compare=True)
        loads.append(t1 - t)
        costs.append(time.perf_counter() - t1)
    clis = []
    for _ in range(3):
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "ccds_cli", "cost", str(path), "--compare", "--output", "json"],
                              capture_output=True, text=True, cwd=ROOT)
        clis.append(time.perf_counter() - t)
        assert proc.returncode == 0, proc.stderr
    cli = statistics.median(clis)
    print(f"100-region spec (median of runs): load_spec {statistics.median(loads):.3f} s; "
          f"plan + estimate + --compare {statistics.median(costs):.3f} s; "
          f"whole `ccds cost --compare --output json` process {cli:.3f} s")
    return cli


def reference(tmp: Path) -> None:
    from ccds_cli.cost import estimate_spec
    from ccds_cli.plan import build_plan
    from ccds_cli.spec import load_spec

    print("reference watch party: 50,000 viewers x 4.5 Mbps x 120 h/month, one region (USD/month)")
    print(f"{'cloud':14} {'region':14} {'egress':>12} {'compute':>10} {'total':>12} {'$/viewer-h':>11}  nodes")
    for cloud in REFERENCE:
        path = tmp / f"ref-{cloud}.yaml"
        path.write_text(yaml.safe_dump(reference_spec(cloud)))
        spec = load_spec(path).spec
        plan = build_plan(spec)
        r = estimate_spec(spec, plan=plan)
        counts = ", ".join(f"{role}={p.count}" for role, p in sorted(plan.regions["na-east"].pools.items()))
        print(f"{cloud:14} {REFERENCE[cloud][0]:14} {r['by_category']['egress']:12,.0f} "
              f"{r['by_category']['compute']:10,.0f} {r['total_usd']:12,.0f} {r['usd_per_viewer_hour']:11.4f}  {counts}")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        reference(tmp)
        print()
        took = bench_speed(tmp)
    sys.exit(0 if took < 1.0 else 1)
