"""Helpers for the controller tests: a spec, compact observations, a recording actuator."""

from __future__ import annotations

from datetime import datetime, timezone

from ccds_cli.operate.model import ActResult, NodeObs, Observation, PoolObs, RegionObs
from ccds_cli.spec import load_spec

EVENT_START = datetime(2026, 12, 5, 1, 0, tzinfo=timezone.utc).timestamp()
T0 = EVENT_START - 86400  # a day before the event

SPEC = """\
version: 1
name: demo
engine: {kind: nginx-rtmp}
providers:
  laptop: {cloud: local}
  spare: {cloud: local, base_port: 19500}
  third: {cloud: local, base_port: 19700}
control:
  placement: [laptop/local]
  stream_managers: 1
  database: {engine: sqlite}
regions:
  na-east:
    placement: laptop/local
    failover: [spare/local, third/local]
    network: {cidr: 10.10.0.0/16}
    pools:
      origin: {instance_type: process, min: 1, max: 2, capacity: 20}
      edge:   {instance_type: process, min: 1, max: 6, capacity: 50}
%(na_extra)s
  eu-west:
    placement: laptop/local
    network: {cidr: 10.20.0.0/16}
    pools:
      origin: {instance_type: process, min: 1, max: 1, capacity: 20}
      edge:   {instance_type: process, min: 1, max: 3, capacity: 50}
%(eu_extra)s
security:
  publish_cidrs: [127.0.0.0/8]
  admin_cidrs: [127.0.0.0/8]
events:
  - {name: final, start: 2026-12-05T01:00:00Z, duration: 1h, prestage: 10m,
     expected_viewers: {na-east: 120}}
%(top_extra)s
"""


def make_spec(tmp_path, na_extra: str = "", eu_extra: str = "", top_extra: str = ""):
    path = tmp_path / "ccds.yaml"
    path.write_text(SPEC % {"na_extra": na_extra, "eu_extra": eu_extra, "top_extra": top_extra})
    return load_spec(path).spec


def nodes(region: str, role: str, loads: list[int], states: list[str] | None = None,
          cloud: list[str | None] | None = None, since: float | None = None, capacity: int = 50) -> tuple:
    out = []
    for i, load in enumerate(loads):
        state = states[i] if states else "INSERVICE"
        out.append(NodeObs(name=f"demo-{region}-{role}-{i}", role=role, index=i, state=state, load=load,
                           capacity=capacity, heartbeat_age=1.0, state_since=since if since is not None else T0 - 3600,
                           cloud_state=(cloud[i] if cloud else "running")))
    return tuple(out)


def pool(region: str, role: str, loads: list[int], desired: int | None = None, **kw) -> PoolObs:
    return PoolObs(role, len(loads) if desired is None else desired, nodes(region, role, loads, **kw))


def region(key: str, edge: PoolObs | list[int], origin: PoolObs | list[int] | None = None,
           placement: str = "laptop/local", demand: dict | None = None, cloud_error: str | None = None,
           extra: dict | None = None) -> RegionObs:
    if isinstance(edge, list):
        edge = pool(key, "edge", edge)
    if origin is None:
        origin = [1]
    if isinstance(origin, list):
        origin = pool(key, "origin", origin, capacity=20)
    pools = {"edge": edge, "origin": origin, **(extra or {})}
    return RegionObs(key, placement, pools, demand or {}, cloud_error)


def observe(now: float, *regions: RegionObs, manager_ok: bool = True, cloud_only: bool = False) -> Observation:
    return Observation(now, {r.key: r for r in regions}, manager_ok, None if manager_ok else "down",
                       cloud_only=cloud_only)


def cloud_pool(region: str, role: str, cloud: list[str], desired: int | None = None) -> PoolObs:
    """A pool as the cloud alone reports it (no manager knows the nodes: no state, no load)."""
    return PoolObs(role, len(cloud) if desired is None else desired,
                   tuple(NodeObs(name=f"demo-{region}-{role}-{i}", role=role, index=i, state=None, cloud_state=c)
                         for i, c in enumerate(cloud)))


def cloud_region(key: str, edge: list[str], origin: list[str] | None = None, placement: str = "laptop/local",
                 cloud_error: str | None = None, edge_desired: int | None = None) -> RegionObs:
    pools = {"edge": cloud_pool(key, "edge", edge, edge_desired),
             "origin": cloud_pool(key, "origin", origin or ["running"])}
    return RegionObs(key, placement, pools, {}, cloud_error)


class RecordingActuator:
    """The Actuator for policy/controller tests: records calls, answers what the test queued."""

    def __init__(self):
        self.calls: list[tuple] = []
        self.answers: list[ActResult] = []

    def _answer(self) -> ActResult:
        return self.answers.pop(0) if self.answers else ActResult(ok=True, duration=0.01)

    def set_counts(self, region, counts, reason):
        self.calls.append(("set_counts", region, dict(counts), reason))
        return self._answer()

    def replace(self, region, role, nodes, reason):
        self.calls.append(("replace", region, role, list(nodes), reason))
        return self._answer()

    def failover(self, region, target, reason, keep_old=False):
        self.calls.append(("failover", region, target, reason, keep_old))
        return self._answer()


class RecordingNodes:
    def __init__(self, fail: bool = False):
        self.calls: list[tuple] = []
        self.fail = fail

    def set_state(self, node, state, reason=""):
        if self.fail:
            from ccds_cli.sm.client import ManagerError

            raise ManagerError(400, "not heartbeating")
        self.calls.append((node, state, reason))
        return {"name": node, "state": state}


def client_of(mgr):
    """A ManagerClient speaking to an in-process manager (smhelp.Manager) with the admin token."""
    from fastapi.testclient import TestClient

    from ccds_cli.sm.client import ManagerClient

    c = ManagerClient("http://testserver", "admin-secret")
    c.http.close()
    c.http = TestClient(mgr.app, headers={"Authorization": "Bearer admin-secret"})
    return c
