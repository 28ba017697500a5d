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


def _root(spec: Path, state_dir: Path | None):
    from ccds_cli.deployment import connect_state_backend
    from ccds_cli.paths import state_root
    from ccds_cli.spec import load_spec
    from ccds_cli.state import deployment_dir

    loaded = load_spec(spec)
    connect_state_backend(loaded)
    return loaded, deployment_dir(state_root(Path(spec), state_dir), loaded.spec.name)


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
        manager: ManagerOpt = None, output: OutputOpt = OutputMode.text, state_dir: StateDirOpt = None) -> Outcome:
    """Run the controller: autoscale, prestage events, replace dead nodes, fail regions over."""
    from ccds_cli.errors import BadInput, ExitCode
    from ccds_cli.operate.controller import Controller, lease_ttl, new_holder
    from ccds_cli.operate.lease import ManagerLease
    from ccds_cli.operate.observe import Observer
    from ccds_cli.sm.client import ManagerClient
    from ccds_cli.state.ledger import Ledger

    out = start("operate", output)
    loaded, root = _root(spec, state_dir)
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
    controller = Controller(loaded, root, observer=Observer(loaded, root, client), actuator=_actuator(loaded, root, log),
                            nodes=client, lease=lease, ledger=Ledger(root / "ledger.db"), holder=holder,
                            log=log)
    signals = {"n": 0}

    def on_signal(signum, _frame):
        signals["n"] += 1
        if signals["n"] > 1:
            raise KeyboardInterrupt
        out.info("stopping: the current action finishes, nothing new starts (signal again to abandon it)")
        controller.stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        if not once:
            out.info(f"ccds operate {loaded.spec.name}: every {interval:g} s through {url} as {holder}")
        report = controller.run(once=once)
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
