"""`ccds operate FILE`: the controller that makes the deployment run itself (see docs/commands.md).

Every `operate.interval` it observes the stream managers, the cloud inventory, the clock against
`events:` and the deployment state, then autoscales, prestages events, replaces dead nodes and
fails unhealthy regions over, one controller at a time (a lease in the managers' database).
`--once` runs one round and exits (CI, tests); `--unblock` and `--resume` change its state and exit.
A spec without `control:` runs with `--manager URL` (a stream manager that only holds the lease):
the cloud inventory alone then says which nodes are alive.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Annotated

import typer

from ccds_cli.commands._common import Outcome, OutputMode, OutputOpt, SpecArg, StateDirOpt, show_warnings, start

OnceOpt = Annotated[bool, typer.Option("--once", help="One round (observe, decide, act), then exit.")]
UnblockOpt = Annotated[list[str] | None, typer.Option(
    "--unblock", metavar="ALIAS/REGION", help="Clear a placement from the block list, then exit (repeatable).")]
ResumeOpt = Annotated[list[str] | None, typer.Option(
    "--resume", metavar="REGION/ROLE", help="Un-pause a pool paused for failing replacements, then exit "
                                            "(repeatable).")]
ManagerOpt = Annotated[str | None, typer.Option(
    "--manager", help="Stream manager URL (default: from the deployment state; needed without `control:`, "
                      "for the lease only); admin token from CCDS_ADMIN_TOKEN or the deployment's secrets.")]


FromOpt = Annotated[str | None, typer.Option(
    "--from", metavar="s3://BUCKET/PREFIX/NAME",
    help="Run where nothing was deployed from (a stream manager VM, a container): FILE becomes the spec the "
         "last `ccds up` applied, as the deployment shares it in its S3 state bucket, and follows it when it "
         "changes. Needs CCDS_ADMIN_TOKEN and CCDS_NODE_KEY.")]


def _root(spec: Path, state_dir: Path | None, source: str | None = None):
    """The spec loaded, its state directory, and what other runners shared pulled into it; with
    `source` (`--from`), checked to be that deployment first."""
    from ccds_cli.deployment import Deployment, connect_state_backend
    from ccds_cli.paths import state_root
    from ccds_cli.spec import load_spec
    from ccds_cli.state import deployment_dir

    loaded = load_spec(spec)
    connect_state_backend(loaded)
    root = deployment_dir(state_root(Path(spec), state_dir), loaded.spec.name)
    if source is not None:
        _check_source(loaded, source, root)
    Deployment(loaded, root).pull_shared()
    return loaded, root


def _source(url: str):
    """`s3://BUCKET/PREFIX/NAME` -> the objects a deployment shares (see ccds_cli/state/shared.py)."""
    import re

    from ccds_cli.errors import BadInput
    from ccds_cli.spec.models import NAME_RE
    from ccds_cli.state.shared import S3Objects

    m = re.match(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/((?:[A-Za-z0-9!_.*'()-]+/)*)([^/]+)$", url)
    if not m or not re.match(NAME_RE, m.group(3)) or ".." in url:
        raise BadInput(f"--from {url!r}: expected s3://BUCKET/KEY_PREFIX/NAME, the state bucket, "
                       "`state.key_prefix` and the deployment's `name`, e.g. s3://my-state/ccds/live")
    bucket, prefix, name = m.group(1), m.group(2).strip("/"), m.group(3)
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    key = f"{prefix}/{name}/ccds" if prefix else f"{name}/ccds"
    return S3Objects(bucket, key, region, os.environ.get("AWS_ENDPOINT_URL_S3") or None), (bucket, prefix, name)


def _fetch_spec(objects, url: str, spec: Path, etag: str | None = None) -> str | None:
    """Write the shared spec (`objects` of `_source(url)`) into `spec` (0600); its ETag, or None when
    it did not change."""
    from ccds_cli.errors import BadInput
    from ccds_cli.state.shared import SPEC

    got = objects.get(SPEC, etag)
    if got is False:
        return None
    if got is None:
        raise BadInput(f"--from {url}: no shared spec at {objects.url}{SPEC}",
                       hint="`ccds up` shares it once it applied a spec whose state is in S3 (state.backend: s3)")
    body, new_etag = got
    spec = Path(spec)
    spec.parent.mkdir(parents=True, exist_ok=True)
    tmp = spec.with_name(f".{spec.name}.tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(body)
    os.replace(tmp, spec)
    return new_etag


def _check_source(loaded, url: str, root: Path) -> None:
    """The fetched spec must be the deployment the URL names, keep its state there, and need no file
    that stayed on the machine it was applied from; the secrets come from the environment."""
    from ccds_cli.errors import BadInput
    from ccds_cli.state import secrets as secret_store

    _, (bucket, prefix, name) = _source(url)
    st, spec = loaded.spec.state, loaded.spec
    if spec.name != name or st.backend != "s3" or st.bucket != bucket or st.key_prefix.strip("/") != prefix:
        raise BadInput(f"--from {url}: the shared spec is deployment {spec.name!r} with its state in "
                       f"{st.backend} {getattr(st, 'bucket', '')}/{getattr(st, 'key_prefix', '')}, not this URL")
    if spec.security.ssh_public_key_file and not spec.security.ssh_public_key:
        raise BadInput(f"--from {url}: the spec reads security.ssh_public_key_file, which stayed on the machine "
                       "that applied it", hint="put the key itself in security.ssh_public_key")
    given = {k: os.environ.get(v, "") for k, v in (("admin_token", "CCDS_ADMIN_TOKEN"), ("node_key", "CCDS_NODE_KEY"))}
    missing = [f"CCDS_{k.upper()}" for k, v in given.items() if not v.strip()]
    if missing:
        raise BadInput(f"--from needs {' and '.join(missing)}: the controller mints the new nodes' credentials "
                       "and talks to the stream managers with them",
                       hint="on a stream manager VM they are in /etc/ccds/node.env (admin_token, node_key)")
    secret_store.seed(root / "secrets.json", given)


def _manager(loaded, root: Path, url: str | None) -> tuple[str | None, str | None]:
    from ccds_cli.deployment.manager import admin_token, manager_url

    token = os.environ.get("CCDS_ADMIN_TOKEN") or admin_token(root)
    return (url if url is not None else manager_url(loaded, root)), token


def _actuator(loaded, root: Path, log):
    from ccds_cli.operate.actuator import TerraformActuator

    return TerraformActuator(loaded, root, log=log)


def _edit_state(loaded, root: Path, unblock: list[str], resume: list[str]) -> Outcome:
    from ccds_cli.errors import BadInput
    from ccds_cli.operate import policy, state
    from ccds_cli.operate.model import Memory
    from ccds_cli.state.ledger import Ledger

    spec = loaded.spec
    for pool in resume:
        region, _, role = pool.partition("/")
        if region not in spec.regions or role not in spec.regions[region].pools:
            raise BadInput(f"--resume {pool!r}: expected REGION/ROLE of this spec, e.g. "
                           f"{sorted(spec.regions)[0]}/edge")
    placements = {p for r in spec.regions.values() for p in [r.placement, *r.failover]}
    for p in unblock:
        if "/" not in p:
            raise BadInput(f"--unblock {p!r}: expected ALIAS/REGION, e.g. {sorted(placements)[0]}")
    ledger = Ledger(root / "ledger.db")
    op = ledger.begin("operate", loaded.sha256, {"unblock": unblock, "resume": resume})
    done = {"unblocked": [], "not_blocked": [], "resumed": [], "not_paused": []}
    for p in unblock:
        if state.unblock(root, p):
            done["unblocked"].append(p)
            ledger.event(op, "operate", f"unblocked {p} (by hand)")
        else:
            done["not_blocked"].append(p)
    if resume:
        memory = Memory.from_dict(state.load_memory(root))
        for pool in resume:
            region, _, role = pool.partition("/")
            if policy.resume(memory, region, role):
                done["resumed"].append(pool)
                ledger.event(op, "operate", f"resumed {pool} (by hand)")
            else:
                done["not_paused"].append(pool)
        state.save_memory(root, memory.as_dict())
    ledger.finish(op, "ok")
    from ccds_cli.deployment import Deployment

    Deployment(loaded, root).push_shared()  # a controller elsewhere hears of it at its next round
    result = {"deployment": spec.name, **done, "block_list": state.block_list(root)}

    def human(res, console):
        for key, text in (("unblocked", "unblocked"), ("not_blocked", "was not blocked"),
                          ("resumed", "resumed"), ("not_paused", "was not paused")):
            for item in res[key]:
                console.print(f"{item}: {text}")

    return Outcome(result, human)


def _human_round(res: dict, console) -> None:
    from rich.table import Table

    rep = res["round"]
    if rep["role"] != "active":
        lease = rep.get("lease") or {}
        console.print(f"standing by: {lease.get('error') or 'lease held by ' + str(lease.get('holder'))}")
        return
    decision = rep.get("decision") or {}
    table = Table(title=f"ccds operate {res['deployment']}: round at {rep['at_iso']}")
    for column in ("region", "role", "nodes", "kept", "floor", "max", "load", "utilisation", "states"):
        table.add_column(column)
    for p in decision.get("pools", []):
        util = "-" if p["utilisation"] is None else f"{round(p['utilisation'] * 100)} %"
        table.add_row(p["region"], p["role"], str(p["desired"]), str(p["kept"]), str(p["floor"]), str(p["max"]),
                      f"{p['load']}/{p['capacity']}", util,
                      ", ".join(f"{k}={v}" for k, v in sorted(p["states"].items())))
    console.print(table)
    for r in rep.get("results", []):
        result = r.get("result") or {}
        mark = "" if result.get("ok") else f"  [{result.get('error') or 'failed'}]"
        console.print(r["message"] + mark, markup=False, highlight=False)
    if not rep.get("results"):
        console.print("no action needed")
    if rep.get("error"):
        console.print(f"round failed: {rep['error']}", markup=False)


def run(spec: SpecArg, once: OnceOpt = False, unblock: UnblockOpt = None, resume: ResumeOpt = None,
        manager: ManagerOpt = None, source: FromOpt = None, output: OutputOpt = OutputMode.text,
        state_dir: StateDirOpt = None) -> Outcome:
    """Run the controller: autoscale, prestage events, replace dead nodes, fail regions over."""
    from ccds_cli.errors import BadInput, ExitCode
    from ccds_cli.operate.controller import Controller, lease_ttl, new_holder
    from ccds_cli.operate.lease import ManagerLease
    from ccds_cli.operate.observe import Observer
    from ccds_cli.sm.client import ManagerClient
    from ccds_cli.state.ledger import Ledger

    out = start("operate", output)
    spec_etag = None
    if source is not None:
        objects, _ = _source(source)  # its form, before anything is fetched; one client for every round
        spec_etag = _fetch_spec(objects, source, Path(spec))
    loaded, root = _root(spec, state_dir, source)
    show_warnings(out, loaded)
    if unblock or resume:
        return _edit_state(loaded, root, unblock or [], resume or [])
    if loaded.spec.control is None and manager is None:
        raise BadInput("ccds operate needs stream managers: this spec has no `control:` section",
                       hint="the controller holds its lease in a stream manager's database: pass --manager URL "
                            "(nodes are then judged by the cloud inventory alone, with no load to autoscale on)")
    url, token = _manager(loaded, root, manager)
    if not url:
        raise BadInput("no stream manager URL for this deployment (the control workspace is not deployed)",
                       hint="run `ccds up` first, or pass --manager URL")
    if not once and out.json:
        raise BadInput("--output json needs --once (a running controller reports through `ccds events` and "
                       "`ccds status`)")
    interval = loaded.spec.operate.interval.total_seconds()
    holder = new_holder()
    client = ManagerClient(url, token, timeout=max(2.0, interval))
    lease = ManagerLease(lambda: ManagerClient(url, token, timeout=max(2.0, interval)),
                         f"operate.{loaded.spec.name}", holder, lease_ttl(interval))
    log = None if once else out.info

    def controller_for(loaded) -> Controller:
        from ccds_cli.deployment import Deployment

        return Controller(loaded, root, observer=Observer(loaded, root, client),
                          actuator=_actuator(loaded, root, log), nodes=client, lease=lease,
                          ledger=Ledger(root / "ledger.db"), holder=holder, log=log,
                          shared=Deployment(loaded, root).shared())

    controller = controller_for(loaded)
    signals = {"n": 0, "stop": False}

    def on_signal(signum, _frame):
        signals["n"] += 1
        signals["stop"] = True
        if signals["n"] > 1:
            raise KeyboardInterrupt
        out.info("stopping: the current action finishes, nothing new starts (signal again to abandon it)")
        controller.stop.set()

    newer = {"etag": None}

    def follow_spec(_report) -> None:
        """`--from`: a spec applied since (a new `ccds up`) ends this controller's run; it restarts on it."""
        try:
            etag = _fetch_spec(objects, source, Path(spec), spec_etag)
        except Exception as exc:  # the store does not answer now: keep the spec we have
            controller.say(f"shared spec not read ({getattr(exc, 'message', exc)})", topic="spec")
            return
        if etag is not None:
            newer["etag"] = etag
            controller.stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        if not once:
            out.info(f"ccds operate {loaded.spec.name}: every {interval:g} s through {url} as {holder}")
        while True:
            report = controller.run(once=once, on_round=follow_spec if source and not once else None)
            if newer["etag"] is None or signals["stop"]:
                break
            try:
                reloaded, _ = _root(spec, state_dir, source)
            except Exception as exc:  # a spec this controller cannot run: keep the one it runs
                controller.say(f"the newly applied spec is not run: {getattr(exc, 'message', exc)}", topic="spec")
                reloaded = loaded
            spec_etag, newer["etag"] = newer["etag"], None
            if reloaded is not loaded:
                out.info(f"ccds operate {reloaded.spec.name}: following the spec applied since "
                         f"(sha256 {reloaded.sha256[:12]})")
            loaded = reloaded
            controller = controller_for(loaded)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        client.close()
    if not once:
        return Outcome({"deployment": loaded.spec.name, "holder": holder, "stopped": True},
                       lambda res, c: None, int(ExitCode.INTERRUPTED) if controller.abandoned else 0)
    rep = report.as_dict() if report is not None else {}
    failed = [r for r in rep.get("results", []) if not (r.get("result") or {}).get("ok")]
    if rep.get("role") == "standby":
        code = ExitCode.UNHEALTHY if rep["lease"].get("error") else ExitCode.LOCKED
    else:
        code = ExitCode.FAILED if (failed or rep.get("error")) else ExitCode.OK
    if controller.abandoned:
        code = ExitCode.INTERRUPTED
    return Outcome({"deployment": loaded.spec.name, "holder": holder, "round": rep}, _human_round, int(code))
