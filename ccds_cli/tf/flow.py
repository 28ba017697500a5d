"""The plan → confirm → apply flow shared by `up`, `scale` and `down`.

Plans every selected workspace, shows the summary, asks (unless --yes or nothing to do),
applies stage by stage, records each workspace in the ledger and turns an interruption into
exit 130 after terraform has saved its state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from ccds_cli.tf import report
from ccds_cli.tf.deploy import Deployment, Operation, confirm, progress_for
from ccds_cli.tf.orchestrate import Orchestrator, WorkspaceResult, forward_signals
from ccds_cli.tf.runner import Interrupted, ProcessRegistry


@dataclass
class FlowResult:
    results: list[WorkspaceResult]
    applied: bool  # False when the user declined or nothing needed doing
    declined: bool = False

    @property
    def failed(self) -> list[WorkspaceResult]:
        return [r for r in self.results if r.result == "failed"]


def plan_and_apply(dep: Deployment, workspaces: Sequence[Any], out: Any, op: Operation, *, yes: bool,
                   parallelism: int = 4, fail_fast: bool = False, destroy: bool = False,
                   verb: str = "apply") -> FlowResult:
    registry = ProcessRegistry()
    orch = Orchestrator(workspaces, log_root=dep.logs_dir, secrets=dep.secrets(), parallelism=parallelism,
                        fail_fast=fail_fast, registry=registry, stage_env=dep.control_env)
    hook_cloud_lifecycle(orch, dep.root)
    with progress_for(out, f"{dep.name}: plan") as progress, forward_signals(registry, progress):
        orch.progress = progress
        for ws in workspaces:
            progress.add(ws.name)
        planned = orch.plan(destroy=destroy)
    _stop_if_interrupted(orch, op)
    totals = report.plan_totals(planned)
    plan_failed = [r for r in planned if r.result == "failed"]
    if not out.json:
        report.render_plan(planned, out.err)
    nothing = sum(totals.values()) == 0
    if not nothing:
        question = (f"{verb} {totals['add']} to add, {totals['change']} to change, {totals['destroy']} to destroy "
                    f"in {len(workspaces)} workspace(s) of {dep.name}?")
        if not confirm(out, question, yes):
            op.result = "declined"
            return FlowResult(planned, applied=False, declined=True)
    if plan_failed and fail_fast:
        op.result = "failed"
        op.record(planned)
        return FlowResult(planned, applied=False)
    with progress_for(out, f"{dep.name}: {verb}") as progress, forward_signals(registry, progress):
        orch.progress = progress
        results = orch.apply(destroy=destroy)
    op.record(results)  # retries are stored as ledger events too
    _stop_if_interrupted(orch, op)
    op.result = "failed" if any(r.result in ("failed", "skipped") for r in results) else "ok"
    if op.result == "failed":
        op.error = "; ".join(f"{r.name}: {r.error}" for r in results if r.error)[:2000]
    return FlowResult(results, applied=True)


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
        return cloud.stale_resources(ws.path, state_dir) if cloud else []

    def after_destroy(ws):
        cloud = cloud_of(ws)
        if cloud:
            cloud.after_destroy(ws.name, state_dir)

    orch.replace_for = replace_for
    orch.after_destroy = after_destroy
