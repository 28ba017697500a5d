"""`ccds down`: destroy every workspace of the deployment, regions first, control last."""

from ccds_cli.commands._common import (
    BreakLockOpt,
    Outcome,
    OutputMode,
    OutputOpt,
    ParallelismOpt,
    SpecArg,
    StateDirOpt,
    YesOpt,
    open_deployment,
    start,
)


def run(spec: SpecArg, yes: YesOpt = False, parallelism: ParallelismOpt = 4, break_lock: BreakLockOpt = False,
        output: OutputOpt = OutputMode.text, state_dir: StateDirOpt = None) -> Outcome:
    """Destroy everything the deployment created (keeps the spec, logs and ledger)."""
    from ccds_cli.deployment import AppliedDeployment
    from ccds_cli.deployment.flow import plan_and_apply, workspace_dicts
    from ccds_cli.errors import SpecError
    from ccds_cli.ui import TerminalUI, report

    out = start("down", output)
    try:
        dep = open_deployment(spec, state_dir, out)
    except SpecError as exc:
        # Destroy from what was applied: a spec edited into an invalid state must not strand resources.
        dep = AppliedDeployment.find(spec, state_dir)
        if dep is None:
            raise
        for line in str(exc).splitlines():
            out.warn(line)
        out.warn(f"{spec} does not validate: destroying what was applied last ({dep.workspaces_dir})")
    with dep.operation("down", {"parallelism": parallelism}, break_lock=break_lock) as op:
        tell_controllers(dep, op)
        rendered = dep.build()  # current config so destroy-time provider settings are right
        workspaces = [*rendered, *dep.leftovers()]
        flow = plan_and_apply(dep, workspaces, TerminalUI(out, yes), op, parallelism=parallelism, destroy=True,
                              verb="destroy")
    paths = {w.name: w.path for w in workspaces}
    left = [{"workspace": r.name, "path": str(paths[r.name]), "why": r.error or r.result,
             "fix": f"fix the cause and re-run `ccds down`, or: terraform -chdir={paths[r.name]} destroy"}
            for r in flow.failed]
    result = {"deployment": dep.name, "operation": op.id, "applied": flow.applied,
              "workspaces": workspace_dicts(flow.results), "left": left}

    def human(res, console):
        if flow.declined:
            console.print("Nothing destroyed (declined).")
            return
        report.render_results(f"ccds down {dep.name}", flow.results, console)
        for item in left:
            console.print(f"left: {item['workspace']} ({item['why']}); {item['fix']}", markup=False,
                          highlight=False, soft_wrap=True)

    return Outcome(result, human, flow.exit_code)


def tell_controllers(dep, op) -> None:
    """A controller must not replace the nodes `down` destroys: say it in the deployment state (shared
    with a controller on another machine, which stands by at its next round) and give one elsewhere
    a round to hear it. The next `ccds up` takes the word back."""
    import socket
    import time

    from ccds_cli.operate import state

    state.save_memory(dep.root, {"down": time.time(), "by": socket.gethostname()}, name="deployment")
    dep.push_shared()
    ctl = state.controller_status(dep.root)
    active = ctl.get("active") or {}
    if ctl.get("alive") and active.get("host") != socket.gethostname():
        op.event("down", f"told the controller on {active['host']} to stand by")
        time.sleep(min(30.0, float(active.get("interval") or 4) + 1))
