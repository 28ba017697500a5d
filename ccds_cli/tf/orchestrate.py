"""Run terraform over many workspaces: stages in order, workspaces of a stage in parallel.

Control (stage 0) goes first because its outputs feed node bootstrap; region workspaces
(stage 1) then run in parallel under `parallelism`. Destroy walks the stages in reverse. A
failed workspace does not stop its siblings unless `fail_fast` (then nothing new starts); a
later stage is skipped when an earlier one failed, since it depends on it. Transient cloud
errors are retried by re-running plan + apply with bounded exponential backoff (the workspace's
cloud adds its own error codes); a provider registry or mirror that cannot be reached is not.
"""

from __future__ import annotations

import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol, Sequence

from ccds_cli.errors import CcdsError
from ccds_cli.tf.events import Changes, Diagnostic, Event
from ccds_cli.tf.retry import RetryPolicy, registry_unreachable, transient_reason
from ccds_cli.tf.runner import ProcessRegistry, RunResult, Terraform

PLAN_FILE = "ccds.tfplan"
DESTROY_PLAN_FILE = "ccds-destroy.tfplan"
REST_PLAN_FILE = "ccds-rest.tfplan"  # the rest of a saved plan, planned again after an import


class Progress(Protocol):
    """Where the orchestrator reports what it does (the UI's live table or plain lines fit);
    called from worker threads."""

    def add(self, name: str) -> None: ...

    def phase(self, name: str, phase: str, planned: int | None = None) -> None: ...

    def event(self, name: str, event: Event) -> None: ...

    def line(self, message: str) -> None: ...


class Workspace(Protocol):
    """What we need of a rendered workspace (`ccds_cli.render.RenderedWorkspace` fits)."""

    name: str
    path: Path
    kind: str
    stage: int
    cloud: str


@dataclass
class WorkspaceResult:
    """The outcome of one workspace in one operation; also what the ledger stores."""

    name: str
    kind: str = "region"
    stage: int = 1
    cloud: str = ""
    result: str = "pending"  # ok | failed | skipped | interrupted | planned
    duration: float = 0.0
    planned: dict[str, int] = field(default_factory=lambda: {"add": 0, "change": 0, "destroy": 0})
    changes: dict[str, int] = field(default_factory=lambda: {"add": 0, "change": 0, "destroy": 0})
    attempts: int = 0
    retries: list[str] = field(default_factory=list)
    error: str | None = None
    diagnostics: list[dict[str, Any]] = field(default_factory=list)
    log: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


class Orchestrator:
    """Plans and applies (or destroys) a set of workspaces with progress, retries and signals."""

    def __init__(self, workspaces: Sequence[Workspace], *, log_root: Path,
                 secrets: dict[str, Any] | Callable[[Workspace], dict[str, Any]] | None = None,
                 parallelism: int = 4, fail_fast: bool = False, retry: RetryPolicy | None = None,
                 progress: Progress | None = None, registry: ProcessRegistry | None = None,
                 binary: str | None = None, lock_timeout: str = "300s",
                 stage_env: Callable[[], dict[str, str]] | None = None):
        self.workspaces = list(workspaces)
        self.log_root = Path(log_root)
        self.parallelism = max(1, int(parallelism))
        self.fail_fast = fail_fast
        self.retry = retry or RetryPolicy()
        self.progress = progress
        self.registry = registry or ProcessRegistry()
        self._cancel = threading.Event()
        # Called before any stage > 0 runs: environment (TF_VAR_manager_url, ...) taken from the
        # control stage's outputs, because control outputs feed node bootstrap.
        self.stage_env = stage_env
        # `secrets`: one TF_VAR_secrets for every workspace, or each workspace's own share.
        self._tf = {ws.name: Terraform(ws.path, self.log_root / ws.name, binary=binary,
                                       secrets=secrets(ws) if callable(secrets) else secrets,
                                       registry=self.registry, lock_timeout=lock_timeout)
                    for ws in self.workspaces}
        self.results = {ws.name: WorkspaceResult(ws.name, ws.kind, ws.stage, ws.cloud) for ws in self.workspaces}
        self._planned_ok: set[str] = set()
        # Hooks from the cloud adapters: resources to recreate because their instance is gone in a
        # way refresh cannot see, and cleanup once a workspace is destroyed.
        self.replace_for: Callable[[Workspace], Sequence[str]] | None = None
        self.after_destroy: Callable[[Workspace], None] | None = None
        # Resources an apply failed to create because they already exist (made by an apply that was
        # interrupted before terraform recorded them): [(address, import id)] to import, then re-plan.
        self.adopt_for: Callable[[Workspace, RunResult], Sequence[tuple[str, str]]] | None = None
        for ws in self.workspaces:
            if progress is not None:
                progress.add(ws.name)

    def terraform(self, name: str) -> Terraform:
        return self._tf[name]

    @property
    def interrupted(self) -> bool:
        return self.registry.interrupted.is_set()

    # -- public operations ----------------------------------------------------------------------
    def plan(self, *, destroy: bool = False) -> list[WorkspaceResult]:
        """init + saved plan for every workspace, stage by stage (later stages read earlier outputs)."""
        for stage in sorted({ws.stage for ws in self.workspaces}):
            batch = [ws for ws in self.workspaces if ws.stage == stage]
            self._feed(batch)
            self._run_stage(batch, lambda ws: self._plan_one(ws, destroy=destroy))
        return self.ordered()

    def apply(self, *, destroy: bool = False) -> list[WorkspaceResult]:
        """Apply stage by stage (reverse for destroy), re-planning where a saved plan is missing."""
        stages = sorted({ws.stage for ws in self.workspaces}, reverse=destroy)
        earlier_changed = False
        earlier_failed: str | None = None
        for stage in stages:
            batch = [ws for ws in self.workspaces if ws.stage == stage]
            if earlier_failed or self.interrupted or self._cancel.is_set():
                why = "interrupted" if self.interrupted else (earlier_failed or "cancelled (--fail-fast)")
                for ws in batch:
                    self._skip(ws, why)
                continue
            replan = earlier_changed and not destroy
            self._feed(batch)
            runnable = [ws for ws in batch if self.results[ws.name].result != "failed"]  # plan failed: keep
            self._run_stage(runnable, lambda ws, r=replan: self._converge(ws, destroy=destroy, replan=r))
            results = [self.results[ws.name] for ws in batch]
            earlier_changed = earlier_changed or any(sum(r.changes.values()) for r in results)
            failed = [r.name for r in results if r.result == "failed"]
            if failed:
                earlier_failed = f"skipped: stage {stage} failed ({', '.join(failed)})"
        return self.ordered()

    def apply_saved(self, plans: dict[str, Path],
                    before_stage: Callable[[int], str | None] | None = None) -> list[WorkspaceResult]:
        """Apply exactly the saved plan file of each workspace, stage by stage, never re-planning
        (set `results[name].planned` first). `before_stage(stage)` may answer why a stage must not
        run (its plans were made against outputs that changed): it and later stages are skipped.
        No retries: a saved plan half applied is stale. One exception: a resource it created that never
        reached the state is imported, and the rest of the plan applied if planning again gives exactly
        the rest (`_finish_saved`)."""
        blocked: str | None = None
        for stage in sorted({ws.stage for ws in self.workspaces}):
            batch = [ws for ws in self.workspaces if ws.stage == stage]
            if blocked is None and not (self.interrupted or self._cancel.is_set()) and before_stage is not None:
                blocked = before_stage(stage)
            if blocked or self.interrupted or self._cancel.is_set():
                why = "interrupted" if self.interrupted else (blocked or "cancelled (--fail-fast)")
                for ws in batch:
                    self._skip(ws, why)
                continue
            self._run_stage(batch, lambda ws: self._apply_saved_one(ws, plans[ws.name]))
            failed = [r.name for r in (self.results[ws.name] for ws in batch) if r.result == "failed"]
            if failed:
                blocked = f"skipped: stage {stage} failed ({', '.join(failed)})"
        return self.ordered()

    def _apply_saved_one(self, ws: Workspace, plan_file: Path) -> None:
        res, tf = self.results[ws.name], self._tf[ws.name]
        started = time.monotonic()
        res.attempts = 1
        self._phase(ws.name, "init")
        run = tf.init(on_event=self._sink(ws.name))
        if run.ok and sum(res.planned.values()):
            self._phase(ws.name, "apply", planned=sum(res.planned.values()))
            run = tf.apply(plan_file, on_event=self._sink(ws.name))
            for key, value in (run.changes.as_dict() if run.changes is not None else {}).items():
                if key in res.changes:
                    res.changes[key] += value
        imported = self._adopt(ws, run) if not run.ok else []
        if imported:
            run = self._finish_saved(ws, plan_file, run, imported)
            if run.ok:  # every change of the saved plan is made: by the first apply, the import or the rest
                res.changes.update({k: res.planned.get(k, 0) for k in ("add", "change", "destroy")})
        res.log, res.duration = str(run.log_path), time.monotonic() - started
        if not run.ok:
            self._fail(ws, run)
            return
        res.result = "ok"
        self._collect_outputs(ws, destroy=False)
        self._phase(ws.name, "ok")

    def _finish_saved(self, ws: Workspace, plan_file: Path, failed: RunResult, imported: list[str]) -> RunResult:
        """A saved plan stopped on a resource that already existed (its create succeeded in the cloud
        but never reached the state, e.g. an API call retried after a lost answer) and was imported:
        the plan is stale now. Plan again and apply that only when it changes nothing the saved plan
        did not (same addresses, same actions; an imported resource the saved plan was creating may be
        updated in place to what it would have made): it is the rest of the reviewed plan, not a new one."""
        res, tf = self.results[ws.name], self._tf[ws.name]
        try:
            saved = tf.planned_changes(plan_file)
        except CcdsError as exc:
            tf.note(failed.log_path, f"cannot read the saved plan to finish it: {exc}")
            return failed
        self._phase(ws.name, "plan")
        run = tf.plan(REST_PLAN_FILE, on_event=self._sink(ws.name))
        if not run.ok:
            return run
        try:
            rest = tf.planned_changes(REST_PLAN_FILE)
        except CcdsError as exc:
            tf.note(run.log_path, f"cannot read the new plan: {exc}")
            return failed
        beyond = sorted(a for a, actions in rest.items() if saved.get(a) != actions
                        and not (a in imported and saved.get(a) == ("create",) and actions == ("update",)))
        if beyond:
            message = (f"not finished: after the import the plan would also change what the saved plan did not "
                       f"({', '.join(beyond[:5])}{' …' if len(beyond) > 5 else ''}); plan again")
            res.retries.append(message)
            tf.note(run.log_path, message)
            return failed
        message = f"finishing the saved plan: {len(rest)} of its {len(saved)} changes were left, planned again alike"
        res.retries.append(message)
        tf.note(run.log_path, message)
        if self.progress is not None:
            self.progress.line(f"{ws.name}: {message}")
        if not rest:
            return run
        self._phase(ws.name, "apply", planned=len(rest))
        return tf.apply(REST_PLAN_FILE, on_event=self._sink(ws.name))

    def _feed(self, batch: Sequence[Workspace]) -> None:
        if self.stage_env is None or not any(ws.stage > 0 for ws in batch):
            return
        env = self.stage_env()
        for ws in batch:
            if ws.stage > 0:
                self._tf[ws.name].env.update(env)

    def _replace(self, ws: Workspace, destroy: bool) -> list[str]:
        return [] if destroy or self.replace_for is None else list(self.replace_for(ws))

    def ordered(self) -> list[WorkspaceResult]:
        return [self.results[ws.name] for ws in self.workspaces]

    # -- one workspace --------------------------------------------------------------------------
    def _plan_one(self, ws: Workspace, *, destroy: bool) -> None:
        res = self.results[ws.name]
        tf = self._tf[ws.name]
        started = time.monotonic()
        if destroy and self._holds_nothing(ws):
            return
        for attempt in range(1, self.retry.retries + 2):
            res.attempts = attempt
            self._phase(ws.name, "init")
            run = tf.init(on_event=self._sink(ws.name))
            if run.ok:
                self._phase(ws.name, "plan")
                run = tf.plan(DESTROY_PLAN_FILE if destroy else PLAN_FILE, destroy=destroy,
                              on_event=self._sink(ws.name), replace=self._replace(ws, destroy))
            res.log = str(run.log_path)
            if run.ok:
                res.planned = (run.changes or Changes()).as_dict()
                res.result = "planned"
                res.duration = time.monotonic() - started
                self._planned_ok.add(ws.name)
                self._phase(ws.name, "planned", planned=(run.changes or Changes()).total)
                return
            if not self._maybe_retry(ws, run, attempt):
                break
        res.duration = time.monotonic() - started
        self._fail(ws, run)

    def _converge(self, ws: Workspace, *, destroy: bool, replan: bool) -> None:
        res = self.results[ws.name]
        tf = self._tf[ws.name]
        plan_file = DESTROY_PLAN_FILE if destroy else PLAN_FILE
        need_plan = replan or ws.name not in self._planned_ok
        started = time.monotonic()
        if destroy and self._holds_nothing(ws):
            return
        run: RunResult | None = None
        for attempt in range(1, self.retry.retries + 2):
            res.attempts = attempt
            if need_plan:
                self._phase(ws.name, "init")
                run = tf.init(on_event=self._sink(ws.name))
                if run.ok:
                    self._phase(ws.name, "plan")
                    run = tf.plan(plan_file, destroy=destroy, on_event=self._sink(ws.name),
                                  replace=self._replace(ws, destroy))
                res.log = str(run.log_path)
                if not run.ok:
                    if self._maybe_retry(ws, run, attempt):
                        continue
                    break
                res.planned = (run.changes or Changes()).as_dict()
            need_plan = True
            if sum(res.planned.values()) == 0:
                res.result = "ok"
                res.duration = time.monotonic() - started
                self._collect_outputs(ws, destroy)
                self._phase(ws.name, "ok")
                return
            planned_total = res.planned["add"] + res.planned["change"] + res.planned["destroy"]
            self._phase(ws.name, "destroy" if destroy else "apply", planned=planned_total)
            run = tf.apply(plan_file, on_event=self._sink(ws.name))
            res.log = str(run.log_path)
            if run.changes is not None:
                for key, value in run.changes.as_dict().items():
                    if key in res.changes:
                        res.changes[key] += value
            if run.ok:
                res.result = "ok"
                res.duration = time.monotonic() - started
                self._collect_outputs(ws, destroy)
                if destroy and self.after_destroy is not None:
                    self.after_destroy(ws)
                self._phase(ws.name, "ok")
                return
            if attempt <= self.retry.retries and self._adopt(ws, run):
                continue
            if not self._maybe_retry(ws, run, attempt):
                break
        res.duration = time.monotonic() - started
        self._fail(ws, run)

    def _adopt(self, ws: Workspace, run: RunResult) -> list[str]:
        """Import what the failed apply found already existing (its cloud names it); the addresses
        imported (re-plan when any)."""
        if self.adopt_for is None or run.interrupted or self.interrupted:
            return []
        try:
            found = list(self.adopt_for(ws, run))
        except Exception as exc:  # the cloud could not say: the apply's own error stands
            self._tf[ws.name].note(run.log_path, f"could not look for existing resources to import: {exc}")
            return []
        tf = self._tf[ws.name]
        for address, resource_id in found:
            try:
                tf.import_resource(address, resource_id)
            except CcdsError as exc:
                tf.note(run.log_path, str(exc))
                return []
            message = (f"{address} already existed (created by an interrupted apply, never recorded): "
                       f"imported {resource_id}")
            self.results[ws.name].retries.append(message)
            tf.note(run.log_path, message)
            if self.progress is not None:
                self.progress.line(f"{ws.name}: {message}")
        return [address for address, _ in found]

    def _holds_nothing(self, ws: Workspace) -> bool:
        """A workspace whose state holds no resource has nothing to destroy: done without running
        terraform, so a configuration that no longer plans (an `up` that failed validation)
        cannot block `down`."""
        if not self._tf[ws.name].local_backend() or self._tf[ws.name].has_state():
            return False  # a remote backend is asked by terraform itself (a fresh CI runner has no local copy)
        res = self.results[ws.name]
        res.result = "ok"
        res.planned = {"add": 0, "change": 0, "destroy": 0}
        self._phase(ws.name, "no changes")
        return True

    def _collect_outputs(self, ws: Workspace, destroy: bool) -> None:
        if destroy:
            self.results[ws.name].outputs = {}
            return
        try:
            self.results[ws.name].outputs = self._tf[ws.name].output()
        except Exception as exc:  # outputs are informative; a failure here must not fail the apply
            self.results[ws.name].diagnostics.append({"severity": "warning", "summary": f"outputs: {exc}"})

    def _maybe_retry(self, ws: Workspace, run: RunResult, attempt: int) -> bool:
        """Log and wait for a retry when the failure is transient and tries remain."""
        if run.interrupted or self.interrupted:
            return False
        reason = transient_reason(run.diagnostics, getattr(ws, "cloud", None))
        if reason is None or attempt > self.retry.retries:
            return False
        delay = 0.0 if reason == "stale plan" else self.retry.delay(attempt)
        first = run.errors[0] if run.errors else Diagnostic("error", "unknown")
        message = (f"retry {attempt}/{self.retry.retries} after transient error ({reason}) in {delay:.1f}s: "
                   f"{first.summary}")
        self.results[ws.name].retries.append(message)
        self._tf[ws.name].note(run.log_path, message)
        self._phase(ws.name, f"retry {attempt}/{self.retry.retries}")
        if self.progress is not None:
            self.progress.line(f"{ws.name}: {message}")
        return not self.registry.interrupted.wait(delay)

    def _fail(self, ws: Workspace, run: RunResult | None) -> None:
        res = self.results[ws.name]
        if run is not None:
            res.diagnostics = [d.as_dict() for d in run.diagnostics]
            errors = run.errors
            res.error = "; ".join(str(d) for d in errors[:3]) if errors else f"terraform {run.action} failed"
            unreachable = registry_unreachable(run.diagnostics)
            if unreachable:  # say what it means and how to fix it; Terraform's own words stay in the log
                res.error = f"terraform {run.action}: {unreachable}"
        if self.interrupted:
            res.result = "interrupted"
        else:
            res.result = "failed"
            if self.fail_fast:
                self._cancel.set()
        self._phase(ws.name, res.result)

    def _skip(self, ws: Workspace, why: str) -> None:
        res = self.results[ws.name]
        res.result = "interrupted" if self.interrupted else "skipped"
        res.error = why
        self._phase(ws.name, res.result)

    # -- plumbing -------------------------------------------------------------------------------
    def _run_stage(self, batch: Sequence[Workspace], fn) -> None:
        def guarded(ws: Workspace) -> None:
            if self.interrupted or self._cancel.is_set():
                self._skip(ws, "interrupted" if self.interrupted else "cancelled (--fail-fast)")
                return
            try:
                fn(ws)
            except Exception as exc:  # one workspace's bug must not hide the others' results
                res = self.results[ws.name]
                res.result, res.error = "failed", f"{type(exc).__name__}: {exc}"
                self._phase(ws.name, "failed")
                if self.fail_fast:
                    self._cancel.set()

        with ThreadPoolExecutor(max_workers=min(self.parallelism, max(1, len(batch))),
                                thread_name_prefix="ccds-tf") as pool:
            futures = [pool.submit(guarded, ws) for ws in batch]
            for future in futures:
                while not future.done():  # short waits keep the main thread responsive to signals
                    time.sleep(0.05)

    def _phase(self, name: str, phase: str, *, planned: int | None = None) -> None:
        if self.progress is not None:
            self.progress.phase(name, phase, planned=planned)

    def _sink(self, name: str):
        if self.progress is None:
            return None
        return lambda event: self.progress.event(name, event)


@contextmanager
def forward_signals(registry: ProcessRegistry, progress: Progress | None = None) -> Iterator[None]:
    """While active, SIGINT/SIGTERM make terraform stop cleanly (one SIGINT each) instead of killing us."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        count = registry.interrupt()
        if progress is not None:
            progress.line(f"{signal.Signals(signum).name} received: asked {count} terraform process(es) to stop; "
                          "waiting for them to save state")

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
