"""How the controller changes the deployment: the Actuator (Terraform, through the deployment
layer, under the deployment lock per action) and NodeStates (SUNSET / INSERVICE via the managers).

An Actuator never raises for an ordinary failure: it answers an `ActResult` (`locked=True` when
another command holds the deployment lock and nothing was tried). A KeyboardInterrupt (second
SIGTERM, Ctrl-C) may pass through: the controller records the action as abandoned.
"""

from __future__ import annotations

from typing import Protocol

from ccds_cli.operate.model import ActResult


class Actuator(Protocol):
    def set_counts(self, region: str, counts: dict[str, int], reason: str) -> ActResult:
        """Apply new node counts for some pools of one region (only its workspace); keep them as the
        deployment's counts once applied (like `ccds scale`)."""

    def replace(self, region: str, role: str, nodes: list[str], reason: str) -> ActResult:
        """Recreate exactly these nodes (dead ones) of a pool; the others are not touched."""

    def failover(self, region: str, target: str, reason: str, keep_old: bool = False) -> ActResult:
        """Move a region to `target` (alias/region) make-before-break, like `ccds failover`;
        `keep_old` when the old placement's cloud does not answer."""


class NodeStates(Protocol):
    def set_state(self, node: str, state: str, reason: str = "") -> dict:
        """PUT /api/v1/nodes/{node}/state (the stream manager client has it)."""


class UnavailableActuator:
    """Until the deployment layer offers a non-interactive apply: every Terraform action is refused
    with the reason, so `ccds operate` still observes, decides and drains through the managers."""

    def __init__(self, why: str):
        self.why = why

    def set_counts(self, region: str, counts: dict[str, int], reason: str) -> ActResult:
        return ActResult(ok=False, error=self.why)

    def replace(self, region: str, role: str, nodes: list[str], reason: str) -> ActResult:
        return ActResult(ok=False, error=self.why)

    def failover(self, region: str, target: str, reason: str, keep_old: bool = False) -> ActResult:
        return ActResult(ok=False, error=self.why)
