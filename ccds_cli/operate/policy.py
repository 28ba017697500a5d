"""The controller's decisions: a pure function of (spec, observation, memory, block list).

`decide` returns the actions of one round with their reasons and the memory to keep; `record`
folds an action's result into memory. Nothing here reads a clock, a file or the network, so a
restarted controller given the same inputs decides the same, and every rule is unit-tested.

Per region, in order (one Terraform action per region per round):
1. failover: no serving origin or edge (or a failing cloud API while the managers cannot vouch for
   the region) for `failover_after` -> its next failover placement not on the block list;
2. replace dead nodes (FAULT in the manager, stopped/terminated in the cloud, missing from an
   answering cloud's inventory while the managers do not vouch for it, STARTING past `boot_timeout`),
   that node only; past `replace_limit` in `replace_window` the pool is paused;
3. autoscale each pool: out above `scale_out_at` (or below its floor: `min`, a running or
   prestaged event, a manual count), in below `scale_in_at` for `cooldown_in` by SUNSETting the
   nodes Terraform will remove (the highest indices) and removing them when empty or after
   `drain_timeout`.
Node states (SUNSET, back INSERVICE) go through the managers and may accompany any of these.

Without a control plane (`Observation.cloud_only`) no manager knows the nodes: a node is alive when
the cloud runs it, a region is healthy when it runs an origin and an edge, and with no load figures
a pool is only held at its floor (no scale-in).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from ccds_cli.operate.model import (
    DEAD_CLOUD_STATES,
    MISSING,
    Action,
    ActResult,
    Memory,
    NodeObs,
    Observation,
    PoolMemory,
)

LOAD_ROLES = ("edge", "origin", "transcoder")  # pools that follow their own load; relays follow edges
EMPTY_ONLY = ("origin", "transcoder")  # removing them cuts publishers: drained until empty, no timeout
BACKOFF_MAX = 300.0  # seconds: a failing apply is retried at most this far apart


def pct(x: float) -> str:
    return f"{round(x * 100)} %"


def secs(x: float) -> str:
    x = float(x)
    if x >= 3600 and x % 3600 == 0:
        return f"{x / 3600:g} h"
    if x >= 120 and x % 60 == 0:
        return f"{x / 60:g} min"
    return f"{x:.0f} s" if x >= 10 or x == int(x) else f"{x:.1f} s"


def clock_time(t: float) -> str:
    """A UNIX time as HH:MM:SS UTC, for ledger lines that must stay the same between rounds."""
    from datetime import datetime, timezone

    return datetime.fromtimestamp(t, timezone.utc).strftime("%H:%M:%S UTC")


def _s(td: Any) -> float:
    return td.total_seconds() if hasattr(td, "total_seconds") else float(td)


@dataclass
class Decision:
    actions: list[Action]
    memory: Memory
    pools: list[dict[str, Any]] = field(default_factory=list)  # per-pool view of the round, for output
    regions: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"actions": [a.as_dict() for a in self.actions], "pools": self.pools, "regions": self.regions}


# --- helpers the controller and `ccds status` share ---------------------------------------------

def event_need(spec: Any, key: str, now: float) -> tuple[int, str | None, int]:
    """Edges region `key` needs for its events at `now`: (count clamped to max, event name, viewers)."""
    region = spec.regions[key]
    edge = region.pools.get("edge")
    best: tuple[int, str | None, int] = (0, None, 0)
    if edge is None:
        return best
    for ev in spec.events:
        viewers = int(ev.expected_viewers.get(key, 0))
        start = ev.start.timestamp()
        if not viewers or not (start - _s(ev.prestage) <= now < start + _s(ev.duration)):
            continue
        need = min(edge.max, math.ceil(viewers / (edge.capacity * region.scale_out_at)))
        if need > best[0]:
            best = (need, ev.name, viewers)
    return best


def relays_for(region: Any, edges: int, origins: int) -> int | None:
    """The relay count the plan gives for `edges` edges (None without a relay pool)."""
    pool = region.pools.get("relay")
    if pool is None:
        return None
    fanout = region.relay_fanout
    needed = math.ceil(edges / fanout) if edges > max(origins, 1) * fanout else 0
    return max(pool.min, min(pool.max, needed))


def replacements_in_window(pm: PoolMemory, now: float, window: float) -> list[list]:
    return [r for r in pm.replacements if now - float(r[0]) < window]


# --- the round --------------------------------------------------------------------------------

class _Round:
    def __init__(self, spec: Any, obs: Observation, memory: Memory, blocked: Mapping[str, Any]):
        self.spec, self.obs, self.now = spec, obs, obs.now
        self.mem = copy.deepcopy(memory)
        self.blocked = blocked
        self.actions: list[Action] = []
        self.pool_views: list[dict[str, Any]] = []
        self.region_views: list[dict[str, Any]] = []
        op = spec.operate
        self.manual_hold = _s(op.manual_hold)
        self.boot_timeout = _s(op.boot_timeout)

    def note(self, noted: dict[str, str], topic: str, region: str, message: str, role: str | None = None) -> None:
        """A ledger note, said once for as long as it stays the same."""
        if noted.get(topic) != message:
            noted[topic] = message
            self.actions.append(Action("note", region, message, role=role))

    def run(self) -> Decision:
        for key in sorted(self.spec.regions):
            ro = self.obs.regions.get(key)
            if ro is not None:
                self.region(key, ro)
        return Decision(self.actions, self.mem, self.pool_views, self.region_views)

    # -- one region --------------------------------------------------------------------------

    def region(self, key: str, ro) -> None:
        spec_r = self.spec.regions[key]
        rm = self.mem.region(key)
        now = self.now
        first = rm.first_seen is None
        if first:
            rm.first_seen = now
        if rm.placement_seen is None:
            rm.placement_seen = ro.placement
        elif rm.placement_seen != ro.placement:  # moved by a manual `ccds failover`
            rm.placement_seen, rm.moved_at, rm.served_once = ro.placement, now, False
            rm.unhealthy_since, rm.unhealthy_reason = None, ""
            if self.manual_hold > 0:
                rm.manual_move_until = now + self.manual_hold
            self.note(rm.noted, "moved", key, f"manual failover seen: now on {ro.placement}; no automatic "
                      f"failover for {secs(self.manual_hold)}")
        demand = self.demand_delta(rm, ro, first)
        in_backoff = rm.backoff_until is not None and now < rm.backoff_until
        terraform_free = not in_backoff
        view = {"region": key, "placement": ro.placement, "demand": demand, "backoff_until": rm.backoff_until,
                "cloud_error": ro.cloud_error}
        self.region_views.append(view)

        healthy, reason, down = self.health(key, spec_r, ro)
        view.update(healthy=healthy, problem=reason)
        if healthy:
            rm.served_once = True
            rm.unhealthy_since, rm.unhealthy_reason = None, ""
            rm.noted.pop("no-target", None)
            rm.noted.pop("repairing", None)
        failover = self.failover(key, spec_r, ro, rm, healthy, reason, down)
        if failover is not None:
            view["failover_in"] = failover
        if any(a.kind == "failover" and a.region == key for a in self.actions):
            return  # the region moves: nothing else is worth doing on the old placement

        can_move = bool(self.targets(spec_r, ro.placement))
        replaced = False
        for role in sorted(ro.pools):
            if role not in spec_r.pools:
                continue
            if self.replace(key, spec_r, ro, role, terraform_free and not replaced, skip=down and can_move):
                replaced = True
        scale_counts: dict[str, int] = {}
        previous: dict[str, int] = {}
        reasons: list[str] = []
        for role in sorted(ro.pools):
            if role not in spec_r.pools or role not in LOAD_ROLES:
                continue
            got = self.autoscale(key, spec_r, ro, role, demand if role == "edge" else 0,
                                 terraform_free and not replaced, healthy)
            if got is not None:
                n, why = got
                scale_counts[role] = n
                previous[role] = ro.pools[role].desired
                reasons.append(why)
        if scale_counts:
            edges = scale_counts.get("edge", ro.pools["edge"].desired if "edge" in ro.pools else 0)
            origins = scale_counts.get("origin", ro.pools["origin"].desired if "origin" in ro.pools else 0)
            relays = relays_for(spec_r, edges, origins)
            if relays is not None and "relay" in ro.pools and relays != ro.pools["relay"].desired:
                scale_counts["relay"], previous["relay"] = relays, ro.pools["relay"].desired
            self.actions.append(Action("scale", key, "; ".join(reasons), counts=scale_counts, previous=previous))
        if in_backoff:
            self.note(rm.noted, "backoff", key, f"next apply not before {clock_time(rm.backoff_until)} after "
                      f"{rm.failures} failed one(s) in a row")

    def demand_delta(self, rm, ro, first: bool) -> int:
        """Viewers refused, sent to HLS or to another region since the last round. The first look only
        sets the baseline; a counter that went down (a new database) starts a new one."""
        total = 0
        for kind, value in ro.demand.items():
            seen = rm.demand_seen.get(kind, None if first else 0)
            if seen is not None and value >= seen:
                total += value - seen
        rm.demand_seen = dict(ro.demand)
        return total

    # -- health and failover -------------------------------------------------------------------

    def health(self, key: str, spec_r, ro) -> tuple[bool, str, bool]:
        """(healthy, problem, down): down = every node of the region died together."""
        if self.obs.cloud_only:
            return self.cloud_health(ro)
        if not self.obs.manager_ok:
            if ro.cloud_error:
                return False, f"cloud API failing ({ro.cloud_error}) and the managers do not answer", False
            return True, "", False  # nothing says the region is down: the control plane is
        problems = []
        for role in ("origin", "edge"):
            pool = ro.pools.get(role)
            if pool is None or pool.desired <= 0:
                continue
            if not any(n.serving for n in pool.nodes):
                problems.append(f"no serving {role}")
        wanted = [n for p in ro.pools.values() for n in p.nodes if n.index is not None and n.index < p.desired]
        dead = [n for n in wanted if self.dead(n) is not None]
        total = sum(p.desired for p in ro.pools.values())
        down = bool(problems) and total >= 2 and len(dead) >= 1 and not any(n.serving or n.state == "STARTING"
                                                                          for n in wanted)
        return not problems, " and ".join(problems), down

    def cloud_health(self, ro) -> tuple[bool, str, bool]:
        """`health` when only the cloud knows the nodes: an origin and an edge running there."""
        if ro.cloud_error:
            return False, f"cloud API failing ({ro.cloud_error}) and no stream manager knows the nodes", False
        problems = []
        for role in ("origin", "edge"):
            pool = ro.pools.get(role)
            if pool is None or pool.desired <= 0:
                continue
            if not any(n.cloud_alive for n in pool.nodes if n.index is not None and n.index < pool.desired):
                problems.append(f"no running {role} in the cloud")
        wanted = [n for p in ro.pools.values() for n in p.nodes if n.index is not None and n.index < p.desired]
        dead = [n for n in wanted if self.dead(n) is not None]
        total = sum(p.desired for p in ro.pools.values())
        down = bool(problems) and total >= 2 and len(dead) >= 1 and not any(n.cloud_alive for n in wanted)
        return not problems, " and ".join(problems), down

    def targets(self, spec_r, current: str) -> list[str]:
        order = list(spec_r.failover) + [spec_r.placement]
        return [p for p in dict.fromkeys(order) if p != current and p not in self.blocked]

    def replacement_booting(self, key: str) -> float | None:
        """Seconds the newest origin or edge replacement of the region still has to boot, if any."""
        pools = [self.mem.pools.get(f"{key}/{role}") for role in ("origin", "edge")]
        times = [t for pm in pools if pm is not None for t in pm.replaced.values() if self.now - t < self.boot_timeout]
        return self.boot_timeout - (self.now - max(times)) if times else None

    def failover(self, key: str, spec_r, ro, rm, healthy: bool, reason: str, down: bool) -> float | None:
        """Start the unhealthy clock, fail over when it reaches failover_after; returns seconds left.

        While the replacement of a dead origin or edge boots (a slow cloud takes minutes), the region
        is being repaired in place: failing over then would move it for nothing. The clock keeps
        counting, so a replacement that never serves within boot_timeout is followed by the failover
        at once. A region whose nodes all died together (`down`) is not held."""
        now = self.now
        if healthy:
            return None
        if not rm.served_once:  # new or just moved: give it boot_timeout to serve once
            since = rm.moved_at if rm.moved_at is not None else rm.first_seen
            if now - since < self.boot_timeout:
                return None
        if rm.manual_move_until is not None and now < rm.manual_move_until:
            return None
        if rm.unhealthy_since is None:
            rm.unhealthy_since = now
        rm.unhealthy_reason = reason
        after = _s(spec_r.failover_after)
        waited = now - rm.unhealthy_since
        if waited < after:
            return after - waited
        booting = None if down else self.replacement_booting(key)
        if booting is not None:
            self.note(rm.noted, "repairing", key, f"{reason} past failover_after {secs(after)}, but a "
                      f"replacement is booting: failover waits for it until {clock_time(now + booting)} (boot_timeout)")
            return booting
        if rm.backoff_until is not None and now < rm.backoff_until and rm.backoff_kind == "failover":
            return 0.0  # the last failover failed: wait (a failed repair in place does not delay it)
        targets = self.targets(spec_r, ro.placement)
        if not targets:
            blocked = [p for p in list(spec_r.failover) + [spec_r.placement] if p in self.blocked]
            self.note(rm.noted, "no-target", key, f"{reason} for {secs(waited)} but no failover target is left"
                      + (f" (blocked: {', '.join(blocked)})" if blocked else " (add regions."
                         f"{key}.failover to the spec)"))
            return 0.0
        self.actions.append(Action(
            "failover", key, f"{reason} for {secs(waited)} (failover_after {secs(after)})",
            source=ro.placement, target=targets[0], keep_old=bool(ro.cloud_error),
            block_until=now + _s(self.spec.operate.block_for)))
        return 0.0

    # -- replacement ---------------------------------------------------------------------------

    def dead(self, n: NodeObs, pm: PoolMemory | None = None) -> str | None:
        """Why a node must be replaced, or None."""
        if pm is not None and n.name in pm.replaced:
            at = pm.replaced[n.name]
            fresh_record = n.state_since is not None and n.state_since > at
            if not fresh_record and self.now - at < self.boot_timeout:
                return None  # the replacement has not registered yet: the old record says nothing
        if n.cloud_state in DEAD_CLOUD_STATES:
            return f"{n.cloud_state} in the cloud"
        if n.cloud_state == MISSING and not n.live:  # a live manager record outweighs a listing gap
            return "missing from the cloud inventory"
        if n.state == "FAULT":
            return "FAULT in the manager"
        if n.state == "STARTING" and n.state_since is not None and self.now - n.state_since > self.boot_timeout:
            return f"not in service {secs(self.now - n.state_since)} after it started (boot_timeout)"
        return None

    def replace(self, key: str, spec_r, ro, role: str, may_apply: bool, skip: bool) -> bool:
        pool = ro.pools[role]
        pm = self.mem.pool(key, role)
        limit, window = self.spec.operate.replace_limit, _s(self.spec.operate.replace_window)
        pm.replacements = replacements_in_window(pm, self.now, window)
        pm.replaced = {k: v for k, v in pm.replaced.items() if self.now - v < max(window, self.boot_timeout)}
        dead = []
        for n in sorted(pool.nodes, key=lambda n: (n.index if n.index is not None else 1 << 30, n.name)):
            if n.index is None or n.index >= pool.desired or n.name in pm.draining:
                continue
            why = self.dead(n, pm)
            if why is not None:
                dead.append((n.name, why))
        if not dead or pm.paused is not None or skip:
            return False
        room = limit - len(pm.replacements)
        if room <= 0:
            pm.paused = {"since": self.now, "reason": f"{len(pm.replacements)} replacements within "
                         f"{secs(window)} (replace_limit {limit}); {dead[0][0]} {dead[0][1]}"}
            self.actions.append(Action("note", key, f"paused: {pm.paused['reason']}; fix the pool (image, "
                                       f"instance type), then `ccds operate FILE --resume {key}/{role}`", role=role))
            return False
        if not may_apply:
            return False
        chosen = dead[:room]
        reason = "; ".join(f"{name} {why}" for name, why in chosen)
        self.actions.append(Action("replace", key, reason, role=role, nodes=[name for name, _ in chosen]))
        return True

    # -- autoscale -----------------------------------------------------------------------------

    def floor(self, key: str, spec_r, role: str, pm: PoolMemory) -> tuple[int, str]:
        pool = spec_r.pools[role]
        floor, why = pool.min, f"below min {pool.min}"
        if role == "edge":
            need, event, viewers = event_need(self.spec, key, self.now)
            if event is not None and need > floor:
                floor, why = need, f"event {event} needs {need} ({viewers} viewers expected)"
        if pm.manual_until is not None and self.now >= pm.manual_until:
            pm.manual_floor = pm.manual_until = None
        if pm.manual_floor is not None and pm.manual_floor > floor:
            floor, why = pm.manual_floor, f"below the manual count {pm.manual_floor}"
        return min(floor, pool.max), why

    def autoscale(self, key: str, spec_r, ro, role: str, demand: int, may_apply: bool,
                  healthy: bool = True) -> tuple[int, str] | None:
        """The new count of this pool (with why) when it must change now; node states as actions."""
        now = self.now
        pool = ro.pools[role]
        cfg = spec_r.pools[role]
        auto = spec_r.autoscale
        pm = self.mem.pool(key, role)
        desired = pool.desired
        if pm.desired_seen is None:
            pm.desired_seen = desired
        elif desired != pm.desired_seen:  # a count we did not set: `ccds scale` by hand
            self.manual_change(key, role, pool, pm, desired)
        if pm.drain_target is not None and desired <= pm.drain_target:  # removed (by us or by hand)
            pm.draining, pm.drain_target = {}, None
        if not pm.draining:
            pm.drain_target = None
        kept = desired if pm.drain_target is None else pm.drain_target
        floor, floor_why = self.floor(key, spec_r, role, pm)
        live = [n for n in pool.nodes if n.live]
        load = sum(n.load for n in live) + demand
        cap = cfg.capacity
        util = load / (kept * cap) if kept > 0 else (math.inf if load > 0 else 0.0)
        if self.obs.cloud_only:
            util = 0.0  # no manager counts the load: nothing to follow but the floor
        s_out, s_in = spec_r.scale_out_at, spec_r.scale_in_at
        view = {"region": key, "role": role, "desired": desired, "kept": kept, "floor": floor, "max": cfg.max,
                "load": load, "capacity": kept * cap, "utilisation": None if math.isinf(util) else round(util, 4),
                "draining": sorted(pm.draining), "paused": pm.paused, "states": _states(pool.nodes)}
        self.pool_views.append(view)
        if pm.paused is not None:
            return None
        if not self.obs.manager_ok:
            return None  # no load figures: do not guess
        if self.obs.cloud_only:
            view["utilisation"] = None
            if kept < floor:
                return self.grow(key, role, pool, pm, cfg, auto, kept, floor, floor_why, load, util, demand,
                                 may_apply)
            return None  # zero load is only unknown load: never shrink on it
        if util > s_out or kept < floor:
            return self.grow(key, role, pool, pm, cfg, auto, kept, floor, floor_why, load, util, demand, may_apply)
        pm.noted.pop("max", None)
        if pm.draining:
            return self.finish_drain(key, role, pool, pm, kept, may_apply)
        # Low load says little while nodes are dead or the region is unhealthy (viewers left for that).
        sick = not healthy or any(self.dead(n, pm) for n in pool.nodes
                                  if n.index is not None and n.index < desired)
        if util < s_in and kept > floor and not sick:
            if pm.low_since is None:
                pm.low_since = now
            if now - pm.low_since < _s(auto.cooldown_in):
                return None
            mid = (s_in + s_out) / 2
            target = max(floor, math.ceil(load / (cap * mid)) if load else 0)
            if auto.step:
                target = max(target, kept - auto.step)
            if target >= kept:
                return None
            why = f"load {pct(util)} < {pct(s_in)} for {secs(now - pm.low_since)}"
            remove = [n for n in pool.nodes if n.index is not None and target <= n.index < desired]
            to_drain = sorted(n.name for n in remove if n.live)
            if not to_drain:  # nothing there carries load: remove at once
                return (target, why) if may_apply else None
            self.actions.append(Action("sunset", key, why + f", {role} {desired}→{target}", role=role,
                                       nodes=to_drain, drain_target=target))
            return None
        pm.low_since = None
        return None

    def manual_change(self, key: str, role: str, pool, pm: PoolMemory, desired: int) -> None:
        before = pm.desired_seen
        pm.desired_seen = desired
        pm.low_since = None
        if self.manual_hold > 0:
            pm.manual_floor, pm.manual_until = desired, self.now + self.manual_hold
        if pm.draining:  # the drain batch was for another count: put back what is still wanted
            back = [n for n in pm.draining if (pool.node(n) and pool.node(n).index is not None
                                               and pool.node(n).index < desired and pool.node(n).live)]
            if back:
                self.actions.append(Action("restore", key, "a manual scale changed the count", role=role,
                                           nodes=sorted(back)))
            pm.draining, pm.drain_target = {}, None
        self.note(pm.noted, "manual", key, f"manual scale seen: {role} {before}→{desired}; kept as the floor for "
                  f"{secs(self.manual_hold)}", role=role)

    def grow(self, key, role, pool, pm, cfg, auto, kept, floor, floor_why, load, util, demand, may_apply):
        now = self.now
        s_out = self.spec.regions[key].scale_out_at
        pm.low_since = None
        if pm.draining:  # load is back (or the floor rose): cancel the drain first, they already run
            self.actions.append(Action("restore", key, floor_why if kept < floor and not util > s_out else
                                       f"load {pct(util)} > {pct(s_out)} while draining", role=role,
                                       nodes=sorted(pm.draining)))
            return None
        target = max(floor, math.ceil(load / (cfg.capacity * s_out)) if load else 0)
        target = min(target, cfg.max)
        if auto.step:
            target = min(target, kept + auto.step)
        if util > s_out and target <= kept:
            if kept >= cfg.max:
                self.note(pm.noted, "max", key, f"at max {cfg.max}: load {pct(util)} > {pct(s_out)}; raise "
                          f"regions.{key}.pools.{role}.max", role=role)
            return None
        if kept < floor and not util > s_out:
            why = floor_why
        else:
            why = f"load {pct(util)} > {pct(s_out)}" + (f" ({demand} viewers not placed in the region)"
                                                        if demand else "")
            if kept >= floor and pm.last_out is not None and now - pm.last_out < _s(auto.cooldown_out):
                return None  # the nodes added last are still taking load
        if target <= pool.desired or not may_apply:
            return None
        return target, why

    def finish_drain(self, key, role, pool, pm, kept, may_apply):
        """Remove the drained nodes once every one is empty (or past drain_timeout, for edges)."""
        timeout = _s(self.spec.regions[key].autoscale.drain_timeout)
        waiting, done = [], []
        for name, since in sorted(pm.draining.items()):
            n = pool.node(name)
            if n is None or not n.live or n.load == 0:
                done.append(f"{name} empty" if n is not None and n.live else f"{name} gone")
            elif role not in EMPTY_ONLY and self.now - since >= timeout:
                done.append(f"{name} drain timeout {secs(timeout)} with {n.load} left")
            else:
                waiting.append(name)
                if n.state != "SUNSET":  # re-registered or back from FAULT: drain it again
                    self.actions.append(Action("sunset", key, "still draining", role=role, nodes=[name],
                                               drain_target=pm.drain_target))
        if waiting or not may_apply:
            return None
        return kept, "drained: " + ", ".join(done)


def _states(nodes) -> dict[str, int]:
    out: dict[str, int] = {}
    for n in nodes:
        s = n.state or f"cloud:{n.cloud_state or 'absent'}"
        out[s] = out.get(s, 0) + 1
    return out


def decide(spec: Any, obs: Observation, memory: Memory, blocked: Mapping[str, Any] | None = None) -> Decision:
    """One round's actions (with reasons) and the memory to keep. Pure: inputs are not changed."""
    return _Round(spec, obs, memory, blocked or {}).run()


# --- results ------------------------------------------------------------------------------------

def record(memory: Memory, action: Action, result: ActResult, now: float, interval: float = 4.0) -> Memory:
    """Fold one action's result into memory (in place, and returned)."""
    rm = memory.region(action.region)
    if action.kind == "note":
        return memory
    if not action.terraform:  # node states through the managers
        pm = memory.pool(action.region, action.role or "")
        if result.ok and action.kind == "sunset":
            for n in action.nodes:
                pm.draining.setdefault(n, now)
            if action.drain_target is not None:
                pm.drain_target = action.drain_target
            pm.low_since = None
        elif result.ok and action.kind == "restore":
            for n in action.nodes:
                pm.draining.pop(n, None)
            if not pm.draining:
                pm.drain_target = None
            elif pm.drain_target is not None:
                pm.drain_target += len(action.nodes)
        return memory
    if result.locked:
        return memory  # someone else's command runs: try again next round, no penalty
    if not result.ok:
        rm.failures += 1
        rm.backoff_kind = action.kind
        rm.last_error = (result.error or "failed")[:300]
        rm.backoff_until = now + min(BACKOFF_MAX, interval * (2 ** rm.failures))
        return memory
    rm.failures, rm.backoff_until, rm.last_error, rm.backoff_kind = 0, None, "", ""
    rm.noted.pop("backoff", None)
    if action.kind == "scale":
        for role, n in action.counts.items():
            pm = memory.pool(action.region, role)
            before = action.previous.get(role, pm.desired_seen)
            pm.desired_seen = n
            pm.changed_at = now
            if before is not None and n > before:
                pm.last_out = now
            elif before is not None and n < before:
                pm.last_in = now
                pm.draining, pm.drain_target, pm.low_since = {}, None, None
    elif action.kind == "replace":
        pm = memory.pool(action.region, action.role or "")
        for n in action.nodes:
            pm.replaced[n] = now
            pm.replacements.append([now, n])
        pm.changed_at = now
    elif action.kind == "failover":
        rm.placement_seen = action.target
        rm.moved_at, rm.served_once = now, False
        rm.unhealthy_since, rm.unhealthy_reason = None, ""
        rm.noted.pop("no-target", None)
    return memory


def resume(memory: Memory, region: str, role: str) -> bool:
    """Un-pause a pool (and forget its replacement history). False when it was not paused."""
    pm = memory.pools.get(f"{region}/{role}")
    if pm is None or pm.paused is None:
        return False
    pm.paused, pm.replacements, pm.replaced = None, [], {}
    return True


def paused_pools(memory: Memory) -> list[dict[str, Any]]:
    return [{"pool": k, **(pm.paused or {})} for k, pm in sorted(memory.pools.items()) if pm.paused is not None]
