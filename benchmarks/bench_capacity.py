"""How many `ccds load` viewers one local nginx-rtmp edge holds at 1.5 Mbit/s before media stalls,
with the load client's own cost measured in the same run as the baseline.

    python benchmarks/bench_capacity.py [--steps 250,500,750,1000,1100] [--window 6]

What runs (all on loopback, everything stopped by PID at the end, about 2 minutes):
  * a stream manager, an origin and ONE edge (the local cloud's nginx config: `worker_processes 1`,
    `worker_connections 1024`), each with its node agent (heartbeat every 2 s, as on the local cloud);
  * one publisher through the manager (`POST …/publish`): ccds load's test pattern (H.264 CBR + AAC,
    1,500 kbit/s) encoded once into a 10 s clip, then looped with `-c copy`, so that encoding does
    not compete with the edge for CPU (`ccds load --publishers` encodes live);
  * baseline: 300 of our RTMP viewers played straight from the origin (no manager, no edge) for the
    window: the client's CPU per viewer -> viewers per core, and what nginx spends per viewer;
  * a reference viewer on the origin measures the stream's real bitrate in each window;
  * steps: `ccds load` viewers through the manager, all on the edge (the first step ramps at
    50 joins/s, which gives the join-time figure), each step held, then one window measured.

A viewer *stalls* in a window when it receives less than 90 % of the reference bitrate or waits more
than 1 s between two video frames (or it failed / dropped). A step *holds* when at most 1 % of its
viewers stall and the reference still gets 90 % of 1,500 kbit/s (else the machine, not the edge, ran
out). The edge's capacity is the largest step that held. When the load client itself is near a full
core, the figure is a floor set by the client, and the output says so.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "load"))

from loadhelp import ADMIN, Cluster, require_media_tools  # noqa: E402

from ccds_cli.load.engine import LoadOptions, LoadRun  # noqa: E402
from ccds_cli.load.manager import AsyncManager  # noqa: E402
from ccds_cli.load.publisher import ffmpeg_argv  # noqa: E402
from ccds_cli.load.report import percentile  # noqa: E402
from ccds_cli.load.rtmp import RtmpPlayer  # noqa: E402

KBPS = 1500
STALL_RATE, STALL_GAP, HOLD_SHARE = 0.90, 1.0, 0.01
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its children (nginx master + worker), from /proc."""
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / TICK
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return total
    return total + sum(cpu_seconds(int(k)) for k in kids)


class Window:
    """CPU and bytes of the client, the edge and the reference between start() and stop()."""

    def __init__(self, players: list[RtmpPlayer], ref: RtmpPlayer | None, nginx_pid: int):
        self.players, self.ref, self.nginx_pid = players, ref, nginx_pid

    def start(self) -> None:
        self.t0, self.c0, self.n0 = time.monotonic(), time.process_time(), cpu_seconds(self.nginx_pid)
        self.b0 = [p.stats.media_bytes for p in self.players]
        self.r0 = self.ref.stats.media_bytes if self.ref else 0
        for p in self.players:
            p.stats.max_video_gap = 0.0  # gaps inside this window only

    def stop(self) -> dict:
        secs = time.monotonic() - self.t0
        client = (time.process_time() - self.c0) / secs
        nginx = (cpu_seconds(self.nginx_pid) - self.n0) / secs
        rates = [(p.stats.media_bytes - b) * 8 / 1000 / secs for p, b in zip(self.players, self.b0)]
        ref = (self.ref.stats.media_bytes - self.r0) * 8 / 1000 / secs if self.ref else None
        now = time.monotonic()
        gaps = [max(p.stats.max_video_gap, now - (p.stats.last_video or now)) for p in self.players]
        return {"seconds": secs, "client_cores": client, "nginx_cores": nginx, "rates": rates, "ref_kbps": ref,
                "gaps": gaps}


async def baseline(origin_url: str, nginx_pid: int, n: int, window: float) -> dict:
    players = [RtmpPlayer(origin_url) for _ in range(n)]
    await asyncio.gather(*(p.open(timeout=10) for p in players))
    await asyncio.wait_for(asyncio.gather(*(p.first_media for p in players)), 20)
    await asyncio.sleep(2)
    w = Window(players, None, nginx_pid)
    w.start()
    await asyncio.sleep(window)
    m = w.stop()
    for p in players:
        p.close("done")
    await asyncio.gather(*(p.done for p in players))
    m["kbps"] = statistics.median(m["rates"])
    return m


def clip(path: Path) -> Path:
    """10 s of ccds load's publisher pattern at KBPS, encoded as fast as it goes (not in real time)."""
    argv = ffmpeg_argv(shutil.which("ffmpeg"), str(path), kbps=KBPS, size="640x360", seconds=10)
    argv.remove("-re")
    subprocess.run(argv, check=True, timeout=120, stdin=subprocess.DEVNULL)
    return path


async def publish_loop(manager_url: str, stream: str, media: Path, log: Path) -> asyncio.subprocess.Process:
    """Ask the manager for an origin and loop the clip there in real time (-re, -c copy)."""
    mgr = AsyncManager(manager_url)
    try:
        answer = await mgr.publish("live", stream)
    finally:
        await mgr.close()
    url = answer["urls"]["rtmp"]
    return await asyncio.create_subprocess_exec(
        shutil.which("ffmpeg"), "-nostdin", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", str(media),
        "-t", "600", "-c", "copy", "-f", "flv", url, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=open(log, "wb"), start_new_session=True)


async def main(args) -> int:
    require_media_tools()
    steps = [int(s) for s in args.steps.split(",")]
    with tempfile.TemporaryDirectory(prefix="ccds-bench-capacity-") as tmp:
        cluster = Cluster(Path(tmp), interval=2.0, heartbeat_timeout=8.0)
        publisher = None
        try:
            origin = cluster.add("origin-0", "origin", capacity=20)
            edge = cluster.add("edge-0", "edge", capacity=5000, pull=origin.rtmp)
            cluster.wait_inservice("origin-0", "edge-0")
            load1 = os.getloadavg()[0]
            print(f"machine: {os.cpu_count()} cores, load average {load1:.2f} before the run")
            opts = LoadOptions(bitrate_kbps=KBPS, media_timeout=15, connect_timeout=10)
            publisher = await publish_loop(cluster.url, "capacity", clip(Path(tmp) / "clip.flv"),
                                           Path(tmp) / "publisher.log")
            stream_url = f"{origin.rtmp}/capacity"
            async with LoadRun(cluster.url, ADMIN, publishers=0, stream="capacity", options=opts,
                               max_seconds=600) as run:
                base = await baseline(stream_url, origin.proc.pid, args.baseline, args.window)
                per_core = args.baseline / base["client_cores"] if base["client_cores"] else float("inf")
                print(f"baseline: {args.baseline} viewers on a bare nginx-rtmp at {base['kbps']:.0f} kbit/s each: "
                      f"client {base['client_cores'] * 100:.0f} % of a core -> {per_core:,.0f} viewers per core; "
                      f"nginx {base['nginx_cores'] * 100:.0f} % of a core")
                ref = RtmpPlayer(stream_url)
                await ref.open(timeout=10)
                await ref.first_media
                held, first_fail, join, client_bound = 0, None, None, False
                print(f"{'viewers':>8} {'holds':>6} {'kbps p5/p50':>12} {'ref':>6} {'stalled':>8} {'max gap':>8} "
                      f"{'client':>7} {'edge':>6}")
                for i, target in enumerate(steps):
                    add = target - len(run.viewers)
                    await run.add_viewers(add, ramp=50 if i == 0 else 200)
                    await run.wait_settled(30)
                    if i == 0:
                        joins = [v.join_ms for v in run.viewers if v.join_ms is not None]
                        join = (percentile(joins, 50), percentile(joins, 99), len(joins))
                    await asyncio.sleep(2)
                    playing = [v for v in run.viewers if v.player is not None and v.state == "playing"]
                    w = Window([v.player for v in playing], ref, edge.proc.pid)
                    w.start()
                    await asyncio.sleep(args.window)
                    m = w.stop()
                    lost = len(run.viewers) - len(playing)  # failed, dropped or never joined
                    bad = sum(r < STALL_RATE * m["ref_kbps"] or g > STALL_GAP for r, g in zip(m["rates"], m["gaps"]))
                    bad += lost + sum(v.state != "playing" for v in playing)
                    holds = bad <= HOLD_SHARE * target and m["ref_kbps"] >= STALL_RATE * KBPS
                    print(f"{target:>8} {'yes' if holds else 'NO':>6} "
                          f"{percentile(m['rates'], 5):>5.0f}/{percentile(m['rates'], 50):<6.0f} "
                          f"{m['ref_kbps']:>6.0f} {bad:>8} {max(m['gaps']) * 1000:>6.0f}ms "
                          f"{m['client_cores'] * 100:>6.0f}% {m['nginx_cores'] * 100:>5.0f}%", flush=True)
                    if holds:
                        held = target
                        client_bound = m["client_cores"] > 0.9
                    else:
                        first_fail = (target, bad, m)
                        break
                ref.close("done")
                causes = run.snapshot().failures
                details: dict[str, int] = {}
                for v in run.viewers:
                    if v.cause:
                        key = f"{v.cause}: {v.detail}"[:120]
                        details[key] = details.get(key, 0) + 1
            print()
            print(f"join time at 50 joins/s ({join[2]} viewers through the manager): p50 {join[0]:.0f} ms, "
                  f"p99 {join[1]:.0f} ms")
            print(f"load client: {per_core:,.0f} viewers per core at {KBPS} kbit/s (baseline, bare nginx-rtmp)")
            if first_fail:
                target, bad, m = first_fail
                print(f"one local nginx-rtmp edge holds {held:,} viewers at {KBPS} kbit/s; at {target:,}, {bad} "
                      f"stalled (< {STALL_RATE:.0%} of the stream's bitrate or a frame gap > {STALL_GAP:g} s)"
                      + (f"; failures {causes}" if any(causes.values()) else ""))
                if m["ref_kbps"] < STALL_RATE * KBPS:
                    print(f"  the stream itself fell to {m['ref_kbps']:.0f} kbit/s at the origin: the machine was "
                          f"saturated (load average {os.getloadavg()[0]:.2f}), not only the edge")
                for key, n in sorted(details.items(), key=lambda kv: -kv[1])[:4]:
                    print(f"  {n} x {key}")
            else:
                print(f"one local nginx-rtmp edge holds at least {held:,} viewers at {KBPS} kbit/s (no step stalled; "
                      f"worker_connections 1024 in the local config is the next limit)")
            if held and client_bound:
                print("note: the load client was near a full core at the last held step: the edge figure is a floor")
        finally:
            if publisher is not None and publisher.returncode is None:
                publisher.kill()
                await publisher.wait()
            cluster.close()
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", default="250,500,750,1000,1100", help="viewer totals to hold, ascending")
    parser.add_argument("--window", type=float, default=6.0, help="seconds measured per step")
    parser.add_argument("--baseline", type=int, default=300, help="viewers of the baseline on the bare origin")
    sys.exit(asyncio.run(main(parser.parse_args())))
