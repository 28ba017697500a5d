"""Prometheus metrics of one stream manager (prometheus-client, one registry per app).

Request counters and latency histograms are updated on the request path: one `observe()` per
request, no database access. Everything about the fleet (nodes by region, role and state, load and
capacity per pool, viewers, publishers, streams, the leader) is read from the database once per
scrape by `FleetCollector`, so a scrape costs two queries whatever the request rate.

One process (the default, and always on SQLite): the counters are in memory and registered with the
served registry, as prometheus-client does by default; no files, no directory.

`ccds sm serve --workers N` (N > 1): the library's multiprocess mode. The command makes a private
directory (`workers_metrics_dir`: new and empty, 0700, removed when the manager exits) and puts it in
PROMETHEUS_MULTIPROC_DIR before the workers start, so each worker's counters and histograms live in
its own mmap-backed file there; whichever worker answers a scrape sums every worker's files
(`WorkersCollector`, the library's `MultiProcessCollector`), so the counters are the manager's, and a
worker that exits keeps its counts in the sum (counters stay monotonic across a worker's restart).
The fleet gauges are still read once per scrape by the answering worker. `ccds_sm_leader` is one
series per manager (`instance` = the manager's id): a `livemax` gauge each worker sets when it takes
or loses the advisory lock, so it says 1 when any worker of this manager leads. A worker's shutdown
marks it dead (`mark_process_dead`: its leader value leaves the max); a worker killed without a
shutdown is marked at the next scrape, which checks the pids of the files. `process_*` metrics are
those of every live worker, labelled `pid` (sum them for the manager; the supervising parent process
only waits). The request path costs the same one `observe()`: an mmap write per value instead of a
float add, 3.4-3.8 us per request instead of 1.2-1.9 us (2.0-2.9x; `benchmarks/bench_sm_metrics.py`),
well under 1 % of a request that takes a millisecond or more of CPU.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import shutil
import tempfile
import time
import uuid
from typing import Any, Iterable, Iterator

from fastapi import HTTPException
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

from ccds_cli.sm.store import NoCapacity, NotFound

log = logging.getLogger("ccds.sm.metrics")

# Subscribe answers in ~0.1-10 ms (README figures); publish takes a row lock per origin tried.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
OTHER_REGION = "other"  # a requested region the manager has no node in (labels stay bounded)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client's own switch to its multiprocess mode
MANAGER_ENV = "CCDS_SM_MANAGER_ID"  # the `instance` of a multi-worker manager's leader gauge
LEADER_HELP = "1 when this manager runs the background work."
LEADER_FILES = "gauge_livemax_"  # the leader gauge's files: one per live worker (pid in the name)


@contextlib.contextmanager
def workers_metrics_dir() -> Iterator[str]:
    """For `ccds sm serve --workers N`: the workers' metric files' directory, in the environment the
    workers inherit (set before they start), and removed with its files when the manager stops. A new
    directory each start: nothing of an earlier run is summed, and nobody else shares it (0700)."""
    path = tempfile.mkdtemp(prefix="ccds-sm-metrics-")
    saved = {k: os.environ.get(k) for k in (MULTIPROC_ENV, MANAGER_ENV)}
    os.environ[MULTIPROC_ENV] = path
    os.environ[MANAGER_ENV] = f"{os.uname().nodename}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class Metrics:
    """`registry` is what /metrics serves. Request-path metrics register with `values`: the served
    registry in one process; none in a worker of several (their files are summed at scrape)."""

    def __init__(self, store: Any, leader: Any, workers: bool = False):
        self.store = store
        self.registry = CollectorRegistry(auto_describe=True)
        self.multiprocess_dir = os.environ.get(MULTIPROC_ENV) if workers else None
        if workers and not (self.multiprocess_dir and values.ValueClass._multiprocess):
            raise RuntimeError(f"a worker's metrics need {MULTIPROC_ENV} set before prometheus_client is imported")
        self.values = None if workers else self.registry
        r = self.values
        self.requests = Counter("ccds_sm_requests", "Publish and subscribe requests by result.",
                                ["action", "result"], registry=r)
        self.latency = Histogram("ccds_sm_request_duration_seconds",
                                 "Time to answer a publish or subscribe request.", ["action"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.refused = Counter("ccds_sm_refused_joins",
                               "Viewers refused for lack of edge capacity (503), by requested region.",
                               ["region"], registry=r)
        self.fallbacks = Counter("ccds_sm_hls_fallbacks",
                                 "Subscribe answers that sent the viewer to HLS, by requested region.",
                                 ["region"], registry=r)
        # Children resolved once (so rates exist at 0 before the first request, and the request path
        # skips the label lookup: about 2 us per request instead of 7, measured with timeit)
        self._latency = {a: self.latency.labels(a) for a in ("publish", "subscribe")}
        self._requests = {(a, r): self.requests.labels(a, r) for a in ("publish", "subscribe")
                          for r in ("ok", "fallback", "refused", "not_found", "denied", "error")}
        self._regions: tuple[float, frozenset[str]] = (0.0, frozenset())
        if self.multiprocess_dir is None:
            ProcessCollector(registry=r)
        else:
            gauge = Gauge("ccds_sm_leader", LEADER_HELP, ["instance"], multiprocess_mode="livemax", registry=None)
            leader.watch(gauge.labels(os.environ.get(MANAGER_ENV) or store.settings.instance_id).set)
            self.registry.register(WorkersCollector(self.multiprocess_dir))
        self.registry.register(FleetCollector(store, leader, with_leader=self.multiprocess_dir is None))

    def close(self) -> None:
        """At a worker's shutdown: out of the leader gauge's max (its counts stay in the sums)."""
        if self.multiprocess_dir is not None:
            mark_process_dead(os.getpid(), self.multiprocess_dir)

    def refused_total(self) -> float:
        """Viewers refused so far by this manager (all its workers)."""
        if self.multiprocess_dir is None:
            families = self.refused.collect()
        else:
            files = glob.glob(os.path.join(self.multiprocess_dir, "counter_*.db"))
            families = [f for f in MultiProcessCollector.merge(files) if f.name == "ccds_sm_refused_joins"]
        return sum(s.value for f in families for s in f.samples if s.name.endswith("_total"))

    def region_label(self, region: str | None) -> str:
        """The requested region as a label, when the manager has nodes there: clients choose what
        they send, and every label value is a time series kept forever."""
        if not region:
            return ""
        at, known = self._regions
        if region not in known and time.monotonic() - at > 5.0:  # refusals only: at most one read per 5 s
            known = frozenset(self.store.known_regions())
            self._regions = (time.monotonic(), known)
        return region if region in known else OTHER_REGION

    def observe(self, action: str, result: str, seconds: float, region: str | None = None) -> None:
        self._requests[action, result].inc()
        self._latency[action].observe(seconds)
        if action == "subscribe" and result == "refused":
            self.refused.labels(self.region_label(region)).inc()
        elif action == "subscribe" and result == "fallback":
            self.fallbacks.labels(self.region_label(region)).inc()


def result_of(exc: BaseException | None, answer: Any = None) -> str:
    """The `result` label of a request that raised `exc` (None: answered)."""
    if exc is None:
        return "fallback" if isinstance(answer, dict) and answer.get("fallback") else "ok"
    if isinstance(exc, NoCapacity):
        return "refused"
    if isinstance(exc, NotFound):
        return "not_found"
    if isinstance(exc, HTTPException) and exc.status_code in (401, 403):
        return "denied"
    return "error"


class WorkersCollector(Collector):
    """The request metrics of every worker of one manager, summed from their files in `path` (the
    library's MultiProcessCollector), and the process metrics of each live worker, labelled `pid`."""

    def __init__(self, path: str):
        self.path = path

    def describe(self) -> Iterable:
        return []  # the families are whatever the workers wrote: nothing to check at registration

    def live_workers(self) -> list[int]:
        """The pids of the workers alive now; one that died without its shutdown is marked dead here."""
        live = []
        for f in glob.glob(os.path.join(self.path, f"{LEADER_FILES}*.db")):
            pid = os.path.basename(f)[len(LEADER_FILES):-len(".db")]
            if not pid.isdigit():
                continue
            if _alive(int(pid)):
                live.append(int(pid))
                continue
            with contextlib.suppress(FileNotFoundError):  # another scrape (or worker) marked it first
                mark_process_dead(int(pid), self.path)
        return sorted(live)

    def collect(self) -> Iterable:
        pids = self.live_workers()
        yield from MultiProcessCollector(None, self.path).collect()
        merged: dict[str, Metric] = {}
        for pid in pids:
            for fam in ProcessCollector(pid=lambda p=pid: p, registry=None).collect():
                out = merged.setdefault(fam.name, Metric(fam.name, fam.documentation, fam.type))
                out.samples += [s._replace(labels={**s.labels, "pid": str(pid)}) for s in fam.samples]
        yield from merged.values()


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, exited but not yet reaped by the supervisor, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[-1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True  # no /proc: kill(0) is all there is


class FleetCollector(Collector):
    """Gauges computed at scrape time from the node registry (never on the request path)."""

    def __init__(self, store: Any, leader: Any, with_leader: bool = True):
        self.store = store
        self.leader = leader
        self.with_leader = with_leader  # workers of one manager serve it from their files instead

    def describe(self) -> Iterable:
        return []  # gauges depend on the database: nothing to check at registration

    def collect(self) -> Iterable:
        up = GaugeMetricFamily("ccds_sm_database_up", "1 when the last scrape could read the database.")
        if self.with_leader:
            leader = GaugeMetricFamily("ccds_sm_leader", LEADER_HELP, labels=["instance"])
            leader.add_metric([self.store.settings.instance_id], 1.0 if self.leader.is_leader else 0.0)
            yield leader
        pace = GaugeMetricFamily("ccds_sm_beat_interval_seconds", "The beat interval the managers ask of their "
                                 "agents as the fleet grows (0: each agent's own, 2 s by default).")
        pace.add_metric([], float(self.store.pace.interval or 0.0))
        fault = GaugeMetricFamily("ccds_sm_fault_timeout_seconds", "Seconds of silence after which a node is FAULT "
                                  "(the heartbeat timeout, or 3 asked beat intervals when longer).")
        fault.add_metric([], self.store.fault_timeout())
        yield pace
        yield fault
        try:
            snapshot = self.store.metrics_snapshot()
        except Exception as exc:  # a scrape must answer even while the database is away
            log.warning("metrics: database unreadable: %s", exc)
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        yield up
        yield from fleet_families(snapshot)


def fleet_families(snap: dict) -> Iterable:
    nodes = GaugeMetricFamily("ccds_sm_nodes", "Registered nodes by region, role and state "
                              "(a node silent past the heartbeat timeout counts as FAULT).",
                              labels=["region", "role", "state"])
    load = GaugeMetricFamily("ccds_sm_pool_load", "Load of a pool's INSERVICE nodes: viewers + reserved "
                             "slots on edges, publishers on origins.", labels=["region", "role"])
    capacity = GaugeMetricFamily("ccds_sm_pool_capacity", "Capacity of a pool's INSERVICE nodes.",
                                 labels=["region", "role"])
    node_load = GaugeMetricFamily("ccds_sm_node_load", "Load of one node (as in ccds_sm_pool_load).",
                                  labels=["region", "role", "node", "state"])
    node_capacity = GaugeMetricFamily("ccds_sm_node_capacity", "Capacity of one node.",
                                      labels=["region", "role", "node"])
    beat_age = GaugeMetricFamily("ccds_sm_node_heartbeat_age_seconds", "Seconds since a node's last heartbeat.",
                                 labels=["region", "role", "node"])
    viewers = GaugeMetricFamily("ccds_sm_viewers", "Viewers counted by INSERVICE edges, by region.",
                                labels=["region"])
    reserved = GaugeMetricFamily("ccds_sm_reserved_slots", "Viewer slots promised by subscribe and not yet "
                                 "counted by the edge, by region.", labels=["region"])
    publishers = GaugeMetricFamily("ccds_sm_publishers", "Publishers counted by INSERVICE origins, by region.",
                                   labels=["region"])
    streams = GaugeMetricFamily("ccds_sm_live_streams", "Streams an origin reported live within the "
                                "heartbeat timeout.")
    events = GaugeMetricFamily("ccds_sm_events", "Events the managers recorded (node transitions, decisions), "
                               "by kind.", labels=["kind"])
    for (region, role, state), n in sorted(snap["nodes"].items()):
        nodes.add_metric([region, role, state], n)
    for (region, role), pool in sorted(snap["pools"].items()):
        load.add_metric([region, role], pool["load"])
        capacity.add_metric([region, role], pool["capacity"])
    for n in snap["per_node"]:
        node_load.add_metric([n["region"], n["role"], n["name"], n["state"]], n["load"])
        node_capacity.add_metric([n["region"], n["role"], n["name"]], n["capacity"])
        beat_age.add_metric([n["region"], n["role"], n["name"]], n["heartbeat_age"])
    for region, r in sorted(snap["regions"].items()):
        viewers.add_metric([region], r["viewers"])
        reserved.add_metric([region], r["reserved"])
        publishers.add_metric([region], r["publishers"])
    streams.add_metric([], snap["live_streams"])
    for kind, n in sorted(snap["events"].items()):
        events.add_metric([kind], n)
    return [nodes, load, capacity, node_load, node_capacity, beat_age, viewers, reserved, publishers, streams,
            events]
