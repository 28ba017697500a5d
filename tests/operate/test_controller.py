"""The loop with a fake Actuator and a real stream manager (lease, node states, load): ledger lines,
one acting controller and takeover, backoff, locked deployment, stop and interrupt."""

from __future__ import annotations

import pytest
from ophelp import SPEC, RecordingActuator, RecordingNodes, client_of, observe, region
from smhelp import ADMIN

from ccds_cli.clouds.base import InstanceInfo
from ccds_cli.operate import state
from ccds_cli.operate.controller import Controller
from ccds_cli.operate.lease import ManagerLease
from ccds_cli.operate.model import ActResult, Memory
from ccds_cli.operate.observe import Observer
from ccds_cli.spec import load_spec
from ccds_cli.state.ledger import Ledger

TTL = 12.0


class Mono:
    """A monotonic clock for the lease, moved with the manager's clock."""

    def __init__(self, clock):
        self.clock = clock

    def __call__(self):
        return self.clock.t


class FakeObserver:
    def __init__(self, clock, make):
        self.clock, self.make = clock, make

    def observe(self):
        return self.make(self.clock())


@pytest.fixture
def loaded(tmp_path):
    path = tmp_path / "ccds.yaml"
    path.write_text(SPEC % {"na_extra": "", "eu_extra": "", "top_extra": ""})
    return load_spec(path)


@pytest.fixture
def mgr(managers):
    return managers()


def make_controller(loaded, tmp_path, mgr, make_obs, holder="ctl-1", actuator=None, nodes=None, observer=None):
    root = tmp_path / "state"
    lease = ManagerLease(lambda: client_of(mgr), "operate.demo", holder, TTL, clock=Mono(mgr.clock))
    return Controller(loaded, root, observer=observer or FakeObserver(mgr.clock, make_obs),
                      actuator=actuator or RecordingActuator(), nodes=nodes or RecordingNodes(), lease=lease,
                      ledger=Ledger(root / "ledger.db"), holder=holder, clock=mgr.clock)


def ledger_lines(ctl) -> list[str]:
    ops = ctl.ledger.operations(limit=50)
    return [f"{e['kind']}: {e['message']}" for op in reversed(ops) for e in op["events"]]


def hot(now):
    return observe(now, region("na-east", [40]), region("eu-west", [5]))


def test_a_round_acts_remembers_and_writes_the_ledger(loaded, tmp_path, mgr):
    ctl = make_controller(loaded, tmp_path, mgr, hot)
    report = ctl.run(once=True)
    assert report.role == "active"
    assert ctl.actuator.calls == [("set_counts", "na-east", {"edge": 2}, "load 80 % > 60 %")]
    lines = ledger_lines(ctl)
    assert "operate: acting: lease operate.demo taken (generation 1)" in lines
    assert "operate: scale na-east edge 1→2, load 80 % > 60 %" in lines
    assert any(line.startswith("operate: done in ") for line in lines)
    mem = Memory.from_dict(state.load_memory(ctl.root))
    assert mem.pool("na-east", "edge").desired_seen == 2 and mem.pool("na-east", "edge").last_out == mgr.clock()
    assert ctl.ledger.operations(limit=1)[0]["result"] == "ok"
    st = state.controller_status(ctl.root, now=mgr.clock())
    assert st["controllers"][0]["role"] == "stopped"  # --once: released and stopped
    assert st["controllers"][0]["last_actions"] == []
    assert report.as_dict()["results"][0]["message"] == "operate: scale na-east edge 1→2, load 80 % > 60 %"


def test_two_controllers_one_acts_and_the_other_takes_over(loaded, tmp_path, mgr):
    a = make_controller(loaded, tmp_path, mgr, hot, holder="ctl-a")
    b = make_controller(loaded, tmp_path, mgr, hot, holder="ctl-b")
    assert a.round().role == "active"
    rb = b.round()
    assert rb.role == "standby" and rb.lease["holder"] == "ctl-a"
    assert b.actuator.calls == [] and len(a.actuator.calls) == 1
    st = state.controller_status(a.root, now=mgr.clock())
    assert st["alive"] and st["active"]["holder"] == "ctl-a" and [s["holder"] for s in st["standby"]] == ["ctl-b"]
    mgr.clock.advance(4)
    assert a.round().role == "active" and b.round().role == "standby"
    # a dies (no release, no renewal): b takes over once the lease expires
    mgr.clock.advance(TTL - 1)
    assert b.round().role == "standby"
    mgr.clock.advance(2)
    took = b.round()
    assert took.role == "active" and took.lease["generation"] == 2
    assert "operate: acting: lease operate.demo taken (generation 2)" in ledger_lines(b)
    # a comes back: it stands by, and knows it holds nothing
    assert a.round().role == "standby" and not a.lease.held


def test_a_failing_apply_backs_off_and_reports(loaded, tmp_path, mgr):
    act = RecordingActuator()
    act.answers = [ActResult(ok=False, error="terraform: quota exceeded")] * 2
    ctl = make_controller(loaded, tmp_path, mgr, hot, actuator=act)
    calls_at = []
    for _ in range(10):
        before = len(act.calls)
        ctl.round()
        if len(act.calls) > before:
            calls_at.append(mgr.clock())
        mgr.clock.advance(4)
    t0 = calls_at[0]
    assert [t - t0 for t in calls_at] == [0, 8, 24]  # 8 s, then 16 s later, then it worked
    lines = ledger_lines(ctl)
    assert "operate: failed: scale na-east edge 1→2, load 80 % > 60 %: terraform: quota exceeded; retry in 8 s" in lines
    assert any("retry in 16 s" in line for line in lines)


def test_a_locked_deployment_waits_without_penalty(loaded, tmp_path, mgr):
    act = RecordingActuator()
    act.answers = [ActResult(ok=False, locked=True, error="deployment is locked by scale by ann@box")] * 2
    ctl = make_controller(loaded, tmp_path, mgr, hot, actuator=act)
    for _ in range(3):
        ctl.round()
        mgr.clock.advance(4)
    assert len(act.calls) == 3
    waits = [line for line in ledger_lines(ctl) if line.startswith("operate: waiting")]
    assert waits == ["operate: waiting: deployment is locked by scale by ann@box; retrying next round"]


def test_stop_finishes_the_current_action_and_starts_no_other(loaded, tmp_path, mgr):
    both = lambda now: observe(now, region("na-east", [40]), region("eu-west", [45]))  # noqa: E731
    ctl = None

    class StopsDuringApply(RecordingActuator):
        def set_counts(self, region, counts, reason):
            ctl.stop.set()  # SIGTERM arrives while this apply runs
            return super().set_counts(region, counts, reason)

    ctl = make_controller(loaded, tmp_path, mgr, both, actuator=StopsDuringApply())
    report = ctl.run()
    assert [c[1] for c in ctl.actuator.calls] == ["eu-west"]
    skipped = [r for r in report.results if r["region"] == "na-east"]
    assert skipped[0]["result"] == {"ok": False, "error": "not started: stopping"}
    assert "operate: stopped (signal): lease released" in ledger_lines(ctl)
    lease = mgr.client.get("/api/v1/leases/operate.demo", headers=ADMIN).json()
    assert lease["expires_at"] <= lease["now"]  # released: a standby may take it at once


def test_an_interrupt_abandons_the_action_cleanly(loaded, tmp_path, mgr):
    class Interrupted(RecordingActuator):
        def set_counts(self, region, counts, reason):
            raise KeyboardInterrupt

    ctl = make_controller(loaded, tmp_path, mgr, hot, actuator=Interrupted())
    with pytest.raises(KeyboardInterrupt):
        ctl.run()
    assert "operate: abandoned: scale na-east edge 1→2, load 80 % > 60 %" in ledger_lines(ctl)
    assert ctl.ledger.operations(limit=1)[0]["result"] == "interrupted"
    st = state.controller_status(ctl.root, now=mgr.clock())
    assert st["controllers"][0]["role"] == "stopped" and st["pending_action"] is None


def test_failover_blocks_the_old_placement_before_applying(loaded, tmp_path, mgr):
    from ophelp import pool

    seen = {}

    class Checks(RecordingActuator):
        def failover(self, region, target, reason, keep_old=False):
            seen.update(state.blocked_placements(ctl.root))
            return super().failover(region, target, reason, keep_old)

    def dead(now):
        return observe(now, region("na-east", pool("na-east", "edge", [0, 0], states=["FAULT", "FAULT"]),
                                   origin=pool("na-east", "origin", [0], states=["FAULT"])), region("eu-west", [5]))

    ctl = make_controller(loaded, tmp_path, mgr, dead, actuator=Checks())
    mem = Memory()
    mem.region("na-east").served_once = True
    mem.region("na-east").first_seen = mgr.clock() - 100
    mem.region("na-east").placement_seen = "laptop/local"
    for role, n in (("edge", 2), ("origin", 1)):
        mem.pool("na-east", role).desired_seen = n
    state.save_memory(ctl.root, mem.as_dict())
    for _ in range(9):
        ctl.round()
        mgr.clock.advance(4)
    assert [c[:3] for c in ctl.actuator.calls] == [("failover", "na-east", "spare/local")]
    assert seen["laptop/local"]["region"] == "na-east" and "for 32 s" in seen["laptop/local"]["reason"]
    assert any(line.startswith("operate: blocked laptop/local until ") for line in ledger_lines(ctl))


def test_drain_through_a_real_manager(loaded, tmp_path, mgr):
    """The real Observer on a real manager: idle edges are SUNSET there (no new viewers), then removed."""
    ids = {}
    for name, role in (("demo-na-east-origin-0", "origin"), ("demo-na-east-edge-0", "edge"),
                       ("demo-na-east-edge-1", "edge"), ("demo-eu-west-origin-0", "origin"),
                       ("demo-eu-west-edge-0", "edge")):
        region_key = name.split("-")[1] + "-" + name.split("-")[2]
        ids[name] = mgr.up(name, role=role, region=region_key, capacity=50)
    counts = {("na-east", "origin"): 1, ("na-east", "edge"): 2, ("eu-west", "origin"): 1, ("eu-west", "edge"): 1}

    def inventory(key, placement):
        return [InstanceInfo(id=n, name=n, region="local", role=n.split("-")[3], state="running", workspace=key)
                for n in ids if n.startswith(f"demo-{key}-")]

    client = client_of(mgr)
    observer = Observer(loaded, tmp_path / "state", client, desired=lambda: (counts, {}), inventory=inventory,
                        clock=mgr.clock)
    act = RecordingActuator()
    ctl = make_controller(loaded, tmp_path, mgr, None, actuator=act, nodes=client, observer=observer)
    mgr.publish("s1", region="na-east")
    sunset_at = None
    for _ in range(20):
        for nid in ids.values():
            mgr.beat(nid)
        report = ctl.round()
        if any(r["kind"] == "sunset" for r in report.results):
            sunset_at = mgr.clock()
            node = client.http.get("/api/v1/nodes/demo-na-east-edge-1").json()
            assert node["state"] == "SUNSET"
            assert mgr.subscribe("s1", region="na-east").json()["node"]["name"] == "demo-na-east-edge-0"
        if act.calls:
            break
        mgr.clock.advance(4)
    assert sunset_at is not None
    assert act.calls == [("set_counts", "na-east", {"edge": 1},
                          "drained: demo-na-east-edge-1 empty")]
    obs = report.observation["regions"]["na-east"]["pools"]["edge"]
    assert obs["nodes"][0]["load"] == 1  # the viewer's reservation on edge-0 counts as load
