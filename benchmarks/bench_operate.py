"""`ccds operate` figures on the local cloud (issue 10), each next to its goal:

* decision latency: the viewer that takes a pool above scale_out_at -> the controller's action
  started (its pending action appears in `.ccds/<name>/operate.db`; goal <= 4 s);
* time to serving: the same moment -> the new edge INSERVICE in the manager (goal <= 10 s locally;
  on clouds VM boot adds 70-140 s, not measured here);
* killed edge (nginx + agent SIGKILLed by PID) -> replaced and INSERVICE (goal <= 10 s);
* region killed whole (every process of r1 on provider `laptop` SIGKILLed, its ports held so it cannot
  be repaired in place) -> a subscribe asking for r1 answered by r2 (goal <= 5 s; the manager's
  heartbeat timeout, 3.5 s locally) -> r1 serving on its failover placement `spare/local` (goal <= 30 s).

    python benchmarks/bench_operate.py [--repeat 3]

Settings: the spec defaults (operate.interval 4 s) except edge capacity 2 (two viewers are 100 %)
and, for the region loss, failover_after 10 s (the default is 30 s: add 20 s). Real terraform,
nginx-rtmp, ffmpeg publisher and viewers; everything is torn down after each scenario. Polls every
0.1 s. Medians over the repetitions are printed last.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "operate"))

from opdeploy import OperateDeployment, Publisher, free_base_port, ok, wait_for  # noqa: E402

from ccds_cli.operate import state  # noqa: E402

POLL = 0.1
_used: set[int] = set()


def base_port() -> int:
    for _ in range(50):
        b = free_base_port(800)
        if all(abs(b - u) >= 800 for u in _used):
            _used.add(b)
            return b
    raise SystemExit("no free port block")


def defaults(d: dict) -> None:
    """The bench keeps the spec's own controller timings (the tests shorten them)."""
    d["regions"]["local"].pop("autoscale", None)
    d["regions"]["local"].pop("failover_after", None)
    d.pop("operate", None)


def pending(dep) -> str | None:
    return state.controller_status(dep.root).get("pending_action")


def scale_out(workdir: Path) -> dict:
    dep = OperateDeployment(workdir, base_port(), defaults)
    try:
        ok(dep.run("up", "{spec}", "--yes", timeout=180))
        with Publisher(f"{dep.origin_rtmp()}/b", 120, workdir / "pub.log"):
            wait_for(lambda: dep.nodes() and dep.subscribe("b"), 30, what="stream routable")
            time.sleep(5)  # the probe subscribe's reservation has expired
            dep.start_controller()
            dep.wait_ledger("acting: lease", 30)
            time.sleep(1)
            dep.play("b")
            dep.play("b")
            crossed = time.time()
            started = wait_for(lambda: (lambda p: time.time() if p and "scale local edge" in p else None)(
                pending(dep)), 30, interval=POLL, what="the scale-out started")
            serving = wait_for(lambda: time.time() if sum(s == "INSERVICE" for s in dep.states().values()) >= 2
                               else None, 60, interval=POLL, what="a new edge INSERVICE")
        return {"decision_s": round(started - crossed, 2), "serving_s": round(serving - crossed, 2)}
    finally:
        dep.cleanup()


def replace(workdir: Path) -> dict:
    dep = OperateDeployment(workdir, base_port(), lambda d: (defaults(d), d["regions"]["local"]["pools"]["edge"]
                                                             .update(min=2)))
    try:
        ok(dep.run("up", "{spec}", "--yes", timeout=180))
        wait_for(lambda: sum(s == "INSERVICE" for s in dep.states().values()) == 2, 30, what="two edges")
        dep.start_controller()
        dep.wait_ledger("acting: lease", 30)
        time.sleep(1)
        victim = "local-demo-local-edge-1"
        old = set(dep.kill_node(victim))
        killed = time.time()
        back = wait_for(lambda: time.time() if dep.records()[victim].get("running")
                        and not old & {p["pid"] for p in dep.records()[victim]["processes"]}
                        and dep.nodes()[victim]["state"] == "INSERVICE" else None, 60, interval=POLL,
                        what="replaced and INSERVICE")
        return {"replaced_s": round(back - killed, 2)}
    finally:
        dep.cleanup()


def region_loss(workdir: Path) -> dict:
    import socket

    def edit(d):
        defaults(d)
        local = d["regions"].pop("local")
        r1 = json.loads(json.dumps(local))
        r1["failover"] = ["spare/local"]
        r1["failover_after"] = "10s"
        r1["pools"]["edge"]["capacity"] = 1000  # polling subscribe reserves slots: never fill the edge
        r2 = json.loads(json.dumps(local))
        r2.update(placement="spare/local", network={"cidr": "10.20.0.0/16"})
        d["regions"] = {"r1": r1, "r2": r2}
        d["traffic"]["peak_viewers"] = {"r1": 1, "r2": 1}
        d["traffic"]["publishers"] = {"r1": 1, "r2": 1}

    dep = OperateDeployment(workdir, base_port(), edit, extra_providers={"spare": base_port()})
    held = []
    try:
        ok(dep.run("up", "{spec}", "--yes", timeout=240))
        with Publisher(f"{dep.origin_rtmp('r2')}/b", 180, workdir / "pub.log"):
            wait_for(lambda: dep.subscribe("b", "r1")["node"]["region"] == "r1", 30, what="r1 routable")
            dep.start_controller()
            dep.wait_ledger("acting: lease", 30)
            time.sleep(5)
            for name, rec in dep.records().items():
                if "-r1-" in name and rec["state_dir"].endswith("laptop.local"):
                    dep.kill_node(name)
                    for port in rec["ports"].values():
                        s = socket.socket()
                        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                        wait_for(lambda: _bind(s, port), 10, interval=0.05, what=f"port {port}")
                        s.listen(1)
                        held.append(s)
            killed = time.time()
            routed = wait_for(lambda: time.time() if dep.subscribe("b", "r1")["node"]["region"] == "r2" else None,
                              30, interval=POLL, what="r1 viewers routed to r2")
            back = wait_for(lambda: time.time() if any(
                v["region"] == "r1" and v["role"] == "edge" and v["state"] == "INSERVICE" and v["provider"] == "spare"
                for v in dep.nodes().values()) else None, 90, interval=POLL, what="r1 serving on spare/local")
        return {"routed_elsewhere_s": round(routed - killed, 2), "serving_on_backup_s": round(back - killed, 2)}
    finally:
        for s in held:
            s.close()
        dep.cleanup()


def _bind(sock, port: int) -> bool:
    try:
        sock.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False


GOALS = {"decision_s": 4, "serving_s": 10, "replaced_s": 10, "routed_elsewhere_s": 5, "serving_on_backup_s": 30}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=1, choices=range(1, 6))
    args = parser.parse_args()
    runs: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-operate-") as tmp:
        for i in range(args.repeat):
            for scenario in (scale_out, replace, region_loss):
                _used.clear()  # the previous scenario's deployment is down: its ports are free again
                got = scenario(Path(tmp) / f"{scenario.__name__}-{i}")
                print(f"run {i + 1} {scenario.__name__}: {got}", flush=True)
                for k, v in got.items():
                    runs.setdefault(k, []).append(v)
    print("\nfigure                              median      goal")
    for key, values in runs.items():
        med = statistics.median(values)
        print(f"{key:34s} {med:7.2f} s   <= {GOALS[key]} s  {'ok' if med <= GOALS[key] else 'MISSED'}"
              f"   (runs: {', '.join(f'{v:.2f}' for v in values)})")


if __name__ == "__main__":
    main()
