"""`python -m ccds_cli.localcloud start|stop|status`: the commands the `local` module runs.

Kept to argparse and the standard library so a provisioner starts fast. Prints one JSON object
per call on stdout; errors go to stderr with the ccds exit codes (2 bad input, 5 missing tool).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from ccds_cli.errors import CcdsError, ExitCode
from ccds_cli.localcloud.node import LOCAL_ROLES


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ccds_cli.localcloud",
                                     description="Start and stop ccds local-cloud nodes.")
    sub = parser.add_subparsers(dest="command", required=True)

    start = sub.add_parser("start", help="start a node (no-op when it already runs as asked)")
    start.add_argument("--state-dir", required=True, type=Path)
    start.add_argument("--name", required=True)
    start.add_argument("--role", required=True, choices=list(LOCAL_ROLES))
    start.add_argument("--http-port", type=int, default=0,
                       help="stats/health port (media nodes) or API port (manager); none for the controller")
    start.add_argument("--rtmp-port", type=int, default=0)
    start.add_argument("--origin", default="", help="rtmp://host:port/live to pull streams from")
    start.add_argument("--host", default="127.0.0.1")
    start.add_argument("--hls", action="store_true",
                       help="origin: also serve HLS at /hls/<app>/<stream>/index.m3u8 on the http port")
    start.add_argument("--timeout", type=float, default=20.0, help="seconds to wait for the ports")
    start.add_argument("--python", default="", help="interpreter for the agent / stream manager")
    start.add_argument("--database-url", default="", help="manager: SQLAlchemy URL")
    start.add_argument("--deployment", default="")
    start.add_argument("--heartbeat-timeout", default="")
    start.add_argument("--renditions", default="", help="manager and transcoder: the ladder HEIGHT:KBPS,...")
    start.add_argument("--spec", default="", help="controller: the deployment spec `ccds operate` reads")
    start.add_argument("--ccds-state-dir", default="", help="controller: ccds's --state-dir (the .ccds directory)")
    agent = start.add_argument_group("node agent (started when --manager-url is given)")
    agent.add_argument("--manager-url", default="")
    agent.add_argument("--region", default="")
    agent.add_argument("--provider", default="local")
    agent.add_argument("--capacity", type=int, default=0)
    agent.add_argument("--lat", default="")
    agent.add_argument("--lon", default="")
    agent.add_argument("--interval", default="")

    stop = sub.add_parser("stop", help="stop a node by PID and remove its files")
    stop.add_argument("--state-dir", required=True, type=Path)
    target = stop.add_mutually_exclusive_group(required=True)
    target.add_argument("--name")
    target.add_argument("--all", action="store_true", help="every node under --state-dir")
    stop.add_argument("--grace", type=float, default=10.0, help="seconds between SIGTERM and SIGKILL")

    status = sub.add_parser("status", help="recorded nodes and whether their processes run")
    status.add_argument("--state-dir", required=True, type=Path)
    status.add_argument("--name", default="")
    return parser


def _run(args: argparse.Namespace) -> dict | list:
    from ccds_cli.localcloud import node

    if args.command == "start":
        # Least privilege: a node's processes keep only their own secrets (the provisioner's
        # environment), not the TF_VAR_* terraform passes on, which hold every node's share.
        for key in [k for k in os.environ if k.startswith("TF_VAR_")]:
            del os.environ[key]
        agent = None
        if args.manager_url and args.role not in ("manager", "controller"):
            agent = node.Agent(manager_url=args.manager_url, deployment=args.deployment,
                               region=args.region, provider=args.provider, capacity=args.capacity,
                               lat=args.lat, lon=args.lon, interval=args.interval)
        spec = node.NodeSpec(state_dir=args.state_dir, name=args.name, role=args.role,
                             http_port=args.http_port, rtmp_port=args.rtmp_port, pull=args.origin,
                             database_url=args.database_url, deployment=args.deployment,
                             heartbeat_timeout=args.heartbeat_timeout, python=args.python,
                             host=args.host, hls=args.hls, agent=agent, spec_file=args.spec,
                             ccds_state_dir=args.ccds_state_dir,
                             manager_url=args.manager_url if args.role == "controller" else "",
                             renditions=args.renditions)
        return node.start(spec, timeout=args.timeout)
    if args.command == "stop":
        if args.all:
            return [node.stop(args.state_dir, n["name"], args.grace) for n in node.list_nodes(args.state_dir)]
        return node.stop(args.state_dir, args.name, args.grace)
    if args.name:
        return node.status(args.state_dir, args.name)
    return node.list_nodes(args.state_dir)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        result = _run(args)
    except CcdsError as exc:
        _journal(args, {"error": exc.message, "hint": exc.hint})
        print(f"ccds localcloud {args.command}: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        return int(ExitCode.INTERRUPTED)
    if args.command != "status":
        _journal(args, {"result": result})
    print(json.dumps(result))
    return 0


def _journal(args: argparse.Namespace, entry: dict) -> None:
    """Append to `<state-dir>/supervisor.log`: Terraform hides the output of provisioners whose
    environment holds a secret (managers, nodes with an agent), so failures must be findable here."""
    if not args.state_dir.is_absolute():
        return
    record = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "command": args.command,
              "name": getattr(args, "name", None) or ("*" if getattr(args, "all", False) else None),
              **entry}
    try:
        args.state_dir.mkdir(parents=True, exist_ok=True)
        with open(args.state_dir / "supervisor.log", "a") as fh:
            fh.write(json.dumps(record) + "\n")
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(main())
