"""The deployment: where its state lives, how its plan is built, how runs are guarded and recorded.

A `Deployment` knows `.ccds/<name>/`, builds the one plan every command uses (the spec plus the
node counts and placements chosen by `ccds scale`, `ccds failover` and the controller) and
renders it into `workspaces/`; `operation()` wraps a mutating command in the lock and a ledger
entry that always gets a final result, even on Ctrl-C or a crash. Nothing here prints or asks:
the flow reports through the UI object it is given (`ccds_cli.ui`).
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from ccds_cli.errors import BadInput, CcdsError, ExitCode
from ccds_cli.state import deployment_dir
from ccds_cli.state import overrides as scale_overrides
from ccds_cli.state import secrets as secret_store
from ccds_cli.state.ledger import Ledger
from ccds_cli.state.lock import DeploymentLock


@dataclass
class LeftoverWorkspace:
    """A workspace directory from an earlier render that the spec no longer produces."""

    name: str
    path: Path
    kind: str = "region"
    stage: int = 1
    cloud: str = ""


@dataclass
class Deployment:
    loaded: Any  # ccds_cli.spec.LoadedSpec
    root: Path  # .ccds/<name>/
    plan: Any = None
    rendered: list[Any] = field(default_factory=list)

    @classmethod
    def open(cls, spec_path: Path, state_dir: Path | None = None) -> "Deployment":
        from ccds_cli.paths import state_root
        from ccds_cli.spec import load_spec

        loaded = load_spec(Path(spec_path))
        return cls(loaded, deployment_dir(state_root(Path(spec_path), state_dir), loaded.spec.name))

    @property
    def name(self) -> str:
        return self.loaded.spec.name

    @property
    def spec_sha256(self) -> str:
        return self.loaded.sha256

    @property
    def workspaces_dir(self) -> Path:
        return self.root / "workspaces"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def scale_file(self) -> Path:
        return self.root / "scale.json"

    @property
    def failover_file(self) -> Path:
        return self.root / "failover.json"

    def failovers(self) -> dict[str, str]:
        """Regions `ccds failover` moved, {region: alias/region}, still valid for this spec."""
        from ccds_cli.state import failover as failover_state

        regions = self.loaded.spec.regions
        return {r: p for r, p in failover_state.load(self.failover_file).items()
                if r in regions and p in regions[r].failover}

    def ledger(self) -> Ledger:
        return Ledger(self.root / "ledger.db")

    def secrets(self) -> dict[str, str]:
        """Every generated secret (the operator's own copy); workspaces get `workspace_secrets`."""
        return secret_store.load_or_create(self.root / "secrets.json")

    def workspace_secrets(self, ws: Any) -> dict[str, dict[str, str]]:
        """The share of the secrets one rendered workspace gets (least privilege, see
        `ccds_cli/state/secrets.py`): its `TF_VAR_secrets`."""
        root = json.loads((Path(ws.path) / "main.tf.json").read_text())
        # Each node's credential bounds its capacity; a deployment known only from its workspaces (a spec
        # that no longer validates, being destroyed) has no pools to read them from.
        capacities = {(key, role): pool.capacity for key, region in self.loaded.spec.regions.items()
                      for role, pool in region.pools.items()} if self.loaded is not None else None
        return secret_store.workspace_secrets(self.secrets(), root, capacities, self.node_secrets(strict=False))

    def node_secrets(self, strict: bool = True) -> dict[str, str]:
        """What the engine's media nodes need besides their credential (Red5 Pro's license key), from
        the operator's environment. `strict`: missing or malformed is a spec error (exit 2, before any
        apply); otherwise (destroying, where nodes are not made) it is left out."""
        from ccds_cli import engines

        if self.loaded is None:
            return {}
        spec = self.loaded.spec
        try:
            return engines.get(spec.engine.kind).node_secrets(spec.engine)
        except ValueError as exc:
            if not strict:
                return {}
            line, col = self.loaded.where(("engine", "license_env"))
            raise BadInput(f"{self.loaded.path}:{line}:{col}: engine.license_env: {exc}",
                           hint=f"export {spec.engine.license_env}=<your Red5 Pro license key>") from None

    def shared(self):
        """The deployment state shared with other runners through the remote state store
        (`ccds_cli/state/shared.py`), or None when the backend shares Terraform state only."""
        from ccds_cli.state.shared import for_spec

        if self.loaded is None:
            return None
        if getattr(self, "_shared", None) is None:
            self._shared = for_spec(self.loaded.spec, self.root)
        return self._shared

    def pull_shared(self) -> list[str]:
        """Take what other runners (a controller on a VM, CI) decided since this one last looked."""
        shared = self.shared()
        return shared.pull() if shared is not None else []

    def push_shared(self, spec: bool = False) -> list[str]:
        """Share what this runner decided; `spec`: also the spec itself (it was just applied)."""
        shared = self.shared()
        if shared is None:
            return []
        if spec:
            import hashlib

            raw = self.loaded.path.read_bytes()
            if hashlib.sha256(raw).hexdigest() == self.loaded.sha256:  # not a file edited since it was read
                shared.push_spec(raw)
        return shared.push()

    def overrides(self) -> dict[tuple[str, str], int]:
        """Saved `ccds scale` counts that still fit the spec (a removed region or role is dropped)."""
        regions = self.loaded.spec.regions
        return {(r, role): n for (r, role), n in scale_overrides.load(self.scale_file).items()
                if r in regions and role in regions[r].pools}

    def make_plan(self, counts: dict[tuple[str, str], int] | None = None,
                  placements: dict[str, str] | None = None) -> Any:
        """The plan: the spec with the saved counts and placements, then `counts` and `placements`
        on top (what a command is about to apply). The one way every command gets its plan."""
        from ccds_cli.plan import build_plan

        all_counts = {**self.overrides(), **(counts or {})}
        moved = {**self.failovers(), **(placements or {})}
        moved = {r: p for r, p in moved.items() if p != self.loaded.spec.regions[r].placement}
        self.plan = build_plan(self.loaded.spec, all_counts or None, failover_to=moved or None)
        return self.plan

    def build(self, counts: dict[tuple[str, str], int] | None = None, placements: dict[str, str] | None = None,
              out_dir: Path | None = None) -> list[Any]:
        """Plan (see `make_plan`) and render every workspace into `out_dir` (default: the
        deployment's workspaces); returns the rendered workspaces in apply order. Nothing is
        remembered: `remember()` does that once an apply succeeded."""
        from ccds_cli.render import render

        self.make_plan(counts, placements)
        target = Path(out_dir) if out_dir is not None else self.workspaces_dir
        target.mkdir(parents=True, exist_ok=True)
        rendered = list(render(self.loaded, self.plan, target))
        if out_dir is None:
            self.rendered = rendered
        return rendered

    def remember(self, counts: dict[tuple[str, str], int] | None = None,
                 placements: dict[str, str] | None = None) -> None:
        """Keep counts and placements that were just applied, so later `up`s keep them. A
        placement equal to the region's own one (a fail-back) is forgotten."""
        from ccds_cli.state import failover as failover_state

        if counts:
            scale_overrides.save(self.scale_file, {**self.overrides(), **counts})
        if placements:
            moved = {**self.failovers(), **placements}
            home = self.loaded.spec.regions
            failover_state.save(self.failover_file, {r: p for r, p in moved.items() if p != home[r].placement})

    def planned(self) -> list[Any]:
        """The plan's workspaces without rendering (what status compares against)."""
        if self.plan is None:
            self.make_plan()
        return list(self.plan.workspaces)

    def ensure_rendered(self) -> None:
        """With a remote state backend a machine that never ran `up` here (a fresh CI runner) has no
        workspace directory to read the shared state through: render them, as `up` would."""
        if self.loaded.spec.state.backend == "local":
            return
        if any(not (self.workspaces_dir / ws.name / "main.tf.json").is_file() for ws in self.planned()):
            self.build()

    def control_env(self) -> dict[str, str]:
        """TF_VAR_manager_url and the database (host, port, user, name, password) from the primary
        control workspace's state. The password comes from its sensitive output and goes only
        into this environment (never a file, log line or ccds output)."""
        from ccds_cli.tf.runner import Terraform

        self.ensure_rendered()
        for ws in self.planned():
            if ws.control is None or not ws.control.primary:
                continue
            path = self.workspaces_dir / ws.name
            tf = Terraform(path, self.logs_dir / ws.name) if path.is_dir() else None
            if tf is None or not tf.has_state():
                return {}
            outputs = tf.output(sensitive=True)
            endpoints = (outputs.get("endpoints") or {}).get("control") or {}
            env = {}
            if endpoints.get("api"):
                env["TF_VAR_manager_url"] = str(endpoints["api"])
            for key in ("database_host", "database_port", "database_user", "database_name"):
                if endpoints.get(key):
                    env[f"TF_VAR_{key}"] = str(endpoints[key])
            if outputs.get("database_password"):
                env["TF_VAR_database_password"] = str(outputs["database_password"])
            return env
        return {}

    def leftovers(self) -> list[LeftoverWorkspace]:
        """Workspace dirs with terraform state that the current render does not produce."""
        known = {ws.name for ws in self.rendered} | {ws.name for ws in (self.plan.workspaces if self.plan else [])}
        return applied_workspaces(self.workspaces_dir, self.logs_dir, skip=known)

    def select(self, workspaces: Sequence[Any], targets: Sequence[str] | None) -> list[Any]:
        """Only the workspaces holding the given region keys (`control` selects control workspaces)."""
        if not targets:
            return list(workspaces)
        valid = set(self.loaded.spec.regions) | {"control"}
        unknown = [t for t in targets if t not in valid]
        if unknown:
            raise BadInput(f"unknown --target {', '.join(unknown)}",
                           hint="targets are region keys from the spec: " + ", ".join(sorted(valid)))
        by_name = {ws.name: ws for ws in self.plan.workspaces}
        chosen = []
        for ws in workspaces:
            planned = by_name.get(ws.name)
            keys = set(getattr(planned, "region_keys", []) or [])
            if planned is not None and planned.kind == "control":
                keys.add("control")
            if keys & set(targets):
                chosen.append(ws)
        return chosen

    @contextmanager
    def operation(self, command: str, args: dict[str, Any], *, break_lock: bool = False) -> Iterator["Operation"]:
        """Hold the lock and keep a ledger entry for the whole command."""
        ledger = self.ledger()
        lock = DeploymentLock(self.root / "lock", command, break_lock=break_lock)
        with lock:
            op = Operation(ledger, ledger.begin(command, self.spec_sha256, args))
            if lock.broken is not None:
                ledger.event(op.id, "lock", f"broke stale lock held by {lock.broken.describe()}")
            try:
                if command != "down":
                    self.node_secrets()  # nodes about to be made get all they need, or nothing is applied
                self.pull_shared()  # decide on what other runners decided, under the lock
                yield op
            except CcdsError as exc:
                self._share_quietly(op)
                result = "interrupted" if exc.exit_code == ExitCode.INTERRUPTED else "failed"
                ledger.finish(op.id, result, exc.message)
                raise
            except BaseException as exc:
                self._share_quietly(op)
                ledger.finish(op.id, "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed",
                              f"{type(exc).__name__}: {exc}")
                raise
            else:
                from ccds_cli.state.shared import SharedStateError

                try:
                    # `up` shares the spec it applied: a controller elsewhere runs from it (`operate --from`)
                    self._note_shared(op, self.push_shared(spec=command == "up" and op.result in (None, "ok")))
                except SharedStateError as exc:
                    ledger.finish(op.id, "failed", f"done, but not shared with other runners: {exc.message}")
                    raise CcdsError(f"{command} done, but its decisions could not be shared with other runners: "
                                    f"{exc.message}", hint=exc.hint) from None
                ledger.finish(op.id, op.result or "ok", op.error)

    def _note_shared(self, op: "Operation", names: list[str]) -> None:
        if names:
            op.event("shared", f"shared {', '.join(names)} with other runners")

    def _share_quietly(self, op: "Operation") -> None:
        """After a failure: share what was applied before it (a failover's bring-up), if the store answers."""
        from ccds_cli.state.shared import SharedStateError

        try:
            self._note_shared(op, self.push_shared())
        except (SharedStateError, OSError) as exc:
            op.event("shared", f"not shared with other runners: {getattr(exc, 'message', exc)}")


# The environment variable Terraform's pg backend reads its connection string from.
PG_CONN_STR = "PG_CONN_STR"


def connect_state_backend(loaded: Any) -> None:
    """Make the spec's remote state backend reachable for terraform, or fail now (exit 2) with what
    is missing, before any terraform runs: a missing pg connection string would otherwise surface
    as terraform's own error from `init`, after rendering. The pg backend reads the connection
    string only from PG_CONN_STR; the spec names the variable holding it (`state.conn_str_env`),
    so its value is copied to PG_CONN_STR in this process's environment, which every terraform
    process inherits (never a file, log line or argument)."""
    st = loaded.spec.state
    if st.backend != "pg":
        return
    value = os.environ.get(st.conn_str_env, "")
    if not value.strip():
        line, col = loaded.where(("state", "conn_str_env"))
        raise BadInput(f"{loaded.path}:{line}:{col}: state.conn_str_env: the environment variable "
                       f"{st.conn_str_env} is not set; the pg state backend reads the PostgreSQL "
                       "connection string from it",
                       hint=f"export {st.conn_str_env}=postgres://USER:PASSWORD@HOST:5432/DATABASE "
                            "(or name another variable in state.conn_str_env)")
    os.environ[PG_CONN_STR] = value


def applied_workspaces(workspaces_dir: Path, logs_dir: Path,
                       skip: set[str] | frozenset[str] = frozenset()) -> list[LeftoverWorkspace]:
    """Every rendered workspace directory whose Terraform state holds resources, as it was last
    applied (its cloud read from the module it calls); those named in `skip` are not asked (asking a
    remote state may mean a `terraform init`)."""
    import json

    from ccds_cli.tf.runner import Terraform

    found = []
    if not workspaces_dir.is_dir():
        return found
    for path in sorted(workspaces_dir.iterdir()):
        if path.name in skip or not path.is_dir() or not Terraform(path, logs_dir / path.name).has_state():
            continue
        kind = "control" if path.name.startswith("control.") else "region"
        cloud = ""
        try:
            modules = json.loads((path / "main.tf.json").read_text()).get("module") or {}
            sources = {str(m.get("source", "")) for m in modules.values() if isinstance(m, dict)}
            if len(sources) == 1:
                cloud = sources.pop().rsplit("/", 1)[-1]
        except (OSError, ValueError, AttributeError):
            pass
        found.append(LeftoverWorkspace(path.name, path, kind, 0 if kind == "control" else 1, cloud))
    return found


@dataclass
class AppliedDeployment(Deployment):
    """A deployment known only by what was applied last: its spec no longer loads, but `ccds down`
    must still be able to remove everything its state holds."""

    spec_name: str = ""
    digest: str = ""

    @classmethod
    def find(cls, spec_path: Path, state_dir: Path | None) -> "AppliedDeployment | None":
        """The deployment named by the spec's `name`, if its state directory exists."""
        import hashlib
        import re

        from ccds_cli.paths import state_root
        from ccds_cli.spec import yamlpos
        from ccds_cli.spec.models import NAME_RE

        try:
            from ccds_cli.spec.loader import read_bounded

            raw = read_bounded(Path(spec_path), 1_000_000)  # a regular file only, bounded in size and time
            data, _, _ = yamlpos.load(raw.decode("utf-8", "replace"), str(spec_path))
        except Exception:  # whatever is wrong with the file, load_spec has already said it
            return None
        name = data.get("name") if isinstance(data, dict) else None
        if not isinstance(name, str) or not re.match(NAME_RE, name):
            return None
        root = state_root(Path(spec_path), state_dir) / name
        if not (root / "workspaces").is_dir():
            return None
        # the rendered workspaces name their backend; a pg one still needs the connection string
        state = data.get("state") if isinstance(data.get("state"), dict) else {}
        env_name = state.get("conn_str_env", PG_CONN_STR) if state.get("backend") == "pg" else None
        if isinstance(env_name, str) and re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$", env_name) \
                and os.environ.get(env_name):
            os.environ[PG_CONN_STR] = os.environ[env_name]
        return cls(loaded=None, root=root, spec_name=name, digest=hashlib.sha256(raw).hexdigest())

    @property
    def name(self) -> str:
        return self.spec_name

    @property
    def spec_sha256(self) -> str:
        return self.digest

    def build(self, counts=None, placements=None, out_dir=None) -> list[Any]:
        self.rendered = applied_workspaces(self.workspaces_dir, self.logs_dir)
        return self.rendered

    def leftovers(self) -> list[LeftoverWorkspace]:
        return []

    def ensure_rendered(self) -> None:
        """Nothing to render: without a valid spec the workspaces found here are all there is."""

    def control_env(self) -> dict[str, str]:
        return {}


@dataclass
class Operation:
    ledger: Ledger
    id: int
    result: str | None = None
    error: str | None = None

    def record(self, results: Sequence[Any]) -> None:
        self.ledger.record_workspaces(self.id, results)

    def event(self, kind: str, message: str, workspace: str | None = None) -> None:
        self.ledger.event(self.id, kind, message, workspace)
