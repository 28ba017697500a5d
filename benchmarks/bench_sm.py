"""Stream manager figures: subscribe routing vs a bare FastAPI endpoint, memory, failure detection.

    python benchmarks/bench_sm.py [--duration 5] [--no-postgres]

Every server runs as its own process with one uvicorn worker; the load generator is one asyncio
process with keep-alive connections (on a 2-core machine it shares the CPU with the server, for
both servers alike, which is why the ratio is the figure to read). PostgreSQL is started from
`initdb`/`pg_ctl` when they are on PATH.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "sm"))
from sm_pg import PgServer, free_port  # noqa: E402

ADMIN, NODE_KEY = "bench-admin", "bench-node"
# Node routes accept the admin token (acting for any node): the benchmarks beat for thousands of nodes
# with it instead of minting one credential each; the HMAC check it skips costs microseconds.
NODE = ADMIN
REGIONS = {"na-east": (39.0, -77.5), "na-west": (45.6, -121.2), "eu": (50.1, 8.7), "ap": (1.35, 103.8)}
BARE = """
from fastapi import FastAPI
app = FastAPI()
ANSWER = {"app": "live", "stream": "s", "node": {"id": "x", "name": "edge", "region": "r", "provider": "p",
          "engine": "nginx-rtmp", "public_host": "h", "private_host": "h"}, "origin": "o",
          "urls": {"rtmp": "rtmp://h:1935/live/s"}, "reservation": 1, "reserved_until": 0.0,
          "fallback": None, "fallback_reason": None}
@app.get("/api/v1/streams/{app_name}/{stream}/subscribe")
async def subscribe(app_name: str, stream: str):
    return ANSWER
"""


def _spawn(args: list[str], log: Path, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(args, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                            env={**os.environ, "CCDS_ADMIN_TOKEN": ADMIN, "CCDS_NODE_KEY": NODE_KEY, **(env or {})})


def _wait(url: str, timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def start_manager(db_url: str, tmp: Path, heartbeat_timeout: float) -> tuple[subprocess.Popen, str]:
    port = free_port()
    p = _spawn([sys.executable, "-m", "ccds_cli", "sm", "serve", "--port", str(port), "--database-url", db_url,
                "--heartbeat-timeout", str(heartbeat_timeout)], tmp / f"sm-{port}.log")
    base = f"http://127.0.0.1:{port}"
    _wait(f"{base}/api/v1/health")
    return p, base


def start_bare(tmp: Path, source: str = BARE, ready: str = "/api/v1/streams/live/s/subscribe"
               ) -> tuple[subprocess.Popen, str]:
    """The baseline: a bare FastAPI app (`source`) under the same uvicorn, ready once `ready` answers."""
    (tmp / "bare_app.py").write_text(source)
    port = free_port()
    p = _spawn([sys.executable, "-m", "uvicorn", "--app-dir", str(tmp), "bare_app:app", "--port", str(port),
                "--log-level", "warning", "--no-access-log"], tmp / "bare.log")
    base = f"http://127.0.0.1:{port}"
    _wait(f"{base}{ready}")
    return p, base


def populate(base: str, nodes: int = 200, streams: int = 1000) -> None:
    """200 nodes (20 origins, 180 edges over 4 regions) and 1,000 published streams."""
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {NODE}"}, timeout=10) as c:
        regions = list(REGIONS)
        for i in range(nodes):
            role = "origin" if i < nodes // 10 else "edge"
            region = regions[i % len(regions)]
            lat, lon = REGIONS[region]
            body = {"deployment": "bench", "name": f"{role}-{i}", "region": region, "provider": "p", "role": role,
                    "engine": "nginx-rtmp", "public_host": f"10.0.{i // 250}.{i % 250}", "private_host": "",
                    "capacity": 100 if role == "origin" else 1_000_000, "lat": lat, "lon": lon,
                    "endpoints": {"rtmp": f"rtmp://10.0.{i // 250}.{i % 250}:1935/live"}}
            node_id = c.post("/api/v1/nodes", json=body).json()["id"]
            c.post(f"/api/v1/nodes/{node_id}/heartbeat", json={"engine_ok": True, "subscribers": random.randint(0, 50)})
        for s in range(streams):
            r = c.post(f"/api/v1/streams/live/s{s}/publish", json={"region": regions[s % len(regions)]})
            r.raise_for_status()


async def _conn(host: str, port: int):
    return await asyncio.open_connection(host, port)


async def _request(reader, writer, path: str) -> int:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status


def _paths(n: int = 2000) -> list[str]:
    regions = list(REGIONS)
    return [f"/api/v1/streams/live/s{random.randrange(1000)}/subscribe?region={random.choice(regions)}"
            for _ in range(n)]


async def closed_loop(base: str, seconds: float, conns: int = 8) -> dict:
    """As fast as it goes: `conns` keep-alive connections, each sending its next request on answer."""
    host, port = base.split("//")[1].split(":")
    paths, lat, errors = _paths(), [], 0
    end = time.perf_counter() + seconds

    async def worker():
        nonlocal errors
        r, w = await _conn(host, int(port))
        i = random.randrange(len(paths))
        while time.perf_counter() < end:
            t = time.perf_counter()
            status = await _request(r, w, paths[i % len(paths)])
            lat.append(time.perf_counter() - t)
            errors += status != 200
            i += 1
        w.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(conns)))
    return _summary(lat, errors, time.perf_counter() - start)


async def open_loop(base: str, rate: float, seconds: float, conns: int = 32) -> dict:
    """A fixed arrival rate; latency counted from the scheduled send time (no coordinated omission)."""
    host, port = base.split("//")[1].split(":")
    paths, lat, errors = _paths(), [], 0
    pool: asyncio.Queue = asyncio.Queue()
    for _ in range(conns):
        pool.put_nowait(await _conn(host, int(port)))

    async def one(i: int, scheduled: float):
        nonlocal errors
        r, w = await pool.get()
        status = await _request(r, w, paths[i % len(paths)])
        lat.append(time.perf_counter() - scheduled)
        errors += status != 200
        pool.put_nowait((r, w))

    tasks, start, n = [], time.perf_counter(), int(rate * seconds)
    for i in range(n):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, scheduled)))
    await asyncio.gather(*tasks)
    return _summary(lat, errors, time.perf_counter() - start)


def _summary(lat: list[float], errors: int, elapsed: float) -> dict:
    lat = sorted(lat)
    q = lambda p: round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 2)  # noqa: E731
    return {"requests": len(lat), "errors": errors, "rps": round(len(lat) / elapsed, 1), "p50_ms": q(0.50),
            "p99_ms": q(0.99)}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def routing_bench(label: str, db_url: str, tmp: Path, bare: str, duration: float, rounds: int = 3) -> dict:
    """Alternate manager and bare rounds so a noisy neighbour hits both alike; report the median round."""
    proc, base = start_manager(db_url, tmp, heartbeat_timeout=3600)
    try:
        populate(base)
        asyncio.run(closed_loop(base, 1.0))  # warm-up
        asyncio.run(closed_loop(bare, 1.0))
        pairs = []
        for _ in range(rounds):
            sm = asyncio.run(closed_loop(base, duration / rounds))
            ref = asyncio.run(closed_loop(bare, duration / rounds))
            pairs.append((round(sm["rps"] / ref["rps"], 2), sm, ref))
        pairs.sort(key=lambda p: p[0])
        ratio, sm, ref = pairs[len(pairs) // 2]
        at300 = asyncio.run(open_loop(base, 300, duration))
        memory = rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return {"db": label, "subscribe": sm, "bare": ref, "ratio": ratio, "ratios": [p[0] for p in pairs],
            "at_300_rps": at300, "rss_mb": memory}


def detection_bench(tmp: Path, timeout: float, interval: float, rounds: int = 3) -> dict:
    """Node stops heartbeating -> FAULT -> no longer routed; the kill lands at a random point of its beat."""
    proc, base = start_manager(f"sqlite:///{tmp}/detect-{timeout}.db", tmp, heartbeat_timeout=timeout)
    node_h = {"Authorization": f"Bearer {NODE}"}
    admin_h = {"Authorization": f"Bearer {ADMIN}"}
    fault, unrouted = [], []
    try:
        with httpx.Client(base_url=base, timeout=5) as c:
            def up(name, role, region):
                body = {"deployment": "bench", "name": name, "region": region, "provider": "p", "role": role,
                        "engine": "nginx-rtmp", "capacity": 1000, "endpoints": {"rtmp": f"rtmp://{name}/live"}}
                nid = c.post("/api/v1/nodes", json=body, headers=node_h).json()["id"]
                c.post(f"/api/v1/nodes/{nid}/heartbeat", json={}, headers=node_h)
                return nid
            keep = [up("o", "origin", "a"), up("backup", "edge", "b")]
            c.post("/api/v1/streams/live/d/publish")
            for k in range(rounds):
                victim = up(f"victim-{k}", "edge", "a")
                for beat in range(3):  # beat like an agent, then die somewhere before the next beat
                    if beat:
                        time.sleep(interval)
                    for nid in keep + [victim]:
                        c.post(f"/api/v1/nodes/{nid}/heartbeat", json={}, headers=node_h)
                time.sleep(random.uniform(0, interval))
                killed = time.monotonic()
                got_fault = got_unrouted = None
                next_beat = killed
                while time.monotonic() - killed < timeout + 10 and (got_fault is None or got_unrouted is None):
                    if time.monotonic() >= next_beat:
                        for nid in keep:
                            c.post(f"/api/v1/nodes/{nid}/heartbeat", json={}, headers=node_h)
                        next_beat += interval
                    if got_unrouted is None and c.get("/api/v1/streams/live/d/subscribe",
                                                      params={"region": "a"}).json()["node"]["name"] == "backup":
                        got_unrouted = time.monotonic() - killed
                    if got_fault is None and c.get(f"/api/v1/nodes/victim-{k}", headers=admin_h).json()["state"] \
                            == "FAULT":
                        got_fault = time.monotonic() - killed
                    time.sleep(0.05)
                fault.append(got_fault)
                unrouted.append(got_unrouted)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return {"heartbeat_timeout_s": timeout, "interval_s": interval,
            "to_fault_s": [round(x, 2) if x is not None else None for x in fault],
            "to_unrouted_s": [round(x, 2) if x is not None else None for x in unrouted],
            "mean_unrouted_s": round(statistics.mean(x for x in unrouted if x is not None), 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=6.0, help="seconds of load per server and database")
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--json", action="store_true", help="print one JSON document instead of lines")
    args = ap.parse_args()
    results: dict = {"routing": [], "detection": []}
    with tempfile.TemporaryDirectory(prefix="bench-sm-") as d:
        tmp = Path(d)
        bare_proc, bare = start_bare(tmp)
        pg = None
        try:
            results["routing"].append(routing_bench("sqlite", f"sqlite:///{tmp}/bench.db", tmp, bare, args.duration))
            pg = PgServer(tmp / "pg")
            if not args.no_postgres and pg.available:
                pg.start()
                results["routing"].append(routing_bench("postgresql", pg.url, tmp, bare, args.duration))
            results["detection"].append(detection_bench(tmp, 6.0, 2.0))
            results["detection"].append(detection_bench(tmp, 3.0, 1.0))
        finally:
            bare_proc.terminate()
            bare_proc.wait(timeout=10)
            if pg is not None and pg.available:
                try:
                    pg.stop()
                except RuntimeError:
                    pass
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for r in results["routing"]:
        s, b, o = r["subscribe"], r["bare"], r["at_300_rps"]
        print(f"[{r['db']}] 200 nodes / 1,000 streams, one worker")
        print(f"  subscribe  {s['rps']:>8} req/s  p50 {s['p50_ms']} ms  p99 {s['p99_ms']} ms  errors {s['errors']}")
        print(f"  bare       {b['rps']:>8} req/s  p50 {b['p50_ms']} ms  p99 {b['p99_ms']} ms")
        print(f"  ratio      {r['ratio']}x of the bare endpoint (median of rounds {r['ratios']}; target >= 0.5x)")
        print(f"  at 300 req/s: p50 {o['p50_ms']} ms  p99 {o['p99_ms']} ms (target p99 < 20 ms)  errors {o['errors']}")
        print(f"  manager RSS after load: {r['rss_mb']} MB (target < 150 MB)")
    for d in results["detection"]:
        print(f"[failure detection] heartbeat timeout {d['heartbeat_timeout_s']} s, beat every {d['interval_s']} s: "
              f"not routed after {d['to_unrouted_s']} s (mean {d['mean_unrouted_s']} s), FAULT after {d['to_fault_s']} s")


if __name__ == "__main__":
    main()
