"""CLI figures: `ccds --help` start-up against its own toolkit, and validate + render of a big spec.

    python benchmarks/bench_cli.py [--runs 15] [--regions 100] [--importtime] [--validate-only]

1. `ccds --help` (the installed console script) against `python -c "import typer, rich"`, run
   alternately in the same session so machine load hits both alike; median of N and the ratio
   (target <= 1.5x). When the ratio is over target (or with --importtime) it lists what ccds
   imports at start-up beyond typer and rich, from `python -X importtime`.
2. A generated spec with --regions regions spread over all eight clouds, loaded, validated,
   planned and rendered in a fresh interpreter; wall time and peak RSS (`resource.getrusage` in
   that child). Targets: < 1 s and < 200 MB.
3. `ccds validate` of 3,000 regions (one network each, overlap-checked per cloud) and of 300,000
   `admin_cidrs`: wall and CPU seconds of the whole process and its peak RSS. Target: about 1 s
   (before the O(n log n) overlap check and the event-based loader: 12-24 s and 14 s).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
CLOUD_ALIASES = {"aws": "aws-main", "gcp": "gcp-main", "azure": "azure-main", "oci": "oci-main",
                 "digitalocean": "do-main", "linode": "linode-main", "vsphere": "onprem", "openstack": "lab"}
HELP_TARGET, TIME_TARGET_S, RSS_TARGET_MB = 1.5, 1.0, 200


def ccds_bin() -> str:
    beside = Path(sys.executable).parent / "ccds"
    found = str(beside) if beside.is_file() else shutil.which("ccds")
    if not found:
        sys.exit("the `ccds` console script is not installed (pip install -e .)")
    return found


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, timeout=120)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed: {proc.stderr.decode()[-2000:]}")
    return elapsed


def bench_help(runs: int) -> dict:
    ccds = [ccds_bin(), "--help"]
    base = [sys.executable, "-c", "import typer, rich"]
    timed(ccds), timed(base)  # warm the page cache and .pyc files
    t_ccds, t_base = [], []
    for _ in range(runs):
        t_ccds.append(timed(ccds))
        t_base.append(timed(base))
    med_ccds, med_base = statistics.median(t_ccds), statistics.median(t_base)
    return {"ccds_help_s": round(med_ccds, 4), "import_typer_rich_s": round(med_base, 4),
            "ratio": round(med_ccds / med_base, 3), "runs": runs}


def import_costs(code: str) -> dict[str, int]:
    """Self import time (us) summed per top-level package, from `python -X importtime`."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True,
                          timeout=120)
    costs: dict[str, int] = {}
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = [p.strip() for p in line[len("import time:"):].split("|")]
        if not parts[0].isdigit():
            continue
        top = parts[2].split(".")[0]
        costs[top] = costs.get(top, 0) + int(parts[0])
    return costs


def heavy_imports(limit: int = 12) -> list[tuple[str, float]]:
    """Packages `ccds --help` imports that `import typer, rich` does not, by self ms."""
    ours = import_costs("import sys; sys.argv = ['ccds', '--help']\n"
                        "from ccds_cli.cli import main\n"
                        "try:\n    main()\nexcept SystemExit:\n    pass")
    base = import_costs("import typer, rich")
    extra = {k: v for k, v in ours.items() if k not in base}
    return [(k, round(v / 1000, 1)) for k, v in sorted(extra.items(), key=lambda kv: -kv[1])[:limit]]


STARTUP_SPLIT = """
import contextlib, io, json, sys, time
t0 = time.perf_counter()
import typer, rich
t1 = time.perf_counter()
from ccds_cli.cli import main
t2 = time.perf_counter()
sys.argv = ["ccds", "--help"]
with contextlib.redirect_stdout(io.StringIO()):
    try:
        main()
    except SystemExit:
        pass
t3 = time.perf_counter()
print(json.dumps({"typer_rich": t1 - t0, "ccds_cli_cli": t2 - t1, "build_and_print_help": t3 - t2}))
"""


def startup_split(runs: int = 5) -> dict[str, float]:
    """Where `ccds --help` spends its time in-process: toolkit imports, our module, typer's work."""
    samples = []
    for _ in range(runs):
        proc = subprocess.run([sys.executable, "-c", STARTUP_SPLIT], capture_output=True, text=True, timeout=120)
        samples.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return {k: round(statistics.median(s[k] for s in samples) * 1000, 1) for k in samples[0]}


def generated_spec(n_regions: int) -> dict:
    """`n_regions` regions round-robin over the eight clouds, real region names, disjoint /16s."""
    sys.path.insert(0, str(REPO))
    from ccds_cli import clouds

    providers = {
        "aws-main": {"cloud": "aws"}, "gcp-main": {"cloud": "gcp", "project": "bench"},
        "azure-main": {"cloud": "azure"}, "oci-main": {"cloud": "oci", "compartment_id": "ocid1.compartment.oc1..b"},
        "do-main": {"cloud": "digitalocean"}, "linode-main": {"cloud": "linode"},
        "onprem": {"cloud": "vsphere", "server": "vc.example", "datacenter": "dc", "cluster": "c",
                   "datastore": "ds", "network": "VM Network", "template": "ubuntu"},
        "lab": {"cloud": "openstack", "auth_url": "https://keystone.example:5000/v3", "external_network": "public"},
    }
    names = list(CLOUD_ALIASES)
    used: dict[str, int] = {}
    regions, viewers = {}, {}
    for i in range(n_regions):
        cloud = names[i % len(names)]
        known = sorted(clouds.get(cloud).regions()) or [f"site{j}" for j in range(n_regions)]
        k = used.get(cloud, 0)
        used[cloud] = k + 1
        cloud_region = known[k % len(known)]
        key = f"r{i:03d}-{cloud}"[:31]
        regions[key] = {
            "placement": f"{CLOUD_ALIASES[cloud]}/{cloud_region}",
            "network": {"cidr": f"10.{i // 2}.{(i % 2) * 128}.0/17"},
            "pools": {"origin": {"min": 1, "max": 4, "capacity": 20},
                      "relay": {"min": 0, "max": 8, "capacity": 8},
                      "edge": {"min": 1, "max": 100, "capacity": 1000}},
        }
        viewers[key] = 1000 + 500 * i
    return {
        "version": 1, "name": "bench", "providers": providers,
        "control": {"placement": ["aws-main/us-east-1", "gcp-main/europe-west1"],
                    "network": {"cidr": "10.200.0.0/16"}},
        "regions": regions,
        "security": {"admin_cidrs": ["203.0.113.0/24"]},
        "traffic": {"bitrate_kbps": 3000, "peak_viewers": viewers},
    }


CHILD = """
import json, resource, sys, time
from pathlib import Path
t0 = time.perf_counter()
from ccds_cli.spec import load_spec
from ccds_cli.plan import build_plan
from ccds_cli.render import render
t1 = time.perf_counter()
loaded = load_spec(Path(sys.argv[1]))
t2 = time.perf_counter()
plan = build_plan(loaded.spec)
rendered = render(loaded, plan, Path(sys.argv[2]))
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "validate_s": t2 - t1, "plan_render_s": t3 - t2, "total_s": t3 - t0,
                  "workspaces": len(rendered), "nodes": plan.node_count(),
                  "cpu_s": sum(resource.getrusage(resource.RUSAGE_SELF)[:2]),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def bench_big_spec(n_regions: int, repeats: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="ccds-bench-") as tmp:
        spec = Path(tmp) / "big.yaml"
        spec.write_text(yaml.safe_dump(generated_spec(n_regions), sort_keys=False))
        runs = []
        for i in range(repeats):
            proc = subprocess.run([sys.executable, "-c", CHILD, str(spec), str(Path(tmp) / f"ws{i}")],
                                  capture_output=True, text=True, timeout=300, cwd=tmp)
            if proc.returncode != 0:
                sys.exit(f"validate+render failed:\n{proc.stderr[-3000:]}")
            runs.append(json.loads(proc.stdout))
        size = sum(f.stat().st_size for f in (Path(tmp) / "ws0").rglob("*") if f.is_file())
    best = {k: round(statistics.median(r[k] for r in runs), 3) for k in runs[0]}
    best["load_avg_1m"] = round(os.getloadavg()[0], 2)
    best["rendered_mb"] = round(size / 1e6, 1)
    best["regions"] = n_regions
    return best


VALIDATE_TARGET_S = 1.0


def validate_specs(tmp: Path) -> dict[str, Path]:
    many = generated_spec(3000)
    for i, region in enumerate(many["regions"].values()):
        region["network"]["cidr"] = f"10.{i // 16}.{(i % 16) * 16}.0/20"  # 3,000 disjoint /20s
    cidrs = generated_spec(1)
    cidrs["security"]["admin_cidrs"] = [f"{1 + i // 65536}.{(i // 256) % 256}.{i % 256}.0/24"
                                        for i in range(300_000)]
    out = {"3,000 regions": tmp / "regions.yaml", "300,000 admin_cidrs": tmp / "cidrs.yaml"}
    out["3,000 regions"].write_text(yaml.safe_dump(many, sort_keys=False))
    out["300,000 admin_cidrs"].write_text(yaml.safe_dump(cidrs, sort_keys=False, default_flow_style=None,
                                                         width=1 << 30))
    return out


def bench_validate(repeats: int) -> dict:
    """`ccds validate` on big specs in fresh processes: wall, CPU (user + sys) and peak RSS."""
    import resource

    results = {}
    with tempfile.TemporaryDirectory(prefix="ccds-bench-") as tmp:
        for label, spec in validate_specs(Path(tmp)).items():
            runs = []
            for _ in range(repeats):
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                wall = timed([ccds_bin(), "validate", str(spec)])
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                runs.append((wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime,
                             after.ru_maxrss / 1024))
            results[label] = {"wall_s": round(statistics.median(r[0] for r in runs), 3),
                              "cpu_s": round(statistics.median(r[1] for r in runs), 3),
                              "peak_rss_mb": round(max(r[2] for r in runs), 1),
                              "spec_mb": round(spec.stat().st_size / 1e6, 2)}
    return results


def print_validate(v: dict, repeats: int) -> None:
    print(f"\nccds validate, big specs (median of {repeats} processes, interpreter start-up included):")
    for label, r in v.items():
        ok = "ok" if r["cpu_s"] <= VALIDATE_TARGET_S * 1.5 else "OVER TARGET"
        print(f"  {label:22s} wall {r['wall_s'] * 1000:7.1f} ms  CPU {r['cpu_s'] * 1000:7.1f} ms  "
              f"peak RSS {r['peak_rss_mb']:6.1f} MB  ({r['spec_mb']} MB spec; target about "
              f"{VALIDATE_TARGET_S:.0f} s: {ok})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15, help="runs of each start-up command (median)")
    ap.add_argument("--regions", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3, help="fresh interpreters for the big spec (median)")
    ap.add_argument("--importtime", action="store_true", help="always list start-up imports")
    ap.add_argument("--validate-only", action="store_true", help="only the big-spec validate figures")
    args = ap.parse_args()
    os.environ.setdefault("COLUMNS", "100")
    if args.validate_only:
        v = bench_validate(args.repeats)
        print_validate(v, args.repeats)
        print("\n" + json.dumps({"validate": v}))
        return

    print(f"ccds CLI benchmark on {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
          f"load average {os.getloadavg()[0]:.2f}")
    h = bench_help(args.runs)
    ok = "ok" if h["ratio"] <= HELP_TARGET else "OVER TARGET"
    print(f"\nstart-up (median of {h['runs']}):")
    print(f"  ccds --help                   {h['ccds_help_s'] * 1000:8.1f} ms")
    print(f"  python -c 'import typer,rich' {h['import_typer_rich_s'] * 1000:8.1f} ms")
    print(f"  ratio                         {h['ratio']:8.2f}x  (target <= {HELP_TARGET}x: {ok})")
    if args.importtime or h["ratio"] > HELP_TARGET:
        print("  imported at start-up beyond typer and rich (self ms, python -X importtime):")
        extra = heavy_imports()
        for name, ms in extra:
            print(f"    {name:28s} {ms:8.1f}")
        if not extra:
            print("    (nothing: ccds imports no package that typer and rich don't)")
        split = startup_split()
        print("  in-process split (median ms): " + ", ".join(f"{k} {v}" for k, v in split.items()))
        h["split_ms"] = split

    b = bench_big_spec(args.regions, args.repeats)
    t_ok = "ok" if b["total_s"] < TIME_TARGET_S else "OVER TARGET"
    m_ok = "ok" if b["peak_rss_mb"] < RSS_TARGET_MB else "OVER TARGET"
    print(f"\nvalidate + plan + render, {b['regions']} regions on 8 clouds (median of {args.repeats} fresh "
          f"interpreters):")
    print(f"  imports                       {b['import_s'] * 1000:8.1f} ms")
    print(f"  load + validate               {b['validate_s'] * 1000:8.1f} ms")
    print(f"  plan + render                 {b['plan_render_s'] * 1000:8.1f} ms  "
          f"({b['workspaces']} workspaces, {b['nodes']} nodes, {b['rendered_mb']} MB written)")
    print(f"  total                         {b['total_s'] * 1000:8.1f} ms  (target < {TIME_TARGET_S * 1000:.0f} ms: "
          f"{t_ok}; ratio {b['total_s'] / TIME_TARGET_S:.2f})")
    print(f"  CPU time of that process      {b['cpu_s'] * 1000:8.1f} ms  (includes interpreter start-up; "
          f"wall - CPU is waiting for disk or CPU)")
    print(f"  peak RSS                      {b['peak_rss_mb']:8.1f} MB  (target < {RSS_TARGET_MB} MB: {m_ok}; "
          f"ratio {b['peak_rss_mb'] / RSS_TARGET_MB:.2f})")
    v = bench_validate(args.repeats)
    print_validate(v, args.repeats)
    print("\n" + json.dumps({"help": h, "big_spec": b, "validate": v}))


if __name__ == "__main__":
    main()
