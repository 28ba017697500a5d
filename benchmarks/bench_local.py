"""Local-cloud figures: `ccds up examples/local.yaml` to all nodes serving vs plain `terraform apply` of
the same rendered workspaces one after another; failure detection (edge killed -> FAULT -> no longer
routed); `ccds probe` time to first frame and latency. Everything torn down afterwards.

    python benchmarks/bench_local.py [--repeat 3]

Each repetition runs, in the same process and one after the other:
  * ccds: a copy of examples/local.yaml with its own base_port and state dir; `ccds up --yes` is timed
    from its start until every node's ports accept connections and the stream manager lists the
    origin and both edges INSERVICE ("serving"). Then `ccds probe`, then one edge's nginx master is
    stopped by PID (SIGTERM, PID from the supervisor's node record) while the manager's node list and
    the subscribe route are polled every 0.1 s. Then `ccds down --yes`.
  * plain terraform: the same spec under another base_port is rendered by ccds first (not timed),
    then `terraform init` + `terraform apply -auto-approve` per workspace in stage order (control,
    then region with TF_VAR_manager_url from the control outputs), timed to "serving" the same way;
    `terraform destroy` afterwards.
Medians over the repetitions are printed last.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from e2ehelp import LocalDeployment, fresh_base_port, http_get, port_open, process_alive  # noqa: E402

# Seconds between polls of the manager while measuring failure detection. Each poll reserves two
# viewer slots (edge capacity 50, reservations kept ~4 s), so the slower heartbeat-timeout case
# polls less often to keep the surviving edge from filling up.
POLL = 0.1
POLL_CRASH = 0.25


def serving(nodes: list[dict], api: str, token: str, timeout: float = 60.0) -> float:
    """Monotonic time at which every node's ports accept connections and the manager lists all media
    nodes INSERVICE (polled every 20 ms, bounded)."""
    ports = [p for n in nodes for p in n["ports"].values()]
    media = {n["name"] for n in nodes if n["role"] != "manager"}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(port_open(p) for p in ports):
            try:
                listed = manager_nodes(api, token)
            except OSError:
                listed = {}
            if all(listed.get(name, {}).get("state") == "INSERVICE" for name in media):
                return time.monotonic()
        time.sleep(0.02)
    raise RuntimeError(f"nodes not serving after {timeout}s")


def manager_nodes(api: str, token: str) -> dict[str, dict]:
    _, body = http_get(f"{api}/api/v1/nodes", timeout=2, headers={"Authorization": f"Bearer {token}"})
    return {n["name"]: n for n in json.loads(body)}


def subscribe(api: str, stream: str) -> str | None:
    """The edge the manager routes a new viewer to (None when it answers with an error)."""
    try:
        _, body = http_get(f"{api}/api/v1/streams/live/{stream}/subscribe?region=local", timeout=2)
    except OSError:
        return None
    return json.loads(body)["node"]["name"]


def publish(api: str, stream: str) -> None:
    req = urllib.request.Request(f"{api}/api/v1/streams/live/{stream}/publish", method="POST",
                                 data=json.dumps({"region": "local"}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        resp.read()


def ccds_round(workdir: Path, used: set[int]) -> dict:
    """One ccds up -> probe -> edge failure -> down cycle; returns its figures."""
    dep = LocalDeployment(workdir, fresh_base_port(used))
    try:
        started = time.monotonic()
        up = dep.run("up", "{spec}", "--yes", "--output", "json", timeout=300)
        exited = time.monotonic()
        if up.returncode != 0:
            raise RuntimeError(f"ccds up failed ({up.returncode}):\n{up.stderr[-3000:]}")
        result = json.loads(up.stdout)["result"]
        api, token = dep.manager_url(), dep.admin_token()
        ready = serving(result["nodes"], api, token)
        figures = {"up_exit": exited - started, "up_serving": max(ready, exited) - started}

        probe = dep.run("probe", "{spec}", "--output", "json", timeout=120)
        answer = json.loads(probe.stdout)["result"]
        if probe.returncode != 0:
            raise RuntimeError(f"ccds probe failed: {answer.get('error')}")
        figures.update(ttff_ms=answer["time_to_first_frame_ms"], latency_ms=answer["latency_ms_p50"])
        figures.update(detect(dep, api, token))
        return figures
    finally:
        dep.cleanup()


def detect(dep: LocalDeployment, api: str, token: str, whole_node: bool = False, poll: float = POLL) -> dict:
    """Stop one edge's nginx; time until the manager says FAULT and until subscribe stops naming it.

    `whole_node` also SIGKILLs the edge's agent first (a crashed machine: no more heartbeats, no
    deregistration), so only the manager's heartbeat timeout can notice.

    Each poll asks for two viewers. Routing sends each new viewer to the least-loaded edge, so
    while the stopped edge is still routable one of the two lands on it; "no longer routed" is the
    first poll of the final run of polls whose answers avoid it (at least 4 polls after FAULT).
    Resolution: one poll interval. A 503 (no edge with room) ends a run, so it can only delay.
    """
    publish(api, "bench")
    records = dep.records()
    victim = sorted(n for n, r in records.items() if r["role"] == "edge")[0]
    pid = next(p["pid"] for p in records[victim]["processes"] if p["kind"] == "nginx")
    if whole_node:
        os.kill(next(p["pid"] for p in records[victim]["processes"] if p["kind"] == "agent"), signal.SIGKILL)
    os.kill(pid, signal.SIGTERM)
    killed = time.monotonic()
    fault_at, answers = None, []
    deadline = killed + 30
    while time.monotonic() < deadline:
        now = time.monotonic()
        if fault_at is None and manager_nodes(api, token)[victim]["state"] == "FAULT":
            fault_at = now
        answers.append((now, {subscribe(api, "bench"), subscribe(api, "bench")}))
        tail = [names for t, names in answers if fault_at is not None and t >= fault_at]
        if len(tail) >= 4 and not any(victim in names or None in names for names in tail):
            break
        time.sleep(poll)
    if fault_at is None:
        raise RuntimeError(f"{victim} never went FAULT (nginx pid {pid} alive: {process_alive(pid)})")
    unrouted = answers[-1][0]
    for t, names in reversed(answers):
        if victim in names or None in names:
            break
        unrouted = t
    return {"fault": fault_at - killed, "unrouted": max(unrouted - killed, 0.0)}


def terraform(args: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    proc = subprocess.run(["terraform", *args, "-no-color"], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"terraform {args[0]} in {cwd.name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return proc


def plain_round(workdir: Path, used: set[int]) -> dict:
    """The same workspaces, rendered by ccds (untimed), applied with plain terraform one after another."""
    from ccds_cli.deployment import Deployment

    dep = LocalDeployment(workdir, fresh_base_port(used))
    deployment = Deployment.open(dep.spec, dep.state_dir)
    workspaces = sorted(deployment.build(), key=lambda ws: ws.stage)
    env = dict(dep.env, TF_VAR_secrets=json.dumps(deployment.secrets()), TF_INPUT="0")
    nodes: list[dict] = []
    try:
        started = time.monotonic()
        for ws in workspaces:
            terraform(["init", "-input=false"], ws.path, env)
            terraform(["apply", "-auto-approve", "-input=false"], ws.path, env)
            out = json.loads(terraform(["output", "-json"], ws.path, env).stdout)
            nodes += out["nodes"]["value"]
            api = (out["endpoints"]["value"].get("control") or {}).get("api")
            if api:
                env["TF_VAR_manager_url"] = api
        exited = time.monotonic()
        ready = serving(nodes, env["TF_VAR_manager_url"], dep.admin_token())
        figures = {"apply_exit": exited - started, "apply_serving": max(ready, exited) - started}
        crash = detect(dep, env["TF_VAR_manager_url"], dep.admin_token(), whole_node=True, poll=POLL_CRASH)
        return dict(figures, crash_fault=crash["fault"], crash_unrouted=crash["unrouted"])
    finally:
        for ws in reversed(workspaces):
            if (ws.path / "terraform.tfstate").is_file():
                subprocess.run(["terraform", "destroy", "-auto-approve", "-input=false", "-no-color"], cwd=ws.path,
                               env=env, capture_output=True, timeout=300)
        dep.cleanup()


def median(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="repetitions (medians are reported)")
    args = parser.parse_args()
    used: set[int] = set()
    ccds_rows, plain_rows = [], []
    with tempfile.TemporaryDirectory(prefix="ccds-bench-local-") as tmp:
        for i in range(max(1, args.repeat)):
            ccds_rows.append(ccds_round(Path(tmp) / f"ccds-{i}", used))
            plain_rows.append(plain_round(Path(tmp) / f"plain-{i}", used))
            c, p = ccds_rows[-1], plain_rows[-1]
            print(f"run {i + 1}: ccds up {c['up_exit']:.2f}s exit / {c['up_serving']:.2f}s serving; "
                  f"terraform apply x2 {p['apply_exit']:.2f}s / {p['apply_serving']:.2f}s; "
                  f"nginx stopped: FAULT {c['fault']:.2f}s, unrouted {c['unrouted']:.2f}s; "
                  f"node crashed: FAULT {p['crash_fault']:.2f}s, unrouted {p['crash_unrouted']:.2f}s; "
                  f"probe ttff {c['ttff_ms']} ms, latency p50 {c['latency_ms']} ms", flush=True)

    up, plain = median(ccds_rows, "up_serving"), median(plain_rows, "apply_serving")
    m = lambda rows, key: median(rows, key)  # noqa: E731
    lines = [
        ("ccds up -> all nodes serving", f"{up:.2f}s (ccds exits after {m(ccds_rows, 'up_exit'):.2f}s)"),
        ("terraform init+apply per workspace in turn -> serving",
         f"{plain:.2f}s (last apply ends after {m(plain_rows, 'apply_exit'):.2f}s; rendering not counted)"),
        ("ratio ccds / plain terraform", f"{up / plain:.2f}"),
        ("edge nginx stopped -> FAULT", f"{m(ccds_rows, 'fault'):.2f}s (target < 5 s; the agent reports it)"),
        ("edge nginx stopped -> no longer routed", f"{m(ccds_rows, 'unrouted'):.2f}s (poll every {POLL:g}s)"),
        ("edge agent+nginx killed -> FAULT", f"{m(plain_rows, 'crash_fault'):.2f}s (no heartbeats; the local manager's timeout is 3.5 s, beats every 1 s)"),
        ("edge agent+nginx killed -> no longer routed",
         f"{m(plain_rows, 'crash_unrouted'):.2f}s (poll every {POLL_CRASH:g}s)"),
        ("ccds probe time to first frame", f"{m(ccds_rows, 'ttff_ms'):.0f} ms"),
        ("ccds probe end-to-end latency p50", f"{m(ccds_rows, 'latency_ms'):.0f} ms"),
    ]
    print(f"\nmedians of {len(ccds_rows)} runs (examples/local.yaml: 1 manager, 1 origin, 2 edges in 2 workspaces)")
    width = max(len(label) for label, _ in lines)
    for label, value in lines:
        print(f"{label.ljust(width)}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
