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


def node_resources() -> set[str]:
    """Resource types that are "the node" in each cloud module (the cloud adapters say which; the
    others keyed by the node, NICs and addresses, follow it): `replace` taints these, or every
    resource keyed by the node otherwise."""
    from ccds_cli import clouds

    return {c.node_resource for c in clouds.all_clouds() if c.node_resource}


class TerraformActuator:
    """The Actuator over the deployment layer: the same plan -> apply engine as `ccds up`, no
    prompt, under the deployment lock for each action only (a manual command may run between
    two actions; one that holds the lock makes the action answer `locked`)."""

    def __init__(self, loaded, root, log=None):
        self.loaded, self.root, self.log = loaded, root, log

    def _deployment(self):
        from ccds_cli.deployment import Deployment

        return Deployment(self.loaded, self.root)

    def _run(self, kind: str, args: dict, body) -> ActResult:
        import time

        from ccds_cli.errors import CcdsError, Locked
        from ccds_cli.tf.runner import Interrupted
        from ccds_cli.ui import QuietUI

        t0 = time.monotonic()
        dep = self._deployment()
        try:
            with dep.operation(f"operate:{kind}", args) as op:
                flow = body(dep, QuietUI(self.log), op)
                if not flow.ok:
                    op.result = "failed"
        except Locked as exc:
            return ActResult(ok=False, locked=True, error=exc.message)
        except Interrupted as exc:  # SIGTERM/Ctrl-C during the apply: terraform stopped and saved state
            return ActResult(ok=False, abandoned=True, error=exc.message, duration=time.monotonic() - t0)
        except CcdsError as exc:
            return ActResult(ok=False, error=exc.message, duration=time.monotonic() - t0)
        return ActResult(ok=flow.ok, error="" if flow.ok else (flow.error() or "apply failed"),
                         duration=round(time.monotonic() - t0, 3),
                         details={"operation": op.id, "workspaces": [r.name for r in flow.results]})

    def set_counts(self, region: str, counts: dict[str, int], reason: str) -> ActResult:
        from ccds_cli.deployment.moves import apply_counts

        wanted = {(region, role): n for role, n in counts.items()}
        return self._run("scale", {"region": region, "counts": counts, "reason": reason},
                         lambda dep, ui, op: apply_counts(dep, region, wanted, ui, op))

    def failover(self, region: str, target: str, reason: str, keep_old: bool = False) -> ActResult:
        from ccds_cli.deployment.moves import move_region

        def body(dep, ui, op):
            up, cleanup = move_region(dep, region, target, ui, op, keep_old=keep_old)
            if up.ok and cleanup is not None and not cleanup.ok:
                op.event("failover", f"{region} serves on {target}; the old placement could not be emptied: "
                                     f"{cleanup.error()}")
            return up  # the region serves on the target: the move succeeded

        return self._run("failover", {"region": region, "to": target, "keep_old": keep_old, "reason": reason}, body)

    def replace(self, region: str, role: str, nodes: list[str], reason: str) -> ActResult:
        from ccds_cli.deployment.moves import apply_counts

        def body(dep, ui, op):
            rendered = dep.build()
            ws = dep.plan.workspace_of_region(region)
            rws = next(w for w in rendered if w.name == ws.name)
            tainted = taint_nodes(rws.path, dep.logs_dir / ws.name, dep.workspace_secrets(rws), region,
                                  [node_key(self.loaded.spec.name, region, n) for n in nodes])
            op.event("replace", f"{region} {role}: tainted {', '.join(tainted) or 'nothing'} ({reason})", ws.name)
            return apply_counts(dep, region, {}, ui, op)

        return self._run("replace", {"region": region, "role": role, "nodes": nodes, "reason": reason}, body)


def node_key(deployment: str, region: str, node: str) -> str:
    """`<deployment>-<region>-<pool>-<i>` -> the module's key for it, `<pool>-<i>`."""
    prefix = f"{deployment}-{region}-"
    return node[len(prefix):] if node.startswith(prefix) else node


def taint_nodes(workdir, log_dir, secrets: dict, module: str, keys: list[str]) -> list[str]:
    """Mark the nodes' resources for replacement at the next apply (`terraform taint`), found in
    the workspace's state by module and key; returns the addresses tainted."""
    import subprocess

    from ccds_cli.tf.runner import Terraform

    tf = Terraform(workdir, log_dir, secrets=secrets)
    listed = subprocess.run([tf.binary, "state", "list", "-no-color"], cwd=workdir, env=tf.env,
                            capture_output=True, text=True, timeout=300)
    if listed.returncode != 0:
        return []
    addresses = [a.strip() for a in listed.stdout.splitlines() if a.strip().startswith(f"module.{module}.")]
    chosen: list[str] = []
    types = node_resources()
    for key in keys:
        mine = [a for a in addresses if a.endswith(f'["{key}"]')]
        nodes = [a for a in mine if a.split(".")[-2] in types]
        chosen += nodes or mine
    for address in chosen:
        subprocess.run([tf.binary, "taint", "-no-color", "-lock-timeout=300s", address], cwd=workdir, env=tf.env,
                       capture_output=True, text=True, timeout=300)
    return chosen
