"""The request path's metrics cost: one `Metrics.observe()` in one process vs in a worker of several.

    python benchmarks/bench_sm_metrics.py [--count 200000] [--rounds 5]

One process (the default manager) keeps its counters in memory; a worker of `ccds sm serve --workers N`
writes them to mmap-backed files (prometheus-client's multiprocess mode, ccds_cli/sm/metrics.py). Each
mode runs in its own fresh interpreter (the library picks its value class at import, from
PROMETHEUS_MULTIPROC_DIR), both in the same run: the figure is the per-request cost of each and their
ratio (best of `--rounds`, so other work on the machine counts as little as it can).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PROBE = """
import json, sys, tempfile, timeit
from ccds_cli.sm.leader import Leader
from ccds_cli.sm.metrics import Metrics
from ccds_cli.sm.settings import Settings
from ccds_cli.sm.store import Store

count, rounds, workers = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "workers"
db = tempfile.mkdtemp()
store = Store(Settings(database_url=f"sqlite:///{db}/b.db", admin_token="a", node_key="n"))
store.migrate()
metrics = Metrics(store, Leader(store), workers=workers)
observe = metrics.observe
# what routes/streams.py does once per answered request: an ok subscribe and a publish alternate
def run():
    for _ in range(count // 2):
        observe("subscribe", "ok", 0.0031)
        observe("publish", "ok", 0.0042)
best = min(timeit.repeat(run, number=1, repeat=rounds))
total = sum(s.value for f in metrics.registry.collect() if f.name == "ccds_sm_requests" for s in f.samples
            if s.name.endswith("_total"))
print(json.dumps({"us": best / count * 1e6, "counted": total}))
"""


def probe(count: int, rounds: int, workers: bool) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with tempfile.TemporaryDirectory() as tmp:
        if workers:
            env["PROMETHEUS_MULTIPROC_DIR"] = tmp
        out = subprocess.run([sys.executable, "-c", PROBE, str(count), str(rounds), "workers" if workers else "one"],
                             env=env, capture_output=True, text=True, timeout=600, check=True).stdout
    got = json.loads(out.strip().splitlines()[-1])
    expected = count // 2 * 2 * rounds
    if got["counted"] != expected:  # the figure is only worth having if every observe() was counted
        raise SystemExit(f"counted {got['counted']:g} requests, made {expected}")
    return got


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=200_000, help="observe() calls per round")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    one = probe(args.count, args.rounds, workers=False)
    many = probe(args.count, args.rounds, workers=True)
    print(f"observe(), one process (in memory):       {one['us']:.2f} us per request")
    print(f"observe(), a worker of several (mmap):    {many['us']:.2f} us per request")
    print(f"ratio workers / one process:              {many['us'] / one['us']:.2f}x")


if __name__ == "__main__":
    main()
