"""A thin runner over the `terraform` (or `tofu`) binary that streams its `-json` events.

We do not use python-terraform: it is unmaintained since 2019, cannot stream events and its
`destroy()` passes a flag removed in Terraform 0.15. Each call starts one terraform process in
its own session (so a terminal Ctrl-C reaches only us and we forward exactly one SIGINT, which
makes terraform stop cleanly and save state), tees the raw stream to a log file, and hands
parsed events to a callback for progress.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

from ccds_cli.errors import CcdsError, MissingTool
from ccds_cli.tf.events import Changes, Diagnostic, Event, parse_line, raw_diagnostic

# Terraform writes state (user data, bootstrap secrets), plans and its lock file itself: only for the user.
PRIVATE_UMASK = 0o077

INSTALL_HINT = ("install Terraform >= 1.5 (https://developer.hashicorp.com/terraform/install) or "
                "OpenTofu (https://opentofu.org/docs/intro/install/), or set CCDS_TERRAFORM to the binary")

EventCallback = Callable[[Event], None]


def find_binary() -> str:
    """`CCDS_TERRAFORM` if set, else `terraform`, else `tofu` on PATH."""
    named = os.environ.get("CCDS_TERRAFORM")
    if named:
        path = shutil.which(named)
        if path is None:
            raise MissingTool(f"CCDS_TERRAFORM={named} is not an executable", hint=INSTALL_HINT)
        return path
    for name in ("terraform", "tofu"):
        path = shutil.which(name)
        if path:
            return path
    raise MissingTool("no terraform or tofu binary found on PATH", hint=INSTALL_HINT)


class Interrupted(CcdsError):
    """The user pressed Ctrl-C or we got SIGTERM; running terraform processes were stopped cleanly."""

    def __init__(self, message: str = "interrupted; terraform saved its state, re-run to converge"):
        from ccds_cli.errors import ExitCode

        super().__init__(message, exit_code=ExitCode.INTERRUPTED,
                         hint="re-run the same command; it converges from the saved state")


class ProcessRegistry:
    """The terraform processes running now, so a signal handler can forward SIGINT to each once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._procs: set[subprocess.Popen] = set()
        self.interrupted = threading.Event()

    def add(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._procs.add(proc)
        if self.interrupted.is_set():  # started while we were being interrupted
            self._signal(proc)

    def remove(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._procs.discard(proc)

    def interrupt(self) -> int:
        """Mark interrupted and send SIGINT to every running terraform; returns how many."""
        first = not self.interrupted.is_set()
        self.interrupted.set()
        with self._lock:
            procs = list(self._procs)
        if first:
            for proc in procs:
                self._signal(proc)
        return len(procs)

    @staticmethod
    def _signal(proc: subprocess.Popen) -> None:
        try:
            proc.send_signal(signal.SIGINT)
        except ProcessLookupError:
            pass

@dataclass
class RunResult:
    """What one terraform invocation did."""

    action: str
    returncode: int
    duration: float
    log_path: Path
    diagnostics: list[Diagnostic] = field(default_factory=list)
    changes: Changes | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.errors

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]


class Terraform:
    """terraform in one workspace directory, logging every run under `log_dir`."""

    def __init__(self, workdir: Path, log_dir: Path, *, secrets: dict[str, Any] | None = None,
                 binary: str | None = None, registry: ProcessRegistry | None = None,
                 lock_timeout: str = "300s", extra_env: dict[str, str] | None = None):
        self.workdir = Path(workdir)
        self.log_dir = Path(log_dir)
        self.binary = binary or find_binary()
        self.registry = registry or ProcessRegistry()
        self.lock_timeout = lock_timeout
        env = dict(os.environ)  # keeps the user's TF_CLI_CONFIG_FILE, credentials, proxies
        env.update({"TF_IN_AUTOMATION": "1", "TF_INPUT": "0"})
        if secrets is not None:
            env["TF_VAR_secrets"] = json.dumps(secrets, sort_keys=True)
        env.update(extra_env or {})
        self.env = env

    # -- the commands ---------------------------------------------------------------------------
    def init(self, on_event: EventCallback | None = None) -> RunResult:
        result = self._stream("init", ["init", "-json", "-input=false", "-no-color"], on_event)
        if result.returncode != 0 and any("flag provided but not defined" in d.detail + d.summary
                                          for d in result.diagnostics):
            result = self._stream("init", ["init", "-input=false", "-no-color"], on_event)
        return result

    def plan(self, plan_file: str = "ccds.tfplan", *, destroy: bool = False,
             on_event: EventCallback | None = None, replace: Sequence[str] = ()) -> RunResult:
        """Saved plan with -detailed-exitcode: 0 = no changes, 2 = changes (both succeed).
        `replace`: resource addresses to recreate (instances gone in a way refresh cannot see)."""
        args = ["plan", "-json", "-input=false", "-no-color", f"-out={plan_file}", "-detailed-exitcode",
                f"-lock-timeout={self.lock_timeout}"]
        if destroy:
            args.append("-destroy")
        args += [f"-replace={address}" for address in replace]
        result = self._stream("plan-destroy" if destroy else "plan", args, on_event)
        if result.returncode == 2 and not result.errors:
            result.returncode = 0
            if result.changes is None:
                result.changes = Changes(operation="plan")
        elif result.returncode == 0 and result.changes is None:
            result.changes = Changes(operation="plan")
        return result

    def apply(self, plan_file: str | Path = "ccds.tfplan", on_event: EventCallback | None = None) -> RunResult:
        """Apply exactly the saved plan `plan_file` (relative to the workspace, or any path: a plan
        saved elsewhere by `ccds plan --out`). Terraform refuses a plan whose state moved on."""
        args = ["apply", "-json", "-input=false", "-no-color", f"-lock-timeout={self.lock_timeout}", str(plan_file)]
        return self._stream("apply", args, on_event)

    def planned_changes(self, plan_file: str | Path) -> dict[str, tuple[str, ...]]:
        """{resource address: actions} of what a saved plan changes (reads and no-ops left out). Read
        in memory only: the JSON of a plan carries variable values, the secrets among them."""
        data = self._capture(["show", "-json", "-no-color", str(plan_file)]) or {}
        return {str(rc.get("address")): tuple((rc.get("change") or {}).get("actions") or ())
                for rc in data.get("resource_changes") or []
                if tuple((rc.get("change") or {}).get("actions") or ()) not in ((), ("no-op",), ("read",))}

    def state_meta(self) -> dict[str, Any] | None:
        """The state's `serial` and `lineage` (None: no state yet)."""
        data = self.state_document()
        if not data:
            return None
        return {"serial": int(data.get("serial", 0)), "lineage": str(data.get("lineage", ""))}

    def state_document(self) -> dict[str, Any] | None:
        """The whole state (None: no state yet). Local state is read from its file; a remote backend
        is asked with `terraform state pull` (the workspace must be initialised)."""
        if self.local_backend():
            try:
                data = json.loads((self.workdir / "terraform.tfstate").read_text())
            except FileNotFoundError:
                return None
            except ValueError as exc:
                raise CcdsError(f"the state of {self.workdir.name} is not JSON: {exc}") from None
        else:
            proc = subprocess.run([self.binary, "state", "pull"], cwd=self.workdir, env=self.env,
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300,
                                  start_new_session=True)
            if proc.returncode != 0:
                raise CcdsError(f"terraform state pull failed in {self.workdir.name}: "
                                f"{raw_diagnostic(proc.stderr or proc.stdout).summary}")
            try:
                data = json.loads(proc.stdout) if proc.stdout.strip() else None
            except ValueError as exc:
                raise CcdsError(f"terraform state pull in {self.workdir.name} gave no JSON: {exc}") from None
        return data if isinstance(data, dict) and data else None

    def output(self, sensitive: bool = False) -> dict[str, Any]:
        """Root outputs as {name: value}; {} when there is no state yet. Sensitive outputs (the
        database password) only when asked for, so results that get reported never carry them."""
        data = self._capture(["output", "-json", "-no-color"])
        return {k: v.get("value") for k, v in (data or {}).items()
                if isinstance(v, dict) and (sensitive or not v.get("sensitive"))}

    def local_backend(self) -> bool:
        """Does the root module keep its state in this directory (the local backend)?"""
        try:
            root = json.loads((self.workdir / "main.tf.json").read_text())
        except (OSError, ValueError):
            return False
        backend = (root.get("terraform") or {}).get("backend") or {"local": {}}
        return isinstance(backend, dict) and set(backend) == {"local"}

    def has_state(self) -> bool:
        """Does the workspace hold resources? Local state is read directly; with a remote backend
        (pg, s3, gcs, azurerm: initialised, no local state file) terraform is asked."""
        state = self.workdir / "terraform.tfstate"
        if state.is_file():
            try:
                return bool(json.loads(state.read_text()).get("resources"))
            except ValueError:
                return True
        if not (self.workdir / ".terraform" / "terraform.tfstate").is_file():
            if self.local_backend() or not (self.workdir / "main.tf.json").is_file():
                return False  # no state file and no backend: nothing was ever applied from here
            # A remote state this directory was never connected to (a fresh CI runner): what other
            # machines applied is only seen through terraform, once the backend is initialised.
            result = self.init()
            if not result.ok:
                first = result.errors[0].summary if result.errors else f"exit {result.returncode}"
                raise CcdsError(f"terraform init failed in {self.workdir.name}: {first} (see {result.log_path})")
        proc = subprocess.run([self.binary, "state", "list", "-no-color"], cwd=self.workdir, env=self.env,
                              capture_output=True, text=True, timeout=300, umask=PRIVATE_UMASK)
        return proc.returncode == 0 and bool(proc.stdout.strip())

    # -- plumbing -------------------------------------------------------------------------------
    def _log_path(self, action: str) -> Path:
        self.log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        return self.log_dir / f"{stamp}-{action}.log"

    def note(self, log_path: Path, message: str) -> None:
        """Append a ccds line (a retry, an interruption) to a run's log, marked as ours."""
        with open(log_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"type": "ccds", "@message": message,
                                 "@timestamp": datetime.now(timezone.utc).isoformat()}) + "\n")

    def _stream(self, action: str, args: list[str], on_event: EventCallback | None) -> RunResult:
        log_path = self._log_path(action)
        started = time.monotonic()
        result = RunResult(action=action, returncode=-1, duration=0.0, log_path=log_path)
        if self.registry.interrupted.is_set():
            result.interrupted = True
            result.diagnostics.append(Diagnostic("error", "interrupted before start"))
            return result
        raw_lines: list[str] = []
        with open(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as log:
            log.write(json.dumps({"type": "ccds", "@message": "$ " + " ".join([self.binary, *args]),
                                  "cwd": str(self.workdir)}) + "\n")
            log.flush()
            # Terraform writes its log itself and we follow the file: were ccds killed, a pipe would
            # break and take terraform down mid-apply (Go exits on SIGPIPE), losing what it created.
            proc = subprocess.Popen([self.binary, *args], cwd=self.workdir, env=self.env,
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True, umask=PRIVATE_UMASK)
            self.registry.add(proc)
            try:
                for line in _follow(log_path, proc):
                    event = parse_line(line)
                    if event is None:
                        continue
                    if event.kind == "log" and event.level == "raw":
                        raw_lines.append(event.message)
                    elif event.diagnostic is not None:
                        result.diagnostics.append(event.diagnostic)
                    elif event.changes is not None:
                        result.changes = event.changes
                    elif event.kind == "outputs":
                        result.outputs = {k: v.get("value") for k, v in (event.raw.get("outputs") or {}).items()
                                          if isinstance(v, dict) and "value" in v}
                    if on_event is not None:
                        on_event(event)
                proc.wait()
            finally:
                if proc.poll() is None:  # our reader failed: stop terraform the safe way
                    proc.send_signal(signal.SIGINT)
                    proc.wait()
                self.registry.remove(proc)
        result.returncode = proc.returncode
        result.duration = time.monotonic() - started
        result.interrupted = self.registry.interrupted.is_set()
        if proc.returncode not in (0, 2) and not result.errors:
            result.diagnostics.append(raw_diagnostic("\n".join(raw_lines) or f"terraform {action} failed "
                                                     f"with exit code {proc.returncode}"))
        return result

    def import_resource(self, address: str, resource_id: str) -> None:
        """`terraform import`: put a resource that exists in the cloud under `address` (the workspace must
        be initialised). Raises CcdsError with terraform's first diagnostic when it refuses."""
        proc = subprocess.run([self.binary, "import", "-input=false", "-no-color", address, resource_id],
                              cwd=self.workdir, env=self.env, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=300, start_new_session=True, umask=PRIVATE_UMASK)
        if proc.returncode != 0:
            raise CcdsError(f"terraform import of {address} failed in {self.workdir.name}: "
                            f"{raw_diagnostic(proc.stderr or proc.stdout).summary}")

    def _capture(self, args: list[str]) -> Any:
        proc = subprocess.run([self.binary, *args], cwd=self.workdir, env=self.env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=300, start_new_session=True,
                              umask=PRIVATE_UMASK)
        if proc.returncode != 0:
            raise CcdsError(f"terraform {args[0]} failed in {self.workdir.name}: "
                            f"{raw_diagnostic(proc.stderr or proc.stdout).summary}")
        text = proc.stdout.strip()
        return json.loads(text) if text else None


def _follow(path: Path, proc: subprocess.Popen, poll: float = 0.02):
    """The lines terraform appends to its log after our header, until it exits and all is read."""
    with open(path, encoding="utf-8") as fh:
        fh.readline()  # the command line ccds wrote first
        pending = ""
        while True:
            chunk = fh.readline()
            if chunk:
                pending += chunk
                if pending.endswith("\n"):
                    yield pending
                    pending = ""
                continue
            if proc.poll() is not None:
                for line in (pending + fh.read()).splitlines(keepends=True):
                    yield line
                return
            time.sleep(poll)
