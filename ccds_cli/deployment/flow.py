"""The plan → confirm → apply flow shared by `up`, `scale`, `failover`, `down` and the controller.

Plans every selected workspace, shows the summary and asks through the caller's UI (a terminal,
or nobody for the controller), applies stage by stage, records each workspace in the ledger and
turns an interruption into exit 130 after terraform has saved its state.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Sequence

from ccds_cli.deployment import Deployment, Operation
from ccds_cli.errors import CcdsError
from ccds_cli.tf.orchestrate import Orchestrator, WorkspaceResult, forward_signals
from ccds_cli.tf.runner import Interrupted, ProcessRegistry, Terraform

NOT_DONE = ("failed", "skipped")  # workspace results that leave the deployment short of the plan


class FlowUI(Protocol):
    def progress(self, title: str) -> Any: ...  # a context manager yielding an orchestrate.Progress

    def show_plan(self, planned: Sequence[WorkspaceResult]) -> None: ...

    def confirm(self, question: str) -> bool: ...


@dataclass
class FlowResult:
    """What one plan-and-apply did; the one place that says whether it succeeded."""

    results: list[WorkspaceResult]
    applied: bool  # False when the user declined or nothing needed doing
    declined: bool = False

    @property
    def failed(self) -> list[WorkspaceResult]:
        """Workspaces that failed or never ran because an earlier stage failed."""
        return [r for r in self.results if r.result in NOT_DONE]

    @property
    def ok(self) -> bool:
        return not self.declined and not self.failed

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def error(self) -> str:
        return "; ".join(f"{r.name}: {r.error}" for r in self.results if r.error)[:2000]

    def __add__(self, other: "FlowResult") -> "FlowResult":
        return FlowResult(self.results + other.results, self.applied or other.applied,
                          self.declined or other.declined)


def totals(results: Sequence[WorkspaceResult]) -> dict[str, int]:
    out = {"add": 0, "change": 0, "destroy": 0}
    for r in results:
        for key in out:
            out[key] += int(r.planned.get(key, 0))
    return out


def plan_and_apply(dep: Deployment, workspaces: Sequence[Any], ui: FlowUI, op: Operation, *,
                   parallelism: int = 4, fail_fast: bool = False, destroy: bool = False,
                   verb: str = "apply") -> FlowResult:
    registry = ProcessRegistry()
    orch = Orchestrator(workspaces, log_root=dep.logs_dir, secrets=dep.workspace_secrets, parallelism=parallelism,
                        fail_fast=fail_fast, registry=registry, stage_env=dep.control_env)
    hook_cloud_lifecycle(orch, dep.root)
    with ui.progress(f"{dep.name}: plan") as progress, forward_signals(registry, progress):
        orch.progress = progress
        for ws in workspaces:
            progress.add(ws.name)
        planned = orch.plan(destroy=destroy)
    _stop_if_interrupted(orch, op)
    changes = totals(planned)
    plan_failed = [r for r in planned if r.result == "failed"]
    ui.show_plan(planned)
    if sum(changes.values()):
        question = (f"{verb} {changes['add']} to add, {changes['change']} to change, {changes['destroy']} to destroy "
                    f"in {len(workspaces)} workspace(s) of {dep.name}?")
        if not ui.confirm(question):
            op.result = "declined"
            return FlowResult(planned, applied=False, declined=True)
    if plan_failed and fail_fast:
        op.result = "failed"
        op.record(planned)
        return FlowResult(planned, applied=False)
    with ui.progress(f"{dep.name}: {verb}") as progress, forward_signals(registry, progress):
        orch.progress = progress
        results = orch.apply(destroy=destroy)
    return applied(orch, op, results)


def applied(orch: Orchestrator, op: Operation, results: list[WorkspaceResult]) -> FlowResult:
    """Record an apply in the ledger (retries as events too) and say how it went; an interruption
    becomes `Interrupted` (exit 130) once terraform saved its state."""
    op.record(results)
    _stop_if_interrupted(orch, op)
    flow = FlowResult(results, applied=True)
    op.result = "ok" if flow.ok else "failed"
    if not flow.ok:
        op.error = flow.error()
    return flow


def _stop_if_interrupted(orch: Orchestrator, op: Operation) -> None:
    if orch.interrupted:
        op.record(orch.ordered())
        op.result = "interrupted"
        raise Interrupted()


def workspace_dicts(results: Sequence[WorkspaceResult]) -> list[dict[str, Any]]:
    """Results for JSON output (outputs are reported separately as nodes and endpoints)."""
    rows = []
    for r in results:
        row = r.as_dict()
        row.pop("outputs", None)
        rows.append(row)
    return rows


def hook_cloud_lifecycle(orch: Orchestrator, state_dir) -> None:
    """Let each workspace's cloud name resources to recreate and clean up after a destroy."""
    from ccds_cli import clouds

    def cloud_of(ws):
        return clouds.get(ws.cloud) if getattr(ws, "cloud", "") in clouds.names() else None

    def replace_for(ws):
        cloud = cloud_of(ws)
        if cloud is None:
            return []
        tf = Terraform(ws.path, Path(state_dir) / "logs" / ws.name)
        if tf.local_backend():
            return cloud.stale_resources(ws.path, state_dir)
        # A remote state (pg, s3, ...) has no file in the workspace: hand the adapter the pulled state
        # (the workspace was just initialised), or a dead local node would never be replaced.
        try:
            state = tf.state_document()
        except CcdsError as exc:  # the plan that follows reports what is wrong with the backend
            if orch.progress is not None:
                orch.progress.line(f"{ws.name}: cannot read the state to find stale nodes: {exc}")
            return []
        return cloud.stale_resources(ws.path, state_dir, state=state or {})

    def after_destroy(ws):
        cloud = cloud_of(ws)
        if cloud:
            cloud.after_destroy(ws.name, state_dir)

    def adopt_for(ws, run):
        cloud = cloud_of(ws)
        if cloud is None:
            return []
        state = Terraform(ws.path, Path(state_dir) / "logs" / ws.name).state_document()
        return cloud.existing_resources(Path(ws.path), run.errors, state)

    orch.replace_for = replace_for
    orch.after_destroy = after_destroy
    orch.adopt_for = adopt_for
