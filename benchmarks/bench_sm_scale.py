"""Stream manager at fleet scale: heartbeats/s one manager absorbs at 200, 2,000 and 5,000 nodes,
subscribe latency while 2,000 nodes beat every 2 s and at the interval the manager asks for, and two workers vs one on PostgreSQL.

    python benchmarks/bench_sm_scale.py [--quick] [--duration 4] [--no-postgres] [--json]

Every server is its own process; the load generator is one asyncio process with 32 keep-alive
connections on loopback. Each beat is what a current agent sends once it is in step: its counters,
the peer version it holds and an unchanged stream list (a diff against its `streams_seq`). The
baseline is a bare FastAPI endpoint taking the same POST (JSON body, bearer header) in the same
run, alternated round by round with the manager so a noisy neighbour hits both alike; the figure to
read is the ratio. On a 2-core machine the client, the server and PostgreSQL share the cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_sm  # noqa: E402
from bench_sm import NODE, REGIONS, PgServer, _spawn, _summary, _wait, free_port  # noqa: E402

CONNS = 32
BARE = """
from fastapi import FastAPI
app = FastAPI()
@app.post("/api/v1/nodes/{node_id}/heartbeat")
async def heartbeat(node_id: str, body: dict):
    return {"id": node_id, "state": "INSERVICE", "peers": None, "peers_version": 1, "streams_seq": 1,
            "interval": None}
@app.get("/api/v1/health")
async def health():
    return {}
"""


def start_manager(db_url: str, tmp: Path, workers: int = 1) -> tuple:
    port = free_port()
    more = ["--workers", str(workers)] if workers > 1 else []
    p = _spawn([sys.executable, "-m", "ccds_cli", "sm", "serve", "--port", str(port), "--database-url", db_url,
                "--heartbeat-timeout", "3600", *more], tmp / f"sm-{port}.log")
    base = f"http://127.0.0.1:{port}"
    _wait(f"{base}/api/v1/health", timeout=60)
    if workers > 1:
        time.sleep(2.0)  # every worker up (the first answers health before the others listen)
    return p, base


def start_bare(tmp: Path) -> tuple:
    return bench_sm.start_bare(tmp, BARE, "/api/v1/health")


def stop(proc) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except Exception:
        proc.kill()
        proc.wait(timeout=10)


# --- a lean HTTP/1.1 client ---------------------------------------------------------------------

async def _send(reader, writer, method: str, path: str, body: bytes | None = None,
                token: str = NODE) -> tuple[int, bytes, dict]:
    head = f"{method} {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    writer.write(head.encode() + b"\r\n" + (body or b""))
    raw = await reader.readuntil(b"\r\n\r\n")
    status, length, headers = int(raw[9:12]), 0, {}
    for line in raw.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        headers[k.strip().lower().decode()] = v.strip().decode()
    length = int(headers.get("content-length", 0))
    return status, await reader.readexactly(length), headers


def _addr(base: str) -> tuple[str, int]:
    host, port = base.split("//")[1].split(":")
    return host, int(port)


async def register(base: str, first: int, count: int, beats: dict) -> None:
    """Register nodes [first, first+count) (10 % origins, the rest edges) and beat each once, as an
    agent does; `beats` gets each node's id, peer version and stream sequence number."""
    host, port = _addr(base)
    regions = list(REGIONS)
    todo = list(range(first, first + count))

    async def worker():
        r, w = await asyncio.open_connection(host, port)
        while todo:
            i = todo.pop()
            role = "origin" if i % 10 == 0 else "edge"
            region = regions[i % len(regions)]
            lat, lon = REGIONS[region]
            ip = f"10.{i // 62500}.{i // 250 % 250}.{i % 250}"
            body = {"deployment": "bench", "name": f"{role}-{i}", "region": region, "provider": "p", "role": role,
                    "engine": "nginx-rtmp", "public_host": ip, "private_host": "", "lat": lat, "lon": lon,
                    "capacity": 100 if role == "origin" else 1_000_000, "endpoints": {"rtmp": f"rtmp://{ip}:1935/live"}}
            status, raw, _ = await _send(r, w, "POST", "/api/v1/nodes", json.dumps(body).encode())
            assert status == 201, raw
            nid = json.loads(raw)["id"]
            status, raw, _ = await _send(r, w, "POST", f"/api/v1/nodes/{nid}/heartbeat", b'{"engine_ok": true}')
            assert status == 200, raw
            got = json.loads(raw)
            beats[i] = (nid, got.get("peers_version"), got.get("streams_seq"))
        w.close()

    await asyncio.gather(*(worker() for _ in range(16)))


def _beat_body(version, seq, subscribers: int) -> bytes:
    return json.dumps({"engine_ok": True, "subscribers": subscribers, "peers_version": version,
                       "streams_base": seq}).encode()


async def closed_loop(base: str, beats: dict, seconds: float) -> dict:
    """Heartbeats as fast as the server takes them: every connection sends its next on the answer."""
    host, port = _addr(base)
    nodes = list(beats.values())
    lat, errors, full_lists = [], 0, 0
    end = time.perf_counter() + seconds

    async def worker(k: int):
        nonlocal errors, full_lists
        r, w = await asyncio.open_connection(host, port)
        i = k
        while time.perf_counter() < end:
            nid, version, seq = nodes[i % len(nodes)]
            t = time.perf_counter()
            status, raw, _ = await _send(r, w, "POST", f"/api/v1/nodes/{nid}/heartbeat",
                                         _beat_body(version, seq, i % 50))
            lat.append(time.perf_counter() - t)
            errors += status != 200
            full_lists += b'"peers":[' in raw
            i += CONNS
        w.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(CONNS)))
    out = _summary(lat, errors, time.perf_counter() - start)
    out["full_peer_lists"] = full_lists
    return out


def compare(base: str, bare: str, beats: dict, duration: float, rounds: int) -> dict:
    asyncio.run(closed_loop(base, beats, 1.0))  # warm-up
    asyncio.run(closed_loop(bare, beats, 1.0))
    pairs = []
    for _ in range(rounds):
        sm = asyncio.run(closed_loop(base, beats, duration / rounds))
        ref = asyncio.run(closed_loop(bare, beats, duration / rounds))
        pairs.append((round(sm["rps"] / ref["rps"], 2), sm, ref))
    pairs.sort(key=lambda p: p[0])
    ratio, sm, ref = pairs[len(pairs) // 2]
    return {"nodes": len(beats), "heartbeat": sm, "bare": ref, "ratio": ratio, "ratios": [p[0] for p in pairs]}


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def children(pid: int) -> list[int]:
    out = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids = (task / "children").read_text().split()
        for k in kids:
            out += children(int(k))
    return out


async def open_loop(base: str, rate: float, seconds: float, request) -> dict:
    """`request(reader, writer, i)` at a fixed arrival rate; latency counted from the scheduled send time
    (no coordinated omission)."""
    host, port = _addr(base)
    pool: asyncio.Queue = asyncio.Queue()
    for _ in range(CONNS):
        pool.put_nowait(await asyncio.open_connection(host, port))
    lat, errors = [], 0

    async def one(i: int, scheduled: float):
        nonlocal errors
        r, w = await pool.get()
        status = await request(r, w, i)
        lat.append(time.perf_counter() - scheduled)
        errors += status != 200
        pool.put_nowait((r, w))

    tasks, start = [], time.perf_counter()
    for i in range(int(rate * seconds)):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, scheduled)))
    await asyncio.gather(*tasks)
    return _summary(lat, errors, time.perf_counter() - start)


def _beats_process(base: str, nodes: list, rate: float, seconds: float, out) -> None:
    async def beat(r, w, i):
        nid, version, seq = nodes[i % len(nodes)]
        return (await _send(r, w, "POST", f"/api/v1/nodes/{nid}/heartbeat", _beat_body(version, seq, 0)))[0]

    out.put(asyncio.run(open_loop(base, rate, seconds, beat)))


def beat_while_subscribing(base: str, beats: dict, period: float, sub_rate: float, seconds: float,
                           streams: int) -> dict:
    """Every node beats once per `period` (from a second client process), while viewers subscribe at
    `sub_rate` (from this one): the subscribe latency is the figure."""
    import multiprocessing

    regions = list(REGIONS)
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    beater = ctx.Process(target=_beats_process, args=(base, list(beats.values()), len(beats) / period, seconds, q))
    beater.start()

    async def subscribe(r, w, i):
        path = f"/api/v1/streams/live/s{random.randrange(streams)}/subscribe?region={random.choice(regions)}"
        return (await _send(r, w, "GET", path))[0]

    time.sleep(0.5)  # the beats are flowing before the first viewer
    subs = asyncio.run(open_loop(base, sub_rate, seconds - 1.0, subscribe))
    beat_summary = q.get(timeout=seconds + 60)
    beater.join(timeout=30)
    return {"beats": beat_summary, "subscribe": subs}


def publish(base: str, n: int) -> None:
    with httpx.Client(base_url=base, timeout=10) as c:
        regions = list(REGIONS)
        for s in range(n):
            c.post(f"/api/v1/streams/live/s{s}/publish", json={"region": regions[s % len(regions)]}).raise_for_status()


def scale_run(label: str, db_url: str, tmp: Path, bare: str, sizes: list[int], duration: float, rounds: int,
              mixed_nodes: int, mixed_seconds: float) -> dict:
    proc, base = start_manager(db_url, tmp)
    beats: dict = {}
    out: dict = {"db": label, "sizes": [], "mixed": None, "paced": None}
    try:
        have = 0
        for n in sizes:
            t = time.perf_counter()
            asyncio.run(register(base, have, n - have, beats))
            joins = round((n - have) / (time.perf_counter() - t), 1)
            have = n
            # a current agent holds the version of the last change: refresh what each node knows
            asyncio.run(_refresh(base, beats))
            row = compare(base, bare, beats, duration, rounds)
            row["joins_per_s"] = joins
            out["sizes"].append(row)
            if n == mixed_nodes:
                publish(base, 200)
                pids = children(proc.pid)
                cpu0, t0 = cpu_seconds(pids), time.perf_counter()
                mixed = beat_while_subscribing(base, beats, 2.0, 300.0, mixed_seconds, 200)
                mixed["nodes"] = len(beats)
                mixed["manager_cpu"] = round((cpu_seconds(pids) - cpu0) / (time.perf_counter() - t0), 2)
                out["mixed"] = mixed
                # The same fleet beating as real agents do: at the interval the manager asks for
                # (`--max-beat-rate`, 500 beats/s by default), the subscribe figure again.
                asked = asked_interval(base, beats)
                if asked:
                    cpu0, t0 = cpu_seconds(pids), time.perf_counter()
                    paced = beat_while_subscribing(base, beats, asked, 300.0, mixed_seconds, 200)
                    paced.update(nodes=len(beats), interval=asked,
                                 manager_cpu=round((cpu_seconds(pids) - cpu0) / (time.perf_counter() - t0), 2))
                    out["paced"] = paced
    finally:
        stop(proc)
    return out


def asked_interval(base: str, beats: dict, wait: float = 12.0) -> float | None:
    """The beat interval the manager's leader asks of this fleet (it recounts every 5 s), or None."""
    nid, version, seq = next(iter(beats.values()))
    deadline = time.monotonic() + wait
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {NODE}"}, timeout=10) as c:
        while time.monotonic() < deadline:
            got = c.post(f"/api/v1/nodes/{nid}/heartbeat", content=_beat_body(version, seq, 0),
                         headers={"Content-Type": "application/json"}).json().get("interval")
            if got:
                return float(got)
            time.sleep(1.0)
    return None


async def _refresh(base: str, beats: dict) -> None:
    host, port = _addr(base)
    r, w = await asyncio.open_connection(host, port)
    for i, (nid, _, seq) in list(beats.items()):
        status, raw, _ = await _send(r, w, "POST", f"/api/v1/nodes/{nid}/heartbeat", _beat_body(None, seq, 0))
        got = json.loads(raw)
        beats[i] = (nid, got.get("peers_version"), got.get("streams_seq"))
    w.close()


def workers_run(pg_url_for, tmp: Path, nodes: int, duration: float) -> dict:
    """The same heartbeat load against one worker, then two, each on a fresh database."""
    out = {}
    for workers in (1, 2):
        proc, base = start_manager(pg_url_for(), tmp, workers=workers)
        beats: dict = {}
        try:
            asyncio.run(register(base, 0, nodes, beats))
            asyncio.run(_refresh(base, beats))
            asyncio.run(closed_loop(base, beats, 1.0))
            out[workers] = asyncio.run(closed_loop(base, beats, duration))
        finally:
            stop(proc)
    out["ratio"] = round(out[2]["rps"] / out[1]["rps"], 2)
    out["nodes"] = nodes
    return out


def database_ceiling(url: str, nodes: int, seconds: float) -> dict:
    """What one PostgreSQL takes with no manager in front: the lean beat statement (`beat._PG_BEAT`)
    from 16 asyncpg connections over `nodes` node rows, and registrations (`Store.register`, one
    transaction each, the deployment's peer version bumped) from 8 threads."""
    import threading

    from ccds_cli.sm.beat import _PG_BEAT, PEER_ROLES, SOURCE_ROLES
    from ccds_cli.sm.pgasync import AsyncPgPool
    from ccds_cli.sm.settings import Settings
    from ccds_cli.sm.store import Store

    store = Store(Settings(database_url=url, run_background=False))
    store.migrate()

    def reg(i: int, prefix: str = "n") -> str:
        return store.register({"deployment": "ceiling", "name": f"{prefix}{i}", "region": "r", "provider": "p",
                               "role": "edge", "engine": "nginx-rtmp", "public_host": f"h{i}", "private_host": "",
                               "capacity": 100, "lat": None, "lon": None, "endpoints": {}, "stats_url": ""})["id"]

    counter = iter(range(10**9))
    ids, end = [], time.perf_counter() + seconds

    def joiner():
        while time.perf_counter() < end:
            ids.append(reg(next(counter)))

    threads = [threading.Thread(target=joiner) for _ in range(8)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    joins = len(ids) / (time.perf_counter() - t)
    while len(ids) < nodes:
        ids.append(reg(next(counter)))
    with store.tx() as conn:  # every node in service, as in a running deployment
        conn.exec_driver_sql("UPDATE nodes SET state = 'INSERVICE'")
    pool = AsyncPgPool(url, size=16)
    done = 0

    async def beater(k: int):
        nonlocal done
        i, stop_at = k, time.perf_counter() + seconds
        while time.perf_counter() < stop_at:
            params = {"id": ids[i % len(ids)], "pub": 0, "subs": i % 50, "relays": 0, "bwin": 0, "bwout": 0,
                      "ok": True, "now": time.time(), "states": ["INSERVICE", "SUNSET"], "peerroles": list(PEER_ROLES),
                      "sourceroles": list(SOURCE_ROLES), "changes": False, "base": 1, "full": None, "drop": "[]",
                      "upsert": "[]", "grace": time.time() - 4, "scope": "ceiling"}
            await pool.fetch_one(_PG_BEAT, params)
            done += 1
            i += 16

    async def run():
        t = time.perf_counter()
        await asyncio.gather(*(beater(k) for k in range(16)))
        rate = done / (time.perf_counter() - t)
        await pool.close()
        return rate

    beats = asyncio.run(run())
    store.close()
    return {"nodes": len(ids), "beats_per_s": round(beats, 1), "joins_per_s": round(joins, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="200 and 1,000 nodes, short rounds (a few minutes)")
    ap.add_argument("--duration", type=float, default=None, help="seconds of load per size and server")
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--json", action="store_true", help="print one JSON document instead of lines")
    ap.add_argument("--out", type=Path, help="also write the JSON document to this file")
    ap.add_argument("--ceiling-only", action="store_true", help="only the PostgreSQL ceiling (no manager)")
    args = ap.parse_args()
    sizes = [200, 1000] if args.quick else [200, 2000, 5000]
    mixed_nodes = sizes[-1] if args.quick else 2000
    duration = args.duration or (2.0 if args.quick else 6.0)
    rounds = 1 if args.quick else 3
    mixed_seconds = 4.0 if args.quick else 10.0
    results: dict = {"runs": [], "workers": None, "ceiling": None}
    with tempfile.TemporaryDirectory(prefix="bench-sm-scale-") as d:
        tmp = Path(d)
        bare_proc, bare = start_bare(tmp)
        pg = PgServer(tmp / "pg")
        try:
            if not args.ceiling_only:
                results["runs"].append(scale_run("sqlite", f"sqlite:///{tmp}/scale.db", tmp, bare, sizes, duration,
                                                 rounds, mixed_nodes, mixed_seconds))
            if not args.no_postgres and pg.available:
                pg.start()
                results["ceiling"] = database_ceiling(pg.new_database(), 2000 if args.quick else 10_000,
                                                      duration)
            if not args.no_postgres and pg.available and not args.ceiling_only:
                results["runs"].append(scale_run("postgresql", pg.new_database(), tmp, bare, sizes, duration,
                                                 rounds, mixed_nodes, mixed_seconds))
                results["workers"] = workers_run(pg.new_database, tmp, mixed_nodes, duration)
        finally:
            stop(bare_proc)
            if pg.available:
                try:
                    pg.stop()
                except RuntimeError:
                    pass
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for run in results["runs"]:
        print(f"[{run['db']}] one manager, one worker; heartbeats from a lean client, {CONNS} connections")
        first = run["sizes"][0]["heartbeat"]["rps"]
        for row in run["sizes"]:
            h, b = row["heartbeat"], row["bare"]
            print(f"  {row['nodes']:>5} nodes: {h['rps']:>7} beats/s  p50 {h['p50_ms']} ms  p99 {h['p99_ms']} ms  "
                  f"errors {h['errors']}  full peer lists {h['full_peer_lists']}  | bare {b['rps']} req/s  ratio {row['ratio']}x (rounds {row['ratios']})  "
                  f"| vs 200 nodes {round(h['rps'] / first, 2)}x  | joins {row['joins_per_s']}/s  "
                  f"| nodes a manager hears at a 2 s beat: {int(h['rps'] * 2):,}")
        m = run["mixed"]
        if m:
            s, bt = m["subscribe"], m["beats"]
            print(f"  {m['nodes']:,} nodes beating every 2 s ({bt['rps']} beats/s, p99 {bt['p99_ms']} ms, errors {bt['errors']})"
                  f" + subscribe at {s['rps']} req/s: subscribe p50 {s['p50_ms']} ms  p99 {s['p99_ms']} ms "
                  f"(goal < 20 ms)  errors {s['errors']}; manager CPU {m['manager_cpu']} cores")
        m = run.get("paced")
        if m:
            s, bt = m["subscribe"], m["beats"]
            print(f"  paced: the manager asks {m['nodes']:,} nodes for a beat every {m['interval']:g} s "
                  f"({bt['rps']} beats/s, p99 {bt['p99_ms']} ms) + subscribe at {s['rps']} req/s: subscribe p50 "
                  f"{s['p50_ms']} ms  p99 {s['p99_ms']} ms (goal < 20 ms)  errors {s['errors']}; manager CPU "
                  f"{m['manager_cpu']} cores")
    c = results["ceiling"]
    if c:
        print(f"[postgresql alone] {c['nodes']:,} nodes: {c['beats_per_s']} lean beat statements/s from 16 "
              f"connections ({int(c['beats_per_s'] * 2):,} nodes at a 2 s beat); {c['joins_per_s']} registrations/s "
              f"from 8 threads")
    w = results["workers"]
    if w:
        print(f"[postgresql] {w['nodes']:,} nodes: 1 worker {w[1]['rps']} beats/s (p99 {w[1]['p99_ms']} ms), 2 workers "
              f"{w[2]['rps']} beats/s (p99 {w[2]['p99_ms']} ms): {w['ratio']}x (goal >= 1.6x)")


if __name__ == "__main__":
    main()
