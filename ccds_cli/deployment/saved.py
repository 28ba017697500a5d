"""Saved plans: `ccds plan FILE --out DIR` keeps every workspace's Terraform plan with what it was
made from; `ccds up FILE --plan DIR` applies exactly those plans, or refuses and names what moved.

DIR holds `<workspace>.tfplan` (the binary `terraform plan -out` file) per workspace and
`manifest.json`, written last: the ccds version, the spec's sha256, the counts and placements the
plan was built with (`ccds scale` / `ccds failover` choices), a digest of the control plane's
outputs the region plans were made against, and per workspace the plan file's and the rendered
configuration's sha256, the planned changes and the state's serial and lineage.

Applying checks all of it before anything runs (BadInput, exit 2, every difference named), then
applies the plans stage by stage. When applying the control plane changes the outputs the region
plans were made against (a first deployment: no manager URL yet), the regions are not applied and
the user is told to plan again: a plan made against other inputs is not the plan that was reviewed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from ccds_cli import __version__
from ccds_cli.deployment import Deployment, Operation
from ccds_cli.deployment.flow import FlowResult, FlowUI, applied, hook_cloud_lifecycle
from ccds_cli.errors import BadInput

MANIFEST = "manifest.json"
FORMAT = 1
WORKSPACE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")
REPLAN = "make a new plan with `ccds plan FILE --out DIR` and apply that one"
MAX_MANIFEST = 10 * 1024 * 1024  # a manifest lists workspaces: 10 MB is thousands of them


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _env_digest(env: dict[str, str]) -> str:
    """The control outputs the region plans are made against; a digest only (the database
    password is one of them)."""
    return hashlib.sha256(json.dumps(env, sort_keys=True).encode()).hexdigest()


def _counts(dep: Deployment) -> dict[str, int]:
    return {f"{r}/{role}": n for (r, role), n in sorted(dep.overrides().items())}


def save(dep: Deployment, orch: Any, out_dir: Path) -> dict[str, Any]:
    """Copy each workspace's fresh plan (`orch.plan()` just ran) into `out_dir` with the manifest.

    Refuses (BadInput) when any workspace did not plan: a partial plan would apply a deployment
    nobody reviewed whole."""
    from ccds_cli.tf.orchestrate import PLAN_FILE

    results = orch.ordered()
    bad = [r for r in results if r.result != "planned"]
    if bad:
        raise BadInput("nothing saved: " + "; ".join(f"{r.name} did not plan ({r.error or r.result})" for r in bad),
                       hint="fix the failing workspaces and plan again")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MANIFEST).unlink(missing_ok=True)  # a directory with plan files but no manifest is no plan
    rows = []
    for ws in orch.workspaces:
        res = orch.results[ws.name]
        target = out_dir / f"{ws.name}.tfplan"
        data = (Path(ws.path) / PLAN_FILE).read_bytes()
        target.write_bytes(data)
        rows.append({"name": ws.name, "kind": ws.kind, "stage": ws.stage, "cloud": ws.cloud,
                     "plan": target.name, "plan_sha256": hashlib.sha256(data).hexdigest(),
                     "config_sha256": _sha256(Path(ws.path) / "main.tf.json"),
                     "state": orch.terraform(ws.name).state_meta(), "planned": res.planned})
    manifest = {
        "format": FORMAT, "ccds": __version__, "deployment": dep.name,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "spec": {"path": str(dep.loaded.path), "sha256": dep.spec_sha256},
        "counts": _counts(dep), "placements": dict(sorted(dep.failovers().items())),
        "control_outputs_sha256": _env_digest(dep.control_env()), "workspaces": rows,
    }
    tmp = out_dir / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, out_dir / MANIFEST)
    return manifest


def load(plan_dir: Path) -> dict[str, Any]:
    """The manifest of a saved plan, checked for shape (it may come from a CI artifact)."""
    path = Path(plan_dir) / MANIFEST
    try:
        if path.stat().st_size > MAX_MANIFEST:
            raise BadInput(f"{path} is over {MAX_MANIFEST // 2**20} MB: not a ccds plan manifest")
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise BadInput(f"{plan_dir} holds no saved plan ({MANIFEST} missing)",
                       hint="save one with `ccds plan FILE --out DIR`") from None
    except (OSError, ValueError) as exc:
        raise BadInput(f"{path} is not a ccds plan manifest: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BadInput(f"{path} is not a ccds plan manifest of format {FORMAT}")
    problem = _shape_problem(manifest)
    if problem:
        raise BadInput(f"{path}: {problem}", hint="use the directory `ccds plan FILE --out DIR` wrote, unedited")
    return manifest


def _shape_problem(m: dict) -> str | None:
    """What is wrong with a manifest's shape (it may come from an artifact anyone could edit)."""
    def counts_ok(d) -> bool:
        return isinstance(d, dict) and all(isinstance(v, int) and not isinstance(v, bool) for v in d.values())

    if not isinstance(m.get("spec"), dict) or not isinstance(m["spec"].get("sha256"), str):
        return "`spec.sha256` must be a string"
    if not counts_ok(m.get("counts", {})) or not isinstance(m.get("placements", {}), dict):
        return "`counts` must map region/role to a number and `placements` region to a placement"
    rows = m.get("workspaces")
    if not isinstance(rows, list) or not rows:
        return "`workspaces` must list the workspaces"
    for r in rows:
        if not isinstance(r, dict) or not isinstance(r.get("name"), str) or not WORKSPACE_RE.match(r["name"]):
            return "every workspace needs a name of letters, digits, '.', '_' and '-'"
        if r.get("plan") != f"{r['name']}.tfplan":
            return f"workspace {r['name']}'s plan must be {r['name']}.tfplan"
        if not counts_ok(r.get("planned")):
            return f"workspace {r['name']}: `planned` must map add/change/destroy to numbers"
        state = r.get("state")
        if state is not None and not (isinstance(state, dict) and isinstance(state.get("serial"), int)
                                      and isinstance(state.get("lineage"), str)):
            return f"workspace {r['name']}: `state` must be null or {{serial, lineage}}"
    return None


def differences(dep: Deployment, manifest: dict[str, Any], plan_dir: Path, rendered: Sequence[Any]) -> list[str]:
    """Everything that moved since the plan was saved (empty: it still applies as reviewed)."""
    from ccds_cli.tf.runner import Terraform

    moved = []
    if manifest.get("ccds") != __version__:
        moved.append(f"ccds version {manifest.get('ccds')} -> {__version__}")
    if manifest.get("deployment") != dep.name:
        moved.append(f"the plan is for deployment {manifest.get('deployment')!r}, the spec is {dep.name!r}")
    old = str((manifest.get("spec") or {}).get("sha256", ""))
    if old != dep.spec_sha256:
        moved.append(f"spec changed (sha256 {old[:12]} -> {dep.spec_sha256[:12]})")
    counts, old_counts = _counts(dep), manifest.get("counts") or {}
    for key in sorted(set(counts) | set(old_counts)):
        if counts.get(key) != old_counts.get(key):
            moved.append(f"scale count {key} {old_counts.get(key, 'from the spec')} -> {counts.get(key, 'from the spec')}")
    placements, old_placements = dep.failovers(), manifest.get("placements") or {}
    for region in sorted(set(placements) | set(old_placements)):
        if placements.get(region) != old_placements.get(region):
            moved.append(f"region {region} placement {old_placements.get(region, 'home')} -> "
                         f"{placements.get(region, 'home')}")
    by_name = {ws.name: ws for ws in rendered}
    rows = {r["name"]: r for r in manifest["workspaces"]}
    for name in rows:
        if name not in by_name:
            moved.append(f"unknown workspace {name} (this deployment has no such workspace)")
    for name in by_name:
        if name not in rows:
            moved.append(f"workspace {name} is not in the plan")
    for name, row in rows.items():
        ws = by_name.get(name)
        if ws is None:
            continue
        plan_file = Path(plan_dir) / row["plan"]
        if not plan_file.is_file():
            moved.append(f"workspace {name}: plan file {plan_file} is missing")
        elif _sha256(plan_file) != row.get("plan_sha256"):
            moved.append(f"workspace {name}: plan file {plan_file} is not the one the manifest names")
        if _sha256(Path(ws.path) / "main.tf.json") != row.get("config_sha256"):
            moved.append(f"workspace {name}: its configuration renders differently now")
        tf = Terraform(ws.path, dep.logs_dir / name)
        if not tf.local_backend():
            tf.init()  # a remote state is read through terraform, which needs the backend set up
        now, then = tf.state_meta(), row.get("state")
        if now != then:
            moved.append(f"workspace {name} state " + _state_change(then, now))
    return moved


def _state_change(then: dict | None, now: dict | None) -> str:
    if then is None:
        return f"created since the plan (serial {now['serial']})"
    if now is None:
        return f"gone since the plan (was serial {then['serial']})"
    if then.get("lineage") != now.get("lineage"):
        return f"replaced (lineage {then.get('lineage')} -> {now.get('lineage')})"
    return f"serial {then.get('serial')} -> {now.get('serial')}"


def apply(dep: Deployment, plan_dir: Path, ui: FlowUI, op: Operation, *, parallelism: int = 4) -> FlowResult:
    """Apply the saved plan in `plan_dir` exactly, after checking nothing moved (else BadInput)."""
    from ccds_cli.tf.orchestrate import Orchestrator, WorkspaceResult, forward_signals
    from ccds_cli.tf.runner import ProcessRegistry

    manifest = load(plan_dir)
    rendered = dep.build()
    moved = differences(dep, manifest, plan_dir, rendered)
    if moved:
        raise BadInput("the saved plan in " + str(plan_dir) + " no longer applies: " + "; ".join(moved),
                       hint=REPLAN)
    rows = {r["name"]: r for r in manifest["workspaces"]}
    registry = ProcessRegistry()
    orch = Orchestrator(rendered, log_root=dep.logs_dir, secrets=dep.workspace_secrets, parallelism=parallelism,
                        registry=registry)
    hook_cloud_lifecycle(orch, dep.root)
    for name, res in orch.results.items():
        res.planned = {k: int((rows[name].get("planned") or {}).get(k, 0)) for k in ("add", "change", "destroy")}
        res.result = "planned"
    planned: list[WorkspaceResult] = orch.ordered()
    ui.show_plan(planned)
    total = {k: sum(r.planned[k] for r in planned) for k in ("add", "change", "destroy")}
    if sum(total.values()) and not ui.confirm(
            f"apply the saved plan ({total['add']} to add, {total['change']} to change, {total['destroy']} to "
            f"destroy in {len(planned)} workspace(s) of {dep.name})?"):
        op.result = "declined"
        return FlowResult(planned, applied=False, declined=True)
    expected = manifest.get("control_outputs_sha256")

    def control_unchanged(stage: int) -> str | None:
        if stage == 0 or _env_digest(dep.control_env()) == expected:
            return None
        return ("not applied: the control plane's outputs (manager URL, database address) changed while its "
                "plan was applied, and this workspace's plan was made against the old ones; " + REPLAN)

    with ui.progress(f"{dep.name}: apply saved plan") as progress, forward_signals(registry, progress):
        orch.progress = progress
        for ws in rendered:
            progress.add(ws.name)
        results = orch.apply_saved({name: Path(plan_dir).resolve() / row["plan"] for name, row in rows.items()},
                                   before_stage=control_unchanged)
    return applied(orch, op, results)
