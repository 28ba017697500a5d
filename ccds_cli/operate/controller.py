"""The reconcile loop: every `operate.interval`, take the lease, observe, decide, act, remember.

* Every decision goes to the ledger (`ccds events`) as `operate: <what>, <why>`; results that
  matter too (failed, abandoned, waiting for the lock).
* Terraform actions go through the Actuator one at a time; node states through the managers.
  The Actuator takes the deployment lock per action, so a manual `ccds scale`/`failover` can run
  between two actions (the controller then sees its result as the new desired state).
* A failed apply backs the region off exponentially (policy.record); a failing round (no spec,
  no state) waits longer each time. Nothing loops hot.
* `stop` (first SIGTERM): the current action finishes, nothing new starts, the lease is released.
  A KeyboardInterrupt (second SIGTERM, Ctrl-C) abandons the action: recorded, then raised.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ccds_cli.operate import policy, state
from ccds_cli.operate.model import Action, ActResult, Memory

ORDER = {"note": 0, "sunset": 1, "restore": 1, "failover": 2, "replace": 3, "scale": 4}


def new_holder() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def lease_ttl(interval: float) -> float:
    """Long enough to survive a slow round, short enough for a quick takeover."""
    return max(3 * interval, 10.0)


@dataclass
class RoundReport:
    at: float
    role: str  # active | standby | failed
    holder: str
    lease: dict[str, Any] = field(default_factory=dict)
    observation: dict[str, Any] | None = None
    decision: dict[str, Any] | None = None
    results: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    duration: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"at": self.at, "at_iso": state.iso(self.at), **{k: v for k, v in dataclasses.asdict(self).items()
                                                                if k != "at"}}


class Controller:
    def __init__(self, loaded: Any, root: Path, *, observer: Any, actuator: Any, nodes: Any, lease: Any,
                 ledger: Any | None = None, holder: str | None = None, clock: Callable[[], float] = time.time,
                 log: Callable[[str], None] | None = None, shared: Any | None = None):
        self.loaded, self.spec, self.root = loaded, loaded.spec, Path(root)
        self.observer, self.actuator, self.nodes, self.lease = observer, actuator, nodes, lease
        self.ledger = ledger
        self.holder = holder or getattr(lease, "holder", None) or new_holder()
        self.clock = clock
        self.log = log or (lambda line: None)
        self.interval = self.spec.operate.interval.total_seconds()
        self.stop = threading.Event()
        self.started = clock()
        self.op_id: int | None = None
        self.role = "starting"
        self.abandoned = False  # an action was stopped by a signal before it finished
        self._said: dict[str, str] = {}
        self._round_failures = 0
        # the deployment state shared with other runners (ccds_cli/state/shared.py), or None
        self.shared = shared
        self._shared_digest: str | None = None
        self._shared_at = 0.0

    # -- ledger ------------------------------------------------------------------------------

    def say(self, message: str, topic: str | None = None) -> None:
        """One ledger event (`operate: ...`); with a topic, only when it changed."""
        if topic is not None:
            if self._said.get(topic) == message:
                return
            self._said[topic] = message
        self.log(f"operate: {message}")
        if self.ledger is not None:
            try:
                self._begin()
                self.ledger.event(self.op_id, "operate", message)
            except Exception:  # a busy ledger must not stop the controller
                pass

    def _begin(self, once: bool = False) -> None:
        """The ledger operation this controller's events belong to (one per process)."""
        if self.ledger is not None and self.op_id is None:
            self.op_id = self.ledger.begin("operate", self.loaded.sha256,
                                           {"holder": self.holder, "once": once, "interval": self.interval})

    # -- one round ---------------------------------------------------------------------------

    def round(self) -> RoundReport:
        t0 = time.monotonic()
        now = self.clock()
        report = RoundReport(now, "standby", self.holder)
        self._pull()
        lease = self.lease.take()
        report.lease = dict(lease)
        going = state.load_memory(self.root, "deployment").get("down")
        if not lease.get("granted") or going:
            self.role = "standby"
            self._note_self(now, lease)  # before the ledger says it: `ccds status` then agrees with it
            if going:
                self.lease.release()
                self.say(f"standing by: `ccds down` is taking the deployment down (since {state.iso(going)})",
                         topic="role")
            else:
                self.say(f"standing by: stream managers unreachable ({lease['error']})" if lease.get("error")
                         else f"standing by: lease {self.lease.name} held by {lease.get('holder')}", topic="role")
            self._push()
            report.duration = time.monotonic() - t0
            return report
        if self.role != "active":
            self.say(f"acting: lease {self.lease.name} taken (generation {lease.get('generation')})", topic="role")
        self.role = report.role = "active"
        try:
            obs = self.observer.observe()
            report.observation = obs.as_dict()
            memory = Memory.from_dict(state.load_memory(self.root))
            blocked = state.blocked_placements(self.root, obs.now)
            decision = policy.decide(self.spec, obs, memory, blocked)
            memory = decision.memory
            state.save_memory(self.root, memory.as_dict())
            report.decision = decision.as_dict()
            if not obs.manager_ok:
                self.say(f"stream managers do not answer ({obs.manager_error}): no autoscaling this round",
                         topic="manager")
            else:
                self._said.pop("manager", None)
            report.results = self._act(decision.actions, memory)
            self._round_failures = 0
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            self._round_failures += 1
            report.role, report.error = "failed", f"{type(exc).__name__}: {exc}"
            self.say(f"round failed: {report.error}", topic="round")
        else:
            self._said.pop("round", None)
        report.duration = time.monotonic() - t0
        self._note_self(now, lease, last=[r["message"] for r in report.results])
        self._push()
        return report

    def _pull(self) -> None:
        """Take what other runners decided (a manual `ccds scale` on a laptop, `--unblock`)."""
        if self.shared is None:
            return
        try:
            self.shared.pull()
            self._said.pop("shared", None)
        except Exception as exc:  # the store does not answer: decide on what we know, say so once
            self.say(f"shared state not read ({getattr(exc, 'message', exc)}): deciding on what this "
                     "controller last saw", topic="shared")

    def _push(self, force: bool = False) -> None:
        """Share the block list and memory when they changed, the rest at least every SHARE_EVERY."""
        if self.shared is None:
            return
        import hashlib
        import json

        doc = state.export_shared(self.root)
        digest = hashlib.sha256(json.dumps([doc.get("blocklist"), doc.get("memory")], sort_keys=True,
                                           default=str).encode()).hexdigest()
        now = time.monotonic()
        if not force and digest == self._shared_digest and now - self._shared_at < state.SHARE_EVERY:
            return
        try:
            self.shared.push()
            self._shared_digest, self._shared_at = digest, now
            self._said.pop("shared-push", None)
        except Exception as exc:
            self.say(f"shared state not written ({getattr(exc, 'message', exc)}); retrying next round",
                     topic="shared-push")

    def _note_self(self, now: float, lease: dict, last: list[str] | None = None, role: str | None = None) -> None:
        try:
            state.note_controller(self.root, self.holder, role=role or self.role, interval=self.interval,
                                  started=self.started, last_round=now,
                                  lease_until=lease.get("expires_at") if lease.get("granted") else None,
                                  last_error=lease.get("error"), last_actions=last)
        except Exception:
            pass

    def _act(self, actions: list[Action], memory: Memory) -> list[dict[str, Any]]:
        results = []
        for action in sorted(actions, key=lambda a: (ORDER.get(a.kind, 9), a.region, a.role or "")):
            entry = action.as_dict()
            if action.kind == "note":
                self.say(action.describe())
                entry["result"] = {"ok": True}
                results.append(entry)
                continue
            if self.stop.is_set() or not self.lease.held:
                why = "stopping" if self.stop.is_set() else "lease lost"
                entry["result"] = {"ok": False, "error": f"not started: {why}"}
                results.append(entry)
                continue
            self.say(action.describe())
            result = self._execute(action, memory)
            entry["result"] = result.as_dict()
            results.append(entry)
        return results

    def _execute(self, action: Action, memory: Memory) -> ActResult:
        t0 = time.monotonic()
        state.set_pending(self.root, self.holder, action.describe())
        try:
            if action.kind in ("sunset", "restore"):
                result = self._node_states(action, memory)
            else:
                if action.kind == "failover" and action.source and action.block_until:
                    state.block(self.root, action.source, action.region, action.reason, action.block_until,
                                by=self.holder, now=self.clock())
                    self.say(f"blocked {action.source} until {state.iso(action.block_until)} ({action.region}: "
                             f"{action.reason})")
                with self.lease.kept():
                    result = self._terraform(action)
                result.duration = result.duration or round(time.monotonic() - t0, 3)
                policy.record(memory, action, result, self.clock(), self.interval)
                if result.abandoned:  # a signal stopped terraform, which saved its state
                    self.abandoned = True
                    self.stop.set()
                    self.say(f"abandoned: {action.describe()} ({result.error})")
                else:
                    self._report(action, result, memory)
        except KeyboardInterrupt:
            self.abandoned = True
            result = ActResult(ok=False, abandoned=True, error="interrupted", duration=time.monotonic() - t0)
            policy.record(memory, action, result, self.clock(), self.interval)
            self.say(f"abandoned: {action.describe()}")
            raise
        finally:
            state.save_memory(self.root, memory.as_dict())
            state.set_pending(self.root, self.holder, None)
        return result

    def _terraform(self, action: Action) -> ActResult:
        try:
            if action.kind == "scale":
                return self.actuator.set_counts(action.region, dict(action.counts), action.reason)
            if action.kind == "replace":
                return self.actuator.replace(action.region, action.role or "", list(action.nodes), action.reason)
            return self.actuator.failover(action.region, action.target or "", action.reason,
                                          keep_old=action.keep_old)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # an Actuator bug must not end the loop: it is a failed action
            return ActResult(ok=False, error=f"{type(exc).__name__}: {exc}")

    def _node_states(self, action: Action, memory: Memory) -> ActResult:
        target_state = "SUNSET" if action.kind == "sunset" else "INSERVICE"
        done, errors = [], []
        for node in action.nodes:
            try:
                self.nodes.set_state(node, target_state, f"operate: {action.reason}")
                done.append(node)
            except Exception as exc:
                errors.append(f"{node}: {exc}")
        if done:
            policy.record(memory, dataclasses.replace(action, nodes=done), ActResult(ok=True), self.clock(),
                          self.interval)
        if errors:
            self.say(f"failed: {action.kind} {', '.join(errors)}")
        return ActResult(ok=not errors, error="; ".join(errors), details={"done": done})

    def _report(self, action: Action, result: ActResult, memory: Memory) -> None:
        if result.locked:
            self.say(f"waiting: {result.error or 'the deployment is locked by another command'}; "
                     "retrying next round", topic=f"locked:{action.region}")
            return
        self._said.pop(f"locked:{action.region}", None)
        if result.ok:
            self.say(f"done in {result.duration:.1f} s: {action.describe()}")
            return
        rm = memory.region(action.region)
        retry = "" if rm.backoff_until is None else f"; retry in {policy.secs(rm.backoff_until - self.clock())}"
        error = result.error if len(result.error) <= 600 else result.error[:600] + " …"
        self.say(f"failed: {action.describe()}: {error}{retry}")

    # -- the loop ------------------------------------------------------------------------------

    def run(self, once: bool = False, max_rounds: int | None = None,
            on_round: Callable[[RoundReport], None] | None = None) -> RoundReport | None:
        """Rounds until `stop` (or one with `once`); returns the last report."""
        self._begin(once)
        last: RoundReport | None = None
        outcome, error = "ok", None
        rounds = 0
        try:
            while not self.stop.is_set():
                last = self.round()
                rounds += 1
                if on_round is not None:
                    on_round(last)
                if once or (max_rounds is not None and rounds >= max_rounds):
                    break
                wait = self.interval - last.duration
                if self._round_failures:
                    wait = min(60.0, self.interval * 2 ** self._round_failures)
                self.stop.wait(max(0.05, wait))
        except KeyboardInterrupt:
            outcome, error = "interrupted", "interrupted during an action"
            raise
        except BaseException as exc:
            outcome, error = "failed", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self.lease.release()
            self._note_self(self.clock(), {}, role="stopped")
            self._push(force=True)
            if self.ledger is not None and self.op_id is not None:
                if self.abandoned and outcome == "ok":
                    outcome, error = "interrupted", "an action was abandoned"
                if self.stop.is_set():
                    self.say("stopped (signal): lease released")
                self.ledger.finish(self.op_id, outcome, error)
        return last
