"""Changing a live deployment from code: new node counts for a region, a region moved to another
placement. `ccds scale`, `ccds failover` and the controller all come through here, so the order
(make before break) and the rule "remember only what was applied" hold for each of them."""

from __future__ import annotations

from ccds_cli.deployment import Deployment, Operation
from ccds_cli.deployment.flow import FlowResult, FlowUI, plan_and_apply


def apply_counts(dep: Deployment, region: str, counts: dict[tuple[str, str], int], ui: FlowUI,
                 op: Operation) -> FlowResult:
    """Apply only `region`'s workspace with the new counts; keep them once applied."""
    rendered = dep.build(counts=counts)
    flow = plan_and_apply(dep, dep.select(rendered, [region]), ui, op, parallelism=1)
    if flow.ok:
        dep.remember(counts=counts)
    return flow


def move_region(dep: Deployment, region: str, target: str, ui: FlowUI, op: Operation, *,
                keep_old: bool = False) -> tuple[FlowResult, FlowResult | None]:
    """Make before break: bring `region` up on `target`, remember the move, then empty the old
    placement (re-apply its workspace without the region, or destroy it when nothing else lives
    there). Returns (bring-up, clean-up); clean-up is None when skipped or not reached."""
    dep.make_plan()
    old_ws = dep.plan.workspace_of_region(region).name
    rendered = dep.build(placements={region: target})
    new_ws = dep.plan.workspace_of_region(region).name
    op.event("failover", f"{region}: {dep.failovers().get(region) or dep.loaded.spec.regions[region].placement}"
                         f" -> {target}")
    up = plan_and_apply(dep, [w for w in rendered if w.name == new_ws], ui, op)
    if not up.ok:
        return up, None
    dep.remember(placements={region: target})
    if keep_old or old_ws == new_ws:
        return up, None
    still = [w for w in rendered if w.name == old_ws]  # other regions still live there
    if still:
        return up, plan_and_apply(dep, still, _Decided(ui), op)
    leftover = [w for w in dep.leftovers() if w.name == old_ws]
    if leftover:
        return up, plan_and_apply(dep, leftover, _Decided(ui), op, destroy=True, verb="destroy")
    return up, None


class _Decided:
    """The caller's UI, with the question already answered: emptying the old placement is part
    of the move the user confirmed."""

    def __init__(self, ui: FlowUI):
        self.ui = ui

    def progress(self, title: str):
        return self.ui.progress(title)

    def show_plan(self, planned) -> None:
        self.ui.show_plan(planned)

    def confirm(self, question: str) -> bool:
        return True
