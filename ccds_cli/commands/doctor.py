"""`ccds doctor`: is this machine ready to deploy the spec? Tools, credentials, state backend."""

import os
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Optional

import typer

from ccds_cli.commands._common import Outcome, OutputMode, OutputOpt, StateDirOpt

MIN_TERRAFORM = (1, 5)


@dataclass
class Check:
    name: str
    status: str  # pass | fail | warn | skip
    detail: str
    fix: str = ""
    needed: bool = True  # a failing needed check makes doctor exit 1


def check_terraform() -> Check:
    """terraform (or tofu, or $CCDS_TERRAFORM) present and recent enough."""
    from ccds_cli.errors import MissingTool
    from ccds_cli.tf.runner import INSTALL_HINT, find_binary

    try:
        binary = find_binary()
    except MissingTool as exc:
        return Check("terraform", "fail", exc.message, exc.hint or INSTALL_HINT)
    try:
        proc = subprocess.run([binary, "version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check("terraform", "fail", f"{binary} does not run: {exc}", INSTALL_HINT)
    m = re.search(r"v(\d+)\.(\d+)\.(\d+)", proc.stdout)
    if not m:
        return Check("terraform", "fail", f"cannot read the version of {binary}", INSTALL_HINT)
    version = tuple(int(x) for x in m.groups())
    name = "tofu" if "OpenTofu" in proc.stdout else "terraform"
    if version[:2] < MIN_TERRAFORM:
        return Check("terraform", "fail", f"{name} {'.'.join(map(str, version))} at {binary} is too old",
                     f"install {name} >= {'.'.join(map(str, MIN_TERRAFORM))}")
    return Check("terraform", "pass", f"{name} {'.'.join(map(str, version))} ({binary})")


def check_engine_tools(needed: bool) -> list[Check]:
    """nginx with the RTMP module and ffmpeg: what the local cloud's nodes and probes run."""
    from ccds_cli.errors import MissingTool
    from ccds_cli.localcloud.nginx import nginx_binary, rtmp_module

    why = "" if needed else " (only needed for the local cloud)"
    status_missing = "fail" if needed else "warn"
    out: list[Check] = []
    try:
        binary = nginx_binary()
        try:
            module = rtmp_module(binary)
            out.append(Check("nginx rtmp", "pass", f"{binary} with {'built-in RTMP' if module is None else module}",
                             needed=needed))
        except MissingTool as exc:
            out.append(Check("nginx rtmp", status_missing, exc.message + why, exc.hint or "", needed))
    except MissingTool as exc:
        out.append(Check("nginx rtmp", status_missing, exc.message + why,
                         exc.hint or "apt-get install nginx-light libnginx-mod-rtmp", needed))
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg:
        out.append(Check("ffmpeg", "pass", ffmpeg, needed=needed))
    else:
        out.append(Check("ffmpeg", status_missing, "ffmpeg not found" + why, "apt-get install ffmpeg", needed))
    return out


def check_providers(spec) -> list[Check]:
    from ccds_cli import clouds

    out = []
    for alias, cfg in sorted(spec.providers.items()):
        cloud = clouds.get(cfg.cloud)
        result = cloud.check(cfg)
        out.append(Check(f"provider {alias} ({cloud.display})", "pass" if result.ok else "fail", result.reason,
                         result.fix))
    return out


def check_state_backend(spec, spec_path: Path, state_dir: Optional[Path]) -> Check:
    """Can ccds write its state where the spec says?"""
    from ccds_cli.paths import state_root

    backend = spec.state
    kind = backend.backend
    if kind == "local":
        root = state_root(spec_path, state_dir)
        probe = root
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if os.access(probe, os.W_OK):
            return Check("state backend", "pass", f"local: {root} (writable)")
        return Check("state backend", "fail", f"local: {probe} is not writable", "use --state-dir or CCDS_STATE_DIR")
    if kind == "pg":
        conn = os.environ.get(backend.conn_str_env)
        if not conn:
            return Check("state backend", "fail", f"pg: {backend.conn_str_env} is not set",
                         f"export {backend.conn_str_env}=postgres://user:pass@host/db")
        try:
            import psycopg
        except ImportError:
            return Check("state backend", "fail", "pg: psycopg is not installed", 'pip install "ccds[postgres]"')
        try:
            with psycopg.connect(conn, connect_timeout=5) as c:
                version = c.execute("show server_version").fetchone()[0]
        except Exception as exc:  # report any connection failure, never crash doctor
            return Check("state backend", "fail", f"pg: cannot connect: {str(exc).splitlines()[0]}",
                         f"check {backend.conn_str_env} and that the server accepts connections")
        return Check("state backend", "pass", f"pg: PostgreSQL {version} reachable")
    if kind == "s3":
        try:
            import boto3
            from botocore.exceptions import BotoCoreError, ClientError
        except ImportError:
            return Check("state backend", "fail", "s3: boto3 is not installed", 'pip install "ccds[aws]"')
        try:
            from botocore.config import Config

            # an S3-compatible store (state.endpoint) is asked where terraform will ask it
            config = Config(s3={"addressing_style": "path" if backend.use_path_style else "auto"},
                            connect_timeout=5, read_timeout=10, retries={"max_attempts": 2})
            boto3.client("s3", region_name=backend.region, endpoint_url=backend.endpoint,
                         config=config).head_bucket(Bucket=backend.bucket)
        except (BotoCoreError, ClientError) as exc:
            return Check("state backend", "fail", f"s3: bucket {backend.bucket}: {exc}",
                         "create the bucket or fix state.bucket / credentials (s3:ListBucket)")
        return Check("state backend", "pass", f"s3: bucket {backend.bucket} reachable")
    bucket = getattr(backend, "bucket", None) or getattr(backend, "storage_account_name", "")
    return Check("state backend", "skip", f"{kind}: {bucket} not checked here (terraform init checks it)",
                 needed=False)


def diagnose(spec_path: Optional[Path], state_dir: Optional[Path]) -> tuple[list[Check], list[str]]:
    checks = [check_terraform()]
    warnings: list[str] = []
    spec = None
    if spec_path is not None:
        from ccds_cli.spec import load_spec

        loaded = load_spec(spec_path)
        spec = loaded.spec
        warnings = [str(w) for w in loaded.warnings]
    # nginx and ffmpeg run the local cloud's nodes: checked (and needed) for a spec with a
    # `cloud: local` provider, shown as optional without a spec, not checked for other specs.
    if spec is None:
        checks += check_engine_tools(needed=False)
    elif any(cfg.cloud == "local" for cfg in spec.providers.values()):
        checks += check_engine_tools(needed=True)
    if spec is not None:
        checks += check_providers(spec)
        checks.append(check_state_backend(spec, spec_path, state_dir))
        from ccds_cli.nodepkg.check import preflight  # what the cloud VMs install, and can they fetch it

        checks += [Check(f.name, f.status, f.detail, f.fix) for f in preflight(loaded)]
    return checks, warnings


def _show(result: dict, console) -> None:
    from ccds_cli.ui.table import Column, Styled, Table

    colours = {"pass": "green", "fail": "red", "warn": "yellow", "skip": "dim"}
    table = Table("", [Column("check"), Column("status"), Column("detail", atom=False),
                       Column("fix", atom=False, drop=1)])
    for c in result["checks"]:
        table.add_row(c["name"], Styled(c["status"], colours[c["status"]]), c["detail"], c["fix"])
    table.print(console)
    console.print("[green]ready[/green]" if result["ready"] else "[red]not ready: fix the failed checks[/red]")


def run(
    spec: Annotated[Optional[Path], typer.Argument(help="Deployment spec (ccds.yaml); checks its providers too.",
                                                   show_default=False)] = None,
    state_dir: StateDirOpt = None,
    output: OutputOpt = OutputMode.text,
) -> Outcome:
    """Check tools (terraform, nginx, ffmpeg), cloud credentials and the state backend."""
    from ccds_cli.commands._common import start

    out = start("doctor", output)
    checks, warnings = diagnose(spec, state_dir)
    for w in warnings:
        out.warn(w)
    ready = not any(c.status == "fail" and c.needed for c in checks)
    return Outcome({"ready": ready, "checks": [asdict(c) for c in checks]}, _show, 0 if ready else 1)
