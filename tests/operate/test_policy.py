"""The controller's policy, rule by rule: pure inputs -> actions with reasons, memory."""

from __future__ import annotations

import json

import pytest
from ophelp import (
    EVENT_START,
    T0,
    cloud_region,
    make_spec,
    nodes,
    observe,
    pool,
    region,
)

from ccds_cli.operate import policy
from ccds_cli.operate.model import ActResult, Memory, NodeObs, PoolObs, RegionObs

OK = ActResult(ok=True)


@pytest.fixture
def spec(tmp_path):
    return make_spec(tmp_path)


def steady(key: str = "eu-west"):
    return region(key, [5])


def run(spec, obs, mem=None, blocked=None, apply_ok=True):
    """decide, then record every action as done (or failed)."""
    d = policy.decide(spec, obs, mem or Memory(), blocked)
    for a in d.actions:
        policy.record(d.memory, a, OK if apply_ok else ActResult(ok=False, error="boom"), obs.now)
    return d


def kinds(d):
    return [(a.kind, a.region) for a in d.actions]


# --- scale out ----------------------------------------------------------------------------------

def test_scale_out_message_is_the_ledger_contract(spec):
    d = policy.decide(spec, observe(T0, region("na-east", [71], desired=None) if False else
                                    region("na-east", pool("na-east", "edge", [36, 35])), steady()), Memory())
    (a,) = d.actions
    assert a.kind == "scale" and a.counts == {"edge": 3} and a.previous == {"edge": 2}
    assert "operate: " + a.describe() == "operate: scale na-east edge 2→3, load 71 % > 60 %"


def test_grows_by_enough_nodes_to_get_back_under_the_line_within_max_and_step(spec, tmp_path):
    d = policy.decide(spec, observe(T0, region("na-east", [50, 50]), steady()), Memory())
    assert d.actions[0].counts == {"edge": 4}  # 100 / (50 x 0.6) = 3.3 -> 4
    d = policy.decide(spec, observe(T0, region("na-east", [50, 50, 50, 50, 50]), steady()), Memory())
    assert d.actions[0].counts == {"edge": 6}  # 250 needs 9; max is 6
    stepped = make_spec(tmp_path, na_extra="    autoscale: {step: 1}")
    d = policy.decide(stepped, observe(T0, region("na-east", [50, 50]), steady()), Memory())
    assert d.actions[0].counts == {"edge": 3}


def test_at_max_says_so_once(spec):
    full = region("na-east", [50] * 6)
    d = policy.decide(spec, observe(T0, full, steady()), Memory())
    (note,) = d.actions
    assert note.kind == "note" and "at max 6" in note.reason and "pools.edge.max" in note.reason
    d2 = policy.decide(spec, observe(T0 + 4, full, steady()), d.memory)
    assert d2.actions == []


def test_cooldown_out_between_scale_outs_but_first_crossing_acts_at_once(spec):
    d = run(spec, observe(T0, region("na-east", [40]), steady()))
    assert d.actions[0].counts == {"edge": 2}
    hot = region("na-east", [40, 30])  # 70 %: still above
    assert policy.decide(spec, observe(T0 + 10, hot, steady()), d.memory).actions == []
    d3 = policy.decide(spec, observe(T0 + 21, hot, steady()), d.memory)
    assert d3.actions[0].counts == {"edge": 3}


def test_refused_and_spilled_viewers_count_as_load(spec):
    mem = run(spec, observe(T0, region("na-east", [25], demand={"refused": 3}), steady())).memory
    quiet = policy.decide(spec, observe(T0 + 4, region("na-east", [25], demand={"refused": 3}), steady()), mem)
    assert quiet.actions == []  # 50 %, no new refusals
    d = policy.decide(spec, observe(T0 + 8, region("na-east", [25], demand={"refused": 8, "spilled": 10}),
                                    steady()), mem)
    (a,) = d.actions
    assert a.counts == {"edge": 2} and "load 80 % > 60 % (15 viewers not placed in the region)" in a.reason


def test_demand_counter_reset_is_not_a_negative_load(spec):
    mem = run(spec, observe(T0, region("na-east", [25], demand={"refused": 100}), steady())).memory
    d = policy.decide(spec, observe(T0 + 4, region("na-east", [25], demand={"refused": 2}), steady()), mem)
    assert d.actions == [] and d.memory.region("na-east").demand_seen == {"refused": 2}


def test_starting_nodes_count_as_capacity_no_double_add(spec):
    d = run(spec, observe(T0, region("na-east", [40]), steady()))
    later = region("na-east", PoolObs("edge", 2, nodes("na-east", "edge", [40]) + (
        NodeObs("demo-na-east-edge-1", "edge", 1, "STARTING", 0, 50, 1.0, T0 + 3, "running"),)))
    assert policy.decide(spec, observe(T0 + 25, later, steady()), d.memory).actions == []  # 40 %


def test_relays_follow_edges(tmp_path):
    spec = make_spec(tmp_path, na_extra="      relay: {instance_type: process, min: 0, max: 2, capacity: 8}\n"
                                         "    relay_fanout: 2")
    relay = PoolObs("relay", 0, ())
    d = policy.decide(spec, observe(T0, region("na-east", [50, 50], extra={"relay": relay}), steady()), Memory())
    assert d.actions[0].counts == {"edge": 4, "relay": 2}


# --- scale in -----------------------------------------------------------------------------------

def test_scale_in_after_cooldown_sunsets_the_highest_indices_then_removes_them_when_empty(spec):
    mem = Memory()
    quiet = region("na-east", [3, 1, 1])  # 5 / 150 = 3 % < 10 %
    for t in (0, 30, 59):
        d = run(spec, observe(T0 + t, quiet, steady()), mem)
        assert d.actions == [], t
        mem = d.memory
    d = policy.decide(spec, observe(T0 + 60, quiet, steady()), mem)
    (a,) = d.actions
    assert a.kind == "sunset" and a.nodes == ["demo-na-east-edge-1", "demo-na-east-edge-2"]
    assert a.drain_target == 1 and "load 3 % < 10 % for 60 s" in a.reason
    mem = policy.record(d.memory, a, OK, T0 + 60)
    draining = region("na-east", pool("na-east", "edge", [5, 0, 1], states=["INSERVICE", "SUNSET", "SUNSET"]))
    d = policy.decide(spec, observe(T0 + 64, draining, steady()), mem)
    assert d.actions == []  # edge-2 still has a viewer
    view = next(v for v in d.pools if (v["region"], v["role"]) == ("na-east", "edge"))
    assert view["kept"] == 1 and view["draining"] == a.nodes and view["load"] == 6
    empty = region("na-east", pool("na-east", "edge", [6, 0, 0], states=["INSERVICE", "SUNSET", "SUNSET"]))
    d = policy.decide(spec, observe(T0 + 68, empty, steady()), d.memory)
    (rm,) = d.actions
    assert rm.kind == "scale" and rm.counts == {"edge": 1} and rm.previous == {"edge": 3}
    assert rm.describe() == ("scale na-east edge 3→1, drained: demo-na-east-edge-1 empty, "
                             "demo-na-east-edge-2 empty")
    mem = policy.record(d.memory, rm, OK, T0 + 70)
    pm = mem.pool("na-east", "edge")
    assert pm.desired_seen == 1 and pm.draining == {} and pm.last_in == T0 + 70
    assert policy.decide(spec, observe(T0 + 74, region("na-east", [6]), steady()), mem).actions == []


def test_drain_timeout_removes_edges_with_viewers_left_but_origins_only_when_empty(spec):
    mem = Memory()
    mem.pool("na-east", "edge").desired_seen = 2
    mem.pool("na-east", "edge").draining = {"demo-na-east-edge-1": T0}
    mem.pool("na-east", "edge").drain_target = 1
    busy = region("na-east", pool("na-east", "edge", [0, 2], states=["INSERVICE", "SUNSET"]))
    assert policy.decide(spec, observe(T0 + 44, busy, steady()), mem).actions == []
    (a,) = policy.decide(spec, observe(T0 + 45, busy, steady()), mem).actions
    assert a.counts == {"edge": 1} and "drain timeout 45 s with 2 left" in a.reason
    mem = Memory()
    mem.pool("na-east", "origin").desired_seen = 2
    mem.pool("na-east", "origin").draining = {"demo-na-east-origin-1": T0}
    mem.pool("na-east", "origin").drain_target = 1
    pub = region("na-east", [1], origin=pool("na-east", "origin", [0, 1], states=["INSERVICE", "SUNSET"]))
    assert policy.decide(spec, observe(T0 + 3600, pub, steady()), mem).actions == []


def test_load_back_while_draining_returns_the_nodes_to_service_first(spec):
    mem = Memory()
    pm = mem.pool("na-east", "edge")
    pm.desired_seen, pm.draining, pm.drain_target = 3, {"demo-na-east-edge-1": T0, "demo-na-east-edge-2": T0}, 1
    hot = region("na-east", pool("na-east", "edge", [40, 5, 5], states=["INSERVICE", "SUNSET", "SUNSET"]))
    d = policy.decide(spec, observe(T0 + 5, hot, steady()), mem)
    (a,) = d.actions
    assert a.kind == "restore" and a.nodes == ["demo-na-east-edge-1", "demo-na-east-edge-2"]
    assert "load 100 % > 60 % while draining" in a.reason
    mem = policy.record(d.memory, a, OK, T0 + 5)
    assert mem.pool("na-east", "edge").draining == {} and mem.pool("na-east", "edge").drain_target is None


def test_never_below_min(spec):
    mem = Memory()
    for t in range(0, 200, 4):
        d = run(spec, observe(T0 + t, region("na-east", [0]), steady()), mem)
        assert d.actions == []
        mem = d.memory


def test_below_min_grows_back(spec):
    d = policy.decide(spec, observe(T0, region("na-east", PoolObs("edge", 0, ())), steady()), Memory())
    assert d.actions[0].counts == {"edge": 1} and d.actions[0].reason == "below min 1"


def test_idle_pool_is_at_its_floor_within_two_minutes_by_default(spec):
    """From 4 busy-then-idle edges to 1, rounds every 4 s, idle nodes drain at once."""
    mem, desired, t = Memory(), 4, 0.0
    states = ["INSERVICE"] * 4
    while t <= 120 and desired > 1:
        obs = observe(T0 + t, region("na-east", pool("na-east", "edge", [0] * desired, states=states[:desired])),
                      steady())
        d = run(spec, obs, mem)
        mem = d.memory
        for a in d.actions:
            if a.kind == "scale":
                desired = a.counts["edge"]
            if a.kind == "sunset":
                for n in a.nodes:
                    states[int(n.rsplit("-", 1)[1])] = "SUNSET"
        t += 4
    assert desired == 1 and t <= 70


# --- events -------------------------------------------------------------------------------------

def test_event_prestages_before_start_and_autoscale_brings_it_down_after(spec):
    prestage_at = EVENT_START - 600
    quiet = region("na-east", [0])
    assert policy.decide(spec, observe(prestage_at - 1, quiet, steady()), Memory()).actions == []
    d = policy.decide(spec, observe(prestage_at, quiet, steady()), Memory())
    (a,) = d.actions
    assert a.counts == {"edge": 4} and a.reason == "event final needs 4 (120 viewers expected)"
    mem = policy.record(d.memory, a, OK, prestage_at)
    during = region("na-east", [0, 0, 0, 0])
    for t in (prestage_at + 300, EVENT_START + 1800, EVENT_START + 3599):
        d = run(spec, observe(t, during, steady()), mem)
        assert d.actions == [], t  # idle, but the event holds the floor
        mem = d.memory
    end = EVENT_START + 3600
    d = run(spec, observe(end, during, steady()), mem)
    assert d.actions == []  # the low clock starts now
    d = policy.decide(spec, observe(end + 60, during, steady()), d.memory)
    assert d.actions[0].kind == "sunset" and len(d.actions[0].nodes) == 3


def test_event_floor_is_derived_from_clock_and_spec_only(spec):
    """A restarted controller (empty memory) in the middle of the event does the same."""
    d = policy.decide(spec, observe(EVENT_START + 60, region("na-east", [0]), steady()), Memory())
    assert d.actions[0].counts == {"edge": 4}
    assert policy.event_need(spec, "na-east", EVENT_START + 60) == (4, "final", 120)
    assert policy.event_need(spec, "eu-west", EVENT_START + 60) == (0, None, 0)


# --- replacement --------------------------------------------------------------------------------

def test_a_fault_node_is_replaced_alone_and_not_twice(spec):
    sick = region("na-east", pool("na-east", "edge", [10, 0, 10], states=["INSERVICE", "FAULT", "INSERVICE"]))
    d = policy.decide(spec, observe(T0, sick, steady()), Memory())
    (a,) = d.actions
    assert a.kind == "replace" and a.role == "edge" and a.nodes == ["demo-na-east-edge-1"]
    assert a.describe() == "replace na-east edge demo-na-east-edge-1, demo-na-east-edge-1 FAULT in the manager"
    mem = policy.record(d.memory, a, OK, T0 + 5)
    # the old FAULT record lingers until the new node registers: no second replacement
    assert policy.decide(spec, observe(T0 + 9, sick, steady()), mem).actions == []
    new = NodeObs("demo-na-east-edge-1", "edge", 1, "STARTING", 0, 50, 0.5, T0 + 12, "running")
    fresh = region("na-east", PoolObs("edge", 3, (sick.pools["edge"].nodes[0], new, sick.pools["edge"].nodes[2])))
    assert policy.decide(spec, observe(T0 + 13, fresh, steady()), mem).actions == []


def test_stopped_or_terminated_in_the_cloud_is_replaced(spec):
    gone = region("na-east", pool("na-east", "edge", [10, 10], states=["INSERVICE", None],
                                  cloud=["running", "terminated"]))
    (a,) = policy.decide(spec, observe(T0, gone, steady()), Memory()).actions
    assert a.nodes == ["demo-na-east-edge-1"] and "terminated in the cloud" in a.reason
    stopped = region("na-east", pool("na-east", "edge", [10, 10], cloud=["stopped", "running"]))
    (a,) = policy.decide(spec, observe(T0, stopped, steady()), Memory()).actions
    assert a.nodes == ["demo-na-east-edge-0"] and "stopped in the cloud" in a.reason


def test_stuck_starting_past_boot_timeout_is_replaced(spec):
    stuck = region("na-east", pool("na-east", "edge", [10, 0], states=["INSERVICE", "STARTING"], since=T0))
    assert policy.decide(spec, observe(T0 + 599, stuck, steady()), Memory()).actions == []
    (a,) = policy.decide(spec, observe(T0 + 601, stuck, steady()), Memory()).actions
    assert a.kind == "replace" and "boot_timeout" in a.reason


def test_removed_or_draining_nodes_are_not_replaced(spec):
    leftover = region("na-east", pool("na-east", "edge", [10, 0], desired=1, states=["INSERVICE", "FAULT"]))
    assert policy.decide(spec, observe(T0, leftover, steady()), Memory()).actions == []


def test_a_pool_that_keeps_failing_is_paused_and_resumed_by_hand(spec):
    mem = Memory()
    for i in range(3):
        sick = region("na-east", pool("na-east", "edge", [10, 0], states=["INSERVICE", "FAULT"], since=T0 + 100 * i))
        d = policy.decide(spec, observe(T0 + 100 * i + 1, sick, steady()), mem)
        (a,) = d.actions
        assert a.kind == "replace"
        mem = policy.record(d.memory, a, OK, T0 + 100 * i + 2)
    sick = region("na-east", pool("na-east", "edge", [10, 0], states=["INSERVICE", "FAULT"], since=T0 + 300))
    d = policy.decide(spec, observe(T0 + 301, sick, steady()), mem)
    (note,) = d.actions
    assert note.kind == "note" and "paused: 3 replacements within 10 min (replace_limit 3)" in note.reason
    assert "--resume na-east/edge" in note.reason
    assert policy.paused_pools(d.memory)[0]["pool"] == "na-east/edge"
    # paused: no replacement and no autoscale, even under load
    hot = region("na-east", pool("na-east", "edge", [50, 0], states=["INSERVICE", "FAULT"], since=T0 + 300))
    assert policy.decide(spec, observe(T0 + 305, hot, steady()), d.memory).actions == []
    mem = d.memory
    assert policy.resume(mem, "na-east", "edge") and not policy.resume(mem, "na-east", "edge")
    assert policy.decide(spec, observe(T0 + 310, sick, steady()), mem).actions[0].kind == "replace"


def test_replacements_older_than_the_window_do_not_count(spec):
    mem = Memory()
    mem.pool("na-east", "edge").replacements = [[T0 - 700, "a"], [T0 - 650, "b"], [T0 - 5, "c"]]
    sick = region("na-east", pool("na-east", "edge", [10, 0], states=["INSERVICE", "FAULT"]))
    d = policy.decide(spec, observe(T0, sick, steady()), mem)
    assert d.actions[0].kind == "replace" and len(d.memory.pool("na-east", "edge").replacements) == 1


def test_many_dead_at_once_replace_up_to_the_limit(spec):
    sick = region("na-east", pool("na-east", "edge", [0] * 5, states=["FAULT"] * 4 + ["INSERVICE"]))
    (a,) = policy.decide(spec, observe(T0, sick, steady()), Memory()).actions
    assert a.nodes == [f"demo-na-east-edge-{i}" for i in range(3)]


def test_one_terraform_action_per_region_per_round(spec):
    both = region("na-east", pool("na-east", "edge", [50, 0], states=["INSERVICE", "FAULT"]))
    d = policy.decide(spec, observe(T0, both, region("eu-west", [40])), Memory())
    assert sorted((a.kind, a.region) for a in d.actions) == [("replace", "na-east"), ("scale", "eu-west")]


# --- failover -----------------------------------------------------------------------------------

def dead_region(placement="laptop/local", cloud_error=None):
    return region("na-east", pool("na-east", "edge", [0, 0], states=["FAULT", "FAULT"]),
                  origin=pool("na-east", "origin", [0], states=["FAULT"], capacity=20), placement=placement,
                  cloud_error=cloud_error)


def served(spec):
    """Memory of a controller that saw na-east serving (same pool sizes as `dead_region`)."""
    return run(spec, observe(T0 - 100, region("na-east", [1, 1]), steady())).memory


def test_failover_after_failover_after_to_the_next_placement_with_a_block_entry(spec):
    mem = served(spec)
    d = policy.decide(spec, observe(T0, dead_region(), steady()), mem)
    assert d.actions == []  # the whole region died together: no in-place replacement, wait
    view = next(v for v in d.regions if v["region"] == "na-east")
    assert view["problem"] == "no serving origin and no serving edge" and view["failover_in"] == 30
    d = policy.decide(spec, observe(T0 + 29, dead_region(), steady()), d.memory)
    assert d.actions == []
    d = policy.decide(spec, observe(T0 + 30, dead_region(), steady()), d.memory)
    (a,) = d.actions
    assert (a.kind, a.source, a.target, a.keep_old) == ("failover", "laptop/local", "spare/local", False)
    assert a.block_until == T0 + 30 + 3600
    assert a.describe() == ("failover na-east laptop/local → spare/local, no serving origin and no serving edge "
                            "for 30 s (failover_after 30 s)")
    mem = policy.record(d.memory, a, OK, T0 + 40)
    rm = mem.region("na-east")
    assert rm.placement_seen == "spare/local" and not rm.served_once and rm.unhealthy_since is None
    # the new placement gets boot_timeout to serve before it can be judged
    d = policy.decide(spec, observe(T0 + 100, dead_region("spare/local"), steady()), mem,
                      {"laptop/local": {}})
    assert not [x for x in d.actions if x.kind == "failover"]


def test_failover_skips_blocked_placements_and_says_when_none_is_left(spec):
    mem = served(spec)
    d = policy.decide(spec, observe(T0, dead_region(), steady()), mem)
    d = policy.decide(spec, observe(T0 + 30, dead_region(), steady()), d.memory, {"spare/local": {}})
    assert d.actions[0].target == "third/local"
    blocked = {"spare/local": {}, "third/local": {}}
    d = policy.decide(spec, observe(T0 + 30, dead_region(), steady()), mem, blocked)
    d = policy.decide(spec, observe(T0 + 60, dead_region(), steady()), d.memory, blocked)
    notes = [a for a in d.actions if a.kind == "note"]
    assert len(notes) == 1 and "no failover target is left (blocked: spare/local, third/local)" in notes[0].reason
    # with nowhere to go, the dead nodes are replaced in place instead
    assert [a.kind for a in d.actions if a.kind != "note"] == ["replace"]


def test_a_failed_over_region_fails_back_home_when_its_targets_are_blocked(spec):
    mem = run(spec, observe(T0 - 100, region("na-east", [1, 1], placement="spare/local"), steady())).memory
    d = policy.decide(spec, observe(T0, dead_region("spare/local"), steady()), mem)
    d = policy.decide(spec, observe(T0 + 30, dead_region("spare/local"), steady()), d.memory, {"third/local": {}})
    assert d.actions[-1].target == "laptop/local"


def test_one_dead_node_is_replaced_not_failed_over(spec):
    mem = served(spec)
    half = region("na-east", pool("na-east", "edge", [0, 1], states=["FAULT", "INSERVICE"]))
    d = policy.decide(spec, observe(T0, half, steady()), mem)
    assert [a.kind for a in d.actions] == ["replace"]


def test_failover_waits_while_the_replacements_of_the_dead_edges_boot(spec):
    """Both edges FAULT, the origin serves: the edges are replaced in place, and failover_after
    passing while they boot (a slow cloud) moves nothing until boot_timeout (600 s) is over."""
    mem = served(spec)
    sick = region("na-east", pool("na-east", "edge", [0, 0], states=["FAULT", "FAULT"]),
                  origin=pool("na-east", "origin", [1], capacity=20))
    d = policy.decide(spec, observe(T0, sick, steady()), mem)
    (rep,) = d.actions
    assert rep.kind == "replace" and rep.nodes == ["demo-na-east-edge-0", "demo-na-east-edge-1"]
    mem = policy.record(d.memory, rep, OK, T0 + 5)
    d = policy.decide(spec, observe(T0 + 31, sick, steady()), mem)
    (note,) = d.actions
    assert note.kind == "note" and "a replacement is booting: failover waits for it until" in note.reason
    view = next(v for v in d.regions if v["region"] == "na-east")
    assert view["failover_in"] == pytest.approx(600 - 26)
    for t in (120, 400, 604):
        d = policy.decide(spec, observe(T0 + t, sick, steady()), d.memory)
        assert not [a for a in d.actions if a.kind in ("failover", "note")], t  # the note is said once
    # the replacements never served within boot_timeout: the failover follows at once
    d = policy.decide(spec, observe(T0 + 606, sick, steady()), d.memory)
    assert [a.kind for a in d.actions if a.kind == "failover"] == ["failover"]


def test_a_region_down_whole_is_not_held_by_replacements(spec):
    mem = served(spec)
    mem.pool("na-east", "edge").replaced["demo-na-east-edge-0"] = T0 - 5  # an earlier repair still booting
    d = policy.decide(spec, observe(T0, dead_region(), steady()), mem)
    d = policy.decide(spec, observe(T0 + 30, dead_region(), steady()), d.memory)
    assert [a.kind for a in d.actions if a.kind != "note"] == ["failover"]


def test_cloud_api_failing_while_the_managers_are_down(spec):
    mem = served(spec)
    r = region("na-east", [0, 0], cloud_error="503 from the cloud")
    d = policy.decide(spec, observe(T0, r, steady(), manager_ok=False), mem)
    d = policy.decide(spec, observe(T0 + 30, r, steady(), manager_ok=False), d.memory)
    (a,) = [x for x in d.actions if x.kind == "failover"]
    assert a.keep_old and "cloud API failing" in a.reason
    # managers down alone: no failover, no autoscale (no load figures)
    calm = region("na-east", [50, 50])
    for t in (0, 60, 600):
        assert policy.decide(spec, observe(T0 + t, calm, steady(), manager_ok=False), mem).actions == []


def test_never_served_region_gets_boot_timeout_before_failover(spec):
    d = policy.decide(spec, observe(T0, dead_region(), steady()), Memory())
    d = policy.decide(spec, observe(T0 + 300, dead_region(), steady()), d.memory)
    assert not [a for a in d.actions if a.kind == "failover"]
    d = policy.decide(spec, observe(T0 + 600, dead_region(), steady()), d.memory)
    d = policy.decide(spec, observe(T0 + 630, dead_region(), steady()), d.memory)
    assert [a.kind for a in d.actions] == ["failover"]


def test_manual_failover_is_respected_for_manual_hold(spec):
    mem = served(spec)
    d = policy.decide(spec, observe(T0, dead_region("third/local"), steady()), mem)
    (note,) = d.actions
    assert "manual failover seen: now on third/local" in note.reason
    d = policy.decide(spec, observe(T0 + 599, dead_region("third/local"), steady()), d.memory)
    assert not [a for a in d.actions if a.kind == "failover"]
    d = policy.decide(spec, observe(T0 + 600, dead_region("third/local"), steady()), d.memory)
    d = policy.decide(spec, observe(T0 + 630, dead_region("third/local"), steady()), d.memory)
    assert [a.target for a in d.actions if a.kind == "failover"] == ["spare/local"]


# --- manual scale, backoff, restarts ------------------------------------------------------------

def test_manual_scale_is_the_floor_for_manual_hold(spec):
    mem = run(spec, observe(T0, region("na-east", [0, 0]), steady())).memory
    manual = region("na-east", [0, 0, 0, 0, 0])
    d = policy.decide(spec, observe(T0 + 4, manual, steady()), mem)
    (note,) = d.actions
    assert note.reason == "manual scale seen: edge 2→5; kept as the floor for 10 min"
    mem = d.memory
    for t in range(8, 600, 30):
        d = run(spec, observe(T0 + t, manual, steady()), mem)
        assert d.actions == [], t
        mem = d.memory
    d = run(spec, observe(T0 + 604, manual, steady()), mem)  # hold over: the low clock starts
    d = policy.decide(spec, observe(T0 + 664, manual, steady()), d.memory)
    assert d.actions[0].kind == "sunset" and len(d.actions[0].nodes) == 4


def test_manual_scale_still_grows_under_load(spec):
    mem = run(spec, observe(T0, region("na-east", [0, 0]), steady())).memory
    d = policy.decide(spec, observe(T0 + 4, region("na-east", [40, 40, 40]), steady()), mem)
    assert [a.kind for a in d.actions] == ["note", "scale"] and d.actions[1].counts == {"edge": 4}


def test_failing_applies_back_off_exponentially_and_report(spec):
    hot = region("na-east", [40])
    mem = Memory()
    waits = []
    t = T0
    for _ in range(8):
        d = policy.decide(spec, observe(t, hot, steady()), mem)
        scale = [a for a in d.actions if a.kind == "scale"]
        assert len(scale) == 1
        mem = policy.record(d.memory, scale[0], ActResult(ok=False, error="apply failed: quota"), t)
        until = mem.region("na-east").backoff_until
        waits.append(until - t)
        quiet = policy.decide(spec, observe(t + 1, hot, steady()), mem)
        assert [a.kind for a in quiet.actions] == ["note"] and "next apply not before" in quiet.actions[0].reason
        mem = quiet.memory
        t = until
    assert waits == [8, 16, 32, 64, 128, 256, 300, 300]
    mem = policy.record(mem, scale[0], OK, t)
    assert mem.region("na-east").failures == 0 and mem.region("na-east").backoff_until is None


def test_a_locked_deployment_is_no_failure(spec):
    d = policy.decide(spec, observe(T0, region("na-east", [40]), steady()), Memory())
    mem = policy.record(d.memory, d.actions[0], ActResult(ok=False, locked=True, error="locked by up"), T0)
    assert mem.region("na-east").failures == 0
    assert policy.decide(spec, observe(T0 + 4, region("na-east", [40]), steady()), mem).actions[0].kind == "scale"


def test_decide_is_pure_and_memory_survives_json(spec):
    mem = run(spec, observe(T0, region("na-east", [3, 1, 1]), steady())).memory
    snapshot = json.dumps(mem.as_dict(), sort_keys=True)
    obs = observe(T0 + 60, region("na-east", [3, 1, 1]), steady())
    first = policy.decide(spec, obs, mem)
    assert json.dumps(mem.as_dict(), sort_keys=True) == snapshot  # input untouched
    restored = Memory.from_dict(json.loads(snapshot))
    again = policy.decide(spec, obs, restored)
    assert [a.as_dict() for a in again.actions] == [a.as_dict() for a in first.actions]
    assert again.actions[0].kind == "sunset"


def test_failed_repairs_do_not_delay_a_failover(spec):
    mem = served(spec)
    sick = region("na-east", pool("na-east", "edge", [0, 0], cloud=["stopped", "stopped"]),
                  origin=pool("na-east", "origin", [1], capacity=20))  # the manager still says INSERVICE
    d = policy.decide(spec, observe(T0, sick, steady()), mem)
    (rep,) = d.actions
    assert rep.kind == "replace"
    mem = policy.record(d.memory, rep, ActResult(ok=False, error="no capacity in laptop/local"), T0 + 3)
    mem = policy.record(mem, rep, ActResult(ok=False, error="no capacity in laptop/local"), T0 + 12)
    assert mem.region("na-east").backoff_until == T0 + 12 + 16
    dead = dead_region()
    d = policy.decide(spec, observe(T0 + 14, dead, steady()), mem)
    d = policy.decide(spec, observe(T0 + 44, dead, steady()), d.memory)
    assert [a.kind for a in d.actions if a.kind != "note"] == ["failover"]
    # a failed failover, though, waits for its backoff
    mem = policy.record(d.memory, d.actions[-1], ActResult(ok=False, error="spare is full"), T0 + 45)
    d = policy.decide(spec, observe(T0 + 50, dead, steady()), mem)
    assert not [a for a in d.actions if a.kind == "failover"]


# --- no control plane: the cloud inventory alone knows the nodes ------------------------------------

def cloud_obs(now, *regions):
    return observe(now, *regions, cloud_only=True)


def test_cloud_only_running_nodes_are_a_healthy_region_and_zero_load_shrinks_nothing(spec):
    """No manager knows the nodes: they are not 'not serving', and no load is unknown load."""
    calm = cloud_region("na-east", ["running", "running", "pending"], ["running"])
    mem = Memory()
    for t in (0, 60, 600, 3600):  # well past cooldown_in: still no scale-in, no failover
        d = policy.decide(spec, cloud_obs(T0 + t, calm, cloud_region("eu-west", ["running"])), mem)
        assert d.actions == [] and all(v["healthy"] for v in d.regions)
        mem = d.memory
    assert mem.region("na-east").served_once
    view = next(p for p in d.pools if (p["region"], p["role"]) == ("na-east", "edge"))
    assert view["utilisation"] is None and view["states"] == {"cloud:running": 2, "cloud:pending": 1}


def test_cloud_only_a_terminated_node_is_replaced_not_failed_over(spec):
    mem = policy.decide(spec, cloud_obs(T0 - 100, cloud_region("na-east", ["running"])), Memory()).memory
    gone = cloud_region("na-east", ["terminated"], ["running"])  # its only edge: the origin still runs
    d = policy.decide(spec, cloud_obs(T0, gone), mem)
    (a,) = d.actions
    assert (a.kind, a.role, a.nodes) == ("replace", "edge", ["demo-na-east-edge-0"])
    assert a.describe() == "replace na-east edge demo-na-east-edge-0, demo-na-east-edge-0 terminated in the cloud"
    assert d.regions[0]["problem"] == "no running edge in the cloud"
    mem = policy.record(d.memory, a, OK, T0 + 10)
    # a terminated record seen again right after the replacement is not replaced twice
    assert policy.decide(spec, cloud_obs(T0 + 20, gone), mem).actions == []
    back = policy.decide(spec, cloud_obs(T0 + 20, cloud_region("na-east", ["pending"])), mem)
    assert back.actions == [] and back.regions[0]["healthy"]


def test_cloud_only_a_node_missing_from_the_inventory_is_dead(spec):
    gone = cloud_region("na-east", ["running", "missing"])
    (a,) = policy.decide(spec, cloud_obs(T0, gone), Memory()).actions
    assert a.nodes == ["demo-na-east-edge-1"] and a.reason == "demo-na-east-edge-1 missing from the cloud inventory"


def test_missing_from_the_inventory_is_dead_unless_a_manager_vouches(spec):
    vouched = region("na-east", pool("na-east", "edge", [10, 10], cloud=["running", "missing"]))
    assert policy.decide(spec, observe(T0, vouched, steady()), Memory()).actions == []
    unknown = region("na-east", PoolObs("edge", 2, (
        vouched.pools["edge"].nodes[0],
        NodeObs("demo-na-east-edge-1", "edge", 1, None, cloud_state="missing"))))
    (a,) = policy.decide(spec, observe(T0, unknown, steady()), Memory()).actions
    assert a.nodes == ["demo-na-east-edge-1"] and "missing from the cloud inventory" in a.reason


def test_cloud_only_a_region_whose_nodes_all_terminated_fails_over(spec):
    mem = policy.decide(spec, cloud_obs(T0 - 100, cloud_region("na-east", ["running"])), Memory()).memory
    dead = cloud_region("na-east", ["terminated"], ["terminated"])
    d = policy.decide(spec, cloud_obs(T0, dead), mem)
    assert d.actions == []  # died together: no repair in place, the failover clock runs
    assert d.regions[0]["problem"] == "no running origin in the cloud and no running edge in the cloud"
    assert d.regions[0]["failover_in"] == 30
    d = policy.decide(spec, cloud_obs(T0 + 30, dead), d.memory)
    (a,) = d.actions
    assert (a.kind, a.source, a.target, a.keep_old) == ("failover", "laptop/local", "spare/local", False)
    assert a.reason == ("no running origin in the cloud and no running edge in the cloud for 30 s "
                        "(failover_after 30 s)") and a.block_until == T0 + 30 + 3600
    # nowhere to go: repaired in place instead
    blocked = {"spare/local": {}, "third/local": {}}
    d = policy.decide(spec, cloud_obs(T0 + 30, dead), mem, blocked)
    d = policy.decide(spec, cloud_obs(T0 + 60, dead), d.memory, blocked)
    assert [x.kind for x in d.actions if x.kind != "note"] == ["replace"]


def test_cloud_only_a_failing_cloud_api_is_an_unhealthy_region(spec):
    """Nobody else can vouch for the nodes: a cloud API failing for failover_after moves the region,
    leaving the old placement alone."""
    mem = policy.decide(spec, cloud_obs(T0 - 100, cloud_region("na-east", ["running"])), Memory()).memory
    failing = RegionObs("na-east", "laptop/local", {"edge": PoolObs("edge", 1), "origin": PoolObs("origin", 1)},
                        {}, "503 from the cloud")
    d = policy.decide(spec, cloud_obs(T0, failing), mem)
    assert d.actions == [] and "cloud API failing (503 from the cloud)" in d.regions[0]["problem"]
    (a,) = policy.decide(spec, cloud_obs(T0 + 30, failing), d.memory).actions
    assert a.kind == "failover" and a.keep_old


def test_cloud_only_pools_are_held_at_their_floor(spec):
    """Without load figures the floor still holds: min, events (here the final's prestage)."""
    d = policy.decide(spec, cloud_obs(EVENT_START - 300, cloud_region("na-east", ["running"])), Memory())
    (a,) = d.actions
    assert a.kind == "scale" and a.counts == {"edge": 4} and "event final needs 4" in a.reason
